from django.urls import re_path

from core.api import UUID_PATTERN
from video.views import consultation_call

urlpatterns = [
    re_path(
        rf"^consultations/(?P<public_id>{UUID_PATTERN})/$",
        consultation_call,
        name="video-consultation-call",
    ),
]
