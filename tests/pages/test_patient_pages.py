"""The patient's phone pages (/m/): sign-in by phone and one-time code, my prescriptions, the order
page (pickup or delivery, pay), the receipt and refunds, the pickup code and the tracking
timeline; every page refuses other roles and other patients' objects."""

import datetime
import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import Role, User
from courier_emulator.models import EmulatedWaybill
from courier_emulator.services import tracking_event_deliver, tracking_event_record
from notifications.models import LoginCode
from notifications.providers.sms_emulator import MessagingEmulator, default_emulator
from patients.models import Patient
from payments.models import OrderLineKind, PaymentOrder, Refund
from pharmacy.models import FulfilmentStatus
from pharmacy.services.delivery import fulfilment_dispatch
from tests.courier_emulator.transport import InProcessTransport
from tests.factories import make_doctor, make_staff, make_user
from tests.payments.factories import Sale, make_sale
from tests.pharmacy.builders import Scene, emulated_courier, make_delivery, make_pickup, stock_up

pytestmark = pytest.mark.django_db

SIGNIN = "/m/signin/"
SIGNIN_CODE = "/m/signin/code/"


@pytest.fixture(autouse=True)
def sms(settings: Any) -> Iterator[MessagingEmulator]:
    """The in-process SMS emulator, emptied; quiet hours off (codes are urgent anyway)."""
    settings.SMS_API_BASE_URL = ""
    settings.NOTIFICATION_QUIET_HOURS = ""
    default_emulator.reset()
    yield default_emulator
    default_emulator.reset()


def sent_code(emulator: MessagingEmulator) -> str:
    text = json.loads(emulator.snapshot()["sms"][-1]["TemplateParam"])["text"]
    return re.findall(r"\d{6}", text)[0]


def signed_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def give_phone(patient: Patient, national: str) -> None:
    Patient.objects.filter(pk=patient.pk).update(phone=f"+86{national}")


def stocked_sale(**kwargs: Any) -> Sale:
    """An approved prescription's unpaid order whose clinic has the medicine on its shelf."""
    sale = make_sale(fulfilment=None, **kwargs)
    for item in sale.prescription.items.all():
        stock_up(sale.visit.facility, item.drug, 10)
    return sale


# --- Sign-in ---------------------------------------------------------------------------------


