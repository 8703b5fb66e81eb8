"""What the emulated supervision platform keeps: the batches it received, every record once,
and its outages. These tables stand for the regulator's own books, not the platform's
(interop.RegulatorReport and interop.RegulatorBatch are those)."""

from django.db import models


class ReceivedBatch(models.Model):
    """A batch number as the regulator saw it; a re-sent batch counts another receipt."""

    batch_no = models.CharField(max_length=40, unique=True)
    app_id = models.CharField(max_length=64)
    org_code = models.CharField(max_length=32)
    report_date = models.DateField()
    receipts = models.PositiveIntegerField(default=0)
    first_received_at = models.DateTimeField(auto_now_add=True)
    last_received_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-first_received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.batch_no} ×{self.receipts}"


class ReceivedRecord(models.Model):
    """One record, stored the first time it arrives; later copies only count."""

    record_id = models.UUIDField(unique=True)
    batch = models.ForeignKey(ReceivedBatch, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField(max_length=32)
    source_reference = models.CharField(max_length=64)
    occurred_at = models.CharField(max_length=40)
    digest = models.CharField(max_length=64)
    data = models.JSONField()
    copies = models.PositiveIntegerField(default=1, help_text="Times it was received")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-received_at", "-pk"]

    def __str__(self) -> str:
        return f"{self.kind} {self.source_reference}"


class Outage(models.Model):
    """A period the emulated platform answers 503 to everything (open-ended while `ends_at` is
    empty)."""

    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-starts_at"]

    def __str__(self) -> str:
        return f"outage from {self.starts_at:%Y-%m-%d %H:%M}"
