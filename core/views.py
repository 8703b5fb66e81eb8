"""Project-wide views: health, the home page that sends each role to its start page, and what
every page module shares (service errors into forms, the ICD-10 picker's options)."""

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from django import forms
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from core.exceptions import DomainError
from core.pages import role_required
from core.selectors import platform_health
from terminology.selectors import icd10_search

# Where each role starts. Patients and operations have their own sections (/m/, /operations/).
ROLE_START_PAGES = {
    "clinic_staff": "console:home",
    "doctor": "workstation:home",
    "pharmacist": "review:home",
    "patient": "/m/",
    "operations": "/operations/",
}
# Options the pickers offer at most; typing more narrows them.
PICKER_OPTIONS = 20


@never_cache
@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness and readiness in one: 200 when every required part is up, else 503."""
    healthy, checks = platform_health()
    return JsonResponse(
        {"status": "ok" if healthy else "unavailable", "checks": checks},
        status=200 if healthy else 503,
    )


def role_start_page(role: str) -> str | None:
    target = ROLE_START_PAGES.get(role)
    if target is None:
        return None
    return target if target.startswith("/") else reverse(target)


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Signed-in people go to their own start page; everyone else sees the platform's front page."""
    user = request.user
    if user.is_authenticated:
        start = role_start_page(getattr(user, "role", ""))
        if start is not None:
            return HttpResponseRedirect(start)
    return render(request, "home.html")


def add_domain_error(
    form: forms.BaseForm, error: DomainError, *, default_field: str | None = None
) -> None:
    """Put a service's refusal next to the fields it names; one that names none goes next to
    `default_field` (the PIN of a signing form, say), else above the form."""
    placed = False
    for field, messages in error.fields.items():
        if field in form.fields:
            for message in messages:
                form.add_error(field, message)
            placed = True
    if not placed:
        form.add_error(default_field, error.message)


def error_context(error: DomainError, messages: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The refusal as pages show it at the top of a form: its stable code and a message, in the
    page's language when the page knows the code."""
    message = (messages or {}).get(error.code) or error.message
    return {"code": error.code, "message": message, "fields": error.fields}


def plain_number(value: Decimal) -> str:
    """A decimal as people write it: 12.500 is "12.5", 10.000 is "10" (never "1E+1")."""
    return format(value.normalize(), "f")


def picker_attrs(*, options_url: str, name: str, datalist: str) -> dict[str, str]:
    """htmx attributes that fill `datalist` with the options for what is typed into `name`."""
    return {
        "list": datalist,
        "autocomplete": "off",
        "hx-get": f"{options_url}?for={name}",
        "hx-trigger": "input changed delay:250ms",
        "hx-target": f"#{datalist}",
        "hx-swap": "innerHTML",
        "hx-sync": "this:replace",
    }


@require_GET
@role_required("clinic_staff", "doctor", "pharmacist")
def icd10_options(request: HttpRequest) -> HttpResponse:
    """`<option>`s for an ICD-10 `<datalist>`: `?for=<input name>` says which parameter holds
    what was typed (htmx sends the input under its own name)."""
    typed = request.GET.get(request.GET.get("for", "q"), "")[:60]
    codes = icd10_search(query=typed)[:PICKER_OPTIONS] if typed.strip() else []
    return render(request, "partials/icd10_options.html", {"codes": codes})
