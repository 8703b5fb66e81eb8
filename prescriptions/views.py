"""Public pages: the verification page the QR code on a printed prescription opens."""

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from prescriptions.models import Prescription, PrescriptionStatus
from prescriptions.verification import verification_summary


@require_GET
def verify_page(request: HttpRequest, public_id: uuid.UUID) -> HttpResponse:
    """Anyone holding the printed prescription (its unguessable id is in the QR code) can check
    it is genuine and still valid; the patient's name is masked and no clinical detail beyond
    the printed one is shown."""
    prescription = (
        Prescription.objects.select_related(
            "patient",
            "doctor__user",
            "doctor__department",
            "pharmacist__user",
            "diagnosis",
            "evidence",
            "consultation",
            "previous_version",
        )
        .exclude(status=PrescriptionStatus.DRAFT)
        .filter(public_id=public_id)
        .first()
    )
    if prescription is None:
        raise Http404("No such prescription")
    return render(
        request, "prescriptions/verify.html", {"summary": verification_summary(prescription)}
    )


@require_GET
def ca_bundle(request: HttpRequest) -> HttpResponse:
    """The platform CA certificates that verifiers trust (for `manage.py verify_prescription`)."""
    from signing.selectors import trusted_ca_certificates

    return HttpResponse("".join(trusted_ca_certificates()), content_type="application/x-pem-file")
