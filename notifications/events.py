"""The event registry: every notification the platform sends, who receives it, and how it is
rendered. It is the one source the templates test iterates over.

Each event has, per language (zh-hans, en), two templates under
`notifications/templates/notifications/events/<event>/`: `<lang>.txt` (first line the title,
then a blank line, then the body: in-app, e-mail, WeChat) and `<lang>.sms.txt` (the SMS text:
minimal — never a diagnosis, a drug name or an identity number).

`build_context(objects)` turns the row's object ids into the template context at send time;
events whose flows have not landed yet (prescriptions, payments, fulfilment) have none: their
templates are written and tested with realistic data, and the builder arrives with the flow.
`still_relevant(objects)` lets a deferred message (a reminder) be withdrawn when the event no
longer holds.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.utils import timezone

ContextBuilder = Callable[[dict[str, Any]], dict[str, Any]]
RelevanceCheck = Callable[[dict[str, Any]], bool]

PATIENT = "patient"
DOCTOR = "doctor"
CLINIC_STAFF = "clinic_staff"
PHARMACIST = "pharmacist"
OPERATIONS = "operations"


@dataclass(frozen=True)
class EventType:
    key: str
    audience: str
    description: str
    urgent: bool = False
    # Reminders: held back during quiet hours on channels that ring a phone.
    deferrable: bool = False
    # Restrict the channels (login codes go by SMS only); None: the recipient's preferences.
    channels: frozenset[str] | None = None
    build_context: ContextBuilder | None = None
    still_relevant: RelevanceCheck | None = None

    def template_names(self, language: str) -> tuple[str, str]:
        base = f"notifications/events/{self.key}/{language}"
        return f"{base}.txt", f"{base}.sms.txt"


def local_time(value: Any) -> str:
    return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")


def masked_name(name: str) -> str:
    """陈志强 → 陈**: enough for the patient to recognise, nothing for anyone else."""
    return name[:1] + "*" * max(len(name) - 1, 1) if name else ""


def _consultation_context(objects: dict[str, Any]) -> dict[str, Any]:
    from consultations.models import Consultation

    consultation = Consultation.objects.select_related(
        "patient", "doctor__user", "department", "facility"
    ).get(pk=objects["consultation"])
    doctor = consultation.doctor
    return {
        "patient_name": masked_name(consultation.patient.name),
        "doctor_name": doctor.user.full_name if doctor else "",
        "department_name": consultation.department.name,
        "facility_name": consultation.facility.name,
        "start": local_time(consultation.scheduled_start),
        "walk_in_token": consultation.walk_in_token,
        "is_walk_in": consultation.kind == "walk_in",
        "termination_reason_code": consultation.termination_reason,
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def _prescription_context(objects: dict[str, Any]) -> dict[str, Any]:
    from prescriptions.models import Prescription, RejectionReason

    prescription = (
        Prescription.objects.select_related(
            "patient", "doctor__user", "pharmacist__user", "diagnosis"
        )
        .prefetch_related("items__drug")
        .get(pk=objects["prescription"])
    )
    reasons = [RejectionReason(code).label for code in prescription.rejection_reasons]
    return {
        "prescription_number": f"{prescription.number}-{prescription.version}",
        "patient_name": masked_name(prescription.patient.name),
        "doctor_name": prescription.doctor.user.full_name,
        "pharmacist_name": prescription.pharmacist.user.full_name
        if prescription.pharmacist
        else "",
        "diagnosis": prescription.diagnosis.name_zh,
        "drugs": [item.drug.name_zh for item in prescription.items.all()],
        "reason": "；".join([*reasons, prescription.rejection_comment]),
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def _yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _order_context(objects: dict[str, Any]) -> dict[str, Any]:
    from payments.models import PaymentOrder
    from payments.selectors import order_payment_url

    order = PaymentOrder.objects.select_related("patient", "prescription").get(pk=objects["order"])
    prescription = order.prescription
    return {
        "patient_name": masked_name(order.patient.name),
        "order_number": order.number,
        "prescription_number": (
            f"{prescription.number}-{prescription.version}" if prescription else order.number
        ),
        "amount_yuan": _yuan(order.payable_fen),
        "paid_yuan": _yuan(order.paid_fen),
        "refunded_yuan": _yuan(order.refunded_fen),
        "refund_pending_yuan": _yuan(order.refund_pending_fen),
        "attention_reason": order.get_attention_reason_display(),
        "payment_url": order_payment_url(order),
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def _refund_context(objects: dict[str, Any]) -> dict[str, Any]:
    from payments.models import Refund

    refund = Refund.objects.select_related("order__patient").get(pk=objects["refund"])
    return {
        "patient_name": masked_name(refund.order.patient.name),
        "order_number": refund.order.number,
        "refund_yuan": _yuan(refund.amount_fen),
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def _fulfilment_context(objects: dict[str, Any]) -> dict[str, Any]:
    from pharmacy.models import Fulfilment

    fulfilment = (
        Fulfilment.objects.select_related("patient", "facility")
        .prefetch_related("prescription__items__drug", "waybills")
        .get(pk=objects["fulfilment"])
    )
    waybill = max(fulfilment.waybills.all(), key=lambda row: row.attempt, default=None)
    deadline = fulfilment.pickup_code_expires_at
    return {
        "patient_name": masked_name(fulfilment.patient.name),
        "facility_name": fulfilment.facility.name,
        "pickup_deadline": local_time(deadline) if deadline else "",
        "drugs": [item.drug.name_zh for item in fulfilment.prescription.items.all()],
        "courier": settings.COURIER_NAME,
        "tracking_number": waybill.waybill_number if waybill else "",
        "reason": waybill.failure_reason if waybill else "",
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def _pickup_still_waiting(objects: dict[str, Any]) -> bool:
    from pharmacy.models import Fulfilment, FulfilmentStatus

    return Fulfilment.objects.filter(
        pk=objects["fulfilment"], status=FulfilmentStatus.READY_FOR_PICKUP
    ).exists()


def _consultation_still_booked(objects: dict[str, Any]) -> bool:
    from consultations.models import Consultation, ConsultationStatus

    return Consultation.objects.filter(
        pk=objects["consultation"], status=ConsultationStatus.BOOKED
    ).exists()


def _login_code_context(objects: dict[str, Any]) -> dict[str, Any]:
    from core.crypto import decrypt_text
    from notifications.models import LoginCode

    code = LoginCode.objects.get(pk=objects["login_code"])
    return {
        "code": decrypt_text(code.code_encrypted) if code.code_encrypted else "",
        "minutes": max(settings.LOGIN_CODE_TTL_SECONDS // 60, 1),
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def _login_code_usable(objects: dict[str, Any]) -> bool:
    from notifications.models import LoginCode

    return LoginCode.objects.filter(
        pk=objects["login_code"], used_at__isnull=True, expires_at__gt=timezone.now()
    ).exists()


def _dead_notification_context(objects: dict[str, Any]) -> dict[str, Any]:
    from notifications.models import Notification

    dead = Notification.objects.get(pk=objects["notification"])
    return {
        "notification_id": str(dead.public_id),
        "event": dead.event,
        "channel": dead.channel,
        "attempts": dead.attempts,
        "last_error": dead.last_error,
    }


def _quality(name: str) -> Any:
    """A context builder or relevance check of the quality app (quality/messages.py), imported
    when first called: the quality app's services import this module."""

    def call(objects: dict[str, Any]) -> Any:
        from quality import messages

        return getattr(messages, name)(objects)

    return call


