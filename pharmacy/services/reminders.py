"""Reminders for medicine waiting at a facility."""

import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from notifications.services import notify
from pharmacy.models import Fulfilment, FulfilmentStatus


def pickup_reminders_send(*, now: datetime.datetime | None = None) -> int:
    """Pickups ready for `PHARMACY_PICKUP_REMINDER_AFTER_HOURS`, still collectable and not yet
    reminded get one reminder; returns how many. The dedupe key keeps a twin run from sending
    a second one."""
    now = now or timezone.now()
    ready_before = now - datetime.timedelta(hours=settings.PHARMACY_PICKUP_REMINDER_AFTER_HOURS)
    due = list(
        Fulfilment.objects.filter(
            status=FulfilmentStatus.READY_FOR_PICKUP,
            ready_at__lte=ready_before,
            pickup_code_expires_at__gt=now,
            pickup_reminded_at__isnull=True,
        )
        .select_related("patient")
        .order_by("ready_at", "pk")
    )
    for fulfilment in due:
        with transaction.atomic(durable=True):
            notify(
                event="pickup_reminder",
                recipient=fulfilment.patient,
                objects={"fulfilment": fulfilment.pk},
                dedupe_key=f"fulfilment:{fulfilment.pk}:pickup_reminder",
                now=now,
            )
            Fulfilment.objects.filter(pk=fulfilment.pk).update(pickup_reminded_at=now)
    return len(due)
