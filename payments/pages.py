"""The patient's order pages under /m/orders/: choose pickup or delivery, pay with WeChat Pay or
Alipay (the provider's QR code and the link to its payer page), follow the payment until the
provider's notification confirms it, then the receipt and any refunds.

The same services as the API choose, pay and read; the page only decides what to offer (pickup
where pharmacy's selector says the facility has the medicine, delivery unless cold chain).
"""

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_POST

from core.actors import Actor, actor_from_request
from core.exceptions import DomainError
from patients.pages import (
    FULFILMENT_STATUS_LABELS,
    ORDER_STATUS_LABELS,
    FormErrors,
    label,
    patient_page,
    qr_svg,
)
from payments.models import (
    PAYABLE_STATUSES,
    AttemptStatus,
    FulfilmentMethod,
    OrderStatus,
    PayChannel,
    PaymentAttempt,
    PaymentOrder,
    Provider,
)
from payments.selectors import order_get_for_actor, orders_record_list_read, orders_visible_to
from payments.services import DeliveryAddress, order_choose_fulfilment, order_pay
from payments.services.insurance import insurance_eligible
from pharmacy.selectors import pickup_available

ORDERS_PER_PAGE = 20
# The channel each provider is paid through from these pages: a code URL that is both a QR code
# and the payer page the phone opens.
PAGE_CHANNELS = {Provider.WECHATPAY: PayChannel.NATIVE, Provider.ALIPAY: PayChannel.PRECREATE}
PROVIDER_LABELS = {Provider.WECHATPAY: _("WeChat Pay"), Provider.ALIPAY: _("Alipay")}
REFUND_STATUS_LABELS = {
    "requested": _("Requested"),
    "processing": _("Processing"),
    "succeeded": _("Refunded"),
    "failed": _("Failed"),
}
REFUND_TRIGGER_LABELS = {
    "operations": _("Refund by the hospital"),
    "consultation_terminated": _("Consultation ended and referred"),
    "prescription_withdrawn": _("Prescription withdrawn"),
    "delivery_failed": _("Delivery failed"),
    "late_payment": _("Payment arrived after the order closed"),
    "duplicate_payment": _("Paid twice"),
}
LINE_KIND_LABELS = {
    "consultation_fee": _("Consultation fee"),
    "drug": _("Medicine"),
    "delivery_fee": _("Delivery fee"),
}
ADDRESS_FIELDS = ("recipient", "phone", "province", "city", "district", "detail")
# How often the order page asks whether the provider's notification has arrived.
PAYMENT_POLL_SECONDS = 3


@dataclass(frozen=True)
class OrderView:
    """What the order page shows, computed once from the order the selector returned."""

    order: PaymentOrder
    can_choose: bool
    can_pay: bool
    pickup_offered: bool
    delivery_offered: bool
    insurance_offered: bool
    live_attempt: PaymentAttempt | None
    paid_attempts: list[PaymentAttempt]

    @property
    def status_label(self) -> str:
        return label(ORDER_STATUS_LABELS, self.order.status)

    @property
    def polling(self) -> bool:
        # On the order's status alone: the order and its attempts are read by two queries, and
        # a payment landing between them must not stop the page from looking again.
        return self.order.status == OrderStatus.PENDING

    @property
    def live_provider_label(self) -> str:
        return (
            str(PROVIDER_LABELS[Provider(self.live_attempt.provider)]) if self.live_attempt else ""
        )

    @property
    def qr(self) -> str:
        if self.live_attempt is None:
            return ""
        return qr_svg(self.live_attempt.pay_url, title=self.live_provider_label)

    @property
    def fulfilment(self) -> Any:
        return getattr(self.order, "fulfilment", None)

    @property
    def fulfilment_status_label(self) -> str:
        fulfilment = self.fulfilment
        return label(FULFILMENT_STATUS_LABELS, fulfilment.status) if fulfilment else ""

    @property
    def lines(self) -> list[dict[str, Any]]:
        return [
            {"line": line, "kind_label": label(LINE_KIND_LABELS, line.kind)}
            for line in self.order.lines.all()
        ]

    @property
    def refunds(self) -> list[dict[str, Any]]:
        return [
            {
                "refund": refund,
                "status_label": label(REFUND_STATUS_LABELS, refund.status),
                "reason_label": label(REFUND_TRIGGER_LABELS, refund.trigger),
            }
            for refund in self.order.refunds.all()
        ]


def _order_view(order: PaymentOrder) -> OrderView:
    now = timezone.now()
    open_for_payment = order.status in PAYABLE_STATUSES and order.expires_at > now
    can_choose = open_for_payment and order.status == OrderStatus.CREATED
    prescription = order.prescription
    attempts = list(order.attempts.all())
    live = [attempt for attempt in attempts if attempt.status == AttemptStatus.OPEN]
    return OrderView(
        order=order,
        can_choose=can_choose,
        can_pay=open_for_payment and bool(order.fulfilment_method),
        pickup_offered=can_choose
        and prescription is not None
        and pickup_available(order.consultation.facility, prescription),
        delivery_offered=can_choose and not order.pickup_only,
        insurance_offered=can_choose and insurance_eligible(order=order),
        live_attempt=live[-1] if live else None,
        paid_attempts=[attempt for attempt in attempts if attempt.status == AttemptStatus.PAID],
    )


