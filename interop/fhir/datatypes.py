"""FHIR data types as plain JSON values (dicts, lists, str, int, float, bool)."""

import datetime
from decimal import Decimal
from typing import Any

from django.utils import timezone

from interop.fhir import codes

JSON = dict[str, Any]


def reference(resource_type: str, resource_id: Any, display: str = "") -> JSON:
    value: JSON = {"reference": f"{resource_type}/{resource_id}"}
    if display:
        value["display"] = display
    return value


def instant(moment: datetime.datetime) -> str:
    """An instant in the platform's time zone (Asia/Shanghai, +08:00)."""
    local = timezone.localtime(moment)
    return local.isoformat(timespec="milliseconds" if local.microsecond else "seconds")


def date(day: datetime.date) -> str:
    return day.isoformat()


def number(value: Decimal | int) -> int | float:
    """A FHIR decimal as JSON: integral values as integers, others as the nearest float."""
    if isinstance(value, int):
        return value
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def money(fen: int) -> JSON:
    """Integer fen as yuan."""
    return {"value": number(Decimal(fen) / 100), "currency": codes.CURRENCY}


def coding(system: str, code: str, display: str = "") -> JSON:
    value: JSON = {"system": system, "code": code}
    if display:
        value["display"] = display
    return value


def concept(*codings: JSON, text: str = "") -> JSON:
    value: JSON = {}
    if codings:
        value["coding"] = list(codings)
    if text:
        value["text"] = text
    return value


def identifier(system: str, value: str, **extra: Any) -> JSON:
    return {"system": system, "value": value, **extra}


def quantity(value: Decimal | int, unit: str, code: str | None = None) -> JSON:
    """A UCUM quantity when `code` is given, else a quantity in a plain unit."""
    result: JSON = {"value": number(value), "unit": unit}
    if code is not None:
        result |= {"system": codes.UCUM, "code": code}
    return result


def meta(last_updated: datetime.datetime | None, *, masked: bool = False) -> JSON:
    value: JSON = {}
    if last_updated is not None:
        value["lastUpdated"] = instant(last_updated)
    if masked:
        # The security label for "some data was masked for this reader".
        value["security"] = [coding(codes.V3_OBSERVATION_VALUE, "MASKED", "masked")]
    return value


def resource(resource_type: str, resource_id: str, last_updated: datetime.datetime | None) -> JSON:
    """The start of every resource: type, id and (when known) meta.lastUpdated."""
    value: JSON = {"resourceType": resource_type, "id": resource_id}
    if last_updated is not None:
        value["meta"] = meta(last_updated)
    return value


def extension(name: str, **value: Any) -> JSON:
    """One of our extensions: `extension("facility-operator", valueString="…")`."""
    return {"url": codes.extension_url(name), **value}


def label(choice_label: str) -> str:
    """The Chinese part of a bilingual choice label ("已预约 booked" → "已预约")."""
    return choice_label.split(" ", 1)[0]


def local_date(moment: datetime.datetime) -> datetime.date:
    return timezone.localtime(moment).date()
