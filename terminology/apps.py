from django.apps import AppConfig


class TerminologyConfig(AppConfig):
    name = "terminology"
    verbose_name = "Clinical terminology"
