"""Schedule (one per doctor with slots), Slot and Appointment (every consultation booking):
consultations' slots and bookings.

A Schedule is the doctor's, visible to whoever may see both the doctor (doctors directory) and
slots (`slots_visible_to`); its id is the doctor's user id, like their Practitioner.
"""

from collections.abc import Callable

from django.db.models import Q, QuerySet

from accounts.models import DoctorProfile
from accounts.selectors import doctors_visible_to
from clinics.models import Department
from consultations.models import Consultation, ConsultationKind, ConsultationStatus, Slot
from consultations.selectors.consultations import AUDIT_OBJECT_TYPE, consultations_visible_to
from consultations.selectors.slots import slots_visible_to
from core.actors import Actor
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.params import (
    NOTHING,
    date_filter,
    parse_token,
    reference_filter,
    token_filter,
)
from interop.fhir.registry import (
    AuditTarget,
    Include,
    MapContext,
    ResourceType,
    SearchParam,
    Source,
    references_at,
    uuid_id,
)

ONLINE_FOLLOW_UP = "互联网复诊 online follow-up visit"


def department_concept(department: Department) -> JSON:
    return dt.concept(
        dt.coding(
            codes.local_system("department"), department.code, department.name_en or department.name
        ),
        text=department.name,
    )


def schedule_rows(actor: Actor) -> QuerySet[DoctorProfile]:
    return (
        DoctorProfile.objects.filter(
            pk__in=doctors_visible_to(actor=actor).values("pk"),
        )
        .filter(pk__in=slots_visible_to(actor=actor).values("doctor_id"))
        .select_related("user", "department")
    )


def schedule_resource(doctor: DoctorProfile, context: MapContext) -> JSON:
    resource = dt.resource("Schedule", str(doctor.user.public_id), None)
    resource |= {
        "active": doctor.user.is_active,
        "serviceType": [dt.concept(text=ONLINE_FOLLOW_UP)],
        "specialty": [department_concept(doctor.department)],
        "actor": [
            dt.reference("Practitioner", doctor.user.public_id, doctor.user.full_name),
            dt.reference("PractitionerRole", doctor.user.public_id),
        ],
        "comment": f"{doctor.department.name} {doctor.user.full_name}",
    }
    return resource


def slot_rows(actor: Actor) -> QuerySet[Slot]:
    return slots_visible_to(actor=actor)


def slot_status(slot: Slot) -> str:
    if slot.is_withdrawn:
        return "busy-unavailable"
    return "busy" if slot.is_booked else "free"  # type: ignore[attr-defined]


def slot_resource(slot: Slot, context: MapContext) -> JSON:
    resource = dt.resource("Slot", str(slot.public_id), None)
    resource |= {
        "serviceType": [dt.concept(text=ONLINE_FOLLOW_UP)],
        "specialty": [department_concept(slot.department)],
        "schedule": dt.reference("Schedule", slot.doctor.user.public_id),
        "status": slot_status(slot),
        "start": dt.instant(slot.starts_at),
        "end": dt.instant(slot.ends_at),
    }
    return resource


def _slot_status_filter(raw: str) -> Q:
    code = parse_token(raw).code
    if code == "busy-unavailable":
        return Q(is_withdrawn=True)
    if code == "busy":
        return Q(is_withdrawn=False, is_booked=True)
    if code == "free":
        return Q(is_withdrawn=False, is_booked=False)
    return NOTHING


def appointment_rows(actor: Actor) -> QuerySet[Consultation]:
    return consultations_visible_to(actor=actor).select_related("slot", "doctor__user")


