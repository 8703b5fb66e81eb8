from django.apps import AppConfig


class OperationsConfig(AppConfig):
    name = "operations"
    verbose_name = "Operations dashboard (pages and the reads behind its figures; no models)"
