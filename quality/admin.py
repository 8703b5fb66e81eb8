"""Back office for service quality. Feedback, complaints, reviews and the terminal history are
read-only here: they change only through their services, which check the rules, notify and
audit. Per-doctor review rates are edited here."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from quality.models import (
    Complaint,
    ComplaintEvent,
    ComplaintReply,
    DoctorReviewRate,
    FeedbackInvitation,
    FeedbackResponse,
    ReviewAssignment,
    ReviewSample,
    TerminalStatusChange,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(FeedbackInvitation)
class FeedbackInvitationAdmin(ReadOnlyAdmin):
    list_display = ["invited_at", "consultation", "reminders_sent", "responded_at", "expires_at"]
    list_filter = ["reminders_sent"]
    date_hierarchy = "invited_at"
    raw_id_fields = ["consultation", "patient"]


@admin.register(FeedbackResponse)
class FeedbackResponseAdmin(ReadOnlyAdmin):
    list_display = [
        "submitted_at",
        "consultation",
        "overall",
        "waiting_time",
        "audio_video",
        "explanation",
    ]
    list_filter = ["overall"]
    date_hierarchy = "submitted_at"
    raw_id_fields = ["consultation", "invitation"]


class ComplaintEventInline(admin.TabularInline):
    model = ComplaintEvent
    extra = 0
    can_delete = False
    fields = ("occurred_at", "action", "from_status", "to_status", "actor", "actor_role")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ComplaintReplyInline(admin.TabularInline):
    model = ComplaintReply
    extra = 0
    can_delete = False
    fields = ("created_at", "author", "body")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Complaint)
class ComplaintAdmin(ReadOnlyAdmin):
    list_display = [
        "created_at",
        "reference",
        "subject_kind",
        "facility",
        "status",
        "severity",
        "assignee",
        "due_at",
        "escalated_at",
    ]
    list_filter = ["status", "severity", "category", "subject_kind"]
    list_select_related = ["facility", "assignee"]
    date_hierarchy = "created_at"
    inlines = [ComplaintReplyInline, ComplaintEventInline]


@admin.register(ReviewSample)
class ReviewSampleAdmin(ReadOnlyAdmin):
    list_display = ["week_start", "seed", "default_rate", "population", "assigned", "unassigned"]


@admin.register(DoctorReviewRate)
class DoctorReviewRateAdmin(admin.ModelAdmin):
    list_display = ["doctor", "rate", "note", "updated_at"]
    list_select_related = ["doctor__user"]
    raw_id_fields = ["doctor"]


@admin.register(ReviewAssignment)
class ReviewAssignmentAdmin(ReadOnlyAdmin):
    list_display = ["sample", "kind", "doctor", "reviewer", "status", "due_at", "completed_at"]
    list_filter = ["status", "kind", "sample"]
    list_select_related = ["sample", "doctor__user", "reviewer"]


@admin.register(TerminalStatusChange)
class TerminalStatusChangeAdmin(ReadOnlyAdmin):
    list_display = ["observed_at", "terminal", "status"]
    list_filter = ["status"]
    list_select_related = ["terminal"]
    date_hierarchy = "observed_at"
