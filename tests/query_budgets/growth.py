"""More of everything the cast sees: one round of `grow` adds, through the services the flows
use, the rows each list or page of the budget table shows to its actor.

The world of tests/security/actors.py is the starting point; every round adds around the same
patient, facility and doctor (so the same actors see the new rows) and a newcomer patient (so the
lists show rows of more than one patient, and a per-row query shows up as such).
"""

import datetime
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.utils import timezone

from consultations.models import Consultation, ScheduleException, WeeklyAvailability
from consultations.services import lifecycle as consultation_lifecycle
from consultations.services import records
from core.actors import actor_for_user
from courier_emulator.models import EmulatedWaybill
from courier_emulator.services import tracking_event_deliver, tracking_event_record
from notifications.models import Notification, NotificationStatus
from payments.models import PaymentOrder, ReconciliationDiscrepancy, ReconciliationReport
from payments.services import DeliveryAddress, order_choose_fulfilment
from payments.services.refunds import order_refund
from pharmacy.models import Fulfilment
from pharmacy.services.delivery import fulfilment_dispatch
from pharmacy.services.pickup import pickup_dispense
from pharmacy.services.stock import stock_adjust
from prescriptions.models import Prescription, PrescriptionWarning
from prescriptions.services import lifecycle as prescription_lifecycle
from prescriptions.services import prescribing
from quality.models import Complaint, ReviewAssignment
from quality.services.complaints import complaint_file, complaint_reply, complaint_triage
from tests.consultations.builders import Visit, icd10
from tests.courier_emulator.transport import InProcessTransport
from tests.factories import (
    make_consent,
    make_consultation,
    make_department,
    make_doctor,
    make_evidence,
    make_facility,
    make_patient,
    make_slot,
    make_terminal,
    resident_id,
)
from tests.pharmacy.builders import emulated_courier, stock_up
from tests.prescriptions.builders import PIN, item, make_draft, make_drug, spec
from tests.security.actors import (
    DOCTOR_OTHER,
    OPERATIONS,
    PATIENT_OWNER,
    PHARMACIST,
    STAFF_OWN,
    World,
    _access_flag,
    _feedback_invitation,
    _in_progress,
    _inbox_message,
    _paid,
    _peer_review,
    module_world,
)

HOME = DeliveryAddress(
    recipient="陈志强",
    phone="13800138000",
    province="广东省",
    city="佛山市",
    district="南海区",
    detail="桂城街道南海大道北88号3栋502",
)
# Each round's reconciliation is for a day further back (one report per provider and day).
_rounds = itertools.count(2)


@dataclass
class Scene:
    """The world, and what the budget table aims at beyond it (a delivery on its way)."""

    world: World
    delivery: Fulfilment
    delivery_order: PaymentOrder
    newcomers: list[Consultation] = field(default_factory=list)
    # What the courier reports next about the delivery, one step each round.
    courier_steps: Iterator[str] = field(
        default_factory=lambda: iter(("picked_up", "in_transit", "out_for_delivery"))
    )


def _visit(world: World, consultation: Consultation) -> Visit:
    return Visit(
        consultation=consultation,
        facility=world.facility,
        staff=world.cast.users[STAFF_OWN],
        doctor=world.doctor,
        patient=consultation.patient,
    )


def _consultation(world: World, status: str, *, newcomer: bool = False) -> Consultation:
    patient = world.patient
    if newcomer:
        patient = make_patient(
            world.cast.users[STAFF_OWN], name="黄丽华", id_number=resident_id(birth="19710826")
        )
    consultation = make_consultation(
        patient=patient, doctor_user=world.doctor, facility=world.facility, status=status
    )
    if status != "booked":
        _checked_in(consultation)
    return consultation


def _checked_in(*consultations: Consultation) -> None:
    """The check-in time make_consultation leaves out (FHIR's Encounters begin there)."""
    now = timezone.now()
    Consultation.objects.filter(pk__in=[c.pk for c in consultations]).update(checked_in_at=now)
    for consultation in consultations:
        consultation.checked_in_at = now


def _signed(world: World, live: Consultation) -> Prescription:
    drug = make_drug()
    stock_up(world.facility, drug, 10)
    return prescription_lifecycle.prescription_sign(
        actor=actor_for_user(world.doctor),
        prescription=make_draft(_visit(world, live), draft=spec(item(drug))).prescription,
        pin=PIN,
    )


def _approved(world: World, live: Consultation) -> Prescription:
    return prescription_lifecycle.prescription_approve(
        actor=actor_for_user(world.cast.users[PHARMACIST]),
        prescription=_signed(world, live),
        pin=PIN,
    )


