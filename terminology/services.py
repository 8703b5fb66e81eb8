"""Loading the ICD-10 table from its CSV (terminology/data/icd10.csv).

The same loader serves the seeding migration (with the historical model) and the `load_icd10`
command (with the current one), so a fresh database and an updated one end up identical.
"""

import csv
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

ICD10_CSV = Path(__file__).resolve().parent / "data" / "icd10.csv"
CSV_COLUMNS = ("code", "chapter", "is_chronic", "name_zh", "name_en")

# A three-character category (I10) or a four-character subcategory (E11.9).
CODE_PATTERN = re.compile(r"^[A-Z][0-9]{2}(\.[0-9])?$")

# ICD-10 chapters: (chapter, first code, last code), by the first three characters.
CHAPTERS: tuple[tuple[str, str, str], ...] = (
    ("I", "A00", "B99"),
    ("II", "C00", "D48"),
    ("III", "D50", "D89"),
    ("IV", "E00", "E90"),
    ("V", "F00", "F99"),
    ("VI", "G00", "G99"),
    ("VII", "H00", "H59"),
    ("VIII", "H60", "H95"),
    ("IX", "I00", "I99"),
    ("X", "J00", "J99"),
    ("XI", "K00", "K93"),
    ("XII", "L00", "L99"),
    ("XIII", "M00", "M99"),
    ("XIV", "N00", "N99"),
    ("XV", "O00", "O99"),
    ("XVI", "P00", "P96"),
    ("XVII", "Q00", "Q99"),
    ("XVIII", "R00", "R99"),
    ("XIX", "S00", "T98"),
    ("XX", "V01", "Y98"),
    ("XXI", "Z00", "Z99"),
    ("XXII", "U00", "U99"),
)


class Icd10DataError(ValueError):
    """The CSV is malformed; nothing was loaded."""


@dataclass(frozen=True)
class Icd10Row:
    code: str
    chapter: str
    is_chronic: bool
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Icd10LoadResult:
    created: int
    updated: int
    deactivated: int


def icd10_chapter(code: str) -> str:
    """The chapter (Roman numeral) a code belongs to."""
    category = code[:3]
    for chapter, first, last in CHAPTERS:
        if first <= category <= last:
            return chapter
    raise Icd10DataError(f"{code}: outside every ICD-10 chapter.")


def icd10_read_csv(path: Path = ICD10_CSV) -> list[Icd10Row]:
    """Parse and check the whole file; any bad line refuses the file."""
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        if tuple(reader.fieldnames or ()) != CSV_COLUMNS:
            raise Icd10DataError(f"Expected the columns {', '.join(CSV_COLUMNS)}.")
        rows: list[Icd10Row] = []
        seen: set[str] = set()
        for line, record in enumerate(reader, start=2):
            rows.append(_parse_row(record, line=line, seen=seen))
    return rows


def _parse_row(record: dict[str, str], *, line: int, seen: set[str]) -> Icd10Row:
    code = (record["code"] or "").strip().upper()
    where = f"line {line} ({code or 'no code'})"
    if not CODE_PATTERN.match(code):
        raise Icd10DataError(f"{where}: not an ICD-10 code.")
    if code in seen:
        raise Icd10DataError(f"{where}: duplicate code.")
    seen.add(code)
    chapter = (record["chapter"] or "").strip()
    if chapter != icd10_chapter(code):
        raise Icd10DataError(f"{where}: chapter {chapter!r}, expected {icd10_chapter(code)!r}.")
    chronic = (record["is_chronic"] or "").strip()
    if chronic not in ("0", "1"):
        raise Icd10DataError(f"{where}: is_chronic must be 0 or 1.")
    name_zh = (record["name_zh"] or "").strip()
    name_en = (record["name_en"] or "").strip()
    if not name_zh or not name_en or len(name_zh) > 200 or len(name_en) > 200:
        raise Icd10DataError(f"{where}: both names are required, at most 200 characters.")
    return Icd10Row(code, chapter, chronic == "1", name_zh, name_en)


def icd10_load(
    *, rows: Iterable[Icd10Row], model: Any = None, deactivate_missing: bool = False
) -> Icd10LoadResult:
    """Insert new codes, update changed ones, reactivate listed ones.

    Codes are never deleted (evidence and diagnoses refer to them); with `deactivate_missing`,
    codes absent from `rows` are marked inactive so they can no longer be chosen. `model` is the
    historical model when called from a migration.
    """
    if model is None:
        from terminology.models import Icd10Code

        model = Icd10Code
    wanted = {row.code: row for row in rows}
    fields = ("chapter", "is_chronic", "name_zh", "name_en")
    # Not durable: the seeding migration already runs inside a transaction.
    with transaction.atomic():
        existing = {code.code: code for code in model.objects.select_for_update()}
        new = [
            model(code=row.code, is_active=True, **_values(row))
            for row in wanted.values()
            if row.code not in existing
        ]
        changed = []
        for code, row in wanted.items():
            current = existing.get(code)
            if current is None:
                continue
            values = _values(row) | {"is_active": True}
            if any(getattr(current, field) != value for field, value in values.items()):
                for field, value in values.items():
                    setattr(current, field, value)
                changed.append(current)
        model.objects.bulk_create(new, batch_size=500)
        model.objects.bulk_update(changed, [*fields, "is_active"], batch_size=500)
        deactivated = 0
        if deactivate_missing:
            deactivated = (
                model.objects.filter(is_active=True)
                .exclude(code__in=wanted)
                .update(is_active=False)
            )
    return Icd10LoadResult(created=len(new), updated=len(changed), deactivated=deactivated)


def _values(row: Icd10Row) -> dict[str, Any]:
    return {
        "chapter": row.chapter,
        "is_chronic": row.is_chronic,
        "name_zh": row.name_zh,
        "name_en": row.name_en,
    }
