"""Orders API: who sees which order (not yours looks like not found), who may choose, pay and
refund, the input rules, and the audit of reads. Paying and refunding for real (which talks to
the providers) is in test_live_payments.py."""

import pytest

from accounts.models import Role
from core.models import AuditEvent
from payments.models import PaymentAttempt, PaymentOrder, Refund
from tests.factories import api_client, make_doctor, make_staff, make_terminal, make_user
from tests.factories import terminal_client as terminal_api_client
from tests.payments.factories import make_operator, make_sale

pytestmark = pytest.mark.django_db


def url(sale, action=""):
    base = f"/api/v1/orders/{sale.order.public_id}/"
    return f"{base}{action}/" if action else base


@pytest.fixture
def sale():
    return make_sale(fulfilment=None)


@pytest.fixture
def cast(sale):
    """Everyone who might ask about the order."""
    other = make_sale(fulfilment=None)
    return {
        "owner": sale.patient_user,
        "other_patient": other.patient_user,
        "facility_staff": make_staff(facility=sale.visit.facility),
        "other_staff": make_staff(),
        "operations": make_operator(),
        "doctor": sale.visit.doctor,
        "other_doctor": make_doctor(),
        "pharmacist": make_user(role=Role.PHARMACIST),
    }


SEES = {"owner", "facility_staff", "operations"}


@pytest.mark.parametrize(
    "who",
    [
        "owner",
        "other_patient",
        "facility_staff",
        "other_staff",
        "operations",
        "doctor",
        "other_doctor",
        "pharmacist",
    ],
)
def test_detail_is_for_the_patient_the_facility_and_operations(sale, cast, who):
    response = api_client(cast[who]).get(url(sale))

    if who in SEES:
        assert response.status_code == 200, response.json()
        body = response.json()
        assert body["id"] == str(sale.order.public_id)
        assert [line["kind"] for line in body["lines"]] == ["consultation_fee", "drug"]
        assert body["payable_fen"] == 5350
        assert body["fulfilment"]["method"] == ""
        assert (
            AuditEvent.objects.filter(
                object_type="payment_order", object_id=str(sale.order.public_id), action="read"
            ).count()
            == 1
        )
    else:
        assert response.status_code == 404
        assert response.json()["code"] == "not_found"
        assert not AuditEvent.objects.filter(object_type="payment_order").exists()


def test_the_list_holds_only_what_each_may_see(sale, cast):
    mine = str(sale.order.public_id)
    every = {
        str(public_id) for public_id in PaymentOrder.objects.values_list("public_id", flat=True)
    }

    def listed(user):
        response = api_client(user).get("/api/v1/orders/")
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert listed(cast["owner"]) == {mine}
    assert listed(cast["facility_staff"]) == {mine}
    assert listed(cast["operations"]) == every
    assert len(every) == 2
    for nobody in ("other_staff", "doctor", "pharmacist"):
        assert listed(cast[nobody]) == set()
    assert mine not in listed(cast["other_patient"])


def test_terminals_and_strangers_see_nothing(sale):
    issued = make_terminal(sale.visit.facility)
    assert terminal_api_client(issued.credential).get(url(sale)).status_code == 404
    assert terminal_api_client(issued.credential).get("/api/v1/orders/").json()["results"] == []
    anonymous = api_client().get(url(sale))
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "not_authenticated")


@pytest.mark.parametrize(
    ("who", "status_code", "code"),
    [
        ("owner", 200, None),
        ("facility_staff", 403, "permission_denied"),
        ("operations", 403, "permission_denied"),
        ("other_patient", 404, "not_found"),
        ("other_staff", 404, "not_found"),
        ("doctor", 404, "not_found"),
    ],
)
def test_only_the_patient_chooses_pickup_or_delivery(sale, cast, who, status_code, code):
    response = api_client(cast[who]).post(url(sale, "fulfilment"), {"method": "pickup"})

    assert response.status_code == status_code, response.json()
    if code:
        assert response.json()["code"] == code
        assert sale.refresh().fulfilment_method == ""
    else:
        assert response.json()["fulfilment"]["method"] == "pickup"
        assert response.json()["fulfilment"]["pickup_facility"]["name"] == sale.visit.facility.name


