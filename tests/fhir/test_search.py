"""Search parameters, paging Bundles and `_include`; refusals as OperationOutcome; queries per
search that do not grow with the page."""

import datetime
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient

from interop.fhir import codes
from interop.fhir.resources import REGISTRY
from patients.services import patient_decrypt_id_number
from tests.consultations.builders import make_visit
from tests.factories import api_client
from tests.fhir.scene import Scene, record_vitals

pytestmark = pytest.mark.django_db


def _get(client: APIClient, query: str, status: int = 200) -> dict[str, Any]:
    response = client.get(query if query.startswith("/") else f"/fhir/{query}")
    assert response.status_code == status, response.content
    body: dict[str, Any] = response.json()
    return body


def _ids(body: dict[str, Any], mode: str = "match") -> list[str]:
    return [entry["resource"]["id"] for entry in body["entry"] if entry["search"]["mode"] == mode]


@pytest.fixture
def ops(scene: Scene) -> APIClient:
    return api_client(scene.operations)


def test_patient_by_full_document_number_name_birthdate_and_id(
    scene: Scene, ops: APIClient
) -> None:
    mine = str(scene.patient.public_id)
    number = patient_decrypt_id_number(patient=scene.patient)
    everyone = _ids(_get(ops, "Patient?_count=100"))

    assert _ids(_get(ops, f"Patient?identifier={codes.RESIDENT_ID_SYSTEM}|{number}")) == [mine]
    assert _ids(_get(ops, f"Patient?identifier={number.lower()}")) == [mine]
    assert _ids(_get(ops, f"Patient?identifier={scene.patient.id_number_masked}")) == []
    assert _ids(_get(ops, f"Patient?identifier=urn:oid:0.0|{number}")) == []
    assert _ids(_get(ops, "Patient?name=陈志")) == everyone
    assert _ids(_get(ops, "Patient?name=王")) == []
    assert _ids(_get(ops, "Patient?birthdate=1990-01-01")) == everyone
    assert _ids(_get(ops, "Patient?birthdate=1990")) == everyone
    assert _ids(_get(ops, "Patient?birthdate=gt1990-01-01")) == []
    assert _ids(_get(ops, f"Patient?_id={mine},{scene.booked.patient.public_id}")) == [
        str(scene.booked.patient.public_id),
        mine,
    ]
    assert _ids(_get(ops, f"Patient?_id={mine}&name=王")) == []
    assert _ids(_get(ops, "Patient?phone=13800138000")) == everyone
    assert len(everyone) == 3


def test_last_updated_and_dates_follow_fhir_prefixes(scene: Scene, ops: APIClient) -> None:
    today = timezone.localdate().isoformat()
    tomorrow = (timezone.localdate() + datetime.timedelta(days=1)).isoformat()
    everyone = _ids(_get(ops, "Patient?_count=100"))

    assert _ids(_get(ops, f"Patient?_lastUpdated={today}")) == everyone
    assert _ids(_get(ops, f"Patient?_lastUpdated=ge{tomorrow}")) == []
    assert _ids(_get(ops, f"Patient?_lastUpdated=lt{tomorrow}T00:00:00%2B08:00")) == everyone
    assert len(_ids(_get(ops, f"Observation?date={today}&_count=100"))) == 6
    assert _ids(_get(ops, f"Encounter?date=lt{today}")) == []
    assert len(_ids(_get(ops, f"MedicationRequest?authoredon={today}"))) == 2


def test_status_codes_map_back_to_the_platform_statuses(scene: Scene, ops: APIClient) -> None:
    assert _ids(_get(ops, "Encounter?status=finished")) == [
        str(scene.terminated.public_id),
        str(scene.consultation.public_id),
    ]
    assert _ids(_get(ops, "Encounter?status=arrived,in-progress")) == []
    assert _ids(_get(ops, "Appointment?status=booked")) == [str(scene.booked.public_id)]
    assert len(_ids(_get(ops, "Appointment?status=fulfilled"))) == 2
    assert len(_ids(_get(ops, "MedicationRequest?status=completed"))) == 2
    assert _ids(_get(ops, "MedicationRequest?status=active")) == []
    assert _ids(_get(ops, "Slot?status=free")) == [str(scene.free_slot.public_id)]
    assert len(_ids(_get(ops, "Slot?status=busy"))) == 3
    assert _ids(_get(ops, "Invoice?status=balanced")) == [str(scene.order.public_id)]
    assert len(_ids(_get(ops, "MedicationDispense?status=completed"))) == 2
    assert len(_ids(_get(ops, "Device?status=active"))) == 1


