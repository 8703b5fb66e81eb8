"""Public pages at /doctors/: who the hospital's online doctors are, for anyone to check.

Only what a doctor's practice makes public is shown (name, title, department, practising licence
number, years of independent practice, as the national licence register shows them); never the
username, phone, qualification certificate number or anything about patients. No sign-in needed.
"""

from collections.abc import Mapping
from typing import Any

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET

from accounts.models import DoctorProfile, Role
from clinics.models import Department
from clinics.selectors import departments_active

DOCTORS_PER_PAGE = 30
TITLE_LABELS: Mapping[str, str | Promise] = {
    "resident": _("Resident physician"),
    "attending": _("Attending physician"),
    "associate_chief": _("Associate chief physician"),
    "chief": _("Chief physician"),
}


class PublicDoctor:
    """A doctor as the public pages show them: nothing beyond these attributes."""

    def __init__(self, profile: DoctorProfile, *, today: Any) -> None:
        self.id = profile.user.public_id
        self.name = profile.user.full_name or profile.user.get_full_name()
        self.title = str(TITLE_LABELS.get(profile.title, profile.title))
        self.department = profile.department
        self.licence_number = profile.licence_number
        self.years_of_practice = profile.years_of_independent_practice(today)
        self.practising_since = profile.independent_practice_since.year


def _public_doctors() -> QuerySet[DoctorProfile]:
    """Doctors with an active account: a deactivated one no longer practises here."""
    return DoctorProfile.objects.select_related("user", "department").filter(
        user__is_active=True, user__role=Role.DOCTOR
    )


@require_GET
def doctor_list(request: HttpRequest) -> HttpResponse:
    departments = list(departments_active().order_by("code"))
    doctors = _public_doctors().order_by("department__code", "user__full_name", "pk")
    chosen: Department | None = None
    department_id = request.GET.get("department", "")
    if department_id:
        chosen = next((d for d in departments if str(d.public_id) == department_id), None)
        doctors = doctors.filter(department=chosen) if chosen else doctors.none()
    page = Paginator(doctors, DOCTORS_PER_PAGE).get_page(request.GET.get("page"))
    today = timezone.localdate()
    return render(
        request,
        "accounts/doctors/list.html",
        {
            "doctors": [PublicDoctor(profile, today=today) for profile in page.object_list],
            "page": page,
            "departments": departments,
            "chosen": chosen,
        },
    )


@require_GET
def doctor_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    profile = _public_doctors().filter(user__public_id=public_id).first()
    if profile is None:
        raise Http404("No such doctor")
    return render(
        request,
        "accounts/doctors/detail.html",
        {"doctor": PublicDoctor(profile, today=timezone.localdate())},
    )


# Mounted at /doctors/ under the "doctors" namespace.
urlpatterns = [
    path("", doctor_list, name="list"),
    path("<uuid:public_id>/", doctor_detail, name="detail"),
]