def test_a_patient_signs_in_with_the_code_the_sms_brought(
    sms: MessagingEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    sale = make_sale(fulfilment=None)
    patient = sale.visit.patient
    give_phone(patient, "13912345678")
    Patient.objects.filter(pk=patient.pk).update(user=None)
    client = Client()

    with django_capture_on_commit_callbacks(execute=True):
        asked = client.post(SIGNIN, {"phone": "139 1234 5678", "next": "/m/orders/"})
    assert (asked.status_code, asked["Location"]) == (302, f"{SIGNIN_CODE}?next=%2Fm%2Forders%2F")
    (message,) = sms.snapshot()["sms"]
    assert message["PhoneNumbers"] == "+8613912345678"
    form = client.get(asked["Location"])
    assert "139****5678" in form.content.decode()

    entered = client.post(SIGNIN_CODE, {"code": sent_code(sms), "next": "/m/orders/"})

    assert (entered.status_code, entered["Location"]) == (302, "/m/orders/")
    patient.refresh_from_db()
    assert patient.user is not None
    assert patient.user.role == Role.PATIENT
    assert client.session["_auth_user_id"] == str(patient.user.pk)
    assert client.get("/m/").status_code == 200


def test_a_wrong_code_is_refused_on_the_form_and_nobody_is_signed_in(
    sms: MessagingEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    sale = make_sale(fulfilment=None)
    give_phone(sale.visit.patient, "13912345678")
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(SIGNIN, {"phone": "13912345678"})
    wrong = "000000" if sent_code(sms) != "000000" else "111111"

    refused = client.post(SIGNIN_CODE, {"code": wrong})

    assert refused.status_code == 400
    assert 'data-code="otp_invalid"' in refused.content.decode()
    assert "_auth_user_id" not in client.session
    assert LoginCode.objects.get().failed_attempts == 1


def test_an_unknown_number_gets_the_same_answer_and_no_sms(sms: MessagingEmulator) -> None:
    client = Client()

    asked = client.post(SIGNIN, {"phone": "13700000000"})

    assert (asked.status_code, asked["Location"]) == (302, SIGNIN_CODE)
    assert sms.snapshot()["sms"] == []
    assert LoginCode.objects.count() == 0


def test_a_malformed_number_is_shown_next_to_the_field(sms: MessagingEmulator) -> None:
    answer = Client().post(SIGNIN, {"phone": "12345"})

    assert answer.status_code == 400
    page = answer.content.decode()
    assert 'id="phone-error"' in page
    assert 'value="12345"' in page
    assert LoginCode.objects.count() == 0


def test_the_code_page_without_a_number_goes_back_to_the_first_step() -> None:
    answer = Client().get(SIGNIN_CODE)

    assert (answer.status_code, answer["Location"]) == (302, SIGNIN)


def test_signing_in_never_redirects_to_another_site(
    sms: MessagingEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    sale = make_sale(fulfilment=None)
    give_phone(sale.visit.patient, "13912345678")
    client = Client()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(SIGNIN, {"phone": "13912345678"})

    entered = client.post(SIGNIN_CODE, {"code": sent_code(sms), "next": "https://evil.example/"})

    assert entered["Location"] == "/m/"


def test_signing_out_ends_the_session() -> None:
    sale = make_sale(fulfilment=None)
    client = signed_in(sale.patient_user)

    answer = client.post("/m/signout/")

    assert (answer.status_code, answer["Location"]) == (302, SIGNIN)
    assert "_auth_user_id" not in client.session


# --- Who may open what -----------------------------------------------------------------------


def _pages(scene: Scene) -> list[str]:
    return [
        "/m/",
        "/m/orders/",
        f"/m/orders/{scene.order.public_id}/",
        f"/m/orders/{scene.order.public_id}/payment-status/",
        f"/m/fulfilments/{scene.fulfilment.public_id}/",
    ]


@pytest.mark.parametrize("index", range(5))
def test_anonymous_visitors_are_sent_to_the_phone_sign_in(index: int) -> None:
    url = _pages(make_pickup())[index]

    answer = Client().get(url)

    assert answer.status_code == 302
    assert answer["Location"].startswith(f"{SIGNIN}?next=")


@pytest.mark.parametrize("role", [Role.CLINIC_STAFF, Role.DOCTOR, Role.PHARMACIST, Role.OPERATIONS])
@pytest.mark.parametrize("index", range(5))
def test_other_roles_are_refused(role: Role, index: int) -> None:
    scene = make_pickup()
    user = {
        Role.CLINIC_STAFF: lambda: scene.staff,  # even the facility's own staff
        Role.DOCTOR: lambda: scene.visit.doctor,
        Role.PHARMACIST: lambda: make_user(role=Role.PHARMACIST),
        Role.OPERATIONS: lambda: make_user(role=Role.OPERATIONS),
    }[role]()

    assert signed_in(user).get(_pages(scene)[index]).status_code == 403


@pytest.mark.parametrize("index", [2, 3, 4])
def test_another_patients_order_and_medicine_are_not_found(index: int) -> None:
    scene = make_pickup()
    stranger = make_pickup()

    assert signed_in(stranger.patient_user).get(_pages(scene)[index]).status_code == 404


def test_another_patient_can_neither_choose_nor_pay_for_my_order() -> None:
    sale = stocked_sale()
    stranger = make_sale(fulfilment=None)
    client = signed_in(stranger.patient_user)
    url = f"/m/orders/{sale.order.public_id}/"

    chose = client.post(f"{url}fulfilment/", {"method": "pickup"})
    paid = client.post(f"{url}pay/", {"provider": "wechatpay"})

    assert (chose.status_code, paid.status_code) == (404, 404)
    order = sale.refresh()
    assert (order.fulfilment_method, order.status, order.attempts.count()) == ("", "created", 0)


def test_staff_cannot_post_a_choice_for_a_patient() -> None:
    sale = stocked_sale()

    answer = signed_in(sale.visit.staff).post(
        f"/m/orders/{sale.order.public_id}/fulfilment/", {"method": "pickup"}
    )

    assert answer.status_code == 403
    assert sale.refresh().fulfilment_method == ""


# --- My prescriptions ------------------------------------------------------------------------


def test_my_prescriptions_show_what_can_be_paid_and_nothing_of_others() -> None:
    sale = stocked_sale()
    stranger = make_sale(fulfilment=None)

    page = signed_in(sale.patient_user).get("/m/").content.decode()

    assert f'data-prescription="{sale.prescription.public_id}"' in page
    assert f'data-prescription="{stranger.prescription.public_id}"' not in page
    assert f'href="/m/orders/{sale.order.public_id}/"' in page
    assert "苯磺酸氨氯地平片 5 mg × 1 盒" in page


def test_my_prescriptions_in_english_show_english_names(settings: Any) -> None:
    sale = stocked_sale()
    client = signed_in(sale.patient_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get("/m/").content.decode()

    assert "My prescriptions" in page
    assert "Amlodipine besylate tablets 5 mg × 1" in page
    assert "Approved" in page


# --- The order page: pickup or delivery ---------------------------------------------------------


def test_the_order_page_offers_pickup_where_the_medicine_is_on_the_shelf() -> None:
    sale = stocked_sale()
    client = signed_in(sale.patient_user)

    page = client.get(f"/m/orders/{sale.order.public_id}/").content.decode()

    assert re.search(r'id="method-pickup"[^>]*checked', page)
    assert not re.search(r'id="method-pickup"[^>]*disabled', page)
    assert sale.visit.facility.name in page
    assert 'id="order-total">¥53.50<' in page  # fee 30.00 + one pack 23.50


def test_pickup_is_not_offered_where_the_clinic_lacks_the_medicine() -> None:
    sale = make_sale(fulfilment=None)  # nothing on the clinic's shelf

    page = signed_in(sale.patient_user).get(f"/m/orders/{sale.order.public_id}/").content.decode()

    assert re.search(r'id="method-pickup"[^>]*disabled', page)
    assert re.search(r'id="method-delivery"[^>]*checked', page)


def test_choosing_pickup_records_the_clinic_and_shows_the_payment_form() -> None:
    sale = stocked_sale()
    client = signed_in(sale.patient_user)
    url = f"/m/orders/{sale.order.public_id}/"

    chose = client.post(f"{url}fulfilment/", {"method": "pickup"})

    assert (chose.status_code, chose["Location"]) == (302, url)
    order = sale.refresh()
    assert (order.fulfilment_method, order.pickup_facility) == ("pickup", sale.visit.facility)
    page = client.get(url).content.decode()
    assert 'id="pay-form"' in page
    assert 'data-method="pickup"' in page


def test_choosing_delivery_adds_the_fee_and_keeps_the_address() -> None:
    sale = stocked_sale()
    client = signed_in(sale.patient_user)
    url = f"/m/orders/{sale.order.public_id}/"

    client.post(
        f"{url}fulfilment/",
        {
            "method": "delivery",
            "recipient": "陈志强",
            "phone": "13800138000",
            "province": "广东省",
            "city": "广州市",
            "district": "越秀区",
            "detail": "东风中路 483 号",
        },
    )

    order = sale.refresh()
    assert (order.fulfilment_method, order.delivery_city, order.delivery_phone) == (
        "delivery",
        "广州市",
        "+8613800138000",
    )
    assert order.total_fen == 5350 + settings.PAYMENT_DELIVERY_FEE_FEN
    assert order.lines.filter(kind=OrderLineKind.DELIVERY_FEE).count() == 1
    assert "东风中路 483 号" in client.get(url).content.decode()


def test_an_incomplete_address_is_shown_field_by_field_and_nothing_changes() -> None:
    sale = stocked_sale()
    client = signed_in(sale.patient_user)

    answer = client.post(
        f"/m/orders/{sale.order.public_id}/fulfilment/",
        {"method": "delivery", "recipient": "陈志强", "phone": "12", "province": "广东省"},
    )

    assert answer.status_code == 400
    page = answer.content.decode()
    assert 'data-code="delivery_address_invalid"' in page
    for field in ("phone", "city", "district", "detail"):
        assert f'id="{field}-error"' in page
    assert 'id="recipient-error"' not in page
    assert 'value="陈志强"' in page  # what was typed stays
    order = sale.refresh()
    assert (order.fulfilment_method, order.total_fen) == ("", 5350)


def test_an_insured_patient_sees_the_split_and_pays_only_their_part() -> None:
    from core.actors import actor_for_user
    from payments.services import insurance_voucher_register

    sale = stocked_sale()
    insurance_voucher_register(
        actor=actor_for_user(sale.visit.staff),
        patient=sale.visit.patient,
        insurer="广州市医疗保障局",
        member_id="440100198001010011",
        personal_account_balance_fen=100_000,
    )
    client = signed_in(sale.patient_user)
    url = f"/m/orders/{sale.order.public_id}/"
    assert 'id="use-insurance"' in client.get(url).content.decode()

    client.post(f"{url}fulfilment/", {"method": "pickup", "use_insurance": "on"})

    order = sale.refresh()
    # 53.50 insurable: the fund 60 % (32.10), the personal account half the rest (10.70).
    assert (order.insurance_fund_fen, order.insurance_personal_fen, order.payable_fen) == (
        3210,
        1070,
        1070,
    )
    page = client.get(url).content.decode()
    assert "−¥32.10" in page
    assert "−¥10.70" in page
    assert 'id="order-payable">¥10.70<' in page


def test_paying_before_choosing_is_refused_with_the_reason() -> None:
    sale = stocked_sale()

    answer = signed_in(sale.patient_user).post(
        f"/m/orders/{sale.order.public_id}/pay/", {"provider": "wechatpay"}
    )

    assert answer.status_code == 409
    assert 'data-code="fulfilment_required"' in answer.content.decode()
    assert sale.refresh().attempts.count() == 0


def test_an_unknown_provider_is_refused() -> None:
    sale = make_sale(fulfilment="pickup")

    answer = signed_in(sale.patient_user).post(
        f"/m/orders/{sale.order.public_id}/pay/", {"provider": "paypal"}
    )

    assert answer.status_code == 400
    assert 'data-code="pay_channel_invalid"' in answer.content.decode()
    assert sale.refresh().attempts.count() == 0


# --- Paying for real: the emulated providers on a live server ------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_paying_shows_the_qr_code_and_the_page_reloads_once_the_provider_confirms(
    live_server: Any, settings: Any, tmp_path: Any
) -> None:
    from tests.payments.factories import payer_opens_and_pays

    url = str(live_server.url)
    settings.PAYMENT_KEYS_DIR = tmp_path
    settings.SITE_URL = url
    settings.PAYMENT_EMULATOR_BASE_URL = f"{url}/emulators"
    settings.WECHATPAY_API_BASE_URL = f"{url}/emulators/wechatpay"
    settings.ALIPAY_GATEWAY_URL = f"{url}/emulators/alipay/gateway.do"
    sale = stocked_sale()
    client = signed_in(sale.patient_user)
    order_url = f"/m/orders/{sale.order.public_id}/"
    client.post(f"{order_url}fulfilment/", {"method": "pickup"})

    started = client.post(f"{order_url}pay/", {"provider": "wechatpay"})

    assert (started.status_code, started["Location"]) == (302, order_url)
    attempt = sale.refresh().attempts.get()
    page = client.get(order_url).content.decode()
    assert 'class="qr"><title>' in page
    assert f'href="{attempt.pay_url}"' in page
    assert 'hx-trigger="every 3s"' in page
    polled = client.get(f"{order_url}payment-status/", headers={"HX-Request": "true"})
    assert (polled.status_code, polled.has_header("HX-Refresh")) == (200, False)

    payer_opens_and_pays(attempt.pay_url, base_url=url)

    polled = client.get(f"{order_url}payment-status/", headers={"HX-Request": "true"})
    assert (polled.status_code, polled["HX-Refresh"]) == (204, "true")
    page = client.get(order_url).content.decode()
    assert 'id="paid-amount"' in page
    fulfilment = sale.refresh().fulfilment
    assert fulfilment.status == FulfilmentStatus.READY_FOR_PICKUP
    assert f'href="/m/fulfilments/{fulfilment.public_id}/"' in page
    code_page = client.get(f"/m/fulfilments/{fulfilment.public_id}/").content.decode()
    assert f">{fulfilment.pickup_code}<" in code_page


# --- Receipts, refunds, pickup code, tracking ---------------------------------------------------


def test_the_receipt_shows_what_was_paid_and_every_refund() -> None:
    scene = make_pickup()
    attempt = scene.order.attempts.get()
    Refund.objects.create(
        order=scene.order,
        attempt=attempt,
        out_refund_no=f"{scene.order.number}R1",
        amount_fen=1000,
        reason="退部分药费",
        trigger="operations",
        trigger_key="operations:test",
        status="succeeded",
        settled_at=timezone.now(),
    )
    PaymentOrder.objects.filter(pk=scene.order.pk).update(refunded_fen=1000)
    client = signed_in(scene.patient_user)

    page = client.get(f"/m/orders/{scene.order.public_id}/").content.decode()
    listing = client.get("/m/orders/").content.decode()

    paid = scene.order.paid_fen
    assert re.search(rf'id="paid-amount">[^<]*¥{paid // 100}\.{paid % 100:02d}<', page)
    assert attempt.transaction_id in page
    assert 'id="refunds"' in page
    assert "¥10.00" in page
    assert f'data-order="{scene.order.public_id}"' in listing


def test_the_pickup_code_page_shows_the_code_and_its_qr_code() -> None:
    scene = make_pickup()

    page = signed_in(scene.patient_user).get(f"/m/fulfilments/{scene.fulfilment.public_id}/")

    html = page.content.decode()
    assert f">{scene.fulfilment.pickup_code}<" in html
    assert 'class="qr"><title>' in html
    assert 'hx-trigger="every 10s"' in html


def test_once_handed_over_the_code_is_gone_and_the_page_stops_refreshing() -> None:
    from core.actors import actor_for_user
    from pharmacy.services.pickup import pickup_dispense

    scene = make_pickup()
    pickup_dispense(actor=actor_for_user(scene.staff), code=scene.fulfilment.pickup_code)

    html = signed_in(scene.patient_user).get(f"/m/fulfilments/{scene.fulfilment.public_id}/")

    page = html.content.decode()
    assert 'id="picked-up"' in page
    assert scene.fulfilment.pickup_code not in page
    assert "hx-trigger" not in page


def test_the_tracking_timeline_follows_the_courier_to_the_door() -> None:
    scene = make_delivery()
    fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=emulated_courier())
    waybill = EmulatedWaybill.objects.get()
    start = timezone.now().replace(microsecond=0)
    transport = InProcessTransport()
    for minutes, status in enumerate(
        ["accepted", "picked_up", "in_transit", "out_for_delivery", "delivered"]
    ):
        event = tracking_event_record(
            waybill=waybill,
            status=status,
            occurred_at=start + datetime.timedelta(minutes=minutes),
        )
        tracking_event_deliver(event, transport=transport)
    client = signed_in(scene.patient_user)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"

    page = client.get(f"/m/fulfilments/{scene.fulfilment.public_id}/").content.decode()

    assert 'data-status="delivered"' in page
    statuses = re.findall(r'data-tracking-status="(\w+)"', page)
    assert statuses == [
        "delivered",
        "out_for_delivery",
        "in_transit",
        "picked_up",
        "accepted",
        "paid",
    ]
    assert waybill.waybill_number in page
    assert '<li class="current" aria-current="step">Delivered</li>' in page
    assert "hx-trigger" not in page


def test_a_doctor_of_the_consultation_still_cannot_open_the_patients_pages() -> None:
    scene = make_pickup()
    doctor = make_doctor()

    assert signed_in(doctor).get(f"/m/fulfilments/{scene.fulfilment.public_id}/").status_code == 403
    assert signed_in(make_staff()).get("/m/").status_code == 403
