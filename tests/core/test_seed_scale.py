"""`manage.py seed_scale` on a small network: exact counts, every signature verifying, the
data working through the API, resuming after a stop, and the same rows for the same seed."""

import datetime
import hashlib
import io
from collections import Counter

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, F, Sum
from pytest_django import Settings

from accounts.models import DoctorProfile, PharmacistProfile, Role, User
from clinics.models import Facility, StaffMembership, Terminal
from consultations.models import Consultation, ConsultationEvent, Slot
from core.crypto import decrypt_text
from core.models import ScaleRun, ScaleStep
from core.scale.plan import MODELS
from notifications.models import Notification
from patients.identity import normalize_phone, parse_resident_id
from patients.models import (
    ConsentRecord,
    ConsentTemplate,
    Patient,
    PatientFacility,
    PriorDiagnosisEvidence,
)
from payments.models import PaymentEvent, PaymentOrder
from pharmacy.models import FacilityStock, Fulfilment, StockMovement
from prescriptions.models import Prescription, PrescriptionStatus
from prescriptions.rules import ItemSpec, findings
from prescriptions.verification import verify_prescription_signatures
from signing import keystore
from terminology.services import icd10_load, icd10_read_csv
from tests.factories import api_client

UNTIL = datetime.date(2026, 3, 1)
SMALL = {
    "facilities": 30,
    "doctors": 5,
    "patients": 300,
    "consultations": 500,
    "batch_size": 100,
    "until": UNTIL,
}
BATCHES = 5

# What the small run holds. The first rows follow from the options; the others from the seed
# (draws of outcomes, regimens, payments…), the same on every run with this seed.
EXPECTED = {
    "facilities": 30,
    "terminals": 30,
    "staff": 30,
    "doctors": 5,
    "pharmacists": 6,
    "patients": 300,
    "patient facility links": 300,
    "consultations": 500,
    "slots": 500,
}


@pytest.fixture(autouse=True)
def _fast_hashing_and_media(settings: Settings, tmp_path: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def reference_data() -> None:
    """Transactional tests empty the tables migrations seeded: put back the ICD-10 table and the
    consent text the history refers to."""
    icd10_load(rows=icd10_read_csv())
    ConsentTemplate.objects.get_or_create(
        version="2026.1",
        language="zh-hans",
        defaults={"title": "互联网诊疗知情同意书", "text": "本人同意接受互联网复诊服务。"},
    )


def _seed(**options: object) -> str:
    out = io.StringIO()
    call_command("seed_scale", **(SMALL | {"workers": 1} | options), stdout=out)
    return out.getvalue()


def _counts() -> dict[str, int]:
    return {
        "facilities": Facility.objects.count(),
        "terminals": Terminal.objects.count(),
        "staff": StaffMembership.objects.count(),
        "doctors": DoctorProfile.objects.count(),
        "pharmacists": PharmacistProfile.objects.count(),
        "patients": Patient.objects.count(),
        "patient facility links": PatientFacility.objects.count(),
        "consultations": Consultation.objects.count(),
        "slots": Slot.objects.count(),
    }


def _schema() -> list[tuple[str, str]]:
    """Every index and constraint of the tables the history fills, as the database states them."""
    tables = [model._meta.db_table for model in MODELS]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) "
            "UNION ALL SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY(%s::regclass[]) ORDER BY 1, 2",
            [tables, tables],
        )
        return cursor.fetchall()


def _fingerprint() -> str:
    """A digest of what the history says, by natural keys (ids and random bytes left out):
    who, when, what was prescribed, paid and handed over, and each table's size."""
    digest = hashlib.sha256()
    rows = [
        Patient.objects.order_by("id_number_hash").values_list(
            "id_number_hash", "name", "birth_date", "sex", "phone", "created_at", "allergies"
        ),
        Consultation.objects.order_by("scheduled_start", "doctor__user__username").values_list(
            "patient__id_number_hash",
            "doctor__user__username",
            "facility__code",
            "scheduled_start",
            "status",
            "started_at",
            "ended_at",
        ),
        Prescription.objects.order_by("number").values_list(
            "number", "status", "signed_at", "reviewed_at", "valid_until", "diagnosis__code"
        ),
        Prescription.objects.order_by("number", "items__position").values_list(
            "number", "items__drug__code", "items__quantity", "items__days_supply"
        ),
        PaymentOrder.objects.order_by("number").values_list(
            "number", "status", "total_fen", "paid_fen", "refunded_fen", "fulfilment_method"
        ),
        Fulfilment.objects.order_by("order__number").values_list(
            "order__number", "status", "pickup_code", "picked_up_at", "delivered_at"
        ),
        FacilityStock.objects.order_by("facility__code", "drug__code").values_list(
            "facility__code", "drug__code", "quantity"
        ),
        Notification.objects.values_list("event").annotate(n=Count("id")).order_by("event"),
        PaymentEvent.objects.values_list("kind").annotate(n=Count("id")).order_by("kind"),
    ]
    for query in rows:
        for row in query:
            digest.update(repr(row).encode())
    digest.update(repr(sorted(_counts().items())).encode())
    return digest.hexdigest()


