"""The consultation lifecycle: every allowed transition works through its service, every other
pair is refused and changes nothing."""

import datetime
from collections.abc import Callable

import pytest
from django.conf import settings
from django.utils import timezone

from consultations.models import TRANSITIONS, ConsultationEvent, ConsultationStatus
from consultations.services import lifecycle
from core.actors import actor_for_user
from core.exceptions import DomainError
from core.models import AuditEvent
from tests.consultations.builders import Visit, make_visit
from tests.factories import make_user

pytestmark = pytest.mark.django_db

STATUSES = list(ConsultationStatus.values)


def _run_service(to_status: str, visit: Visit) -> None:
    """Ask for `to_status` through the one service that leads there, as its rightful actor."""
    consultation = visit.consultation
    doctor = actor_for_user(visit.doctor)
    staff = actor_for_user(visit.staff)
    services: dict[str, Callable[[], object]] = {
        ConsultationStatus.CHECKED_IN: lambda: lifecycle.consultation_check_in(
            actor=staff, consultation=consultation
        ),
        ConsultationStatus.IN_PROGRESS: lambda: lifecycle.consultation_start(
            actor=doctor, consultation=consultation
        ),
        ConsultationStatus.COMPLETED: lambda: lifecycle.consultation_complete(
            actor=doctor, consultation=consultation
        ),
        ConsultationStatus.CANCELLED: lambda: lifecycle.consultation_cancel(
            actor=staff, consultation=consultation, reason="患者改期"
        ),
        ConsultationStatus.TERMINATED: lambda: lifecycle.consultation_terminate(
            actor=doctor,
            consultation=consultation,
            reason_code="condition_changed",
            referral_note="建议线下就诊",
        ),
    }
    services[to_status]()


# Every pair except into "booked" (only booking creates that) and into "no_show" (a sweep, below).
PAIRS = [
    (source, target)
    for source in STATUSES
    for target in STATUSES
    if target not in (ConsultationStatus.BOOKED, ConsultationStatus.NO_SHOW)
]


@pytest.mark.parametrize(("source", "target"), PAIRS)
def test_transition_table_is_enforced(source, target):
    visit = make_visit(source)
    events_before = ConsultationEvent.objects.count()
    allowed = target in TRANSITIONS[source]

    if allowed:
        _run_service(target, visit)
        assert visit.refresh().status == target
        event = ConsultationEvent.objects.get(consultation=visit.consultation)
        assert (event.from_status, event.to_status) == (source, target)
        assert (
            AuditEvent.objects.filter(
                object_id=str(visit.consultation.public_id), action="update"
            ).count()
            == 1
        )
    else:
        with pytest.raises(DomainError) as refused:
            _run_service(target, visit)
        assert refused.value.code == "invalid_transition"
        assert refused.value.status_code == 409
        assert visit.refresh().status == source
        assert ConsultationEvent.objects.count() == events_before


@pytest.mark.parametrize("source", STATUSES)
def test_no_show_sweep_moves_only_overdue_booked_consultations(source):
    visit = make_visit(source, starts_in=datetime.timedelta(hours=-2))
    end = visit.consultation.scheduled_end
    grace = datetime.timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)

    assert (
        lifecycle.consultations_mark_no_show(now=end + grace - datetime.timedelta(seconds=1)) == 0
    )
    assert visit.refresh().status == source

    marked = lifecycle.consultations_mark_no_show(now=end + grace)
    moves = ConsultationStatus.NO_SHOW in TRANSITIONS[source]
    assert marked == (1 if moves else 0)
    assert visit.refresh().status == (ConsultationStatus.NO_SHOW if moves else source)
    if marked:
        event = ConsultationEvent.objects.get(consultation=visit.consultation)
        assert (event.from_status, event.to_status, event.actor_id, event.actor_role) == (
            "booked",
            "no_show",
            None,
            "system",
        )


