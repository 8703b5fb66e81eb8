"""Who may use each fulfilment and stock endpoint: the patient themself and another patient,
staff and terminals of the facility and of another, the treating doctor, a pharmacist,
operations and nobody. "Not yours" looks exactly like "not found"."""

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from courier_emulator.models import EmulatedWaybill
from courier_emulator.services import tracking_event_deliver, tracking_event_record
from pharmacy.models import Dispense, FacilityStock, StockMovement
from pharmacy.services.delivery import fulfilment_dispatch
from tests.courier_emulator.transport import InProcessTransport
from tests.factories import (
    api_client,
    make_facility,
    make_patient,
    make_patient_user,
    make_staff,
    make_terminal,
    make_user,
    resident_id,
    terminal_client,
)
from tests.pharmacy.builders import Scene, emulated_courier, make_delivery, make_pickup

pytestmark = pytest.mark.django_db

ROLES = [
    "patient",
    "other_patient",
    "staff",
    "other_staff",
    "terminal",
    "other_terminal",
    "doctor",
    "pharmacist",
    "operations",
    "anonymous",
]


@dataclass
class Cast:
    scene: Scene
    clients: dict[str, Callable[[], APIClient]]


def _cast(scene: Scene) -> Cast:
    elsewhere = make_facility()
    other_staff = make_staff(facility=elsewhere)
    other_patient = make_patient(other_staff, id_number=resident_id(birth="19650101"))
    users = {
        "patient": scene.patient_user,
        "other_patient": make_patient_user(other_patient),
        "staff": scene.staff,
        "other_staff": other_staff,
        "doctor": scene.visit.doctor,
        "pharmacist": make_user(role=Role.PHARMACIST),
        "operations": make_user(),
    }
    terminals = {
        "terminal": make_terminal(scene.facility).credential,
        "other_terminal": make_terminal(elsewhere).credential,
    }
    clients: dict[str, Callable[[], APIClient]] = {
        role: partial(api_client, user) for role, user in users.items()
    }
    clients |= {
        role: partial(terminal_client, credential) for role, credential in terminals.items()
    }
    clients["anonymous"] = APIClient
    return Cast(scene=scene, clients=clients)


def _failed_delivery() -> Scene:
    scene = make_delivery()
    fulfilment_dispatch(fulfilment_id=scene.fulfilment.pk, courier=emulated_courier())
    failed = tracking_event_record(
        waybill=EmulatedWaybill.objects.get(), status="failed", reason="收件人拒收"
    )
    tracking_event_deliver(failed, transport=InProcessTransport())
    assert scene.refresh().status == "failed"
    return scene


def _code(response: Any) -> tuple[int, str]:
    body = response.json()
    return response.status_code, body.get("code", "") if isinstance(body, dict) else ""


DETAIL = {
    "patient": 200,
    "other_patient": 404,
    "staff": 200,
    "other_staff": 404,
    "terminal": 200,
    "other_terminal": 404,
    "doctor": 404,
    "pharmacist": 404,
    "operations": 200,
    "anonymous": 401,
}


@pytest.mark.parametrize("role", ROLES)
def test_fulfilment_detail(role: str) -> None:
    cast = _cast(make_pickup())
    fulfilment = cast.scene.fulfilment

    response = cast.clients[role]().get(f"/api/v1/fulfilments/{fulfilment.public_id}/")

    assert response.status_code == DETAIL[role]
    if response.status_code == 200:
        body = response.json()
        assert body["id"] == str(fulfilment.public_id)
        # Only the patient is shown the code they present at the counter.
        shown = body["pickup"]
        if role == "patient":
            assert shown["code"] == fulfilment.pickup_code
            assert shown["qr_payload"].startswith("RXPICKUP:")
        else:
            assert shown is None
    elif response.status_code == 404:
        assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("role", ROLES)
def test_fulfilment_list(role: str) -> None:
    cast = _cast(make_pickup())

    response = cast.clients[role]().get("/api/v1/fulfilments/")

    if role == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    ids = [row["id"] for row in response.json()["results"]]
    sees = DETAIL[role] == 200
    assert ids == ([str(cast.scene.fulfilment.public_id)] if sees else [])


PICKUP = {
    "patient": (403, "not_dispenser"),
    "other_patient": (403, "not_dispenser"),
    "staff": (200, ""),
    "other_staff": (404, "not_found"),
    "terminal": (200, ""),
    "other_terminal": (404, "not_found"),
    "doctor": (403, "not_dispenser"),
    "pharmacist": (403, "not_dispenser"),
    "operations": (403, "not_dispenser"),
    "anonymous": (401, "not_authenticated"),
}


