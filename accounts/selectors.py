from django.db.models import QuerySet

from accounts.models import DoctorProfile, Role
from core.actors import TERMINAL_ROLE, Actor


def doctors_visible_to(*, actor: Actor) -> QuerySet[DoctorProfile]:
    """The hospital's doctors, for booking and referral: every signed-in role but patients."""
    doctors = DoctorProfile.objects.select_related("user", "department").filter(
        user__is_active=True
    )
    if actor.has_role(Role.PATIENT, TERMINAL_ROLE):
        return doctors.none()
    return doctors.order_by("department__code", "user__username")
