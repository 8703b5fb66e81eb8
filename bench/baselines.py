"""Bare baselines of the load benchmark's endpoints (mounted by bench/urls.py under
/bench/baseline/, only in bench.settings).

Each view does the database work of one real endpoint — the same rows read, locked and written,
in the same transactions — and nothing else: no input validation or permission rules, no
serializers or templates (the answer is a bare JSON of ids), no signature, decryption or JWT
verification, no audit rows and no notifications. They are driven with the same requests as the
real endpoints (same headers and bodies), through the same middleware, so that real/baseline is
what the platform's own code costs over the data it has to touch.

Who is asking is read as the real authentication reads it (the user row, the staff membership),
but the bearer token's payload is decoded without checking its signature, and a payment
notification names its order in the URL instead of inside the encrypted body.
"""

import base64
import datetime
import json
import uuid
from typing import Any

from django.db import transaction
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.urls import path
from django.utils import timezone
from django.utils.dateparse import parse_date
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from accounts.models import DoctorProfile, User
from consultations.models import (
    ACTIVE_STATUSES,
    Consultation,
    ConsultationEvent,
    ConsultationKind,
    ConsultationStatus,
    Slot,
)
from consultations.selectors.consultations import doctor_queue
from consultations.selectors.slots import slots_by_availability, slots_on_day, slots_upcoming
from consultations.services.booking import retention_until
from core.actors import SYSTEM_ACTOR, Actor, actor_for_user
from patients.models import Patient
from payments.models import (
    AttemptStatus,
    CallbackOutcome,
    InboundCallback,
    LedgerKind,
    LedgerSource,
    OrderEvent,
    OrderStatus,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
)
from payments.services.ledger import receipt_key
from pharmacy.models import (
    Dispense,
    DispenseItem,
    FacilityStock,
    Fulfilment,
    FulfilmentEvent,
    FulfilmentStatus,
    StockMovement,
    StockMovementReason,
)
from pharmacy.pickup_codes import new_pickup_code
from pharmacy.selectors import fulfilment_detail
from prescriptions.models import Prescription, PrescriptionEvent, PrescriptionStatus
from signing.models import CredentialStatus, SigningCredential

PAGE_SIZE = 20  # core.api.pagination.StandardPagination


def _bearer_user(request: HttpRequest) -> User:
    """The user a bearer token names (its payload read, its signature not checked)."""
    token = request.headers.get("Authorization", "").removeprefix("Bearer ")
    payload = token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return User.objects.get(public_id=claims["sub"])


def _bearer_actor(request: HttpRequest) -> Actor:
    return actor_for_user(_bearer_user(request))


def _staff(request: HttpRequest) -> tuple[Actor, User, int]:
    """The bearer's actor, user and facility (clinic staff)."""
    actor = _bearer_actor(request)
    assert actor.user is not None
    assert actor.facility_id is not None
    return actor, actor.user, actor.facility_id


def _ids(rows: list[Any]) -> list[str]:
    return [str(row.public_id) for row in rows]


@require_GET
def slot_search(request: HttpRequest) -> JsonResponse:
    """GET slots/?department=&date=&available=true: the count and the first page."""
    slots = slots_upcoming(actor=_bearer_actor(request)).filter(
        department__public_id=request.GET["department"]
    )
    day = parse_date(request.GET["date"])
    assert day is not None
    slots = slots_by_availability(slots_on_day(slots, day), available=True)
    count = slots.count()
    return JsonResponse({"count": count, "results": _ids(list(slots[:PAGE_SIZE]))})


