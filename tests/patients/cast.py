"""Everyone around one patient, for access tests: who should see their records and who not."""

from dataclasses import dataclass

from accounts.models import User
from clinics.models import Facility
from patients.models import Patient
from tests.factories import (
    make_consultation,
    make_doctor,
    make_facility,
    make_patient,
    make_patient_user,
    make_staff,
    make_terminal,
    make_user,
    resident_id,
)


@dataclass
class Cast:
    facility: Facility
    staff: User
    other_staff: User
    doctor: User
    other_doctor: User
    operations: User
    patient: Patient
    patient_user: User
    other_patient_user: User
    terminal_credential: str


def make_cast(*, name: str, birth: str) -> Cast:
    """A patient served at one facility and treated by one doctor, plus a stranger of each kind."""
    facility = make_facility()
    staff = make_staff(facility=facility)
    patient = make_patient(staff, name=name, id_number=resident_id(birth=birth))
    doctor = make_doctor()
    make_consultation(patient=patient, doctor_user=doctor, facility=facility)
    other_staff = make_staff(facility=make_facility())
    other_patient = make_patient(other_staff, id_number=resident_id(birth="19700101"))
    return Cast(
        facility=facility,
        staff=staff,
        other_staff=other_staff,
        doctor=doctor,
        other_doctor=make_doctor(),
        operations=make_user(),
        patient=patient,
        patient_user=make_patient_user(patient),
        other_patient_user=make_patient_user(other_patient),
        terminal_credential=make_terminal(facility).credential,
    )
