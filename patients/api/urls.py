from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from core.api import UUID_PATTERN
from patients.api.consents import ConsentTemplateListView, PatientConsentListView
from patients.api.evidence import (
    PatientEvidenceDetailView,
    PatientEvidenceDocumentView,
    PatientEvidenceListView,
    PatientEvidenceVerifyView,
)
from patients.api.privacy import (
    AccessReviewListView,
    AccessReviewResolveView,
    MyDataExportView,
    RetentionReportView,
)
from patients.api.views import PatientViewSet

router = SimpleRouter()
router.register("patients", PatientViewSet, basename="patient")

PATIENT = rf"^patients/(?P<patient_id>{UUID_PATTERN})"
EVIDENCE = rf"{PATIENT}/evidence/(?P<evidence_id>{UUID_PATTERN})"

urlpatterns = [
    re_path(r"^consent-templates/$", ConsentTemplateListView.as_view(), name="consent-templates"),
    re_path(rf"{PATIENT}/consents/$", PatientConsentListView.as_view(), name="patient-consents"),
    re_path(rf"{PATIENT}/evidence/$", PatientEvidenceListView.as_view(), name="patient-evidence"),
    re_path(rf"{EVIDENCE}/$", PatientEvidenceDetailView.as_view(), name="patient-evidence-detail"),
    re_path(
        rf"{EVIDENCE}/document/$",
        PatientEvidenceDocumentView.as_view(),
        name="patient-evidence-document",
    ),
    re_path(
        rf"{EVIDENCE}/verify/$", PatientEvidenceVerifyView.as_view(), name="patient-evidence-verify"
    ),
    path("me/data-export/", MyDataExportView.as_view(), name="my-data-export"),
    path("access-reviews/", AccessReviewListView.as_view(), name="access-reviews"),
    path(
        "access-reviews/<int:flag_id>/resolve/",
        AccessReviewResolveView.as_view(),
        name="access-review-resolve",
    ),
    path("retention-report/", RetentionReportView.as_view(), name="retention-report"),
    *router.urls,
]