def test_codes_identifiers_and_references(scene: Scene, ops: APIClient) -> None:
    rx = scene.prescription
    consultation = scene.consultation

    assert _ids(_get(ops, f"MedicationRequest?identifier={rx.number}-{rx.version}-2")) == [
        f"{rx.public_id}-2"
    ]
    assert _ids(_get(ops, f"MedicationRequest?code={codes.ATC}|A10BA02")) == [f"{rx.public_id}-2"]
    assert _ids(_get(ops, f"Observation?code={codes.LOINC}|8867-4")) != []
    assert _ids(_get(ops, f"Observation?code={codes.LOINC}|2339-0")) == []
    assert _ids(_get(ops, f"Condition?encounter=Encounter/{consultation.public_id}")) == [
        f"{consultation.public_id}-I10"
    ]
    assert len(_ids(_get(ops, "Condition?category=problem-list-item"))) == 3
    assert len(_ids(_get(ops, f"Condition?code={codes.ICD10}|I10"))) == 5
    assert _ids(_get(ops, f"Invoice?identifier={scene.order.number}")) == [
        str(scene.order.public_id)
    ]
    assert _ids(
        _get(ops, f"MedicationDispense?prescription=MedicationRequest/{rx.public_id}-1")
    ) == [f"{rx.public_id}-1"]
    assert _ids(_get(ops, f"Provenance?agent=Practitioner/{scene.pharmacist.public_id}")) == [
        f"{rx.public_id}-review"
    ]
    assert _ids(_get(ops, f"Slot?schedule=Schedule/{scene.doctor.public_id}&status=free")) == [
        str(scene.free_slot.public_id)
    ]
    assert _ids(_get(ops, "Encounter?patient=not-a-uuid")) == []


def test_includes_add_each_referenced_resource_once(scene: Scene, ops: APIClient) -> None:
    patient = str(scene.patient.public_id)
    body = _get(
        ops,
        f"MedicationRequest?patient={patient}&_include=MedicationRequest:patient"
        "&_include=MedicationRequest:requester",
    )

    assert len(_ids(body)) == 2
    assert [
        (entry["resource"]["resourceType"], entry["resource"]["id"])
        for entry in body["entry"]
        if entry["search"]["mode"] == "include"
    ] == [("Patient", patient), ("Practitioner", str(scene.doctor.public_id))]
    encounters = _get(ops, "Encounter?_include=Encounter:patient")
    assert sorted(_ids(encounters, "include")) == sorted(
        [patient, str(scene.terminated.patient.public_id)]
    )
    appointments = _get(ops, "Appointment?status=booked&_include=Appointment:patient")
    assert _ids(appointments, "include") == [str(scene.booked.patient.public_id)]


def test_an_include_never_shows_what_the_caller_may_not_read(scene: Scene) -> None:
    """A patient's MedicationRequest names their doctor, whom patients may not look up."""
    body = _get(
        api_client(scene.patient_user),
        "MedicationRequest?_include=MedicationRequest:requester&_include=MedicationRequest:patient",
    )

    assert _ids(body, "include") == [str(scene.patient.public_id)]


def test_pages_follow_next_links_across_tables(scene: Scene, ops: APIClient) -> None:
    """Condition draws on diagnoses, then evidence: pages of two walk across both."""
    everything = _ids(_get(ops, "Condition?_count=100"))
    seen: list[str] = []
    url = "/fhir/Condition?_count=2"
    pages = 0
    while url:
        body = _get(ops, url)
        pages += 1
        assert body["total"] == 5
        seen += _ids(body)
        links = {link["relation"]: link["url"] for link in body["link"]}
        if pages > 1:
            assert "previous" in links
        parts = urlsplit(links["next"]) if "next" in links else None
        url = f"{parts.path}?{parts.query}" if parts else ""

    assert pages == 3
    assert seen == everything
    assert len(set(seen)) == 5
    assert everything[:2] == [
        f"{scene.terminated.public_id}-I10",
        f"{scene.consultation.public_id}-I10",
    ]


