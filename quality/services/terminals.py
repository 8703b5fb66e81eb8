"""The terminal status history behind uptime figures.

The clinics app keeps only each terminal's current status (heartbeats set it online, the stale
sweep offline). The sampler, run by beat every QUALITY_TERMINAL_SAMPLE_SECONDS, compares every
terminal's status with the last one recorded here and appends a row for each that changed (or
was never recorded). Uptime is therefore exact to the sampling interval.
"""

import datetime

from django.db.models import OuterRef, Subquery
from django.utils import timezone

from clinics.models import Terminal
from quality.models import TerminalStatusChange


def terminal_status_sample(*, now: datetime.datetime | None = None) -> int:
    """Record the terminals whose status changed since the last sample; returns how many.

    Two queries whatever the number of terminals: one read with the last recorded status beside
    the current one, one bulk insert. Two overlapping runs may both record the same change; a
    repeated row says the same thing again and changes no uptime figure.
    """
    now = now or timezone.now()
    last_recorded = (
        TerminalStatusChange.objects.filter(terminal=OuterRef("pk"))
        .order_by("-observed_at", "-pk")
        .values("status")[:1]
    )
    changed = [
        TerminalStatusChange(terminal_id=pk, status=status, observed_at=now)
        for pk, status, recorded in Terminal.objects.annotate(recorded=Subquery(last_recorded))
        .order_by("pk")
        .values_list("pk", "status", "recorded")
        if status != recorded
    ]
    TerminalStatusChange.objects.bulk_create(changed, batch_size=1000)
    return len(changed)
