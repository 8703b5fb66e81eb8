"""The cast of the authorization matrix and the one world they act in.

Everyone is placed around one patient: the patient themself (owner) and another patient, clinic
staff and a terminal of the facility that serves the patient (own) and of another facility
(other), the treating doctor and a doctor who never saw the patient, a pharmacist, and operations
(who, as in the demo, also hold the Django admin). The world is made once per test module through
the services the flows use (consultations started by the doctor, prescriptions really signed and
countersigned, the order chosen and paid, the pickup ready), so every object endpoint has a real
object of that patient to aim at.
"""

import datetime
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.db import transaction
from django.test import Client, override_settings
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import User
from clinics.models import Department, Facility, Terminal
from consultations.models import (
    ClinicalNote,
    Consultation,
    ConsultationDiagnosis,
    ScheduleException,
    Slot,
)
from consultations.services import lifecycle as consultation_lifecycle
from core.actors import actor_for_user
from core.models import AuditAction
from core.services import audit_record
from notifications.models import InAppMessage, Notification, NotificationStatus
from patients.access_review import access_review_scan
from patients.models import AccessReviewFlag, Patient, PriorDiagnosisEvidence
from payments.models import AttemptStatus, PaymentAttempt, PaymentOrder, ReconciliationReport
from payments.services import DeliveryAddress, order_choose_fulfilment
from payments.services.receipts import receipt_apply
from pharmacy.models import Fulfilment
from prescriptions.models import Prescription, PrescriptionWarning
from prescriptions.services import lifecycle as prescription_lifecycle
from quality.links import feedback_token
from quality.models import Complaint, FeedbackInvitation, ReviewAssignment, ReviewSample
from quality.services.complaints import complaint_file
from tests.consultations.builders import Visit, icd10
from tests.factories import (
    api_client,
    make_consent,
    make_consultation,
    make_doctor,
    make_evidence,
    make_facility,
    make_patient,
    make_patient_user,
    make_slot,
    make_staff,
    make_terminal,
    make_user,
    resident_id,
    terminal_client,
)
from tests.pharmacy.builders import stock_up
from tests.prescriptions.builders import (
    PIN,
    item,
    make_draft,
    make_drug,
    make_pharmacist,
    pki,
    spec,
    with_signing_key,
)

# The columns of the matrix, in the order matrix.py writes them.
ANONYMOUS = "anonymous"
PATIENT_OWNER = "patient_owner"
PATIENT_OTHER = "patient_other"
STAFF_OWN = "staff_own"
STAFF_OTHER = "staff_other"
DOCTOR_TREATING = "doctor_treating"
DOCTOR_OTHER = "doctor_other"
PHARMACIST = "pharmacist"
TERMINAL_OWN = "terminal_own"
TERMINAL_OTHER = "terminal_other"
OPERATIONS = "operations"

CAST = (
    ANONYMOUS,
    PATIENT_OWNER,
    PATIENT_OTHER,
    STAFF_OWN,
    STAFF_OTHER,
    DOCTOR_TREATING,
    DOCTOR_OTHER,
    PHARMACIST,
    TERMINAL_OWN,
    TERMINAL_OTHER,
    OPERATIONS,
)


@dataclass
class Cast:
    users: dict[str, User]
    terminal_credentials: dict[str, str]
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict)

    def api(self, who: str) -> APIClient:
        """The API as `who`: a bearer token for people, the device credential for terminals."""
        if ("api", who) not in self._clients:
            if who in self.terminal_credentials:
                client = terminal_client(self.terminal_credentials[who])
            else:
                client = api_client(self.users.get(who))
            self._clients["api", who] = client
        return self._clients["api", who]

    def pages(self, who: str) -> Client:
        """Pages as `who`: a signed-in session for people (signed in once, before any cell's
        savepoint). Terminals have no session; their device credential is sent anyway, and pages
        must not take it for a sign-in."""
        if ("pages", who) not in self._clients:
            if who in self.terminal_credentials:
                credential = self.terminal_credentials[who]
                client = Client(HTTP_AUTHORIZATION=f"Terminal {credential}")
            else:
                client = Client()
                if who in self.users:
                    client.force_login(self.users[who])
            self._clients["pages", who] = client
        return self._clients["pages", who]


