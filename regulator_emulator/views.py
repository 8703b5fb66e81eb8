"""The emulated supervision platform's HTTP face: the batch API the feed posts to, and a page
listing what arrived with a switch to take the platform down, for demos."""

from django.contrib import messages
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_POST

from regulator_emulator import services
from regulator_emulator.models import Outage, ReceivedBatch


def _error(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status)


@csrf_exempt
@require_POST
def api_batches(request: HttpRequest) -> JsonResponse:
    if services.is_down():
        return _error("service_unavailable", "The platform is under maintenance.", 503)
    try:
        answer = services.batch_receive(headers=request.headers, body=request.body)
    except services.EmulatorError as error:
        return _error(error.code, error.message, error.status)
    return JsonResponse(answer, json_dumps_params={"ensure_ascii": False})


@require_GET
def batch_list(request: HttpRequest) -> HttpResponse:
    batches = ReceivedBatch.objects.annotate(records_count=Count("records"))[:100]
    return render(
        request,
        "regulator_emulator/batches.html",
        {
            "batches": batches,
            "down": services.is_down(),
            "outages": Outage.objects.all()[:10],
        },
    )


@require_POST
def outage_toggle(request: HttpRequest) -> HttpResponse:
    """A demo button: take the platform down (until taken up again), or bring it back."""
    if request.POST.get("down") == "1":
        services.outage_start(reason="demo")
        messages.info(request, "The supervision platform is down (503).")
    else:
        services.outage_end()
        messages.info(request, "The supervision platform is back.")
    return redirect("regulator-emulator-batches")
