from django.apps import AppConfig


class ProviderEmulatorsConfig(AppConfig):
    name = "provider_emulators"
    verbose_name = "Payment provider emulators"