def _event(key: str, audience: str, description: str, **options: Any) -> tuple[str, EventType]:
    return key, EventType(key=key, audience=audience, description=description, **options)


EVENTS: dict[str, EventType] = dict(
    [
        _event(
            "booking_confirmed",
            PATIENT,
            "A consultation was booked",
            build_context=_consultation_context,
        ),
        _event(
            "consultation_reminder_24h",
            PATIENT,
            "Reminder a day before the slot",
            deferrable=True,
            build_context=_consultation_context,
            still_relevant=_consultation_still_booked,
        ),
        _event(
            "consultation_reminder_1h",
            PATIENT,
            "Reminder an hour before the slot",
            deferrable=True,
            build_context=_consultation_context,
            still_relevant=_consultation_still_booked,
        ),
        _event(
            "patient_checked_in",
            DOCTOR,
            "The patient checked in and is in the doctor's queue",
            urgent=True,
            build_context=_consultation_context,
        ),
        _event(
            "doctor_ready",
            CLINIC_STAFF,
            "The doctor started the video consultation: the terminal should join",
            urgent=True,
            build_context=_consultation_context,
        ),
        _event(
            "consultation_terminated",
            PATIENT,
            "The doctor ended the consultation and referred the patient to in-person care",
            build_context=_consultation_context,
        ),
        _event(
            "prescription_to_review",
            PHARMACIST,
            "A signed prescription awaits review",
            build_context=_prescription_context,
        ),
        _event(
            "prescription_approved",
            DOCTOR,
            "The pharmacist approved the prescription",
            build_context=_prescription_context,
        ),
        _event(
            "prescription_rejected",
            DOCTOR,
            "The pharmacist rejected the prescription",
            build_context=_prescription_context,
        ),
        _event(
            "payment_link",
            PATIENT,
            "The approved prescription can be paid",
            build_context=_order_context,
        ),
        _event(
            "payment_received",
            PATIENT,
            "The payment was confirmed",
            build_context=_order_context,
        ),
        _event(
            "ready_for_pickup",
            PATIENT,
            "The medicine is ready at the facility",
            build_context=_fulfilment_context,
        ),
        _event(
            "pickup_reminder",
            PATIENT,
            "The medicine has not been picked up",
            deferrable=True,
            build_context=_fulfilment_context,
            still_relevant=_pickup_still_waiting,
        ),
        _event(
            "dispatched",
            PATIENT,
            "The parcel was handed to the courier",
            build_context=_fulfilment_context,
        ),
        _event(
            "out_for_delivery",
            PATIENT,
            "The courier is delivering the parcel today",
            build_context=_fulfilment_context,
        ),
        _event("delivered", PATIENT, "The parcel was delivered", build_context=_fulfilment_context),
        _event(
            "delivery_failed",
            PATIENT,
            "The courier could not deliver the parcel",
            build_context=_fulfilment_context,
        ),
        _event("refund_issued", PATIENT, "A refund was issued", build_context=_refund_context),
        _event(
            "payment_attention",
            OPERATIONS,
            "Money on an order needs a person: a late or second payment, a failed refund",
            channels=frozenset({"in_app"}),
            build_context=_order_context,
        ),
        _event(
            "notification_dead",
            OPERATIONS,
            "A notification could not be delivered",
            channels=frozenset({"in_app"}),
            build_context=_dead_notification_context,
        ),
        _event(
            "login_code",
            PATIENT,
            "A one-time sign-in code",
            urgent=True,
            channels=frozenset({"sms"}),
            build_context=_login_code_context,
            still_relevant=_login_code_usable,
        ),
        _event(
            "feedback_request",
            PATIENT,
            "After a completed consultation: a link to rate the visit",
            deferrable=True,
            build_context=_quality("feedback_context"),
            still_relevant=_quality("feedback_still_open"),
        ),
        _event(
            "feedback_reminder",
            PATIENT,
            "The visit has not been rated yet (withdrawn once it is)",
            deferrable=True,
            build_context=_quality("feedback_context"),
            still_relevant=_quality("feedback_still_open"),
        ),
        _event(
            "complaint_received",
            "complainant",
            "The complaint was received",
            build_context=_quality("complaint_context"),
        ),
        _event(
            "complaint_update",
            "complainant",
            "Operations answered the complaint",
            build_context=_quality("complaint_context"),
        ),
        _event(
            "complaint_closed",
            "complainant",
            "The complaint was closed with its resolution",
            build_context=_quality("complaint_context"),
        ),
        _event(
            "complaint_assigned",
            OPERATIONS,
            "A complaint was assigned to you",
            channels=frozenset({"in_app"}),
            build_context=_quality("complaint_context"),
        ),
        _event(
            "complaint_overdue",
            OPERATIONS,
            "A complaint is past its deadline",
            channels=frozenset({"in_app"}),
            build_context=_quality("complaint_context"),
        ),
        _event(
            "review_assigned",
            "reviewer",
            "Sampled work to score for the clinical quality review",
            channels=frozenset({"in_app"}),
            build_context=_quality("review_context"),
        ),
    ]
)
