"""Rows for COPY, named by field as on the model.

A `Table` takes every concrete column of its model. `add(**values)` fills the columns it is not
given the way the model would: a field's constant default, NULL where the field allows it; a
column with neither must be given (as `auto_now` times and ids are), or the row is refused at
once, so a model that gains a required field stops the generator before the database does.
"""

from __future__ import annotations

import json
from typing import Any

from django.db import connection, models

_REQUIRED = object()


def _default(field: models.Field[Any, Any]) -> Any:
    """What the model would store when not told: a constant default (an empty list or dict
    for those, serialised per row), "" for text, NULL where allowed; else the value is required."""
    if field.has_default():
        if field.default in (list, dict) or not callable(field.default):
            return field.get_default()
        return _REQUIRED  # uuid4, now(): the generator gives reproducible values instead
    value = field.get_default()
    return _REQUIRED if value is None and not field.null else value


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class Table:
    def __init__(self, model: type[models.Model]) -> None:
        self.model = model
        fields = list(model._meta.concrete_fields)
        self.fields = [field.attname for field in fields]
        self.columns = [str(field.column) for field in fields]  # concrete: always a column
        self._index = {name: position for position, name in enumerate(self.fields)}
        self._template = [_default(field) for field in fields]
        self._json = [
            position for position, field in enumerate(fields) if isinstance(field, models.JSONField)
        ]
        self._json_default = {
            position: _dumps(self._template[position])
            for position in self._json
            if self._template[position] is not _REQUIRED
        }
        self.rows: list[tuple[Any, ...]] = []

    @property
    def name(self) -> str:
        return self.model._meta.db_table

    def add(self, **values: Any) -> None:
        row = self._template.copy()
        index = self._index
        try:
            for name, value in values.items():
                row[index[name]] = value
        except KeyError as error:
            raise KeyError(f"{self.model.__name__} has no column {error}") from None
        for position in self._json:
            value = row[position]
            if value is self._template[position]:
                row[position] = self._json_default.get(position, value)
            else:
                row[position] = _dumps(value)
        if _REQUIRED in row:
            missing = [self.fields[i] for i, value in enumerate(row) if value is _REQUIRED]
            raise KeyError(f"{self.model.__name__} needs values for {missing}")
        self.rows.append(tuple(row))

    def copy(self) -> int:
        """COPY the collected rows into the table, inside the caller's transaction."""
        if not self.rows:
            return 0
        quote = connection.ops.quote_name
        columns = ", ".join(quote(column) for column in self.columns)
        sql = f"COPY {quote(self.name)} ({columns}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
            for row in self.rows:
                copy.write_row(row)
        written = len(self.rows)
        self.rows = []
        return written