@pytest.mark.django_db
def test_refuses_a_database_other_than_postgresql(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(connection, "vendor", "sqlite")
    with pytest.raises(CommandError, match="needs PostgreSQL"):
        _seed()
    assert not ScaleRun.objects.exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_small_run_writes_exactly_the_network_and_history_asked_for() -> None:
    schema = _schema()
    output = _seed()

    # The indexes set aside while batches loaded are all back, exactly as they were.
    assert _schema() == schema
    assert ScaleRun.objects.get().deferred_indexes == []

    assert _counts() == EXPECTED
    assert list(ScaleStep.objects.filter(phase="history").values_list("batch", flat=True)) == [
        0,
        1,
        2,
        3,
        4,
    ]
    assert "history: 5/5 batches · 500/500 consultations" in output
    assert ScaleRun.objects.get().finished_at is not None
    # Every consultation is booked once, for its own slot, by the facility's staff.
    booked = ConsultationEvent.objects.filter(from_status="", to_status="booked")
    assert booked.count() == 500
    assert Consultation.objects.values("slot").distinct().count() == 500
    assert set(Consultation.objects.values_list("status", flat=True)) == {
        "completed",
        "cancelled",
        "no_show",
        "terminated",
    }
    # Each prescription has its order; each paid order its fulfilment; every patient who
    # consulted consented first and has a verified document for each condition prescribed for.
    assert PaymentOrder.objects.count() == Prescription.objects.count()
    assert Fulfilment.objects.count() == PaymentOrder.objects.exclude(paid_at=None).count()
    consulted = Patient.objects.filter(consultations__isnull=False).distinct()
    assert ConsentRecord.objects.count() == consulted.count()
    late_consent = Consultation.objects.filter(
        started_at__isnull=False, patient__consents__signed_at__gte=F("started_at")
    )
    assert not late_consent.exists()
    unverified = Prescription.objects.filter(evidence__verified_at__isnull=True)
    assert not unverified.exists()
    # Nothing is handed over after its prescription's validity, nor paid after its order's.
    assert not Prescription.objects.filter(dispensed_at__gte=F("valid_until")).exists()
    assert not PaymentOrder.objects.filter(paid_at__gte=F("expires_at")).exists()
    assert Notification.objects.filter(event="booking_confirmed").count() == 500
    assert set(Prescription.objects.values_list("status", flat=True)) >= {
        PrescriptionStatus.DISPENSED,
        PrescriptionStatus.EXPIRED,
    }
    assert set(PaymentOrder.objects.values_list("status", flat=True)) >= {"paid", "closed"}
    assert set(Fulfilment.objects.values_list("status", flat=True)) >= {"picked_up", "delivered"}
    # The shelves: what the opening receipts brought in less every pickup is what is left.
    received = StockMovement.objects.filter(reason="received").aggregate(n=Sum("change"))["n"]
    taken = StockMovement.objects.filter(reason="dispensed").aggregate(n=Sum("change"))["n"]
    on_shelves = FacilityStock.objects.aggregate(n=Sum("quantity"))["n"]
    assert received + taken == on_shelves
    assert _fingerprint() == GOLDEN


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_generated_patients_and_prescriptions_pass_the_projects_own_checks() -> None:
    _seed()

    for patient in Patient.objects.all():
        number = decrypt_text(patient.id_number_encrypted)
        parsed = parse_resident_id(number)
        assert (parsed.birth_date, parsed.sex) == (patient.birth_date, patient.sex)
        assert normalize_phone(patient.phone) == patient.phone
    problems: Counter[str] = Counter()
    prescriptions = Prescription.objects.select_related("patient").prefetch_related("items__drug")
    for prescription in prescriptions:
        problems.update(verify_prescription_signatures(prescription).problems)
        # No allergy, duplicate, dose or interaction warning was left to acknowledge.
        assert findings(prescription.patient, _item_specs(prescription)) == []
    assert problems == Counter()
    assert Prescription.objects.count() > 0


def _item_specs(prescription: Prescription) -> list[ItemSpec]:
    return [
        ItemSpec(
            drug=item.drug,
            dose=item.dose,
            frequency=item.frequency,
            route=item.route,
            days_supply=item.days_supply,
            quantity=item.quantity,
        )
        for item in prescription.items.all()
    ]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_the_api_lists_the_history_and_verifies_its_prescriptions() -> None:
    _seed()

    staff = StaffMembership.objects.select_related("user", "facility").get(
        facility__code="FAC00001"
    )
    patients = api_client(staff.user).get("/api/v1/patients/")
    assert patients.status_code == 200
    assert (
        patients.json()["count"] == PatientFacility.objects.filter(facility=staff.facility).count()
    )
    prescription = (
        Prescription.objects.filter(status="dispensed").select_related("doctor__user").first()
    )
    assert prescription is not None
    doctor = prescription.doctor.user
    listed = api_client(doctor).get("/api/v1/consultations/")
    assert listed.status_code == 200
    assert listed.json()["count"] == Consultation.objects.filter(doctor__user=doctor).count()
    verified = api_client(doctor).get(f"/api/v1/prescriptions/{prescription.public_id}/verify/")
    assert verified.status_code == 200
    assert (verified.json()["valid"], verified.json()["problems"]) == (True, [])
    patient_user = User.objects.get(patient__prescriptions=prescription)
    assert patient_user.role == Role.PATIENT
    orders = api_client(patient_user).get("/api/v1/orders/")
    assert orders.status_code == 200
    assert orders.json()["count"] == PaymentOrder.objects.filter(patient__user=patient_user).count()
    evidence = PriorDiagnosisEvidence.objects.filter(
        patient__facility_links__facility=staff.facility
    ).first()
    assert evidence is not None
    document = api_client(staff.user).get(
        f"/api/v1/patients/{evidence.patient.public_id}/evidence/{evidence.public_id}/document/"
    )
    assert document.status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("reference_data")
def test_a_stopped_run_continues_where_it_stopped_and_ends_the_same() -> None:
    schema = _schema()
    with pytest.raises(CommandError, match="Stopped after 2 batch"):
        _seed(stop_after_batches=2)
    assert ScaleStep.objects.filter(phase="history").count() == 2
    assert len(ScaleRun.objects.get().deferred_indexes) > 0
    assert Patient.objects.count() == 120  # two batches of 60
    assert Consultation.objects.count() == 200

    with pytest.raises(CommandError, match="other options"):
        _seed(patients=301)
    _seed(workers=2)

    assert _counts() == EXPECTED
    assert ScaleStep.objects.filter(phase="history").count() == BATCHES
    assert _schema() == schema
    assert _fingerprint() == GOLDEN
    again = _seed()
    assert "0 already written" not in again
    assert "5 already written, 0 to write" in again
    assert _counts() == EXPECTED


def test_keys_sealed_together_open_with_one_derivation() -> None:
    cost = keystore.ScryptCost(n=2**4, r=8, p=1)
    pin_key = keystore.derive_pin_key("246810", cost)
    sealed = [
        keystore.seal_with_pin_key(secret, pin_key, context=f"key-{n}")
        for n, secret in enumerate((b"first", b"second"))
    ]
    opener = keystore.PinOpener("246810")
    assert [opener.open(s, context=f"key-{n}") for n, s in enumerate(sealed)] == [
        b"first",
        b"second",
    ]
    assert len(opener._derived) == 1
    with pytest.raises(keystore.UnsealError):
        keystore.PinOpener("135790").open(sealed[0], context="key-0")
    with pytest.raises(keystore.UnsealError):
        opener.open(sealed[0], context="key-1")


GOLDEN = "fc4b22cd139e51085f3d8e351d3553aea364fc78f0b58cb621d4d3215c4f6e8f"
