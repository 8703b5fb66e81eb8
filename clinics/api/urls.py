from django.urls import path
from rest_framework.routers import SimpleRouter

from clinics.api.views import (
    DepartmentViewSet,
    FacilityViewSet,
    TerminalHeartbeatView,
    TerminalViewSet,
)

router = SimpleRouter()
router.register("departments", DepartmentViewSet, basename="department")
router.register("facilities", FacilityViewSet, basename="facility")
router.register("terminals", TerminalViewSet, basename="terminal")

urlpatterns = [
    path("terminals/heartbeat/", TerminalHeartbeatView.as_view(), name="terminal-heartbeat"),
    *router.urls,
]