@csrf_exempt
@require_POST
def booking(request: HttpRequest) -> JsonResponse:
    """POST consultations/ {patient, slot}: lock the doctor and the patient, re-read the slot,
    the patient's overlapping and upcoming bookings, insert the booking and its event."""
    actor, user, facility_id = _staff(request)
    data = json.loads(request.body)
    patient = Patient.objects.get(public_id=data["patient"])
    slot = Slot.objects.get(public_id=data["slot"])
    now = timezone.now()
    with transaction.atomic(durable=True):
        doctor = (
            DoctorProfile.objects.select_for_update().select_related("user").get(pk=slot.doctor_id)
        )
        locked = Patient.objects.select_for_update().get(pk=patient.pk)
        fresh = Slot.objects.select_related("department").get(pk=slot.pk)
        Consultation.objects.filter(slot=fresh).exclude(
            status=ConsultationStatus.CANCELLED
        ).exists()
        active = Consultation.objects.filter(patient=locked, status__in=ACTIVE_STATUSES)
        active.filter(
            kind=ConsultationKind.SCHEDULED,
            scheduled_start__lt=fresh.ends_at,
            scheduled_end__gt=fresh.starts_at,
        ).exists()
        active.filter(scheduled_end__gt=now).count()
        consultation = Consultation.objects.create(
            patient=locked,
            department=fresh.department,
            doctor=doctor,
            facility_id=facility_id,
            kind=ConsultationKind.SCHEDULED,
            slot=fresh,
            scheduled_start=fresh.starts_at,
            scheduled_end=fresh.ends_at,
            status=ConsultationStatus.BOOKED,
            fee_fen=fresh.department.consultation_fee_fen,
            booked_by=user,
            retention_until=retention_until(timezone.localdate(now)),
        )
        ConsultationEvent.objects.create(
            consultation=consultation,
            from_status="",
            to_status=ConsultationStatus.BOOKED,
            actor=actor.user,
            actor_role=actor.role,
            occurred_at=now,
        )
    return JsonResponse({"id": str(consultation.public_id)}, status=201)


@require_GET
def queue(request: HttpRequest) -> JsonResponse:
    """GET consultations/queue/: the doctor's waiting patients today (one query)."""
    return JsonResponse({"results": _ids(doctor_queue(actor=_bearer_actor(request)))})


@csrf_exempt
@require_POST
def sign(request: HttpRequest, public_id: uuid.UUID) -> JsonResponse:
    """POST prescriptions/{id}/sign/ {pin}: read the draft with its items and warnings, lock the
    credential and note the signature on it, lock the prescription, write it signed, event."""
    actor = _bearer_actor(request)
    draft = Prescription.objects.select_related(
        "consultation__patient",
        "consultation__doctor__user",
        "patient",
        "doctor__user",
        "doctor__department",
        "diagnosis",
        "evidence",
        "previous_version",
    ).get(public_id=public_id)
    list(draft.items.select_related("drug"))
    list(draft.warnings.all())
    now = timezone.now()
    with transaction.atomic(durable=True):
        credential = (
            SigningCredential.objects.select_for_update()
            .filter(user=actor.user, status=CredentialStatus.ACTIVE)
            .first()
        )
        assert credential is not None
        credential.failed_pin_attempts = 0
        credential.locked_until = None
        credential.last_signed_at = now
        credential.save(update_fields=["failed_pin_attempts", "locked_until", "last_signed_at"])
    with transaction.atomic(durable=True):
        locked = (
            Prescription.objects.select_for_update()
            .select_related("patient", "doctor__user", "consultation")
            .get(pk=draft.pk)
        )
        list(locked.warnings.all())
        from_status = locked.status
        locked.status = PrescriptionStatus.SIGNED
        locked.signed_at = now
        locked.valid_until = now
        locked.signed_content = "{}"
        locked.doctor_signature = "baseline"
        locked.doctor_certificate = credential.certificate_pem
        locked.doctor_certificate_serial = credential.certificate_serial
        locked.save(
            update_fields=[
                "status",
                "updated_at",
                "signed_at",
                "valid_until",
                "signed_content",
                "doctor_signature",
                "doctor_certificate",
                "doctor_certificate_serial",
            ]
        )
        PrescriptionEvent.objects.create(
            prescription=locked,
            from_status=from_status,
            to_status=PrescriptionStatus.SIGNED,
            actor=actor.user,
            actor_role=actor.role,
            occurred_at=now,
        )
    return JsonResponse({"id": str(locked.public_id)})


