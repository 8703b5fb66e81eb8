"""The prescribing rules (SPEC §4 rules 3, 5–9) and the warnings that block signing (rule 8).

Pure functions over the draft's content: the services call them when a draft is written and
again when it is signed, so a rule can never be bypassed by editing in between.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from core.dates import age_on
from core.exceptions import DomainError
from patients.models import GUARDIAN_REQUIRED_UNDER_YEARS, Patient
from prescriptions.models import (
    BANNED_CONTROL_CLASSES,
    FREQUENCY_PER_DAY,
    Drug,
    DrugInteraction,
    WarningKind,
)

MAX_ITEMS = 5
DEFAULT_MAX_DAYS = 7
LONG_TERM_FROM_DAYS = 29
MAX_DAYS = 84
MAX_VALIDITY_DAYS = 3


@dataclass(frozen=True)
class ItemSpec:
    drug: Drug
    dose: Decimal
    frequency: str
    route: str
    days_supply: int
    quantity: int | None = None
    instructions: str = ""


@dataclass(frozen=True)
class DraftSpec:
    items: Sequence[ItemSpec]
    supply_reason: str = ""
    long_term: bool = False
    long_term_assessment: str = ""
    long_term_patient_confirmed: bool = False
    validity_days: int = 1
    validity_reason: str = ""


@dataclass(frozen=True)
class Finding:
    """A warning the doctor must acknowledge; `key` identifies the same finding across edits."""

    kind: str
    key: str
    message: str


def _refuse(code: str, message: str, field: str = "items") -> DomainError:
    return DomainError(message, code=code, fields={field: [message]})


def packs_needed(item: ItemSpec) -> int:
    """Packs covering dose × frequency × days; a started pack counts whole."""
    total = item.dose * FREQUENCY_PER_DAY[item.frequency] * item.days_supply
    return max(math.ceil(total / item.drug.pack_content), 1)


def check_guardian(patient: Patient, *, on: datetime.date) -> None:
    """Rule 3: a child under 6 has a guardian recorded before anything is prescribed."""
    if age_on(patient.birth_date, on) < GUARDIAN_REQUIRED_UNDER_YEARS and not (
        patient.guardian_name.strip()
    ):
        raise _refuse(
            "guardian_required",
            "The patient is under 6: record a guardian before prescribing.",
            "patient",
        )


def check_items(spec: DraftSpec) -> list[int]:
    """Rules 5–7 on every item; returns each item's quantity in packs."""
    items = spec.items
    if not items:
        raise _refuse("items_required", "A prescription has at least one drug.")
    if len(items) > MAX_ITEMS:
        raise _refuse("too_many_items", f"At most {MAX_ITEMS} drugs per prescription.")
    if len({item.drug.pk for item in items}) != len(items):
        raise _refuse("duplicate_item", "Each drug appears once; change its dose instead.")
    quantities = []
    for item in items:
        drug = item.drug
        if drug.control_class in BANNED_CONTROL_CLASSES:
            raise _refuse(
                "controlled_drug_banned",
                f"{drug.name_zh} ({drug.get_control_class_display()}) cannot be prescribed online.",
            )
        if not drug.online_prescribable or not drug.is_active:
            raise _refuse("drug_not_prescribable", f"{drug.name_zh} is not prescribable online.")
        if item.frequency not in FREQUENCY_PER_DAY:
            raise _refuse("frequency_invalid", f"Unknown frequency {item.frequency!r}.")
        if item.dose <= 0:
            raise _refuse("dose_invalid", "The dose must be positive.")
        quantities.append(_check_supply(spec, item))
    return quantities