@pytest.mark.parametrize("role", ROLES)
def test_pickup_scan(role: str) -> None:
    cast = _cast(make_pickup())

    response = cast.clients[role]().post(
        "/api/v1/fulfilments/pickup/", {"code": cast.scene.fulfilment.pickup_code}, format="json"
    )

    assert _code(response) == PICKUP[role]
    assert Dispense.objects.count() == (1 if PICKUP[role][0] == 200 else 0)
    assert cast.scene.refresh().status == (
        "picked_up" if PICKUP[role][0] == 200 else "ready_for_pickup"
    )


OPERATIONS_ONLY = {
    "patient": (403, "permission_denied"),
    "other_patient": (404, "not_found"),
    "staff": (403, "permission_denied"),
    "other_staff": (404, "not_found"),
    "terminal": (403, "permission_denied"),
    "other_terminal": (404, "not_found"),
    "doctor": (404, "not_found"),
    "pharmacist": (404, "not_found"),
    "operations": (200, ""),
    "anonymous": (401, "not_authenticated"),
}


@pytest.mark.usefixtures("in_process_courier")
@pytest.mark.parametrize("role", ROLES)
def test_retry_delivery(role: str) -> None:
    cast = _cast(_failed_delivery())

    response = cast.clients[role]().post(
        f"/api/v1/fulfilments/{cast.scene.fulfilment.public_id}/retry-delivery/", format="json"
    )

    assert _code(response) == OPERATIONS_ONLY[role]
    expected = "dispatched" if OPERATIONS_ONLY[role][0] == 200 else "failed"
    assert cast.scene.refresh().status == expected


@pytest.mark.parametrize("role", ROLES)
def test_return_parcel(role: str) -> None:
    cast = _cast(_failed_delivery())

    response = cast.clients[role]().post(
        f"/api/v1/fulfilments/{cast.scene.fulfilment.public_id}/return/",
        {"reason": "包裹已退回"},
        format="json",
    )

    assert _code(response) == OPERATIONS_ONLY[role]
    expected = "returned" if OPERATIONS_ONLY[role][0] == 200 else "failed"
    assert cast.scene.refresh().status == expected


@pytest.mark.parametrize("role", ROLES)
def test_courier_notify_takes_no_credentials_only_the_signature(role: str) -> None:
    cast = _cast(make_pickup())

    response = cast.clients[role]().post(
        "/api/v1/fulfilments/courier/notify/", {"event_id": "x"}, format="json"
    )

    assert _code(response) == (401, "courier_signature_missing")


STOCK_LIST = {
    "patient": False,
    "other_patient": False,
    "staff": True,
    "other_staff": False,
    "terminal": True,
    "other_terminal": False,
    "doctor": False,
    "pharmacist": False,
    "operations": True,
}


@pytest.mark.parametrize("role", ROLES)
def test_stock_list(role: str) -> None:
    cast = _cast(make_pickup())
    row = FacilityStock.objects.get()

    response = cast.clients[role]().get("/api/v1/stock/")

    if role == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    listed = [
        (r["facility"]["code"], r["drug_code"], r["quantity"]) for r in response.json()["results"]
    ]
    expected = [(row.facility.code, row.drug.code, 10)]
    assert listed == (expected if STOCK_LIST[role] else [])


STOCK_ADJUST = {
    "patient": (403, "not_stock_keeper"),
    "other_patient": (403, "not_stock_keeper"),
    "staff": (201, ""),
    "other_staff": (404, "not_found"),
    "terminal": (403, "not_stock_keeper"),
    "other_terminal": (403, "not_stock_keeper"),
    "doctor": (403, "not_stock_keeper"),
    "pharmacist": (403, "not_stock_keeper"),
    "operations": (201, ""),
    "anonymous": (401, "not_authenticated"),
}


@pytest.mark.parametrize("role", ROLES)
def test_stock_adjust(role: str) -> None:
    cast = _cast(make_pickup())
    row = FacilityStock.objects.get()

    response = cast.clients[role]().post(
        "/api/v1/stock/adjust/",
        {
            "facility": str(cast.scene.facility.public_id),
            "drug": row.drug.code,
            "change": 5,
            "reason": "received",
        },
        format="json",
    )

    assert _code(response) == STOCK_ADJUST[role]
    adjusted = STOCK_ADJUST[role][0] == 201
    row.refresh_from_db()
    assert row.quantity == (15 if adjusted else 10)
    assert StockMovement.objects.count() == (1 if adjusted else 0)


@pytest.mark.parametrize("role", ROLES)
def test_stock_movements(role: str) -> None:
    cast = _cast(make_pickup())
    assert (
        cast.clients["staff"]()
        .post(
            "/api/v1/stock/adjust/",
            {"drug": FacilityStock.objects.get().drug.code, "change": -1, "reason": "damaged"},
            format="json",
        )
        .status_code
        == 201
    )

    response = cast.clients[role]().get("/api/v1/stock/movements/")

    if role == "anonymous":
        assert response.status_code == 401
        return
    assert response.status_code == 200
    reasons = [r["reason"] for r in response.json()["results"]]
    assert reasons == (["damaged"] if role in ("staff", "operations") else [])
