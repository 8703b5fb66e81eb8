from django.urls import path
from rest_framework.routers import SimpleRouter

from quality.api.views import (
    ComplaintViewSet,
    DashboardExportView,
    DashboardView,
    FeedbackView,
    ReviewViewSet,
)

router = SimpleRouter()
router.register("complaints", ComplaintViewSet, basename="complaint")
router.register("quality-reviews", ReviewViewSet, basename="quality-review")

urlpatterns = [
    path("feedback/<str:token>/", FeedbackView.as_view(), name="feedback"),
    path("quality/dashboard/", DashboardView.as_view(), name="quality-dashboard"),
    path(
        "quality/dashboard/export/",
        DashboardExportView.as_view(),
        name="quality-dashboard-export",
    ),
    *router.urls,
]