def appointment_resource(consultation: Consultation, context: MapContext) -> JSON:
    walk_in = consultation.kind == ConsultationKind.WALK_IN
    resource = dt.resource("Appointment", str(consultation.public_id), consultation.updated_at)
    resource["status"] = codes.APPOINTMENT_STATUS[ConsultationStatus(consultation.status)]
    if consultation.status == ConsultationStatus.CANCELLED and consultation.cancel_reason:
        resource["cancelationReason"] = dt.concept(text=consultation.cancel_reason)
    participants: list[JSON] = [
        {"actor": dt.reference("Patient", consultation.patient.public_id), "status": "accepted"}
    ]
    if consultation.doctor is not None:
        participants.append(
            {
                "actor": dt.reference(
                    "Practitioner",
                    consultation.doctor.user.public_id,
                    consultation.doctor.user.full_name,
                ),
                "status": "accepted",
            }
        )
    participants.append(
        {
            "actor": dt.reference(
                "Location", consultation.facility.public_id, consultation.facility.name
            ),
            "status": "accepted",
        }
    )
    resource |= {
        "serviceType": [dt.concept(text=ONLINE_FOLLOW_UP)],
        "specialty": [department_concept(consultation.department)],
        "appointmentType": dt.concept(
            dt.coding(
                codes.V2_APPOINTMENT_REASON,
                "WALKIN" if walk_in else "FOLLOWUP",
                "A previously unscheduled walk-in visit" if walk_in else "A follow up visit",
            )
        ),
        "start": dt.instant(consultation.scheduled_start),
        "end": dt.instant(consultation.scheduled_end),
        "created": dt.instant(consultation.created_at),
        "participant": participants,
    }
    if consultation.slot is not None:
        resource["slot"] = [dt.reference("Slot", consultation.slot.public_id)]
    return resource


def status_filter(mapping: dict[str, str], field: str = "status") -> Callable[[str], Q]:
    return token_filter(
        {code: codes.statuses_for(mapping, code) for code in set(mapping.values())}, field
    )


def consultation_audit(consultation: Consultation) -> AuditTarget:
    return AuditTarget(AUDIT_OBJECT_TYPE, str(consultation.public_id))


SCHEDULE = ResourceType(
    name="Schedule",
    documentation="Each doctor's bookable online follow-up hours.",
    sources=(
        Source(
            rows=schedule_rows,
            to_resource=schedule_resource,
            id_filter=uuid_id("user__public_id"),
            order_by=("department__code", "user__username"),
            filters={
                "actor": reference_filter("user__public_id", "Practitioner"),
                "specialty": lambda raw: Q(department__code=parse_token(raw).code),
            },
        ),
    ),
    params={
        "actor": SearchParam("reference", "Practitioner/<id>"),
        "specialty": SearchParam("token", "Department code"),
    },
)

SLOT = ResourceType(
    name="Slot",
    documentation="Bookable periods generated from the doctors' schedules.",
    sources=(
        Source(
            rows=slot_rows,
            to_resource=slot_resource,
            id_filter=uuid_id(),
            order_by=("starts_at", "doctor_id", "pk"),
            filters={
                "schedule": reference_filter("doctor__user__public_id", "Schedule"),
                "start": date_filter("starts_at"),
                "status": _slot_status_filter,
                "specialty": lambda raw: Q(department__code=parse_token(raw).code),
            },
        ),
    ),
    params={
        "schedule": SearchParam("reference", "Schedule/<id>"),
        "start": SearchParam("date", "Start of the slot"),
        "status": SearchParam("token", "free | busy | busy-unavailable"),
        "specialty": SearchParam("token", "Department code"),
    },
)

APPOINTMENT = ResourceType(
    name="Appointment",
    documentation="Every consultation booking (scheduled or walk-in).",
    sources=(
        Source(
            rows=appointment_rows,
            to_resource=appointment_resource,
            id_filter=uuid_id(),
            order_by=("-scheduled_start", "-pk"),
            filters={
                "patient": reference_filter("patient__public_id", "Patient"),
                "practitioner": reference_filter("doctor__user__public_id", "Practitioner"),
                "location": reference_filter("facility__public_id", "Location"),
                "date": date_filter("scheduled_start"),
                "status": status_filter(codes.APPOINTMENT_STATUS),
            },
            last_updated="updated_at",
            audit=consultation_audit,
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "practitioner": SearchParam("reference", "Practitioner/<id>"),
        "location": SearchParam("reference", "Location/<id> (the facility)"),
        "date": SearchParam("date", "Scheduled start"),
        "status": SearchParam("token", "booked | checked-in | fulfilled | cancelled | noshow"),
    },
    includes={
        "Appointment:patient": Include("Patient", references_at("participant.actor")),
        "Appointment:practitioner": Include("Practitioner", references_at("participant.actor")),
        "Appointment:location": Include("Location", references_at("participant.actor")),
    },
)
