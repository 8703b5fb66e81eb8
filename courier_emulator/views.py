"""The emulated courier's HTTP face: the API the platform calls (signed with the shared secret,
as the real courier checks), and a page listing waybills with buttons that report the next step
of each, for demos."""

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from courier_emulator import services
from courier_emulator.models import (
    ENDED_STATUSES,
    NEXT_STATUS,
    EmulatedWaybill,
    WaybillStatus,
)
from pharmacy.couriers.signatures import SignatureError, verify


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


def _verified_json(request: HttpRequest) -> Any:
    verify(
        secret=settings.COURIER_SHARED_SECRET,
        headers=request.headers,
        body=request.body,
        max_age_seconds=settings.COURIER_CALLBACK_MAX_AGE_SECONDS,
    )
    try:
        return json.loads(request.body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise services.EmulatorError("payload_invalid", "Not UTF-8 JSON.") from error


def _waybill_json(waybill: EmulatedWaybill) -> dict[str, str]:
    return {
        "waybill_number": waybill.waybill_number,
        "reference": waybill.reference,
        "status": waybill.status,
    }


@csrf_exempt
@require_POST
def api_waybill_create(request: HttpRequest) -> JsonResponse:
    try:
        waybill, created = services.waybill_create(_verified_json(request))
    except SignatureError as error:
        return _error(error.code, error.message, 401)
    except services.EmulatorError as error:
        return _error(error.code, error.message, error.status)
    return JsonResponse(_waybill_json(waybill), status=201 if created else 200)


@csrf_exempt
@require_POST
def api_waybill_cancel(request: HttpRequest, waybill_number: str) -> JsonResponse:
    try:
        payload = _verified_json(request)
        reason = str(payload.get("reason", "")) if isinstance(payload, dict) else ""
        waybill = services.waybill_cancel(waybill_number=waybill_number, reason=reason)
    except SignatureError as error:
        return _error(error.code, error.message, 401)
    except services.EmulatorError as error:
        return _error(error.code, error.message, error.status)
    return JsonResponse(_waybill_json(waybill))


@require_GET
def waybill_list(request: HttpRequest) -> HttpResponse:
    waybills = list(EmulatedWaybill.objects.prefetch_related("events")[:100])
    rows = [
        {
            "waybill": waybill,
            "next_status": NEXT_STATUS.get(waybill.status),
            "can_fail": waybill.status not in ENDED_STATUSES,
        }
        for waybill in waybills
    ]
    return render(
        request,
        "courier_emulator/waybills.html",
        {"rows": rows, "courier_name": settings.COURIER_NAME, "statuses": WaybillStatus},
    )


@require_POST
def waybill_advance(request: HttpRequest, waybill_number: str) -> HttpResponse:
    """A demo button: report the next step (or `status=failed`) and push it to the platform."""
    waybill = get_object_or_404(EmulatedWaybill, waybill_number=waybill_number)
    status = request.POST.get("status") or None
    try:
        event, delivery = services.waybill_advance(waybill=waybill, status=status)
    except services.EmulatorError as error:
        messages.error(request, f"{waybill_number}: {error.message}")
    else:
        messages.info(
            request,
            f"{waybill_number}: {event.get_status_display()} → platform answered "
            f"{delivery.status_code or 'nothing'}",
        )
    return redirect("courier-emulator-waybills")
