from django.apps import AppConfig


class CourierEmulatorConfig(AppConfig):
    name = "courier_emulator"
    verbose_name = "Courier emulator"
