"""Booking input: `POST consultations/` (the view is ConsultationViewSet.create).

Exactly one mode: `{patient, slot}`, `{patient, doctor}` (the doctor's first available slot),
`{patient, department}` (the department's first available slot) or
`{patient, department, walk_in: true}` (a same-day walk-in token).
"""

from typing import Any

from rest_framework import serializers
from rest_framework.request import Request

from consultations.models import Consultation
from consultations.selectors import slots as selectors
from consultations.services.booking import booking_facility_id, consultation_book
from core.actors import actor_from_request
from patients.selectors import patient_get_for_actor

MODES = ("slot", "doctor", "department")


class BookingInputSerializer(serializers.Serializer):
    patient = serializers.UUIDField()
    slot = serializers.UUIDField(required=False, allow_null=True)
    doctor = serializers.UUIDField(
        required=False, allow_null=True, help_text="The doctor's first available slot"
    )
    department = serializers.UUIDField(
        required=False,
        allow_null=True,
        help_text="The department's first available slot, or its walk-in queue with walk_in",
    )
    walk_in = serializers.BooleanField(required=False, default=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        given = [mode for mode in MODES if attrs.get(mode) is not None]
        if len(given) != 1:
            raise serializers.ValidationError("Give exactly one of slot, doctor or department.")
        if attrs["walk_in"] and given != ["department"]:
            raise serializers.ValidationError("A walk-in is booked by department.")
        return attrs


def book_from_request(request: Request) -> Consultation:
    """Validate, resolve the ids as the caller may see them (404 otherwise), book."""
    actor = actor_from_request(request)
    booking_facility_id(actor=actor)  # refuse other roles before anything is looked up
    data = BookingInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    values = data.validated_data
    patient = patient_get_for_actor(actor=actor, public_id=values["patient"])
    return consultation_book(
        actor=actor,
        patient=patient,
        slot=selectors.slot_get_for_actor(actor=actor, public_id=values["slot"])
        if values.get("slot")
        else None,
        doctor=selectors.doctor_get_for_actor(actor=actor, public_id=values["doctor"])
        if values.get("doctor")
        else None,
        department=selectors.department_get(public_id=values["department"])
        if values.get("department")
        else None,
        walk_in=values["walk_in"],
    )
