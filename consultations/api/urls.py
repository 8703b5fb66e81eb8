from django.urls import path
from rest_framework.routers import SimpleRouter

from consultations.api.views import ConsultationViewSet, TerminalVitalsView

router = SimpleRouter()
router.register("consultations", ConsultationViewSet, basename="consultation")

urlpatterns = [
    path("terminals/vitals/", TerminalVitalsView.as_view(), name="terminal-vitals"),
    *router.urls,
]