def _check_supply(spec: DraftSpec, item: ItemSpec) -> int:
    days = item.days_supply
    if days < 1:
        raise _refuse("days_supply_invalid", "Days' supply is at least one day.")
    if days > MAX_DAYS:
        raise _refuse("days_supply_over_cap", f"Never more than {MAX_DAYS} days' supply.")
    if days > DEFAULT_MAX_DAYS and not spec.supply_reason.strip():
        raise _refuse(
            "supply_reason_required",
            f"More than {DEFAULT_MAX_DAYS} days' supply needs a reason.",
            "supply_reason",
        )
    if days >= LONG_TERM_FROM_DAYS:
        if not (
            spec.long_term
            and spec.long_term_assessment.strip()
            and spec.long_term_patient_confirmed
        ):
            raise _refuse(
                "long_term_required",
                "More than 28 days is a long-term prescription: flag it, record the assessment "
                "and the patient's confirmation.",
                "long_term",
            )
        if not item.drug.long_term_eligible:
            raise _refuse(
                "long_term_not_eligible",
                f"{item.drug.name_zh} is not eligible for long-term prescription.",
            )
    needed = packs_needed(item)
    if item.quantity is not None and not needed <= item.quantity <= needed + 1:
        raise _refuse(
            "quantity_mismatch",
            f"{item.drug.name_zh}: {needed} {item.drug.pack_unit} cover the dose and days; "
            f"{item.quantity} given.",
        )
    return needed if item.quantity is None else item.quantity


def check_validity(spec: DraftSpec) -> None:
    """Rule 9: valid on the signing day; up to 3 days with a reason."""
    if not 1 <= spec.validity_days <= MAX_VALIDITY_DAYS:
        raise _refuse(
            "validity_too_long",
            f"A prescription is valid for 1 to {MAX_VALIDITY_DAYS} days.",
            "validity_days",
        )
    if spec.validity_days > 1 and not spec.validity_reason.strip():
        raise _refuse(
            "validity_reason_required",
            "Extending validity beyond the signing day needs a reason.",
            "validity_reason",
        )


def _matches_allergy(drug: Drug, allergy: str) -> bool:
    term = allergy.strip().casefold()
    if not term:
        return False
    names = [drug.name_zh, drug.name_en, *drug.allergy_classes]
    return any(term in name.casefold() or name.casefold() in term for name in names if name)


def findings(patient: Patient, items: Sequence[ItemSpec]) -> list[Finding]:
    """Rule 8 and the safety checks: allergy, duplicate therapy, daily dose, interactions."""
    found: list[Finding] = []
    for item in items:
        drug = item.drug
        for allergy in patient.allergies:
            if _matches_allergy(drug, allergy):
                found.append(
                    Finding(
                        WarningKind.ALLERGY,
                        f"allergy:{drug.code}:{allergy}"[:120],
                        f"患者对“{allergy}”过敏，{drug.name_zh}可能引起过敏 "
                        f"(patient allergic to {allergy}: {drug.name_en}).",
                    )
                )
        daily = item.dose * FREQUENCY_PER_DAY[item.frequency]
        if drug.max_daily_dose is not None and daily > drug.max_daily_dose:
            found.append(
                Finding(
                    WarningKind.MAX_DAILY_DOSE,
                    f"max_daily_dose:{drug.code}",
                    f"{drug.name_zh}日剂量 {daily.normalize()} {drug.dose_unit} 超过最大日剂量 "
                    f"{drug.max_daily_dose.normalize()} {drug.dose_unit}.",
                )
            )
    by_group: dict[str, list[Drug]] = {}
    for item in items:
        by_group.setdefault(item.drug.atc_group, []).append(item.drug)
    for group, drugs in sorted(by_group.items()):
        if len(drugs) > 1:
            names = "、".join(drug.name_zh for drug in drugs)
            found.append(
                Finding(
                    WarningKind.DUPLICATE_THERAPY,
                    f"duplicate:{group}",
                    f"重复用药：{names} 同属 {group} (same ATC group).",
                )
            )
    found.extend(_interactions([item.drug for item in items]))
    return found


def _interactions(drugs: Iterable[Drug]) -> list[Finding]:
    drugs = list(drugs)
    codes = {drug.atc_code for drug in drugs}
    if len(codes) < 2:
        return []
    names = {drug.atc_code: drug.name_zh for drug in drugs}
    pairs = DrugInteraction.objects.filter(atc_a__in=codes, atc_b__in=codes)
    return [
        Finding(
            WarningKind.INTERACTION,
            f"interaction:{pair.atc_a}:{pair.atc_b}",
            f"{names[pair.atc_a]} + {names[pair.atc_b]}：{pair.description_zh} "
            f"({pair.get_severity_display()}).",
        )
        for pair in pairs
    ]
