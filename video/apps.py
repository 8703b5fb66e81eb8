from django.apps import AppConfig


class VideoConfig(AppConfig):
    name = "video"
    verbose_name = "WebRTC video consultations and in-call chat"
