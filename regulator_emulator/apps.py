from django.apps import AppConfig


class RegulatorEmulatorConfig(AppConfig):
    name = "regulator_emulator"
    verbose_name = "Supervision platform emulator"