def test_count_zero_gives_the_total_only(scene: Scene, ops: APIClient) -> None:
    body = _get(ops, "Observation?_count=0")

    assert (body["total"], body["entry"]) == (6, [])


def test_refusals_are_operation_outcomes(scene: Scene, ops: APIClient) -> None:
    cases = {
        "/fhir/Patient?colour=blue": (400, "not-supported", "search_parameter_unsupported"),
        "/fhir/Patient?birthdate=yesterday": (400, "invalid", "search_parameter_invalid"),
        "/fhir/Patient?birthdate=2024-13-01": (400, "invalid", "search_parameter_invalid"),
        "/fhir/Patient?_count=many": (400, "invalid", "search_parameter_invalid"),
        "/fhir/Patient?_include=Patient:link": (400, "not-supported", "include_unsupported"),
        "/fhir/Patient?_format=xml": (406, "not-supported", "format_unsupported"),
        "/fhir/Practitioner?_lastUpdated=2026": (
            400,
            "not-supported",
            "search_parameter_unsupported",
        ),
        "/fhir/Encounter?patient=Practitioner/x": (400, "invalid", "search_parameter_invalid"),
        "/fhir/Spaceship": (404, "not-supported", "resource_type_unknown"),
        "/fhir/Patient/not-a-uuid": (404, "not-found", "not_found"),
        "/fhir/Patient/a/b": (404, "not-found", "not_found"),
    }
    actual = {}
    for url, _expected in cases.items():
        response = ops.get(url)
        body = response.json()
        actual[url] = (
            response.status_code,
            body["issue"][0]["code"],
            body["issue"][0]["details"]["text"],
        )
        assert body["resourceType"] == "OperationOutcome"
    posted = ops.post("/fhir/Patient", {}, format="json")

    assert actual == cases
    assert posted.status_code == 405
    assert posted.json()["issue"][0]["code"] == "not-supported"


def _queries(client: APIClient, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
    assert response.status_code == 200, response.content
    return len(captured.captured_queries)


def test_queries_do_not_grow_with_the_page(
    scene: Scene, ops: APIClient, django_assert_max_num_queries: Any
) -> None:
    """Full pages of every type cost the same queries before and after the rows multiply."""
    pages = {name: f"/fhir/{name}?_count=100" for name in REGISTRY}
    before = {name: _queries(ops, url) for name, url in pages.items()}
    for _ in range(3):
        make_visit("completed", facility=scene.facility, doctor=scene.doctor)
    ongoing = make_visit("in_progress", facility=scene.facility, doctor=scene.doctor)
    record_vitals(ongoing, scene.terminal)  # six more readings
    grown = {name: len(_ids(_get(ops, url))) for name, url in pages.items()}
    after = {name: _queries(ops, url) for name, url in pages.items()}

    assert after == before
    assert (grown["Patient"], grown["Encounter"], grown["Observation"]) == (7, 6, 12)
    assert max(before.values()) <= 12
    includes = (
        "/fhir/MedicationRequest?_include=MedicationRequest:patient"
        "&_include=MedicationRequest:requester&_include=MedicationRequest:encounter"
    )
    few = _queries(ops, f"{includes}&_count=1")
    with django_assert_max_num_queries(few):
        _queries(ops, f"{includes}&_count=100")
    assert _queries(ops, "/fhir/Observation?_count=2") == _queries(
        ops, "/fhir/Observation?_count=12"
    )


def test_decimal_readings_keep_their_value(scene: Scene, ops: APIClient) -> None:
    from consultations.models import VitalSign

    reading = VitalSign.objects.filter(consultation=scene.consultation, kind="glucose").get()
    body = _get(ops, f"Observation/{scene.consultation.public_id}-{reading.pk}")

    assert Decimal(str(body["valueQuantity"]["value"])) == reading.value
