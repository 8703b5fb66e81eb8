"""Shared model mechanisms: public UUIDs and the append-only audit log."""

import uuid
from typing import Any, ClassVar

from django.conf import settings
from django.db import models


class PublicIdModel(models.Model):
    """Internal integer primary key; a UUID is the only identifier the outside world sees."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)

    class Meta:
        abstract = True


class AuditAction(models.TextChoices):
    READ = "read", "read"
    CREATE = "create", "create"
    UPDATE = "update", "update"


class AppendOnlyError(Exception):
    """Raised when code tries to change or remove an audit row."""


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("The audit log is append-only.")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The audit log is append-only.")


class AuditEvent(models.Model):
    """Who read or wrote which patient data, when, and from where.

    Append-only: the application refuses updates and deletes, and database triggers (installed by
    migration 0002) refuse them for anyone who reaches the table directly.
    """

    occurred_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_constraint=False,  # audit rows outlive everything they mention
    )
    actor_role = models.CharField(max_length=32)
    terminal_id = models.BigIntegerField(null=True, blank=True)
    facility_id = models.BigIntegerField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)
    action = models.CharField(max_length=16, choices=AuditAction.choices)
    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    detail = models.JSONField(default=dict, blank=True)

    objects: ClassVar[AuditEventQuerySet] = AuditEventQuerySet.as_manager()  # type: ignore[assignment]

    class Meta:
        indexes = [
            models.Index(fields=["object_type", "object_id", "occurred_at"]),
            models.Index(fields=["actor", "occurred_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(action__in=AuditAction.values), name="audit_action_valid"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.actor_role} {self.action} {self.object_type}:{self.object_id}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise AppendOnlyError("The audit log is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("The audit log is append-only.")


class RetentionFlag(models.Model):
    """A record whose retention date has passed, listed for operations to decide on. Nothing is
    deleted automatically: medical records, prescriptions and recordings are only flagged."""

    object_type = models.CharField(max_length=64)
    object_id = models.CharField(max_length=64)
    retention_until = models.DateField()
    flagged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["retention_until", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["object_type", "object_id"], name="retention_flag_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.object_type} {self.object_id} (kept until {self.retention_until})"


class ScaleRun(models.Model):
    """A `seed_scale` generation into this database: its options, where its history ends and the
    id ranges it reserved, so an interrupted run resumes with exactly the same rows."""

    options = models.JSONField(help_text="patients, consultations, doctors, facilities, seed…")
    history_until = models.DateField(help_text="The history covers the days before this one")
    id_ranges = models.JSONField(
        default=dict, blank=True, help_text="Table → [first id, ids per batch]"
    )
    # Secondary indexes and unique constraints dropped while batches load, with the statements
    # that make them again; emptied as they are rebuilt.
    deferred_indexes = models.JSONField(default=list, blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"scale run {self.pk} until {self.history_until}"


class ScaleStep(models.Model):
    """One finished step of a scale run (a setup phase or a batch), written in the transaction
    that wrote the step's rows: a step found here is never generated again."""

    run = models.ForeignKey(ScaleRun, on_delete=models.CASCADE, related_name="steps")
    phase = models.CharField(max_length=32)
    batch = models.PositiveIntegerField(default=0)
    rows = models.PositiveBigIntegerField(default=0)
    finished_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["run", "phase", "batch"], name="scale_step_once"),
        ]

    def __str__(self) -> str:
        return f"{self.phase} #{self.batch} ({self.rows} rows)"