def _address_values(order: PaymentOrder, posted: dict[str, str] | None) -> dict[str, str]:
    """The address form's values: what was just posted, else the order's, else the patient."""
    if posted is not None:
        return posted
    if order.fulfilment_method == FulfilmentMethod.DELIVERY:
        return {name: getattr(order, f"delivery_{name}") for name in ADDRESS_FIELDS}
    return {
        "recipient": order.patient.name,
        "phone": order.patient.phone.removeprefix("+86"),
        "province": "",
        "city": "",
        "district": "",
        "detail": "",
    }


def _render_order(
    request: HttpRequest,
    order: PaymentOrder,
    *,
    errors: FormErrors | None = None,
    posted: dict[str, str] | None = None,
    method: str = "",
) -> HttpResponse:
    errors = errors or FormErrors()
    view = _order_view(order)
    chosen = method or order.fulfilment_method
    if not chosen:
        chosen = FulfilmentMethod.PICKUP if view.pickup_offered else FulfilmentMethod.DELIVERY
    return render(
        request,
        "payments/mobile/order.html",
        {
            "view": view,
            "order": order,
            "errors": errors,
            "method": chosen,
            "address": _address_values(order, posted),
            "delivery_fee_fen": settings.PAYMENT_DELIVERY_FEE_FEN,
            "providers": [(value, PROVIDER_LABELS[value]) for value in PAGE_CHANNELS],
            "poll_seconds": PAYMENT_POLL_SECONDS,
        },
        status=errors.status,
    )


def _order(actor: Actor, public_id: Any) -> PaymentOrder:
    return order_get_for_actor(actor=actor, public_id=public_id)


@require_GET
@patient_page
def order_detail(request: HttpRequest, public_id: Any) -> HttpResponse:
    return _render_order(request, _order(actor_from_request(request), public_id))


@require_POST
@patient_page
def order_fulfilment(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    order = _order(actor, public_id)
    method = request.POST.get("method", "")
    posted = {name: request.POST.get(name, "") for name in ADDRESS_FIELDS}
    try:
        order_choose_fulfilment(
            actor=actor,
            order=order,
            method=method,
            delivery_address=DeliveryAddress(**posted)
            if method == FulfilmentMethod.DELIVERY
            else None,
            use_insurance=request.POST.get("use_insurance") == "on",
        )
    except DomainError as error:
        # Nothing changed: the order as read is the order to show again.
        return _render_order(
            request, order, errors=FormErrors.from_error(error), posted=posted, method=method
        )
    return redirect("mobile:order", public_id=order.public_id)


@require_POST
@patient_page
def order_pay_start(request: HttpRequest, public_id: Any) -> HttpResponse:
    actor = actor_from_request(request)
    order = _order(actor, public_id)
    provider = request.POST.get("provider", "")
    try:
        channel = PAGE_CHANNELS.get(Provider(provider)) if provider in Provider.values else None
        if channel is None:
            raise DomainError(
                "Choose WeChat Pay or Alipay.",
                code="pay_channel_invalid",
                fields={"provider": ["Required."]},
            )
        order_pay(actor=actor, order=order, provider=provider, channel=channel)
    except DomainError as error:
        # Read it again: a refused provider order is recorded on the order.
        return _render_order(request, _order(actor, public_id), errors=FormErrors.from_error(error))
    return redirect("mobile:order", public_id=order.public_id)


@require_GET
@patient_page
def order_payment_status(request: HttpRequest, public_id: Any) -> HttpResponse:
    """The payment box the order page polls; once the order is no longer awaiting payment the
    whole page reloads to show the receipt (or why it closed)."""
    order = _order(actor_from_request(request), public_id)
    if request.headers.get("HX-Request") and order.status not in PAYABLE_STATUSES:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    return render(
        request,
        "payments/mobile/_payment_status.html",
        {"view": _order_view(order), "order": order, "poll_seconds": PAYMENT_POLL_SECONDS},
    )


@require_GET
@patient_page
def order_list(request: HttpRequest) -> HttpResponse:
    """Every order of mine with what was paid and refunded: the receipts."""
    actor = actor_from_request(request)
    orders = orders_visible_to(actor=actor).order_by("-created_at", "-pk")
    page = Paginator(orders, ORDERS_PER_PAGE).get_page(request.GET.get("page"))
    shown = list(page.object_list)
    orders_record_list_read(actor=actor, orders=shown)
    rows = [
        {"order": order, "status_label": label(ORDER_STATUS_LABELS, order.status)}
        for order in shown
    ]
    return render(request, "payments/mobile/orders.html", {"rows": rows, "page": page})


urlpatterns = [
    path("orders/", order_list, name="orders"),
    path("orders/<uuid:public_id>/", order_detail, name="order"),
    path("orders/<uuid:public_id>/fulfilment/", order_fulfilment, name="order-fulfilment"),
    path("orders/<uuid:public_id>/pay/", order_pay_start, name="order-pay"),
    path("orders/<uuid:public_id>/payment-status/", order_payment_status, name="order-status"),
]
