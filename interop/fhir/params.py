"""Parsing search parameter values (FHIR R4 §3.1.1.4) into Django filters.

Supported: token (`code`, `system|code`, `|code`, `system|`), reference (`<id>`,
`<Type>/<id>`), date (`eq`/`ne`/`gt`/`ge`/`lt`/`le` prefixes on `YYYY`, `YYYY-MM`,
`YYYY-MM-DD` or a date-time; a date-time without a zone is Asia/Shanghai), string (starts with,
case-insensitive). Commas separate alternatives (OR); a repeated parameter narrows
(AND).
"""

import datetime
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from django.db.models import Q
from django.utils import timezone

from interop.fhir.outcome import FhirError

# A filter that matches nothing (a source that cannot hold what was asked for).
NOTHING = Q(pk__in=[])

DATE_PREFIXES = ("eq", "ne", "gt", "ge", "lt", "le")
_DATE = re.compile(
    r"^(?P<year>\d{4})(?:-(?P<month>\d{2})(?:-(?P<day>\d{2})"
    r"(?:T(?P<hour>\d{2}):(?P<minute>\d{2})(?::(?P<second>\d{2})(?:\.\d+)?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2})?)?)?)?$"
)


def invalid(message: str) -> FhirError:
    return FhirError(400, message, detail_code="search_parameter_invalid")


def uuid_or_none(value: str) -> uuid.UUID | None:
    try:
        return uuid.UUID(value)
    except ValueError:
        return None


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system
    code: str | None  # None: any code of the system


def parse_token(value: str) -> Token:
    if "|" not in value:
        return Token(system=None, code=value)
    system, code = value.split("|", 1)
    return Token(system=system or "", code=code or None)


def parse_reference(value: str, resource_type: str) -> str:
    """The id a reference value names; a reference to another type is refused."""
    if "/" in value:
        kind, _, resource_id = value.rpartition("/")
        if kind.rsplit("/", 1)[-1] != resource_type:
            raise invalid(f"Expected a reference to {resource_type}, got {value!r}.")
        return resource_id
    return value


@dataclass(frozen=True)
class DateRange:
    prefix: str
    start: datetime.datetime
    end: datetime.datetime  # exclusive


def _add_months(moment: datetime.datetime, months: int) -> datetime.datetime:
    total = moment.month - 1 + months
    return moment.replace(year=moment.year + total // 12, month=total % 12 + 1)


def parse_date(raw: str) -> DateRange:
    prefix = raw[:2] if raw[:2] in DATE_PREFIXES else "eq"
    value = raw[2:] if raw[:2] in DATE_PREFIXES else raw
    match = _DATE.match(value)
    if match is None:
        raise invalid(f"Not a FHIR date or date-time: {raw!r}.")
    parts = match.groupdict()
    zone: datetime.tzinfo
    if parts["zone"] is None:
        zone = timezone.get_default_timezone()
    elif parts["zone"] == "Z":
        zone = datetime.UTC
    else:
        sign = 1 if parts["zone"][0] == "+" else -1
        hours, minutes = parts["zone"][1:].split(":")
        zone = datetime.timezone(sign * datetime.timedelta(hours=int(hours), minutes=int(minutes)))
    try:
        start = datetime.datetime(
            int(parts["year"]),
            int(parts["month"] or 1),
            int(parts["day"] or 1),
            int(parts["hour"] or 0),
            int(parts["minute"] or 0),
            int(parts["second"] or 0),
            tzinfo=zone,
        )
    except ValueError as error:
        raise invalid(f"Not a valid date: {raw!r}.") from error
    if parts["month"] is None:
        end = start.replace(year=start.year + 1)
    elif parts["day"] is None:
        end = _add_months(start, 1)
    elif parts["hour"] is None:
        end = start + datetime.timedelta(days=1)
    elif parts["second"] is None:
        end = start + datetime.timedelta(minutes=1)
    else:
        end = start + datetime.timedelta(seconds=1)
    return DateRange(prefix=prefix, start=start, end=end)


def date_filter(field: str, *, date_only: bool = False) -> Callable[[str], Q]:
    """A date parameter over a DateTimeField (or, `date_only`, a DateField)."""

    def build(raw: str) -> Q:
        span = parse_date(raw)
        start: datetime.datetime | datetime.date = span.start
        end: datetime.datetime | datetime.date = span.end
        if date_only:
            start = timezone.localtime(span.start).date()
            last = timezone.localtime(span.end - datetime.timedelta(microseconds=1)).date()
            end = last + datetime.timedelta(days=1)
        within = Q(**{f"{field}__gte": start, f"{field}__lt": end})
        return {
            "eq": within,
            "ne": ~within,
            "gt": Q(**{f"{field}__gte": end}),
            "ge": Q(**{f"{field}__gte": start}),
            "lt": Q(**{f"{field}__lt": start}),
            "le": Q(**{f"{field}__lt": end}),
        }[span.prefix]

    return build


def reference_filter(field: str, resource_type: str) -> Callable[[str], Q]:
    """A reference parameter matched against a UUID field (`patient__public_id`, …)."""

    def build(raw: str) -> Q:
        value = uuid_or_none(parse_reference(raw, resource_type))
        return NOTHING if value is None else Q(**{field: value})

    return build


def string_filter(field: str, *, exact: bool = False) -> Callable[[str], Q]:
    def build(raw: str) -> Q:
        return Q(**{f"{field}__exact" if exact else f"{field}__istartswith": raw})

    return build


def token_filter(choices: dict[str, list[str]], field: str) -> Callable[[str], Q]:
    """A code parameter whose FHIR codes stand for internal values (`status=active` →
    `status__in=[approved]`). Systems are not checked: each code set has one."""

    def build(raw: str) -> Q:
        token = parse_token(raw)
        if token.code is None:
            return Q()
        internal = choices.get(token.code)
        if internal is None:
            return NOTHING
        return Q(**{f"{field}__in": internal})

    return build
