"""The terminal status sampler: it records what changed since the last sample (the clinics app
keeps only the current status), in two queries whatever the number of terminals, and the
dashboard reads uptime from what it recorded."""

import datetime
from typing import Any

import pytest
from django.utils import timezone

from clinics.models import Terminal, TerminalStatus
from clinics.services import terminal_record_heartbeat, terminals_mark_stale_offline
from core.actors import actor_for_user
from quality.models import TerminalStatusChange
from quality.selectors.dashboard import Period, quality_dashboard
from quality.services.terminals import terminal_status_sample
from quality.tasks import terminal_status_sample_task
from tests.factories import make_facility, make_terminal, make_user

pytestmark = pytest.mark.django_db

MINUTE = datetime.timedelta(minutes=1)


def recorded(terminal: Terminal) -> list[str]:
    return list(
        TerminalStatusChange.objects.filter(terminal=terminal)
        .order_by("observed_at", "pk")
        .values_list("status", flat=True)
    )


def test_changes_are_recorded_once() -> None:
    terminal = make_terminal().terminal
    start = timezone.now()

    assert terminal_status_sample(now=start) == 1  # never recorded: its current status
    assert terminal_status_sample(now=start + MINUTE) == 0
    terminal_record_heartbeat(terminal=terminal)
    assert terminal_status_sample(now=start + 2 * MINUTE) == 1
    assert terminal_status_sample(now=start + 3 * MINUTE) == 0
    Terminal.objects.filter(pk=terminal.pk).update(
        last_heartbeat_at=timezone.now() - datetime.timedelta(hours=1)
    )
    terminals_mark_stale_offline()
    assert terminal_status_sample(now=start + 4 * MINUTE) == 1

    assert recorded(terminal) == [
        TerminalStatus.OFFLINE,
        TerminalStatus.ONLINE,
        TerminalStatus.OFFLINE,
    ]


def test_two_queries_whatever_the_number_of_terminals(django_assert_num_queries: Any) -> None:
    facility = make_facility()
    for _ in range(3):
        make_terminal(facility)
    with django_assert_num_queries(2):
        terminal_status_sample()
    for _ in range(9):
        make_terminal(facility)
    Terminal.objects.update(status=TerminalStatus.ONLINE)

    with django_assert_num_queries(2):
        assert terminal_status_sample() == 12


def test_the_task_samples() -> None:
    make_terminal()

    assert terminal_status_sample_task.apply().get() == 1


def test_uptime_from_the_sampled_history() -> None:
    """Online for 45 minutes, offline for 15, as the sampler saw it during a past day."""
    facility = make_facility()
    terminal = make_terminal(facility).terminal
    day = timezone.localdate() - datetime.timedelta(days=2)
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time(8, 0)))
    Terminal.objects.filter(pk=terminal.pk).update(status=TerminalStatus.ONLINE)
    terminal_status_sample(now=start)
    Terminal.objects.filter(pk=terminal.pk).update(status=TerminalStatus.OFFLINE)
    terminal_status_sample(now=start + 45 * MINUTE)
    Terminal.objects.filter(pk=terminal.pk).update(status=TerminalStatus.MAINTENANCE)
    terminal_status_sample(now=start + 60 * MINUTE)

    dashboard = quality_dashboard(actor=actor_for_user(make_user()), period=Period(day, day))

    [row] = dashboard.rows
    assert row.key == facility.pk
    assert (row.online_seconds, row.offline_seconds) == (45 * 60.0, 15 * 60.0)
    assert row.terminal_uptime == 0.75
