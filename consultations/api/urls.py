from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from consultations.api.slots import DoctorScheduleView, ScheduleExceptionViewSet, SlotViewSet
from consultations.api.views import ConsultationViewSet, TerminalVitalsView
from core.api import UUID_PATTERN

router = SimpleRouter()
router.register("consultations", ConsultationViewSet, basename="consultation")
router.register("slots", SlotViewSet, basename="slot")
router.register("schedule-exceptions", ScheduleExceptionViewSet, basename="schedule-exception")

urlpatterns = [
    path("terminals/vitals/", TerminalVitalsView.as_view(), name="terminal-vitals"),
    re_path(
        rf"^doctors/(?P<public_id>{UUID_PATTERN})/schedule/$",
        DoctorScheduleView.as_view(),
        name="doctor-schedule",
    ),
    *router.urls,
]
