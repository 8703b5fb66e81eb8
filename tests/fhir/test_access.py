"""The REST API's authorization, extended to /fhir/: every role and the wrong owner, reading
and searching; system clients with and without the scope; not-yours looks exactly like
not-there; identity numbers in full only for those who may see them; every read audited."""

import uuid
from typing import Any
from urllib.parse import urlencode

import pytest
from rest_framework.test import APIClient

from accounts.models import Role
from core.actors import SYSTEM_ACTOR
from core.models import AuditEvent
from interop.fhir.clients import system_client_create
from interop.fhir.resources import REGISTRY
from patients.services import patient_decrypt_id_number
from tests.consultations.builders import make_visit
from tests.factories import (
    api_client,
    make_doctor,
    make_facility,
    make_patient_user,
    make_staff,
    make_terminal,
    make_user,
    terminal_client,
)
from tests.prescriptions.builders import make_pharmacist

pytestmark = pytest.mark.django_db

FORM = "application/x-www-form-urlencoded"


def system_client(*scopes: str, full_identifiers: bool = False) -> APIClient:
    issued = system_client_create(
        actor=SYSTEM_ACTOR,
        client_id=f"client-{uuid.uuid4().hex[:8]}",
        name="区域全民健康信息平台",
        scopes=scopes,
        known_types=REGISTRY,
        sees_full_identifiers=full_identifiers,
    )
    client = APIClient()
    token = client.post(
        "/fhir/auth/token",
        urlencode(
            {
                "grant_type": "client_credentials",
                "client_id": issued.client.client_id,
                "client_secret": issued.secret,
            }
        ),
        content_type=FORM,
    ).json()["access_token"]
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def _paths(scene: Any) -> dict[str, str]:
    """One resource of each kind that carries patient data, by the path that reads it."""
    rx = scene.prescription
    return {
        "Patient": f"Patient/{scene.patient.public_id}",
        "Appointment": f"Appointment/{scene.consultation.public_id}",
        "Encounter": f"Encounter/{scene.consultation.public_id}",
        "Condition": f"Condition/{scene.consultation.public_id}-I10",
        "Evidence": f"Condition/{scene.evidence.public_id}",
        "Observation": f"Observation/{scene.consultation.public_id}-"
        f"{scene.consultation.vitals.order_by('pk').first().pk}",
        "Consent": f"Consent/{scene.patient.public_id}-{scene.patient.consents.get().pk}",
        "MedicationRequest": f"MedicationRequest/{rx.public_id}-1",
        "Provenance": f"Provenance/{rx.public_id}-author",
        "MedicationDispense": f"MedicationDispense/{rx.public_id}-1",
        "Invoice": f"Invoice/{scene.order.public_id}",
        "AuditEvent": f"AuditEvent/{AuditEvent.objects.earliest('pk').pk}",
        "Device": f"Device/{scene.terminal.public_id}",
        "Practitioner": f"Practitioner/{scene.doctor.public_id}",
    }


Y, N = 200, 404  # read allowed; not found (not yours looks the same)


def test_reads_follow_the_rest_api_rules_for_every_role(scene: Any) -> None:
    other_facility = make_facility()
    other_patient_user = make_patient_user(make_visit("completed").patient)
    callers: dict[str, APIClient] = {
        "patient": api_client(scene.patient_user),
        "other patient": api_client(other_patient_user),
        "staff": api_client(scene.staff),
        "other staff": api_client(make_staff(facility=other_facility)),
        "doctor": api_client(scene.doctor),
        "other doctor": api_client(make_doctor()),
        "pharmacist": api_client(make_pharmacist()),
        "operations": api_client(make_user(role=Role.OPERATIONS)),
        "terminal": terminal_client(make_terminal(scene.facility).credential),
        "system *.read": system_client("system/*.read"),
        "system Patient.read": system_client("system/Patient.read"),
    }
    paths = _paths(scene)
    actual = {
        (who, kind): client.get(f"/fhir/{path}").status_code
        for who, client in callers.items()
        for kind, path in paths.items()
    }

    F = 403  # the token's scopes do not cover the type
    expected_rows = {
        #                  Pat App Enc Cond Evid Obs Cons MReq Prov MDisp Inv Audit Dev Pract
        "patient":        (Y,  Y,  Y,  Y,   Y,   Y,  Y,   Y,   Y,   Y,    Y,  N,    N,  N),
        "other patient":  (N,  N,  N,  N,   N,   N,  N,   N,   N,   N,    N,  N,    N,  N),
        "staff":          (Y,  Y,  Y,  Y,   Y,   Y,  Y,   Y,   Y,   Y,    Y,  N,    Y,  Y),
        "other staff":    (N,  N,  N,  N,   N,   N,  N,   N,   N,   N,    N,  N,    N,  Y),
        "doctor":         (Y,  Y,  Y,  Y,   Y,   Y,  Y,   Y,   Y,   N,    N,  N,    N,  Y),
        "other doctor":   (N,  N,  N,  N,   N,   N,  N,   N,   N,   N,    N,  N,    N,  Y),
        "pharmacist":     (N,  N,  N,  N,   N,   N,  N,   Y,   Y,   N,    N,  N,    N,  Y),
        "operations":     (Y,  Y,  Y,  Y,   Y,   Y,  Y,   Y,   Y,   Y,    Y,  Y,    Y,  Y),
        "terminal":       (N,  Y,  Y,  Y,   N,   Y,  N,   Y,   Y,   Y,    N,  N,    Y,  N),
        "system *.read":  (Y,  Y,  Y,  Y,   Y,   Y,  Y,   Y,   Y,   Y,    Y,  Y,    Y,  Y),
        "system Patient.read": (Y, F, F, F, F,   F,  F,   F,   F,   F,    F,  F,    F,  F),
    }  # fmt: skip
    expected = {
        (who, kind): status
        for who, row in expected_rows.items()
        for kind, status in zip(paths, row, strict=True)
    }
    assert actual == expected


