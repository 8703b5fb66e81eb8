"""Orders from approved prescriptions: lines, the consultation fee once per consultation, the
prescription rules, and the patient's pickup or delivery choice."""

import datetime

import pytest
from django.utils import timezone

from core.actors import actor_for_user
from core.exceptions import DomainError
from notifications.models import Notification
from payments.models import OrderLine, PaymentOrder
from payments.services import DeliveryAddress, order_choose_fulfilment, order_close
from tests.consultations.builders import make_visit
from tests.factories import make_staff
from tests.payments.factories import (
    ADDRESS,
    create_order,
    make_drug,
    make_prescription,
    make_sale,
)

pytestmark = pytest.mark.django_db


def lines(order: PaymentOrder) -> list[tuple[str, int, int, int]]:
    return list(
        OrderLine.objects.filter(order=order)
        .order_by("pk")
        .values_list("kind", "quantity", "unit_price_fen", "amount_fen")
    )


def test_an_approved_prescription_becomes_an_order_with_the_fee_and_the_drugs():
    visit = make_visit("completed")
    prescription = make_prescription(
        visit, items=((make_drug(price_fen=2350), 2), (make_drug(price_fen=1280), 1))
    )

    order = create_order(prescription)

    assert lines(order) == [
        ("consultation_fee", 1, 3000, 3000),
        ("drug", 2, 2350, 4700),
        ("drug", 1, 1280, 1280),
    ]
    assert (order.status, order.total_fen, order.payable_fen, order.paid_fen) == (
        "created",
        8980,
        8980,
        0,
    )
    assert order.carries_consultation_fee is True
    assert order.number.startswith(f"PO{timezone.localdate():%Y%m%d}")
    assert order.expires_at == prescription.valid_until
    assert set(
        Notification.objects.filter(recipient_patient=visit.patient).values_list(
            "event", "dedupe_key"
        )
    ) == {("payment_link", f"order:{order.pk}:payment_link|p{visit.patient.pk}|sms")}


def test_the_order_expires_with_the_timeout_when_that_comes_first(settings):
    settings.PAYMENT_ORDER_TIMEOUT_MINUTES = 30
    visit = make_visit("completed")
    earliest = timezone.now() + datetime.timedelta(minutes=30)
    order = create_order(make_prescription(visit, valid_for=datetime.timedelta(hours=8)))
    latest = timezone.now() + datetime.timedelta(minutes=30)
    assert earliest <= order.expires_at <= latest


def test_creating_the_order_again_returns_the_same_order():
    visit = make_visit("completed")
    prescription = make_prescription(visit)

    first = create_order(prescription)
    second = create_order(prescription)

    assert second.pk == first.pk
    assert PaymentOrder.objects.filter(prescription=prescription).count() == 1
    assert Notification.objects.filter(event="payment_link").count() == 1


def test_a_revised_prescription_does_not_charge_the_consultation_fee_again():
    visit = make_visit("completed")
    first = make_prescription(visit)
    create_order(first)
    revised = make_prescription(visit, previous=first)

    order = create_order(revised)

    assert order.carries_consultation_fee is False
    assert [line[0] for line in lines(order)] == ["drug"]
    assert order.total_fen == 2350


def test_the_fee_moves_to_the_next_order_when_the_first_closed_unpaid():
    visit = make_visit("completed")
    first = make_prescription(visit)
    order_close(order=create_order(first), reason="timeout")
    revised = make_prescription(visit, previous=first)

    order = create_order(revised)

    assert order.carries_consultation_fee is True
    assert order.total_fen == 3000 + 2350


@pytest.mark.parametrize(
    ("status", "valid_for", "code"),
    [
        ("signed", datetime.timedelta(hours=8), "prescription_not_approved"),
        ("rejected", datetime.timedelta(hours=8), "prescription_not_approved"),
        ("revoked", datetime.timedelta(hours=8), "prescription_revoked"),
        ("expired", datetime.timedelta(hours=8), "prescription_expired"),
        ("approved", datetime.timedelta(minutes=-1), "prescription_expired"),
    ],
)
def test_unpayable_prescriptions_cannot_be_ordered(status, valid_for, code):
    visit = make_visit("completed")
    prescription = make_prescription(visit, status=status, valid_for=valid_for)

    with pytest.raises(DomainError) as refused:
        create_order(prescription)

    assert refused.value.code == code
    assert not PaymentOrder.objects.exists()
    assert not Notification.objects.filter(event="payment_link").exists()


