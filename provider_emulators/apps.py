from django.apps import AppConfig


class ProviderEmulatorsConfig(AppConfig):
    name = "provider_emulators"
    verbose_name = "Local emulators of WeChat Pay"