@csrf_exempt
@require_POST
def payment_notify(request: HttpRequest, provider: str, out_trade_no: str) -> JsonResponse:
    """POST payments/notify/{provider}: store the callback, lock it, find the attempt, lock the
    order, record the payment in the ledger, the order paid with its event, the pickup started
    (fulfilment, events, pickup code), the callback's outcome."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        callback = InboundCallback.objects.create(
            provider=provider,
            event_id=uuid.uuid4().hex,
            kind="payment",
            headers=dict(request.headers),
            body=request.body,
            remote_addr=request.META.get("REMOTE_ADDR"),
            out_trade_no=out_trade_no,
        )
    with transaction.atomic(durable=True):
        callback = InboundCallback.objects.select_for_update().get(pk=callback.pk)
        attempt = PaymentAttempt.objects.get(provider=provider, out_trade_no=out_trade_no)
        order = PaymentOrder.objects.select_for_update().get(pk=attempt.order_id)
        attempt.refresh_from_db()
        PaymentEvent.objects.filter(dedupe_key=receipt_key(attempt)).exists()
        attempt.status = AttemptStatus.PAID
        attempt.transaction_id = f"baseline-{callback.pk}"
        attempt.paid_at = now
        attempt.save(update_fields=["status", "transaction_id", "paid_at"])
        PaymentEvent.objects.create(
            order=order,
            attempt=attempt,
            callback=callback,
            kind=LedgerKind.PAID,
            provider=provider,
            out_trade_no=out_trade_no,
            transaction_id=attempt.transaction_id,
            amount_fen=attempt.amount_fen,
            source=LedgerSource.CALLBACK,
            dedupe_key=receipt_key(attempt),
            occurred_at=now,
        )
        from_status = order.status
        order.paid_fen = attempt.amount_fen
        order.paid_at = now
        order.status = OrderStatus.PAID
        order.save()
        OrderEvent.objects.create(
            order=order,
            from_status=from_status,
            to_status=OrderStatus.PAID,
            actor_role=SYSTEM_ACTOR.role,
            occurred_at=now,
        )
        assert order.prescription_id is not None
        assert order.pickup_facility_id is not None
        fulfilment = Fulfilment.objects.create(
            order=order,
            prescription_id=order.prescription_id,
            patient_id=order.patient_id,
            method=order.fulfilment_method,
            facility_id=order.pickup_facility_id,
            paid_at=now,
        )
        FulfilmentEvent.objects.create(
            fulfilment=fulfilment,
            from_status="",
            to_status=FulfilmentStatus.AWAITING_PAYMENT,
            actor_role=SYSTEM_ACTOR.role,
            occurred_at=now,
        )
        fulfilment.status = FulfilmentStatus.READY_FOR_PICKUP
        fulfilment.pickup_code = new_pickup_code()
        fulfilment.pickup_code_expires_at = now + datetime.timedelta(hours=72)
        fulfilment.ready_at = now
        fulfilment.save(
            update_fields=[
                *("status", "updated_at", "pickup_code", "pickup_code_expires_at", "ready_at")
            ]
        )
        FulfilmentEvent.objects.create(
            fulfilment=fulfilment,
            from_status=FulfilmentStatus.AWAITING_PAYMENT,
            to_status=FulfilmentStatus.READY_FOR_PICKUP,
            actor_role=SYSTEM_ACTOR.role,
            occurred_at=now,
        )
        callback.outcome = CallbackOutcome.ACCEPTED
        callback.order = order
        callback.processed_at = now
        callback.save(update_fields=["outcome", "reject_code", "processed_at", "order"])
    return JsonResponse({"id": str(order.public_id)})


@csrf_exempt
@require_POST
def pickup(request: HttpRequest) -> JsonResponse:
    """POST fulfilments/pickup/ {code}: find the pickup here, lock prescription, order, items and
    fulfilment, write the prescription dispensed (event), the dispense and its items, take the
    shelf rows (locked) with their movements, the fulfilment picked up (event)."""
    actor, _user, facility_id = _staff(request)
    code = json.loads(request.body)["code"]
    found = Fulfilment.objects.filter(
        facility_id=facility_id, pickup_code=code, status=FulfilmentStatus.READY_FOR_PICKUP
    ).first()
    assert found is not None
    now = timezone.now()
    with transaction.atomic(durable=True):
        prescription = (
            Prescription.objects.select_for_update()
            .select_related("patient", "doctor__user", "consultation")
            .get(pk=found.prescription_id)
        )
        PaymentOrder.objects.select_for_update().get(pk=found.order_id)
        items = list(prescription.items.order_by("position"))
        fulfilment = Fulfilment.objects.select_for_update().get(pk=found.pk)
        prescription.status = PrescriptionStatus.DISPENSED
        prescription.dispensed_at = now
        prescription.save(update_fields=["status", "updated_at", "dispensed_at"])
        PrescriptionEvent.objects.create(
            prescription=prescription,
            from_status=PrescriptionStatus.APPROVED,
            to_status=PrescriptionStatus.DISPENSED,
            actor=actor.user,
            actor_role=actor.role,
            occurred_at=now,
        )
        dispense = Dispense.objects.create(
            fulfilment=fulfilment,
            prescription=prescription,
            facility_id=facility_id,
            dispensed_by=actor.user,
            actor_role=actor.role,
            dispensed_at=now,
        )
        DispenseItem.objects.bulk_create(
            DispenseItem(
                dispense=dispense,
                prescription_item=item,
                drug_id=item.drug_id,
                quantity=item.quantity,
            )
            for item in items
        )
        needed: dict[int, int] = {}
        for item in items:
            needed[item.drug_id] = needed.get(item.drug_id, 0) + item.quantity
        shelves = FacilityStock.objects.select_for_update().filter(
            facility_id=facility_id, drug_id__in=needed
        )
        movements = []
        for shelf in shelves.order_by("drug_id"):
            packs = needed[shelf.drug_id]
            FacilityStock.objects.filter(pk=shelf.pk).update(
                quantity=F("quantity") - packs, updated_at=now
            )
            movements.append(
                StockMovement(
                    facility_id=facility_id,
                    drug_id=shelf.drug_id,
                    change=-packs,
                    quantity_after=shelf.quantity - packs,
                    reason=StockMovementReason.DISPENSED,
                    dispense=dispense,
                    actor=actor.user,
                    actor_role=actor.role,
                    occurred_at=now,
                )
            )
        StockMovement.objects.bulk_create(movements)
        fulfilment.status = FulfilmentStatus.PICKED_UP
        fulfilment.picked_up_at = now
        fulfilment.save(update_fields=["status", "updated_at", "picked_up_at"])
        FulfilmentEvent.objects.create(
            fulfilment=fulfilment,
            from_status=FulfilmentStatus.READY_FOR_PICKUP,
            to_status=FulfilmentStatus.PICKED_UP,
            actor=actor.user,
            actor_role=actor.role,
            occurred_at=now,
        )
    return JsonResponse({"id": str(fulfilment.public_id)})


@require_GET
def tracking_page(request: HttpRequest, public_id: uuid.UUID) -> JsonResponse:
    """GET m/fulfilments/{id}/ (session): the patient's own fulfilment, then its timeline,
    waybills, tracking reports and dispense (the page's selector), no template."""
    user = request.user
    assert isinstance(user, User)
    actor_for_user(user)
    found = Fulfilment.objects.filter(patient__user=user, public_id=public_id).get()
    detailed = fulfilment_detail(found)
    return JsonResponse(
        {
            "id": str(detailed.public_id),
            "events": [event.pk for event in detailed.events.all()],
            "waybills": [
                [event.pk for event in getattr(waybill, "reports", [])]
                for waybill in detailed.waybills.all()
            ],
        }
    )


urlpatterns = [
    path("slots/", slot_search, name="slots"),
    path("consultations/", booking, name="booking"),
    path("consultations/queue/", queue, name="queue"),
    path("prescriptions/<uuid:public_id>/sign/", sign, name="sign"),
    path(
        "payments/notify/<str:provider>/<str:out_trade_no>",
        payment_notify,
        name="payment-notify",
    ),
    path("fulfilments/pickup/", pickup, name="pickup"),
    path("m/fulfilments/<uuid:public_id>/", tracking_page, name="tracking"),
]