# --- fulfilment ----------------------------------------------------------------------------------


def test_pickup_is_at_the_consultations_facility_without_a_fee():
    sale = make_sale(fulfilment="pickup")

    assert sale.order.fulfilment_method == "pickup"
    assert sale.order.pickup_facility_id == sale.visit.facility.pk
    assert sale.order.payable_fen == 3000 + 2350
    assert [line[0] for line in lines(sale.order)] == ["consultation_fee", "drug"]


def test_delivery_adds_the_fee_and_keeps_the_address_with_a_normalised_phone(settings):
    settings.PAYMENT_DELIVERY_FEE_FEN = 1200
    sale = make_sale(fulfilment="delivery")

    order = sale.order
    assert (order.fulfilment_method, order.pickup_facility_id) == ("delivery", None)
    assert (order.delivery_recipient, order.delivery_phone, order.delivery_detail) == (
        "陈志强",
        "+8613800138000",
        "东风中路 483 号 3 栋 1201",
    )
    assert lines(order)[-1] == ("delivery_fee", 1, 1200, 1200)
    assert (order.total_fen, order.payable_fen) == (3000 + 2350 + 1200, 3000 + 2350 + 1200)


def test_switching_back_to_pickup_drops_the_delivery_fee():
    sale = make_sale(fulfilment="delivery")

    order = order_choose_fulfilment(actor=sale.patient_actor, order=sale.order, method="pickup")

    assert [line[0] for line in lines(order)] == ["consultation_fee", "drug"]
    assert order.payable_fen == 3000 + 2350
    assert order.delivery_phone == ""


def test_a_bad_delivery_address_is_refused_field_by_field():
    sale = make_sale(fulfilment=None)
    address = DeliveryAddress(**{**ADDRESS.__dict__, "phone": "12345", "detail": " "})

    with pytest.raises(DomainError) as refused:
        order_choose_fulfilment(
            actor=sale.patient_actor, order=sale.order, method="delivery", delivery_address=address
        )

    assert refused.value.code == "delivery_address_invalid"
    assert set(refused.value.fields) == {"phone", "detail"}
    assert sale.refresh().fulfilment_method == ""


def test_cold_chain_medicine_is_pickup_only():
    sale = make_sale(
        items=((make_drug(cold_chain=True, name_zh="甘精胰岛素注射液"), 1),), fulfilment=None
    )

    with pytest.raises(DomainError) as refused:
        order_choose_fulfilment(
            actor=sale.patient_actor, order=sale.order, method="delivery", delivery_address=ADDRESS
        )

    assert refused.value.code == "cold_chain_pickup_only"
    order = sale.refresh()
    assert (order.fulfilment_method, order.total_fen) == ("", 3000 + 2350)
    assert not OrderLine.objects.filter(order=order, kind="delivery_fee").exists()


def test_the_choice_is_the_patients_own():
    sale = make_sale(fulfilment=None)
    other = make_sale(fulfilment=None)

    with pytest.raises(DomainError) as not_theirs:
        order_choose_fulfilment(actor=other.patient_actor, order=sale.order, method="pickup")
    with pytest.raises(DomainError) as staff:
        order_choose_fulfilment(
            actor=actor_for_user(make_staff(facility=sale.visit.facility)),
            order=sale.order,
            method="pickup",
        )

    assert (not_theirs.value.code, not_theirs.value.status_code) == ("not_found", 404)
    assert (staff.value.code, staff.value.status_code) == ("permission_denied", 403)
    assert sale.refresh().fulfilment_method == ""


def test_an_expired_prescription_cannot_be_finalised():
    sale = make_sale(fulfilment=None)
    sale.prescription.valid_until = timezone.now() - datetime.timedelta(seconds=1)
    sale.prescription.save(update_fields=["valid_until"])

    with pytest.raises(DomainError) as refused:
        order_choose_fulfilment(actor=sale.patient_actor, order=sale.order, method="pickup")

    assert refused.value.code in ("order_expired", "prescription_expired")
    assert sale.refresh().fulfilment_method == ""