@dataclass
class World:
    cast: Cast
    facility: Facility
    other_facility: Facility
    terminal: Terminal
    patient: Patient
    evidence: PriorDiagnosisEvidence
    department: Department
    doctor: User
    booked: Consultation
    live: Consultation
    completed: Consultation
    free_slot: Slot
    schedule_exception: ScheduleException
    approved: Prescription
    signed: Prescription
    rejected: Prescription
    draft: Prescription
    warning: PrescriptionWarning
    order: PaymentOrder
    fulfilment: Fulfilment
    reconciliation: ReconciliationReport
    dead_notification: Notification
    message: InAppMessage
    complaint: Complaint
    feedback_token: str
    review: ReviewAssignment
    access_review: AccessReviewFlag


def _in_progress(visit: Visit) -> Consultation:
    """Started by its doctor through the lifecycle (which opens the video room), with the note
    and primary diagnosis that prescribing and completing need."""
    consultation = consultation_lifecycle.consultation_start(
        actor=actor_for_user(visit.doctor), consultation=visit.consultation
    )
    ClinicalNote.objects.create(
        consultation=consultation, assessment="血压控制尚可", author=visit.doctor
    )
    ConsultationDiagnosis.objects.create(
        consultation=consultation, code=icd10(), is_primary=True, recorded_by=visit.doctor
    )
    return consultation


def _paid(
    order: PaymentOrder,
    patient_user: User,
    *,
    method: str = "pickup",
    delivery_address: DeliveryAddress | None = None,
) -> PaymentOrder:
    """The patient chooses pickup (or delivery to `delivery_address`) and WeChat Pay confirms the
    payment (the receipt the verified callback applies), which readies the pickup at the
    facility, or the delivery for its courier."""
    order = order_choose_fulfilment(
        actor=actor_for_user(patient_user),
        order=order,
        method=method,
        delivery_address=delivery_address,
    )
    now = timezone.now()
    attempt = PaymentAttempt.objects.create(
        order=order,
        provider="wechatpay",
        channel="native",
        out_trade_no=f"{order.number}-1",
        amount_fen=order.payable_fen,
        status=AttemptStatus.OPEN,
        pay_url="weixin://wxpay/bizpayurl?pr=matrix",
        issued_at=now,
        expires_at=order.expires_at,
    )
    PaymentOrder.objects.filter(pk=order.pk).update(status="pending")
    with transaction.atomic():
        locked = PaymentOrder.objects.select_for_update().get(pk=order.pk)
        receipt_apply(
            locked,
            attempt,
            transaction_id=f"42000026{order.pk:020d}",
            amount_fen=attempt.amount_fen,
            occurred_at=now,
            source="callback",
            now=now,
        )
    order.refresh_from_db()
    return order


def _inbox_message(user: User, consultation: Consultation) -> InAppMessage:
    notification = Notification.objects.create(
        recipient_user=user,
        channel="in_app",
        event="prescription_approved",
        objects_ids={"consultation": consultation.pk},
        dedupe_key=f"matrix:inbox:{user.pk}:{consultation.pk}",
        status=NotificationStatus.SENT,
        next_attempt_at=timezone.now(),
    )
    return InAppMessage.objects.create(
        notification=notification,
        user=user,
        event=notification.event,
        title="处方已审核通过",
        body="您的处方已审核通过，请支付。",
    )


def _feedback_invitation(consultation: Consultation) -> FeedbackInvitation:
    now = timezone.now()
    return FeedbackInvitation.objects.create(
        consultation=consultation,
        patient=consultation.patient,
        invited_at=now,
        expires_at=now + datetime.timedelta(days=7),
    )


