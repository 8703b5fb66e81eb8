"""Approved prescriptions written directly (the signing services are not under test here), the
orders made from them through the payments service, and the people around them."""

import datetime
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import Role, User
from core.actors import Actor, actor_for_user
from patients.models import PriorDiagnosisEvidence
from payments.models import PaymentOrder
from payments.services import (
    DeliveryAddress,
    order_choose_fulfilment,
    order_create_for_prescription,
)
from prescriptions.models import Drug, Prescription, PrescriptionItem
from tests.consultations.builders import Visit, icd10, make_visit
from tests.factories import make_patient_user

_sequence = itertools.count(1)


def make_drug(**fields: Any) -> Drug:
    """Amlodipine 5 mg × 28 tablets at 23.50 yuan a pack unless told otherwise."""
    n = next(_sequence)
    values: dict[str, Any] = {
        "code": f"PAY-{n:05d}",
        "name_zh": "苯磺酸氨氯地平片",
        "name_en": "Amlodipine besylate tablets",
        "atc_code": "C08CA01",
        "dosage_form": "tablet",
        "strength": "5 mg",
        "dose_unit": "mg",
        "strength_per_unit": Decimal(5),
        "units_per_pack": 28,
        "pack_unit": "盒",
        "price_fen": 2350,
        "default_route": "oral",
    }
    return Drug.objects.create(**(values | fields))


def make_prescription(
    visit: Visit,
    *,
    items: tuple[tuple[Drug, int], ...] | None = None,
    status: str = "approved",
    valid_for: datetime.timedelta = datetime.timedelta(hours=12),
    previous: Prescription | None = None,
) -> Prescription:
    """A prescription version in `status` for the visit, with (drug, packs) items at the
    drugs' prices (one pack of a new 23.50 drug unless told otherwise)."""
    now = timezone.now()
    evidence = PriorDiagnosisEvidence.objects.filter(patient=visit.patient).first()
    assert evidence is not None, "the visit needs evidence"
    prescription = Prescription.objects.create(
        number=previous.number if previous else f"RX{now:%Y%m%d}{next(_sequence):06d}",
        version=previous.version + 1 if previous else 1,
        previous_version=previous,
        consultation=visit.consultation,
        patient=visit.patient,
        doctor=visit.doctor.doctor_profile,
        status=status,
        diagnosis=icd10(),
        evidence=evidence,
        signed_at=now,
        valid_until=now + valid_for,
        retention_until=datetime.date(2041, 1, 1),
    )
    for position, (drug, packs) in enumerate(items or ((make_drug(), 1),), start=1):
        PrescriptionItem.objects.create(
            prescription=prescription,
            position=position,
            drug=drug,
            dose=Decimal(5),
            dose_unit=drug.dose_unit,
            frequency="qd",
            route="oral",
            days_supply=7,
            quantity=packs,
            unit_price_fen=drug.price_fen,
        )
    return prescription


@dataclass
class Sale:
    """An approved prescription's order and everyone around it."""

    visit: Visit
    prescription: Prescription
    order: PaymentOrder
    patient_user: User

    @property
    def patient_actor(self) -> Actor:
        return actor_for_user(self.patient_user)

    def refresh(self) -> PaymentOrder:
        self.order.refresh_from_db()
        return self.order


def create_order(prescription: Prescription) -> PaymentOrder:
    """What the pharmacist's approval does: create the order inside its own transaction."""
    with transaction.atomic():
        return order_create_for_prescription(prescription=prescription)


def make_sale(
    *,
    visit: Visit | None = None,
    items: tuple[tuple[Drug, int], ...] | None = None,
    fulfilment: str | None = "pickup",
    valid_for: datetime.timedelta = datetime.timedelta(hours=12),
) -> Sale:
    """A completed visit's approved prescription, its order, the patient's own account, and
    (unless `fulfilment=None`) the patient's pickup or delivery choice."""
    visit = visit or make_visit("completed")
    prescription = make_prescription(visit, items=items, valid_for=valid_for)
    order = create_order(prescription)
    user = visit.patient.user or make_patient_user(visit.patient)
    sale = Sale(visit=visit, prescription=prescription, order=order, patient_user=user)
    if fulfilment == "pickup":
        order_choose_fulfilment(actor=sale.patient_actor, order=order, method="pickup")
    elif fulfilment == "delivery":
        order_choose_fulfilment(
            actor=sale.patient_actor, order=order, method="delivery", delivery_address=ADDRESS
        )
    sale.refresh()
    return sale


ADDRESS = DeliveryAddress(
    recipient="陈志强",
    phone="13800138000",
    province="广东省",
    city="广州市",
    district="越秀区",
    detail="东风中路 483 号 3 栋 1201",
)


def make_operator(**fields: Any) -> User:
    from tests.factories import make_user

    return make_user(role=Role.OPERATIONS, **fields)


# --- Provider orders and callbacks (the emulated providers' side) --------------------------------

