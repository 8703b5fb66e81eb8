"""Pickup: a paid order makes a fulfilment ready with a code and a QR token; staff or the
terminal of the pickup facility scan it and the medicine is handed over — at most once, never
for an unpaid order or an unapproved or expired prescription, never below zero stock."""

import datetime
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from core.exceptions import ConflictError
from core.models import AuditEvent
from notifications.models import Notification
from payments.models import OrderStatus
from pharmacy import pickup_codes
from pharmacy.models import (
    Dispense,
    DispenseItem,
    FacilityStock,
    Fulfilment,
    FulfilmentEvent,
    StockMovement,
)
from pharmacy.services import fulfilment_start
from prescriptions.models import Prescription, PrescriptionEvent
from tests.factories import api_client, make_staff, make_terminal, terminal_client
from tests.pharmacy.builders import Scene, make_paid_order, make_pickup, make_prescription
from tests.prescriptions.builders import make_drug

pytestmark = pytest.mark.django_db

PICKUP = "/api/v1/fulfilments/pickup/"


def _token(fulfilment: Fulfilment) -> str:
    assert fulfilment.pickup_code_expires_at is not None
    return pickup_codes.qr_payload(
        pickup_codes.pickup_token(
            fulfilment_public_id=fulfilment.public_id,
            code=fulfilment.pickup_code,
            expires_at=fulfilment.pickup_code_expires_at,
        )
    )


def _state(scene: Scene) -> dict[str, Any]:
    """Everything a refused scan must leave as it was."""
    scene.refresh()
    return {
        "fulfilment": scene.fulfilment.status,
        "prescription": (scene.prescription.status, scene.prescription.dispensed_at),
        "stock": sorted(FacilityStock.objects.values_list("drug_id", "quantity")),
        "dispenses": Dispense.objects.count(),
        "movements": StockMovement.objects.count(),
        "events": FulfilmentEvent.objects.count(),
        "prescription_events": PrescriptionEvent.objects.count(),
        "dispense_audit": AuditEvent.objects.filter(object_type="dispense").count(),
    }


def test_a_paid_pickup_order_is_ready_with_a_code_and_the_patient_is_told() -> None:
    scene = make_pickup()
    fulfilment = scene.fulfilment

    assert fulfilment.method == "pickup"
    assert fulfilment.status == "ready_for_pickup"
    assert fulfilment.facility_id == scene.facility.pk
    assert pickup_codes.is_code_shaped(fulfilment.pickup_code)
    # The prescription's validity (6 h) ends before the code's own lifetime (72 h).
    assert fulfilment.pickup_code_expires_at == scene.prescription.valid_until
    assert list(
        FulfilmentEvent.objects.filter(fulfilment=fulfilment).values_list(
            "from_status", "to_status"
        )
    ) == [("", "awaiting_payment"), ("awaiting_payment", "ready_for_pickup")]
    sent = Notification.objects.filter(event="ready_for_pickup")
    assert list(sent.values_list("recipient_patient", "channel", "objects_ids")) == [
        (scene.visit.patient.pk, "sms", {"fulfilment": fulfilment.pk})
    ]


def test_the_code_lifetime_caps_a_long_validity(settings: Any) -> None:
    settings.PHARMACY_PICKUP_CODE_LIFETIME_HOURS = 2
    before = timezone.now()
    scene = make_pickup(valid_for=datetime.timedelta(days=2))
    expires = scene.fulfilment.pickup_code_expires_at
    assert expires is not None
    assert (
        before + datetime.timedelta(hours=2)
        <= expires
        <= timezone.now() + datetime.timedelta(hours=2)
    )


def test_starting_twice_returns_the_same_fulfilment() -> None:
    scene = make_pickup()
    with transaction.atomic():
        again = fulfilment_start(order=scene.order)
    assert again == scene.fulfilment
    assert Fulfilment.objects.count() == 1
    assert FulfilmentEvent.objects.count() == 2


def test_an_order_without_a_prescription_has_nothing_to_fulfil() -> None:
    rx = make_prescription()
    order = make_paid_order(rx)
    order.prescription = None
    with transaction.atomic():
        assert fulfilment_start(order=order) is None
    assert Fulfilment.objects.count() == 0


def test_an_unpaid_order_is_not_fulfilled() -> None:
    order = make_paid_order(make_prescription(), status=OrderStatus.PENDING)
    with pytest.raises(ConflictError) as refused, transaction.atomic():
        fulfilment_start(order=order)
    assert refused.value.code == "order_not_paid"
    assert Fulfilment.objects.count() == 0


