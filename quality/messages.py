"""What the quality app's notifications say: context builders and relevance checks for the
events registered in notifications/events.py (feedback_request, feedback_reminder,
complaint_received, complaint_update, complaint_closed, complaint_assigned, complaint_overdue,
review_assigned). Built from ids at send time, like every event's."""

from typing import Any

from django.conf import settings
from django.urls import reverse

from notifications.events import local_time, masked_name
from quality.links import feedback_url
from quality.models import Complaint, ComplaintReply, FeedbackInvitation, ReviewAssignment
from quality.selectors.feedback import feedback_still_open as _invitation_open


def feedback_context(objects: dict[str, Any]) -> dict[str, Any]:
    invitation = FeedbackInvitation.objects.select_related(
        "patient",
        "consultation__doctor__user",
        "consultation__department",
        "consultation__facility",
    ).get(pk=objects["invitation"])
    consultation = invitation.consultation
    return {
        "patient_name": masked_name(invitation.patient.name),
        "doctor_name": consultation.doctor.user.full_name if consultation.doctor else "",
        "department_name": consultation.department.name,
        "facility_name": consultation.facility.name,
        "start": local_time(consultation.started_at or consultation.scheduled_start),
        "survey_url": feedback_url(invitation.public_id),
        "survey_expires": local_time(invitation.expires_at),
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def feedback_still_open(objects: dict[str, Any]) -> bool:
    return _invitation_open(invitation_id=objects["invitation"])


def complaint_context(objects: dict[str, Any]) -> dict[str, Any]:
    complaint = Complaint.objects.select_related("facility", "patient").get(pk=objects["complaint"])
    reply = (
        ComplaintReply.objects.filter(pk=objects["reply"], complaint=complaint).first()
        if "reply" in objects
        else None
    )
    path = reverse("quality:complaint", kwargs={"public_id": complaint.public_id})
    return {
        "complaint_reference": complaint.reference,
        "subject_kind": complaint.subject_kind,
        "severity": complaint.severity,
        "status": complaint.status,
        "filed": local_time(complaint.created_at),
        "due": local_time(complaint.due_at),
        "facility_name": complaint.facility.name,
        "patient_name": masked_name(complaint.patient.name),
        "reply": reply.body if reply else "",
        "resolution": complaint.resolution,
        "complaint_url": f"{settings.SITE_URL}{path}",
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }


def review_context(objects: dict[str, Any]) -> dict[str, Any]:
    assignments = ReviewAssignment.objects.filter(
        sample_id=objects["sample"], reviewer_id=objects["reviewer"]
    ).select_related("sample")
    first = assignments.order_by("due_at").first()
    return {
        "review_count": assignments.count(),
        "week_start": first.sample.week_start.isoformat() if first else "",
        "due": local_time(first.due_at) if first else "",
        "reviews_url": f"{settings.SITE_URL}{reverse('quality:reviews')}",
        "hospital_name": settings.NOTIFICATION_HOSPITAL_NAME,
    }
