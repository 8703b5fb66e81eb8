"""Interoperability: the read-only HL7 FHIR R4 facade (`/fhir/`) and the regulator feed.

The app is not called `fhir` because the `fhir.resources` models it validates against live in a
top-level package of that name, which a project package would shadow.
"""

from django.apps import AppConfig


class InteropConfig(AppConfig):
    name = "interop"
    verbose_name = "Interoperability (FHIR, regulator feed)"