NOTIFY_PATH = "/api/v1/payments/notify/{provider}"
DEFAULT_CHANNEL = {"wechatpay": "native", "alipay": "precreate"}
# Channels whose pay_url a test can open like a browser (JSAPI needs the in-app cashier).
OPENABLE_CHANNEL = {"wechatpay": "native", "alipay": "wap"}


def open_attempt(sale: Sale, *, provider: str = "wechatpay") -> Any:
    """What `order_pay` leaves once the provider accepted the order, with the provider's side
    opened in the emulator directly (tests that need no HTTP round trip to create it)."""
    from django.conf import settings

    from payments.models import PaymentAttempt
    from payments.services.gateways import expected_identity, notify_url
    from provider_emulators.services import TradeOrder, trade_open

    order = sale.order
    channel = DEFAULT_CHANNEL[provider]
    attempt = PaymentAttempt.objects.create(
        order=order,
        provider=provider,
        channel=channel,
        out_trade_no=f"{order.number}-1",
        amount_fen=order.payable_fen,
        status="open",
        pay_url="weixin://wxpay/bizpayurl?pr=test",
        issued_at=timezone.now(),
        expires_at=order.expires_at,
    )
    PaymentOrder.objects.filter(pk=order.pk).update(status="pending")
    merchant_id, app_id = expected_identity(provider)
    trade_open(
        order=TradeOrder(
            provider=provider,
            merchant_id=merchant_id,
            app_id=app_id,
            out_trade_no=attempt.out_trade_no,
            channel=channel,
            description=f"{settings.NOTIFICATION_HOSPITAL_NAME} {order.number}",
            amount_fen=attempt.amount_fen,
            notify_url=notify_url(provider),
            expires_at=attempt.expires_at,
        ),
        scanned=True,
    )
    sale.refresh()
    return attempt


def payer_pays_quietly(attempt: Any) -> None:
    """The payer pays at the emulated provider, whose notification is not sent by itself."""
    from provider_emulators.hooks import emulator_pay

    emulator_pay(provider=attempt.provider, out_trade_no=attempt.out_trade_no, callback=False)


def post_callback(client: Any, signed: Any, *, provider: str) -> Any:
    """Send a provider's notification request (url, headers, body) to the platform."""
    headers = {k: v for k, v in signed.headers.items() if k.lower() != "content-type"}
    return client.post(
        NOTIFY_PATH.format(provider=provider),
        data=signed.body,
        content_type=signed.headers.get("Content-Type", "application/octet-stream"),
        headers=headers,
    )


def payer_opens_and_pays(pay_url: str, *, base_url: str) -> Any:
    """The payer's phone: open what the QR code (or cashier URL) holds, see the merchant and the
    amount, press "pay" (a form post with the page's CSRF token). Returns the payer page."""
    import json
    import re
    from urllib.parse import quote

    import httpx

    if pay_url.startswith("{"):  # JSAPI parameters: the WeChat in-app cashier takes them
        params = quote(json.dumps(json.loads(pay_url)))
        pay_url = f"{base_url}/emulators/pay/wechatpay/jsapi/?params={params}"
    with httpx.Client(follow_redirects=True, timeout=30) as phone:
        page = phone.get(pay_url)
        assert page.status_code == 200, page.text
        action = re.search(r'<form method="post" action="([^"]+/pay/)"', page.text)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert action, page.text
        assert token, page.text
        paid = phone.post(
            str(page.url.join(action.group(1))),
            data={"csrfmiddlewaretoken": token.group(1)},
            headers={"Referer": str(page.url)},
        )
        assert paid.status_code == 200, paid.text
        return page


def pay_through_provider(sale: Sale, *, provider: str = "wechatpay", channel: str = "") -> Any:
    """The patient starts paying (the real gateway creates the provider order at the emulator,
    over HTTP: needs the live server) and opens the payment page, where Alipay creates its trade
    (a QR code once scanned, a wap URL once opened); returns the attempt, still open."""
    import httpx

    from payments.services import order_pay

    started = order_pay(
        actor=sale.patient_actor,
        order=sale.order,
        provider=provider,
        channel=channel or OPENABLE_CHANNEL[provider],
    )
    assert started.attempt is not None
    opened = httpx.get(started.attempt.pay_url, follow_redirects=True, timeout=30)
    assert opened.status_code == 200, opened.text
    sale.refresh()
    return started.attempt


def paid_sale(*, provider: str = "wechatpay", **options: Any) -> tuple[Sale, Any]:
    """A sale paid through the provider, its callback applied (live server)."""
    from provider_emulators.hooks import emulator_pay

    sale = make_sale(**options)
    attempt = pay_through_provider(sale, provider=provider)
    emulator_pay(provider=provider, out_trade_no=attempt.out_trade_no)
    sale.refresh()
    assert sale.order.status == "paid", sale.order.status
    attempt.refresh_from_db()
    return sale, attempt
