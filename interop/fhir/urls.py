"""/fhir/: FHIR's own URL shapes (no trailing slash; one tolerated)."""

from django.urls import path, re_path

from interop.fhir import views

RESOURCE_TYPE = r"(?P<resource_type>[A-Z][A-Za-z]{1,63})"
RESOURCE_ID = r"(?P<resource_id>[A-Za-z0-9\-\.]{1,64})"

urlpatterns = [
    path("metadata", views.CapabilityStatementView.as_view(), name="fhir-metadata"),
    path(
        ".well-known/smart-configuration",
        views.SmartConfigurationView.as_view(),
        name="fhir-smart-configuration",
    ),
    path("auth/token", views.TokenView.as_view(), name="fhir-token"),
    re_path(rf"^{RESOURCE_TYPE}/?$", views.SearchView.as_view(), name="fhir-search"),
    re_path(rf"^{RESOURCE_TYPE}/{RESOURCE_ID}/?$", views.ReadView.as_view(), name="fhir-read"),
    re_path(r"", views.UnknownPathView.as_view(), name="fhir-unknown"),
]