def awaiting_payment(world: World) -> PaymentOrder:
    """A new approved prescription's order, pickup chosen, not paid yet."""
    order = PaymentOrder.objects.get(prescription=_approved(world, world.live))
    return order_choose_fulfilment(
        actor=actor_for_user(world.cast.users[PATIENT_OWNER]), order=order, method="pickup"
    )


def _dispatched(world: World, live: Consultation) -> Fulfilment:
    """An approved prescription paid for delivery and dispatched to the courier emulator, which
    reports that it accepted the parcel."""
    order = PaymentOrder.objects.get(prescription=_approved(world, live))
    order = _paid(order, world.cast.users[PATIENT_OWNER], method="delivery", delivery_address=HOME)
    fulfilment = Fulfilment.objects.get(order=order)
    fulfilment_dispatch(fulfilment_id=fulfilment.pk, courier=emulated_courier())
    courier_reports(fulfilment, "accepted")
    return fulfilment


def courier_reports(fulfilment: Fulfilment, status: str) -> None:
    """The courier emulator records the step and posts it, signed, to the platform."""
    waybill = EmulatedWaybill.objects.get(reference=f"{fulfilment.public_id.hex}-1")
    event = tracking_event_record(waybill=waybill, status=status)
    delivered = tracking_event_deliver(event, transport=InProcessTransport())
    assert delivered.status_code == 200, delivered


@contextmanager
def module_scene(django_db_blocker: Any, media_root: Path) -> Iterator[Scene]:
    """The scene for a whole test module (a module-scoped fixture's body): the world with its
    delivery and one round of growth, rolled back when the module is done."""
    with module_world(django_db_blocker, media_root) as world:
        scene = scene_for(world)
        grow(scene)
        yield scene


def scene_for(world: World) -> Scene:
    """The world plus a delivery of the patient's on its way (the tracking page's subject)."""
    _checked_in(world.live, world.completed)
    delivery = _dispatched(world, world.live)
    return Scene(world=world, delivery=delivery, delivery_order=delivery.order)


