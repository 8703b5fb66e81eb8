from django.urls import re_path

from core.api import UUID_PATTERN
from video.api.views import VideoTokenView

urlpatterns = [
    re_path(
        rf"^consultations/(?P<public_id>{UUID_PATTERN})/video-token/$",
        VideoTokenView.as_view(),
        name="consultation-video-token",
    ),
]
