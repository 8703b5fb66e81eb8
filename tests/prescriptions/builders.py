"""Drugs, prescribable visits and prescriptions in a chosen state, through the real services."""

import datetime
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.core.management import call_command

from accounts.models import PharmacistProfile, PharmacistTitle, Role, User
from core.actors import actor_for_user
from prescriptions.models import Drug, Prescription
from prescriptions.rules import DraftSpec, ItemSpec
from prescriptions.services import lifecycle, prescribing
from signing.services import credential_issue
from tests.consultations.builders import Visit, make_visit
from tests.factories import make_user

PIN = "135790"
_sequence = itertools.count(1)


def make_drug(**fields: Any) -> Drug:
    """Amlodipine 5 mg × 28 tablets unless told otherwise."""
    n = next(_sequence)
    values: dict[str, Any] = {
        "code": f"TEST-{n:04d}",
        "name_zh": "苯磺酸氨氯地平片",
        "name_en": "Amlodipine besylate tablets",
        "atc_code": "C08CA01",
        "dosage_form": "tablet",
        "strength": "5 mg",
        "dose_unit": "mg",
        "strength_per_unit": Decimal(5),
        "units_per_pack": 28,
        "pack_unit": "盒",
        "price_fen": 2350,
        "control_class": "none",
        "online_prescribable": True,
        "cold_chain": False,
        "long_term_eligible": True,
        "max_daily_dose": Decimal(10),
        "default_route": "oral",
        "allergy_classes": [],
    }
    return Drug.objects.create(**(values | fields))


def item(drug: Drug, **fields: Any) -> ItemSpec:
    values: dict[str, Any] = {
        "drug": drug,
        "dose": Decimal(5),
        "frequency": "qd",
        "route": "oral",
        "days_supply": 7,
    }
    return ItemSpec(**(values | fields))


def spec(*items: ItemSpec, **fields: Any) -> DraftSpec:
    return DraftSpec(items=list(items), **fields)


def with_signing_key(user: User, algorithm: str | None = None) -> User:
    credential_issue(user=user, pin=PIN, algorithm=algorithm)
    return user


def make_pharmacist(algorithm: str | None = None) -> User:
    user = make_user(role=Role.PHARMACIST)
    PharmacistProfile.objects.create(
        user=user, licence_number=f"YS{user.pk:08d}", title=PharmacistTitle.PHARMACIST
    )
    return with_signing_key(user, algorithm)


@dataclass
class Rx:
    visit: Visit
    prescription: Prescription
    pharmacist: User | None = None

    def refresh(self) -> Prescription:
        self.prescription.refresh_from_db()
        return self.prescription


def pki() -> None:
    call_command("init_pki", verbosity=0)


def make_draft(
    visit: Visit | None = None, *, draft: DraftSpec | None = None, diagnosis: str = "I10"
) -> Rx:
    visit = visit or make_visit("in_progress")
    prescription = prescribing.prescription_create(
        actor=actor_for_user(visit.doctor),
        consultation=visit.consultation,
        diagnosis_code=diagnosis,
        spec=draft or spec(item(make_drug())),
    )
    return Rx(visit=visit, prescription=prescription)


def make_signed(algorithm: str | None = None, **kwargs: Any) -> Rx:
    rx = make_draft(**kwargs)
    with_signing_key(rx.visit.doctor, algorithm)
    rx.prescription = lifecycle.prescription_sign(
        actor=actor_for_user(rx.visit.doctor), prescription=rx.prescription, pin=PIN
    )
    return rx


def make_approved(algorithm: str | None = None, **kwargs: Any) -> Rx:
    rx = make_signed(algorithm, **kwargs)
    rx.pharmacist = make_pharmacist(algorithm)
    rx.prescription = lifecycle.prescription_approve(
        actor=actor_for_user(rx.pharmacist), prescription=rx.prescription, pin=PIN
    )
    return rx


def days_ago(days: int) -> datetime.timedelta:
    return datetime.timedelta(days=days)