def test_staff_of_the_facility_hand_over_by_code() -> None:
    amlodipine, metformin = make_drug(), make_drug(code="TEST-MET", name_zh="二甲双胍片")
    scene = make_pickup(items=[(amlodipine, 2), (metformin, 3)], stock=5)

    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "picked_up"
    assert body["pickup"] is None  # staff are never shown the code
    assert body["dispense"]["actor_role"] == "clinic_staff"
    assert [(i["drug_code"], i["quantity"]) for i in body["dispense"]["items"]] == [
        (amlodipine.code, 2),
        ("TEST-MET", 3),
    ]
    scene.refresh()
    assert scene.fulfilment.status == "picked_up"
    assert scene.fulfilment.picked_up_at is not None
    assert scene.prescription.status == "dispensed"
    assert scene.prescription.dispensed_at == scene.fulfilment.picked_up_at
    dispense = Dispense.objects.get()
    assert (dispense.fulfilment, dispense.prescription) == (scene.fulfilment, scene.prescription)
    assert (dispense.facility, dispense.dispensed_by, dispense.terminal) == (
        scene.facility,
        scene.staff,
        None,
    )
    assert sorted(DispenseItem.objects.values_list("drug_id", "quantity")) == sorted(
        [(amlodipine.pk, 2), (metformin.pk, 3)]
    )
    assert dict(FacilityStock.objects.values_list("drug_id", "quantity")) == {
        amlodipine.pk: 3,
        metformin.pk: 2,
    }
    assert sorted(
        StockMovement.objects.values_list("drug_id", "change", "quantity_after", "reason")
    ) == sorted([(amlodipine.pk, -2, 3, "dispensed"), (metformin.pk, -3, 2, "dispensed")])
    assert (
        AuditEvent.objects.filter(
            object_type="dispense", object_id=str(scene.fulfilment.public_id), actor=scene.staff
        ).count()
        == 1
    )
    assert (
        AuditEvent.objects.filter(
            object_type="fulfilment",
            object_id=str(scene.fulfilment.public_id),
            detail__status=["ready_for_pickup", "picked_up"],
        ).count()
        == 1
    )


def test_the_terminal_of_the_facility_hands_over_by_qr_token() -> None:
    scene = make_pickup()
    terminal = make_terminal(scene.facility)

    response = terminal_client(terminal.credential).post(
        PICKUP, {"token": _token(scene.fulfilment)}, format="json"
    )

    assert response.status_code == 200, response.json()
    dispense = Dispense.objects.get()
    assert dispense.terminal == terminal.terminal
    assert dispense.dispensed_by is None
    assert dispense.actor_role == "terminal"
    assert scene.refresh().status == "picked_up"


def test_wrong_facility_staff_get_404_and_nothing_changes() -> None:
    scene = make_pickup()
    before = _state(scene)
    stranger = make_staff()  # another facility

    by_code = api_client(stranger).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )
    by_token = api_client(stranger).post(PICKUP, {"token": _token(scene.fulfilment)}, format="json")

    assert (by_code.status_code, by_code.json()["code"]) == (404, "not_found")
    assert (by_token.status_code, by_token.json()["code"]) == (404, "not_found")
    assert _state(scene) == before


def test_an_unknown_code_looks_the_same_as_another_facilitys() -> None:
    scene = make_pickup()
    unused = "0" * 8 if scene.fulfilment.pickup_code != "0" * 8 else "1" * 8
    response = api_client(scene.staff).post(PICKUP, {"code": unused}, format="json")
    assert (response.status_code, response.json()["code"]) == (404, "not_found")


def test_an_expired_prescription_is_refused_and_nothing_changes() -> None:
    scene = make_pickup()
    Prescription.objects.filter(pk=scene.prescription.pk).update(
        valid_until=timezone.now() - datetime.timedelta(minutes=1)
    )
    before = _state(scene)

    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (409, "prescription_expired")
    assert _state(scene) == before


def test_a_prescription_marked_expired_is_refused() -> None:
    scene = make_pickup()
    Prescription.objects.filter(pk=scene.prescription.pk).update(
        status="expired", expired_at=timezone.now()
    )
    before = _state(scene)
    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "prescription_expired")
    assert _state(scene) == before


def test_a_revoked_prescription_is_not_dispensed() -> None:
    scene = make_pickup()
    Prescription.objects.filter(pk=scene.prescription.pk).update(
        status="revoked", revoked_at=timezone.now()
    )
    before = _state(scene)
    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "prescription_not_effective")
    assert _state(scene) == before