def _peer_review(consultation: Consultation, *, reviewer: User) -> ReviewAssignment:
    """The completed consultation's record drawn for review by another doctor (its author may
    never review it)."""
    now = timezone.now()
    assert consultation.doctor is not None
    sample, _ = ReviewSample.objects.get_or_create(
        week_start=timezone.localdate() - datetime.timedelta(days=timezone.localdate().weekday()),
        defaults={
            "seed": "matrix",
            "default_rate": Decimal("0.05"),
            "population": 1,
            "assigned": 1,
        },
    )
    return ReviewAssignment.objects.create(
        sample=sample,
        kind="consultation",
        consultation=consultation,
        doctor=consultation.doctor,
        author=consultation.doctor.user,
        reviewer=reviewer,
        assigned_at=now,
        due_at=now + datetime.timedelta(days=7),
    )


def _access_flag(patient: Patient, *, reader: User) -> AccessReviewFlag:
    """A read of the patient's record by someone outside their care team, flagged for review
    by the scan of the audit log."""
    audit_record(
        actor=actor_for_user(reader),
        action=AuditAction.READ,
        object_type="patient",
        object_ids=[patient.public_id],
    )
    access_review_scan()
    return AccessReviewFlag.objects.get(patient=patient, actor=reader)


def make_world() -> World:
    """Everything the matrix aims at; run inside a transaction the caller rolls back."""
    pki()
    facility, other_facility = make_facility(), make_facility()
    staff, other_staff = make_staff(facility=facility), make_staff(facility=other_facility)
    doctor, other_doctor = make_doctor(), make_doctor()
    pharmacist = make_pharmacist()
    operations = make_user(is_staff=True, is_superuser=True)
    patient = make_patient(staff, name="陈志强", id_number=resident_id(birth="19620315"))
    other_patient = make_patient(
        other_staff, name="林晓燕", id_number=resident_id(birth="19850704")
    )
    patient_user, other_patient_user = make_patient_user(patient), make_patient_user(other_patient)
    terminal = make_terminal(facility)
    other_terminal = make_terminal(other_facility)

    make_consent(patient, staff)
    booked = make_consultation(patient=patient, doctor_user=doctor, facility=facility)
    evidence = make_evidence(patient, staff, verified_by=doctor)

    def visit(status: str) -> Visit:
        consultation = make_consultation(
            patient=patient, doctor_user=doctor, facility=facility, status=status
        )
        return Visit(
            consultation=consultation,
            facility=facility,
            staff=staff,
            doctor=doctor,
            patient=patient,
        )

    checked_in = visit("checked_in")
    live = _in_progress(checked_in)
    checked_in.consultation = live
    drug = make_drug()
    stock_up(facility, drug, 10)
    with_signing_key(doctor)
    doctor_actor = actor_for_user(doctor)
    approved = prescription_lifecycle.prescription_sign(
        actor=doctor_actor,
        prescription=make_draft(checked_in, draft=spec(item(drug))).prescription,
        pin=PIN,
    )
    approved = prescription_lifecycle.prescription_approve(
        actor=actor_for_user(pharmacist), prescription=approved, pin=PIN
    )
    signed = prescription_lifecycle.prescription_sign(
        actor=doctor_actor,
        prescription=make_draft(checked_in, draft=spec(item(make_drug()))).prescription,
        pin=PIN,
    )
    rejected = prescription_lifecycle.prescription_reject(
        actor=actor_for_user(pharmacist),
        prescription=prescription_lifecycle.prescription_sign(
            actor=doctor_actor,
            prescription=make_draft(checked_in, draft=spec(item(make_drug()))).prescription,
            pin=PIN,
        ),
        reasons=["dose"],
        comment="剂量请再核对。",
    )
    draft = make_draft(checked_in, draft=spec(item(make_drug()))).prescription
    warning = PrescriptionWarning.objects.create(
        prescription=draft,
        kind="duplicate_therapy",
        key="duplicate:C08CA01",
        message="与正在服用的药物重复 (duplicate therapy).",
    )
    order = _paid(PaymentOrder.objects.get(prescription=approved), patient_user)

    completed = visit("checked_in")
    completed_consultation = _in_progress(completed)
    completed_consultation = consultation_lifecycle.consultation_complete(
        actor=doctor_actor, consultation=completed_consultation
    )

    dead = Notification.objects.create(
        recipient_patient=patient,
        channel="sms",
        event="booking_confirmed",
        objects_ids={"consultation": booked.pk},
        dedupe_key="matrix:dead",
        status=NotificationStatus.DEAD,
        attempts=8,
        last_error="isv.MOBILE_NUMBER_ILLEGAL",
        next_attempt_at=timezone.now(),
        dead_at=timezone.now(),
    )
    cast = Cast(
        users={
            PATIENT_OWNER: patient_user,
            PATIENT_OTHER: other_patient_user,
            STAFF_OWN: staff,
            STAFF_OTHER: other_staff,
            DOCTOR_TREATING: doctor,
            DOCTOR_OTHER: other_doctor,
            PHARMACIST: pharmacist,
            OPERATIONS: operations,
        },
        terminal_credentials={
            TERMINAL_OWN: terminal.credential,
            TERMINAL_OTHER: other_terminal.credential,
        },
    )
    for who in CAST:  # sessions and tokens made now, outside any cell's rolled-back savepoint
        cast.api(who)
        cast.pages(who)
    return World(
        cast=cast,
        facility=facility,
        other_facility=other_facility,
        terminal=terminal.terminal,
        patient=patient,
        evidence=evidence,
        department=doctor.doctor_profile.department,
        doctor=doctor,
        booked=booked,
        live=live,
        completed=completed_consultation,
        free_slot=make_slot(doctor, starts_in=datetime.timedelta(days=2)),
        schedule_exception=ScheduleException.objects.create(
            doctor=doctor.doctor_profile,
            kind="leave",
            date=timezone.localdate() + datetime.timedelta(days=9),
            reason="学术会议",
        ),
        approved=approved,
        signed=signed,
        rejected=rejected,
        draft=draft,
        warning=warning,
        order=order,
        fulfilment=Fulfilment.objects.get(order=order),
        reconciliation=ReconciliationReport.objects.create(
            provider="wechatpay",
            bill_date=timezone.localdate() - datetime.timedelta(days=1),
            status="completed",
            provider_lines=1,
            ledger_lines=1,
            matched=1,
            ran_at=timezone.now(),
        ),
        dead_notification=dead,
        message=_inbox_message(patient_user, live),
        complaint=complaint_file(
            actor=actor_for_user(patient_user),
            subject_kind="consultation",
            subject_id=live.public_id,
            description="视频中断了两次，医生没有说完用药注意事项。",
        ),
        feedback_token=feedback_token(_feedback_invitation(completed_consultation).public_id),
        review=_peer_review(completed_consultation, reviewer=other_doctor),
        access_review=_access_flag(patient, reader=other_doctor),
    )


@contextmanager
def rolled_back() -> Iterator[None]:
    """A savepoint that is always rolled back. It is marked as Django's TestCase marks its own
    wrapping transaction, so the services' `atomic(durable=True)` still run inside it."""
    atomic = transaction.atomic()
    atomic._from_testcase = True  # type: ignore[attr-defined]
    atomic.__enter__()
    try:
        yield
    finally:
        transaction.set_rollback(True)
        atomic.__exit__(None, None, None)


@contextmanager
def module_world(django_db_blocker: Any, media_root: Path) -> Iterator[World]:
    """The world for a whole test module (a module-scoped fixture's body): made once, with
    uploads under `media_root`, rolled back when the module is done."""
    with (
        django_db_blocker.unblock(),
        override_settings(
            MEDIA_ROOT=media_root,
            # Signing keys sealed at a token scrypt cost, as tests/conftest.py does per test.
            SIGNING_PIN_SCRYPT_N=2**4,
            CHANNEL_LAYERS={"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}},
        ),
        rolled_back(),
    ):
        yield make_world()