def test_delivery_through_the_api_validates_the_address(sale):
    client = api_client(sale.patient_user)

    missing = client.post(url(sale, "fulfilment"), {"method": "delivery"}, format="json")
    bad_phone = client.post(
        url(sale, "fulfilment"),
        {
            "method": "delivery",
            "delivery_address": {
                "recipient": "陈志强",
                "phone": "021-1234",
                "province": "广东省",
                "city": "广州市",
                "district": "越秀区",
                "detail": "东风中路 483 号",
            },
        },
        format="json",
    )

    assert (missing.status_code, missing.json()["code"]) == (400, "delivery_address_required")
    assert (bad_phone.status_code, bad_phone.json()["code"]) == (400, "delivery_address_invalid")
    assert list(bad_phone.json()["fields"]) == ["phone"]
    assert sale.refresh().fulfilment_method == ""


@pytest.mark.parametrize(
    ("who", "status_code", "code"),
    [
        ("facility_staff", 403, "permission_denied"),
        ("operations", 403, "permission_denied"),
        ("other_patient", 404, "not_found"),
        ("other_staff", 404, "not_found"),
        ("doctor", 404, "not_found"),
        ("pharmacist", 404, "not_found"),
    ],
)
def test_only_the_patient_pays(sale, cast, who, status_code, code):
    response = api_client(cast[who]).post(
        url(sale, "pay"), {"provider": "wechatpay", "channel": "native"}
    )

    assert (response.status_code, response.json()["code"]) == (status_code, code)
    assert not PaymentAttempt.objects.exists()
    assert sale.refresh().status == "created"


def test_paying_needs_the_choice_first_and_a_channel_of_the_provider(sale):
    client = api_client(sale.patient_user)

    no_choice = client.post(url(sale, "pay"), {"provider": "wechatpay", "channel": "native"})
    wrong_channel = client.post(url(sale, "pay"), {"provider": "alipay", "channel": "native"})
    no_openid = client.post(url(sale, "pay"), {"provider": "wechatpay", "channel": "jsapi"})

    assert (no_choice.status_code, no_choice.json()["code"]) == (409, "fulfilment_required")
    assert (wrong_channel.status_code, wrong_channel.json()["code"]) == (400, "pay_channel_invalid")
    assert (no_openid.status_code, no_openid.json()["code"]) == (400, "payer_openid_required")
    assert not PaymentAttempt.objects.exists()


def test_an_expired_prescription_cannot_be_paid(sale):
    from django.utils import timezone

    client = api_client(sale.patient_user)
    client.post(url(sale, "fulfilment"), {"method": "pickup"})
    sale.prescription.status = "expired"
    sale.prescription.expired_at = timezone.now()
    sale.prescription.save(update_fields=["status", "expired_at"])

    response = client.post(url(sale, "pay"), {"provider": "alipay", "channel": "precreate"})

    assert (response.status_code, response.json()["code"]) == (409, "prescription_expired")
    assert not PaymentAttempt.objects.exists()


@pytest.mark.parametrize(
    ("who", "status_code", "code"),
    [
        ("owner", 403, "permission_denied"),
        ("facility_staff", 403, "permission_denied"),
        ("other_patient", 404, "not_found"),
        ("other_staff", 404, "not_found"),
        ("doctor", 404, "not_found"),
    ],
)
def test_only_operations_refund(sale, cast, who, status_code, code):
    response = api_client(cast[who]).post(url(sale, "refund"), {"amount_fen": 100, "reason": "x"})

    assert (response.status_code, response.json()["code"]) == (status_code, code)
    assert not Refund.objects.exists()


def test_an_unpaid_order_has_nothing_to_refund(sale, cast):
    response = api_client(cast["operations"]).post(
        url(sale, "refund"), {"amount_fen": 100, "reason": "患者要求"}
    )

    assert (response.status_code, response.json()["code"]) == (409, "order_not_paid")
    assert not Refund.objects.exists()
    assert sale.refresh().refund_pending_fen == 0


@pytest.mark.parametrize(
    ("who", "status_code"),
    [("operations", 200), ("owner", 403), ("facility_staff", 403), ("other_patient", 404)],
)
def test_the_ledger_is_for_operations(sale, cast, who, status_code):
    response = api_client(cast[who]).get(url(sale, "ledger"))

    assert response.status_code == status_code
    if status_code == 200:
        assert response.json() == []


def test_reconciliation_reports_are_for_operations(sale, cast):
    for who in ("owner", "facility_staff", "doctor"):
        listed = api_client(cast[who]).get("/api/v1/payments/reconciliations/")
        run = api_client(cast[who]).post(
            "/api/v1/payments/reconciliations/", {"provider": "alipay", "date": "2026-01-01"}
        )
        assert (listed.status_code, run.status_code) == (403, 403)
    listed = api_client(cast["operations"]).get("/api/v1/payments/reconciliations/")
    assert (listed.status_code, listed.json()["results"]) == (200, [])