def test_no_show_grace_is_configurable(settings):
    settings.NO_SHOW_GRACE_MINUTES = 90
    visit = make_visit("booked", starts_in=datetime.timedelta(hours=-1))
    end = visit.consultation.scheduled_end
    just_before, at_grace = (
        end + datetime.timedelta(minutes=89),
        end + datetime.timedelta(minutes=90),
    )
    assert lifecycle.consultations_mark_no_show(now=just_before) == 0
    assert lifecycle.consultations_mark_no_show(now=at_grace) == 1


def test_check_in_opens_thirty_minutes_before_the_slot():
    visit = make_visit("booked", starts_in=datetime.timedelta(hours=2))
    staff = actor_for_user(visit.staff)
    start = visit.consultation.scheduled_start

    with pytest.raises(DomainError) as early:
        lifecycle.consultation_check_in(
            actor=staff, consultation=visit.consultation, now=start - datetime.timedelta(minutes=31)
        )
    assert early.value.code == "check_in_too_early"
    assert visit.refresh().status == "booked"

    lifecycle.consultation_check_in(
        actor=staff, consultation=visit.consultation, now=start - datetime.timedelta(minutes=30)
    )
    assert visit.refresh().status == "checked_in"


def test_check_in_after_the_slot_is_refused():
    visit = make_visit("booked", starts_in=datetime.timedelta(minutes=-20))
    with pytest.raises(DomainError) as late:
        lifecycle.consultation_check_in(
            actor=actor_for_user(visit.staff), consultation=visit.consultation
        )
    assert late.value.code == "check_in_too_late"
    assert visit.refresh().status == "booked"


def test_operations_may_cancel_but_doctors_may_not():
    visit = make_visit("booked")
    with pytest.raises(DomainError) as refused:
        lifecycle.consultation_cancel(
            actor=actor_for_user(visit.doctor), consultation=visit.consultation, reason="x"
        )
    assert refused.value.code == "permission_denied"
    assert visit.refresh().status == "booked"

    lifecycle.consultation_cancel(
        actor=actor_for_user(make_user()), consultation=visit.consultation, reason="停诊"
    )
    assert (visit.refresh().status, visit.consultation.cancel_reason) == ("cancelled", "停诊")


def test_records_are_kept_with_retention_dates():
    visit = make_visit("in_progress")
    lifecycle.consultation_terminate(
        actor=actor_for_user(visit.doctor),
        consultation=visit.consultation,
        reason_code="emergency",
        referral_note="胸痛，转急诊",
    )
    consultation = visit.refresh()
    assert consultation.status == "terminated"
    assert consultation.termination_reason == "emergency"
    assert consultation.ended_at is not None
    assert consultation.ended_at <= timezone.now()
    assert consultation.retention_until == datetime.date(2041, 1, 1)


def test_recording_reference_carries_a_three_year_retention_date():
    from consultations.services.records import consultation_attach_recording
    from core.dates import years_after

    visit = make_visit("in_progress")
    consultation = consultation_attach_recording(
        actor=actor_for_user(visit.doctor),
        consultation=visit.consultation,
        reference="rec/2026/11/abc.webm",
    )
    today = timezone.localdate()
    assert consultation.recording_reference == "rec/2026/11/abc.webm"
    assert consultation.recording_retention_until == years_after(today, 3)
    assert years_after(datetime.date(2028, 2, 29), 3) == datetime.date(2031, 2, 28)
    assert years_after(datetime.date(2026, 11, 25), 15) == datetime.date(2041, 11, 25)


def test_no_show_task_runs_the_sweep(settings):
    from consultations.tasks import consultations_mark_no_show

    overdue = make_visit("booked", starts_in=datetime.timedelta(hours=-3))
    upcoming = make_visit("booked", starts_in=datetime.timedelta(hours=1))
    assert consultations_mark_no_show.apply().get() == 1
    assert overdue.refresh().status == "no_show"
    assert upcoming.refresh().status == "booked"


def test_a_doctor_account_without_a_profile_cannot_start():
    visit = make_visit("checked_in")
    profileless = make_user(role="doctor")
    with pytest.raises(DomainError) as refused:
        lifecycle.consultation_start(
            actor=actor_for_user(profileless), consultation=visit.consultation
        )
    assert (refused.value.code, refused.value.status_code) == ("not_treating_doctor", 403)
    assert visit.refresh().status == "checked_in"