def test_not_yours_reads_exactly_like_not_there(scene: Any) -> None:
    stranger = api_client(make_patient_user(make_visit("completed").patient))
    theirs = stranger.get(f"/fhir/Encounter/{scene.consultation.public_id}")
    nobodys = stranger.get(f"/fhir/Encounter/{uuid.uuid4()}")

    assert theirs.status_code == nobodys.status_code == 404
    assert theirs["Content-Type"] == "application/fhir+json; charset=utf-8"
    body = theirs.json()
    assert body["resourceType"] == "OperationOutcome"
    assert body["issue"][0]["code"] == "not-found"
    assert body["issue"][0]["details"] == nobodys.json()["issue"][0]["details"]


def test_searches_return_only_what_the_caller_may_see(scene: Any) -> None:
    def ids(client: APIClient, query: str) -> list[str]:
        body = client.get(f"/fhir/{query}").json()
        return [entry["resource"]["id"] for entry in body["entry"]]

    mine = str(scene.patient.public_id)
    stranger = make_patient_user(make_visit("completed").patient)

    assert ids(api_client(scene.patient_user), "Patient") == [mine]
    assert ids(api_client(stranger), f"Encounter?patient={mine}") == []
    assert ids(api_client(stranger), f"MedicationRequest?patient={mine}") == []
    assert ids(api_client(make_staff(facility=make_facility())), "Patient") == []
    assert ids(api_client(make_doctor()), f"Condition?patient={mine}") == []
    assert len(ids(api_client(scene.doctor), f"Condition?patient={mine}")) == 2
    assert ids(api_client(scene.patient_user), "AuditEvent") == []
    assert ids(api_client(scene.patient_user), "Practitioner") == []


def test_anonymous_callers_get_401_with_the_bearer_challenge(scene: Any) -> None:
    client = APIClient()
    search = client.get("/fhir/Patient")
    read = client.get(f"/fhir/Patient/{scene.patient.public_id}")

    assert (search.status_code, read.status_code) == (401, 401)
    assert search["WWW-Authenticate"] == 'Bearer realm="fhir"'
    assert search.json()["issue"][0]["code"] == "login"
    assert client.get("/fhir/metadata").status_code == 200


def test_a_token_without_the_scope_is_refused_with_an_operation_outcome(scene: Any) -> None:
    client = system_client("system/Patient.read")
    response = client.get("/fhir/Encounter")

    assert response.status_code == 403
    assert response.json() == {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": "error",
                "code": "forbidden",
                "diagnostics": "The token's scopes do not cover reading Encounter "
                "(system/Encounter.read).",
                "details": {"text": "insufficient_scope"},
            }
        ],
    }


def test_includes_outside_the_scopes_are_left_out_with_a_warning(scene: Any) -> None:
    client = system_client("system/MedicationRequest.read")
    body = client.get(
        f"/fhir/MedicationRequest?patient={scene.patient.public_id}&_include=MedicationRequest:patient"
    ).json()

    kinds = [entry["resource"]["resourceType"] for entry in body["entry"]]
    assert kinds == ["MedicationRequest", "MedicationRequest", "OperationOutcome"]
    assert body["entry"][2]["search"] == {"mode": "outcome"}
    assert body["entry"][2]["resource"]["issue"][0]["code"] == "suppressed"


def _identifier(client: APIClient, scene: Any) -> tuple[str, list[Any]]:
    patient = client.get(f"/fhir/Patient/{scene.patient.public_id}").json()
    return patient["identifier"][0]["value"], patient["meta"].get("security", [])


def test_identity_numbers_are_masked_unless_the_caller_may_see_them(scene: Any) -> None:
    full = patient_decrypt_id_number(patient=scene.patient)
    masked = scene.patient.id_number_masked
    masked_label = [
        {
            "system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
            "code": "MASKED",
            "display": "masked",
        }
    ]

    assert _identifier(api_client(scene.staff), scene) == (full, [])
    assert _identifier(api_client(make_user(role=Role.OPERATIONS)), scene) == (full, [])
    assert _identifier(system_client("system/*.read", full_identifiers=True), scene) == (full, [])
    assert _identifier(api_client(scene.doctor), scene) == (masked, masked_label)
    assert _identifier(api_client(scene.patient_user), scene) == (masked, masked_label)
    assert _identifier(system_client("system/Patient.read"), scene) == (masked, masked_label)
    assert "*" in masked
    assert masked != full


def test_reads_through_the_facade_are_audited(scene: Any) -> None:
    client = system_client("system/*.read")
    before = AuditEvent.objects.count()

    client.get(f"/fhir/Patient/{scene.patient.public_id}")
    client.get(f"/fhir/Encounter?patient={scene.patient.public_id}")
    api_client(scene.staff).get(f"/fhir/MedicationRequest?patient={scene.patient.public_id}")

    rows = list(AuditEvent.objects.order_by("pk")[before:])
    client_id = rows[0].detail["client"]
    assert [(r.actor_role, r.object_type, r.object_id, r.detail) for r in rows] == [
        (
            "system_client",
            "patient",
            str(scene.patient.public_id),
            {"via": "fhir", "client": client_id, "resource": "Patient"},
        ),
        (
            "system_client",
            "consultation",
            str(scene.consultation.public_id),
            {"via": "fhir", "client": client_id, "resource": "Encounter"},
        ),
        (
            "clinic_staff",
            "prescription",
            str(scene.prescription.public_id),
            {"via": "fhir", "resource": "MedicationRequest"},
        ),
    ]
    assert rows[2].actor == scene.staff
