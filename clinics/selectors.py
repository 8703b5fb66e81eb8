"""Reads over the clinic network, scoped to the actor."""

from django.db.models import QuerySet

from accounts.models import Role, User
from clinics.models import Department, Facility, StaffMembership, Terminal
from core.actors import TERMINAL_ROLE, Actor
from core.exceptions import NotFoundError


def staff_facility_id(*, user: User) -> int | None:
    """The facility a clinic staff user works at, or None (not staff, or membership inactive)."""
    if user.role != Role.CLINIC_STAFF:
        return None
    membership = (
        StaffMembership.objects.filter(user=user, is_active=True).values_list("facility_id").first()
    )
    return membership[0] if membership else None


def facilities_visible_to(*, actor: Actor) -> QuerySet[Facility]:
    """Operations, doctors and pharmacists see the network; staff and terminals their own site."""
    facilities = Facility.objects.all()
    if actor.has_role(Role.OPERATIONS, Role.DOCTOR, Role.PHARMACIST):
        return facilities
    if actor.has_role(Role.CLINIC_STAFF, TERMINAL_ROLE) and actor.facility_id is not None:
        return facilities.filter(pk=actor.facility_id)
    return facilities.none()


def facility_get_for_actor(*, actor: Actor, public_id: str) -> Facility:
    facility = facilities_visible_to(actor=actor).filter(public_id=public_id).first()
    if facility is None:
        raise NotFoundError("Facility not found.")
    return facility


def terminals_visible_to(*, actor: Actor) -> QuerySet[Terminal]:
    terminals = Terminal.objects.select_related("facility")
    if actor.has_role(Role.OPERATIONS):
        return terminals
    if actor.has_role(Role.CLINIC_STAFF, TERMINAL_ROLE) and actor.facility_id is not None:
        return terminals.filter(facility_id=actor.facility_id)
    return terminals.none()


def terminal_get_for_actor(*, actor: Actor, public_id: str) -> Terminal:
    terminal = terminals_visible_to(actor=actor).filter(public_id=public_id).first()
    if terminal is None:
        raise NotFoundError("Terminal not found.")
    return terminal


def departments_active() -> QuerySet[Department]:
    return Department.objects.filter(is_active=True).select_related("hospital")
