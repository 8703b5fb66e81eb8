"""Formulary import and export (CSV), for operations and for the demo data."""

import csv
from collections.abc import Iterable
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import IO

from django.db import transaction

from core.exceptions import DomainError
from prescriptions.models import ControlClass, Drug, DrugInteraction, InteractionSeverity

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
FORMULARY_CSV = DATA_DIR / "formulary.csv"
INTERACTIONS_CSV = DATA_DIR / "interactions.csv"

COLUMNS = (
    "code",
    "name_zh",
    "name_en",
    "atc_code",
    "dosage_form",
    "strength",
    "dose_unit",
    "strength_per_unit",
    "units_per_pack",
    "pack_unit",
    "price_fen",
    "control_class",
    "online_prescribable",
    "cold_chain",
    "long_term_eligible",
    "max_daily_dose",
    "default_route",
    "allergy_classes",
)
INTERACTION_COLUMNS = ("atc_a", "atc_b", "severity", "description_zh", "description_en")
FLAGS = ("online_prescribable", "cold_chain", "long_term_eligible")


def _row_error(line: int, message: str) -> DomainError:
    return DomainError(
        f"Line {line}: {message}", code="formulary_invalid", fields={"file": [message]}
    )


def _drug_fields(row: dict[str, str], line: int) -> dict[str, object]:
    try:
        fields: dict[str, object] = {
            "name_zh": row["name_zh"].strip(),
            "name_en": row["name_en"].strip(),
            "atc_code": row["atc_code"].strip().upper(),
            "dosage_form": row["dosage_form"].strip(),
            "strength": row["strength"].strip(),
            "dose_unit": row["dose_unit"].strip(),
            "strength_per_unit": Decimal(row["strength_per_unit"]),
            "units_per_pack": int(row["units_per_pack"]),
            "pack_unit": row["pack_unit"].strip(),
            "price_fen": int(row["price_fen"]),
            "control_class": row["control_class"].strip(),
            "max_daily_dose": Decimal(row["max_daily_dose"]) if row["max_daily_dose"] else None,
            "default_route": row["default_route"].strip(),
            "allergy_classes": [
                term.strip() for term in row["allergy_classes"].split(";") if term.strip()
            ],
        }
        for flag in FLAGS:
            if row[flag] not in ("0", "1"):
                raise ValueError(f"{flag} must be 0 or 1")
            fields[flag] = row[flag] == "1"
    except (KeyError, ValueError, InvalidOperation) as error:
        raise _row_error(line, str(error)) from error
    if fields["control_class"] not in ControlClass.values:
        raise _row_error(line, f"unknown control class {fields['control_class']!r}")
    if len(str(fields["atc_code"])) != 7:
        raise _row_error(line, "an ATC code has 7 characters")
    if fields["strength_per_unit"] <= 0 or fields["units_per_pack"] <= 0:  # type: ignore[operator]
        raise _row_error(line, "strength and pack size are positive")
    if fields["price_fen"] < 0:  # type: ignore[operator]
        raise _row_error(line, "a price is not negative")
    return fields


def formulary_import(*, stream: IO[str]) -> dict[str, int]:
    """Create or update drugs by code from CSV; all rows or none. Drugs are never deleted."""
    reader = csv.DictReader(stream)
    missing = set(COLUMNS) - set(reader.fieldnames or ())
    if missing:
        raise DomainError(
            f"Missing columns: {', '.join(sorted(missing))}.",
            code="formulary_invalid",
            fields={"file": ["Missing columns."]},
        )
    rows = {}
    for line, row in enumerate(reader, start=2):
        code = row["code"].strip()
        if not code or code in rows:
            raise _row_error(line, f"empty or repeated code {code!r}")
        rows[code] = _drug_fields(row, line)
    with transaction.atomic():
        existing = {drug.code: drug for drug in Drug.objects.filter(code__in=rows)}
        created = [
            Drug(code=code, **fields) for code, fields in rows.items() if code not in existing
        ]
        Drug.objects.bulk_create(created)
        updated = []
        for code, drug in existing.items():
            for field, value in rows[code].items():
                setattr(drug, field, value)
            updated.append(drug)
        Drug.objects.bulk_update(updated, fields=[c for c in COLUMNS if c != "code"])
    return {"created": len(created), "updated": len(updated)}


def formulary_export(*, stream: IO[str], drugs: Iterable[Drug] | None = None) -> int:
    writer = csv.writer(stream)
    writer.writerow(COLUMNS)
    count = 0
    for drug in drugs if drugs is not None else Drug.objects.order_by("code"):
        values = []
        for column in COLUMNS:
            value = getattr(drug, column)
            if column in FLAGS:
                value = "1" if value else "0"
            elif column == "allergy_classes":
                value = ";".join(value)
            elif isinstance(value, Decimal):
                value = format(value.normalize(), "f")
            values.append("" if value is None else value)
        writer.writerow(values)
        count += 1
    return count


def interactions_import(*, stream: IO[str]) -> int:
    reader = csv.DictReader(stream)
    pairs = []
    for line, row in enumerate(reader, start=2):
        atc_a, atc_b = sorted((row["atc_a"].strip().upper(), row["atc_b"].strip().upper()))
        if atc_a == atc_b or row["severity"] not in InteractionSeverity.values:
            raise _row_error(line, "an interaction pairs two ATC codes with a known severity")
        pairs.append(
            DrugInteraction(
                atc_a=atc_a,
                atc_b=atc_b,
                severity=row["severity"],
                description_zh=row["description_zh"].strip(),
                description_en=row["description_en"].strip(),
            )
        )
    with transaction.atomic():
        DrugInteraction.objects.bulk_create(
            pairs,
            update_conflicts=True,
            unique_fields=["atc_a", "atc_b"],
            update_fields=["severity", "description_zh", "description_en"],
        )
    return len(pairs)


def formulary_load_seed() -> dict[str, int]:
    """The shipped formulary and interaction table (demo data, fresh installs)."""
    with FORMULARY_CSV.open(encoding="utf-8") as stream:
        counts = formulary_import(stream=stream)
    with INTERACTIONS_CSV.open(encoding="utf-8") as stream:
        counts["interactions"] = interactions_import(stream=stream)
    return counts
