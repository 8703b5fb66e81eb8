from django.urls import path, re_path
from rest_framework.routers import SimpleRouter

from core.api import UUID_PATTERN
from notifications.api.views import (
    DeadNotificationViewSet,
    InAppMessageViewSet,
    NotificationRetryView,
    OtpRequestView,
    OtpVerifyView,
    PreferenceView,
)

router = SimpleRouter()
router.register("notifications/dead", DeadNotificationViewSet, basename="notification-dead")
router.register("notifications", InAppMessageViewSet, basename="notification")

urlpatterns = [
    path("auth/otp/request/", OtpRequestView.as_view(), name="otp-request"),
    path("auth/otp/verify/", OtpVerifyView.as_view(), name="otp-verify"),
    path("notifications/preferences/", PreferenceView.as_view(), name="notification-preferences"),
    re_path(
        rf"^notifications/(?P<public_id>{UUID_PATTERN})/retry/$",
        NotificationRetryView.as_view(),
        name="notification-retry",
    ),
    *router.urls,
]