@pytest.mark.parametrize("status", [OrderStatus.PENDING, OrderStatus.REFUNDED])
def test_an_order_not_paid_is_refused_and_nothing_changes(status: str) -> None:
    scene = make_pickup()
    # A ready pickup whose money is not (or no longer) there: refunded, or never confirmed.
    type(scene.order).objects.filter(pk=scene.order.pk).update(
        status=status,
        paid_fen=0 if status == OrderStatus.PENDING else scene.order.paid_fen,
        refunded_fen=scene.order.paid_fen if status == OrderStatus.REFUNDED else 0,
        paid_at=None if status == OrderStatus.PENDING else scene.order.paid_at,
    )
    before = _state(scene)

    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )

    assert (response.status_code, response.json()["code"]) == (409, "order_not_paid")
    assert _state(scene) == before


def test_a_second_dispense_is_refused_and_nothing_changes() -> None:
    scene = make_pickup()
    code = scene.fulfilment.pickup_code
    first = api_client(scene.staff).post(PICKUP, {"code": code}, format="json")
    assert first.status_code == 200
    before = _state(scene)

    again = api_client(scene.staff).post(PICKUP, {"code": code}, format="json")
    by_token = terminal_client(make_terminal(scene.facility).credential).post(
        PICKUP, {"token": _token(scene.fulfilment)}, format="json"
    )

    assert (again.status_code, again.json()["code"]) == (409, "already_dispensed")
    assert (by_token.status_code, by_token.json()["code"]) == (409, "already_dispensed")
    assert _state(scene) == before
    assert Dispense.objects.count() == 1


def test_out_of_stock_is_refused_whole_and_nothing_changes() -> None:
    in_stock, short = make_drug(), make_drug(code="TEST-SHORT")
    scene = make_pickup(items=[(in_stock, 2), (short, 4)], stock=3)
    before = _state(scene)

    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["code"] == "out_of_stock"
    assert response.json()["drugs"] == ["TEST-SHORT"]
    assert _state(scene) == before


def test_no_stock_row_at_all_is_out_of_stock() -> None:
    scene = make_pickup(stock=None)
    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "out_of_stock")
    assert Dispense.objects.count() == 0


def test_a_forged_or_altered_token_is_refused() -> None:
    scene = make_pickup()
    genuine = _token(scene.fulfilment)
    forged = pickup_codes.QR_PREFIX + genuine.removeprefix(pickup_codes.QR_PREFIX)[:-2] + "xx"
    before = _state(scene)

    for token in (forged, "RXPICKUP:not-a-token", "garbage"):
        response = api_client(scene.staff).post(PICKUP, {"token": token}, format="json")
        assert (response.status_code, response.json()["code"]) == (409, "pickup_code_invalid")
    assert _state(scene) == before


def test_a_token_for_a_replaced_code_is_refused() -> None:
    scene = make_pickup()
    old = _token(scene.fulfilment)
    Fulfilment.objects.filter(pk=scene.fulfilment.pk).update(pickup_code="12345678")
    response = api_client(scene.staff).post(PICKUP, {"token": old}, format="json")
    assert (response.status_code, response.json()["code"]) == (409, "pickup_code_invalid")
    assert Dispense.objects.count() == 0


def test_an_expired_code_is_refused_while_the_prescription_is_valid() -> None:
    scene = make_pickup()
    Fulfilment.objects.filter(pk=scene.fulfilment.pk).update(
        pickup_code_expires_at=timezone.now() - datetime.timedelta(seconds=1)
    )
    response = api_client(scene.staff).post(
        PICKUP, {"code": scene.fulfilment.pickup_code}, format="json"
    )
    assert (response.status_code, response.json()["code"]) == (409, "pickup_code_expired")
    assert Dispense.objects.count() == 0


@pytest.mark.parametrize(
    "payload",
    [{}, {"code": "1234"}, {"code": "abcdefgh"}, {"code": "12345678", "token": "x"}],
)
def test_malformed_scan_input_is_a_400(payload: dict[str, str]) -> None:
    scene = make_pickup()
    response = api_client(scene.staff).post(PICKUP, payload, format="json")
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")


def test_a_drawn_code_already_in_use_is_drawn_again(monkeypatch: pytest.MonkeyPatch) -> None:
    first = make_pickup()
    draws = iter([first.fulfilment.pickup_code, "87654321"])
    monkeypatch.setattr("pharmacy.services.fulfilments.new_pickup_code", lambda: next(draws))

    second = make_pickup()

    assert second.fulfilment.pickup_code == "87654321"
    assert second.fulfilment.status == "ready_for_pickup"
    assert FulfilmentEvent.objects.filter(fulfilment=second.fulfilment).count() == 2