def grow(scene: Scene) -> None:
    """One more round of every kind of row the budget table's pages list."""
    world = scene.world
    users = world.cast.users
    staff, operations = users[STAFF_OWN], users[OPERATIONS]
    doctor_actor = actor_for_user(world.doctor)
    today = timezone.localdate()
    round_number = next(_rounds)

    # The delivery on its way moves on; the paid order is partly refunded; the draft collects
    # another warning.
    courier_reports(scene.delivery, next(scene.courier_steps))
    order_refund(actor=actor_for_user(operations), order=world.order, amount_fen=1, reason="差价")
    PrescriptionWarning.objects.create(
        prescription=world.draft,
        kind="duplicate_therapy",
        key=f"duplicate:round{round_number}",
        message="与正在服用的药物重复 (duplicate therapy).",
    )

    # The network: a facility, a department with a doctor (with a free slot), a terminal, drugs
    # on the shelf.
    make_facility()
    make_department()
    make_slot(make_doctor(), starts_in=datetime.timedelta(days=2))
    make_terminal(world.facility)
    drug = make_drug()
    stock_up(world.facility, drug, 5)
    stock_adjust(
        actor=actor_for_user(staff),
        facility=world.facility,
        drug=drug,
        change=10,
        reason="received",
    )
    icd10(f"I1{round_number}.9", name_zh="高血压", name_en="Hypertension")

    # The patient's record: consent, evidence, vitals at the terminal during the live visit.
    make_consent(world.patient, staff)
    make_evidence(world.patient, staff)
    records.vital_sign_record(
        actor=actor_for_user(staff),
        terminal=world.terminal,
        consultation=world.live,
        kind="blood_pressure",
        value=Decimal(128),
        value_secondary=Decimal(82),
    )

    # Consultations: booked (today's list), checked in (the doctor's queue), in progress,
    # completed (reviewed, surveyed), of the patient and a newcomer.
    newcomer_booked = _consultation(world, "booked", newcomer=True)
    scene.newcomers.append(newcomer_booked)
    _consultation(world, "booked")
    _consultation(world, "checked_in", newcomer=True)
    live = _in_progress(_visit(world, _consultation(world, "checked_in")))
    # A newcomer consented, with verified evidence, seen and prescribed for: an order of someone
    # else's (the patient's own lists must not be all there is).
    newcomer = _consultation(world, "checked_in", newcomer=True)
    make_consent(newcomer.patient, staff)
    make_evidence(newcomer.patient, staff, verified_by=world.doctor)
    _approved(world, _in_progress(_visit(world, newcomer)))

    # Prescriptions in every state, written in the consultation the pages show: approved and
    # paid (a pickup handed over, another waiting, a delivery on its way), signed, rejected (one
    # revised into a new draft), a draft with a warning.
    approved = _approved(world, world.live)
    paid = _paid(PaymentOrder.objects.get(prescription=approved), users[PATIENT_OWNER])
    handed_over = Fulfilment.objects.get(
        order=_paid(
            PaymentOrder.objects.get(prescription=_approved(world, world.live)),
            users[PATIENT_OWNER],
        )
    )
    pickup_dispense(actor=actor_for_user(staff), code=handed_over.pickup_code)
    delivery = _dispatched(world, world.live)
    _signed(world, world.live)
    rejected = [
        prescription_lifecycle.prescription_reject(
            actor=actor_for_user(users[PHARMACIST]),
            prescription=_signed(world, world.live),
            reasons=["dose"],
            comment="剂量请再核对。",
        )
        for _ in range(2)
    ]
    prescribing.prescription_revise(actor=doctor_actor, prescription=rejected[0])
    draft = make_draft(_visit(world, world.live), draft=spec(item(make_drug()))).prescription
    PrescriptionWarning.objects.create(
        prescription=draft,
        kind="duplicate_therapy",
        key="duplicate:C08CA01",
        message="与正在服用的药物重复 (duplicate therapy).",
    )
    completed = consultation_lifecycle.consultation_complete(
        actor=doctor_actor,
        consultation=_in_progress(_visit(world, _consultation(world, "checked_in"))),
    )
    _peer_review(completed, reviewer=users[DOCTOR_OTHER])
    ReviewAssignment.objects.create(
        sample=world.review.sample,
        kind="prescription",
        consultation=world.live,
        prescription=approved,
        doctor=world.doctor.doctor_profile,
        author=world.doctor,
        co_author=users[PHARMACIST],
        reviewer=users[DOCTOR_OTHER],
        assigned_at=timezone.now(),
        due_at=timezone.now() + datetime.timedelta(days=7),
    )
    _feedback_invitation(completed)

    # The doctor's calendar: free slots, another week's hours, a day off.
    for days in (3, 4):
        make_slot(world.doctor, starts_in=datetime.timedelta(days=days, minutes=round_number))
    WeeklyAvailability.objects.create(
        doctor=world.doctor.doctor_profile,
        weekday=5,
        starts_at=datetime.time(8 + round_number, 0),
        ends_at=datetime.time(8 + round_number, 30),
    )
    ScheduleException.objects.create(
        doctor=world.doctor.doctor_profile,
        kind="leave",
        date=today + datetime.timedelta(days=9 + round_number),
        reason="学术会议",
    )

    # Notifications: an undeliverable SMS for operations, an unread message for the patient.
    Notification.objects.create(
        recipient_patient=world.patient,
        channel="sms",
        event="booking_confirmed",
        objects_ids={"consultation": newcomer_booked.pk},
        dedupe_key=f"budgets:dead:{newcomer_booked.pk}",
        status=NotificationStatus.DEAD,
        attempts=8,
        last_error="isv.MOBILE_NUMBER_ILLEGAL",
        next_attempt_at=timezone.now(),
        dead_at=timezone.now(),
    )
    Notification.objects.create(
        recipient_user=staff,
        channel="wechat",
        event="consultation_started",
        objects_ids={"consultation": live.pk},
        dedupe_key=f"budgets:dead:{live.pk}",
        status=NotificationStatus.DEAD,
        attempts=8,
        last_error="43004 require subscribe",
        next_attempt_at=timezone.now(),
        dead_at=timezone.now(),
    )
    _inbox_message(users[PATIENT_OWNER], live)

    # Quality and privacy: a complaint, an answer to the first one, a flagged read, a report.
    for subject_kind, subject in (
        ("consultation", live),
        ("prescription", approved),
        ("payment", paid),
        ("delivery", delivery),
    ):
        complaint_file(
            actor=actor_for_user(users[PATIENT_OWNER]),
            subject_kind=subject_kind,
            subject_id=subject.public_id,
            description="等候时间太长。",
        )
    complaint = Complaint.objects.get(pk=world.complaint.pk)
    if complaint.status == "submitted":
        complaint = complaint_triage(
            actor=actor_for_user(operations),
            complaint=complaint,
            category="waiting",
            severity="low",
            assignee=operations,
        )
    complaint_reply(actor=actor_for_user(operations), complaint=complaint, body="已联系医生。")
    _access_flag(world.patient, reader=make_doctor())
    ReconciliationDiscrepancy.objects.create(
        report=world.reconciliation,
        kind="amount_mismatch",
        line_kind="payment",
        out_trade_no=f"{paid.number}-1",
        provider_amount_fen=paid.paid_fen + 1,
        ledger_amount_fen=paid.paid_fen,
        order=paid,
    )
    ReconciliationReport.objects.create(
        provider="wechatpay",
        bill_date=today - datetime.timedelta(days=round_number),
        status="completed",
        provider_lines=1,
        ledger_lines=1,
        matched=1,
        ran_at=timezone.now(),
    )
