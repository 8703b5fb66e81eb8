"""Every resource type the facade serves, rendered from a realistic slice of the network (made
through the flows' own services) and validated against the fhir.resources R4B models; then what
each mapping says, checked against the rows it came from."""

from typing import Any

import pytest

from interop.fhir import codes
from interop.fhir.resources import REGISTRY
from interop.fhir.validation import validate_resource
from patients.services import patient_decrypt_id_number
from tests.factories import api_client

pytestmark = pytest.mark.django_db

FHIR_JSON = "application/fhir+json"


def _search(client: Any, path: str) -> dict[str, Any]:
    response = client.get(f"/fhir/{path}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"] == f"{FHIR_JSON}; charset=utf-8"
    body: dict[str, Any] = response.json()
    assert body["resourceType"] == "Bundle"
    return body


def _resources(body: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        entry["resource"]
        for entry in body["entry"]
        if entry["resource"]["resourceType"] == resource_type
    ]


def test_every_resource_type_renders_from_the_flow_and_validates(scene: Any) -> None:
    client = api_client(scene.operations)
    counts = {}
    for name in REGISTRY:
        body = _search(client, f"{name}?_count=100")
        resources = _resources(body, name)
        counts[name] = len(resources)
        for resource in resources:
            validate_resource(resource)
            read = client.get(f"/fhir/{name}/{resource['id']}")
            assert read.status_code == 200, (name, read.content)
            assert read.json() == resource

    assert counts == {
        "Patient": 3,  # the visit's, the terminated one's, the booked one's
        "Practitioner": 2,  # the doctor, the pharmacist
        "PractitionerRole": 2,
        "Organization": 2,  # the hospital, the facility
        "Location": 1,
        "Device": 1,
        "Schedule": 1,
        "Slot": 4,  # three booked, one free
        "Appointment": 3,
        "Encounter": 2,  # the completed and the terminated one; the booking is not checked in
        "Consent": 3,
        "Condition": 5,  # two primary diagnoses, three pieces of evidence
        "Observation": 6,
        "MedicationRequest": 2,
        "MedicationDispense": 2,
        "Provenance": 2,
        "ChargeItem": 3,  # consultation fee and two drugs
        "Invoice": 1,
        "PaymentNotice": 1,
        "AuditEvent": counts["AuditEvent"],
    }
    assert counts["AuditEvent"] >= 20


def test_patient_carries_the_resident_id_under_its_oid(scene: Any) -> None:
    client = api_client(scene.operations)
    patient = client.get(f"/fhir/Patient/{scene.patient.public_id}").json()

    assert patient["identifier"] == [
        {
            "use": "official",
            "type": {
                "coding": [{"system": codes.V2_IDENTIFIER_TYPE, "code": "NI"}],
                "text": "居民身份证",
            },
            "system": "urn:oid:2.16.156.10011.1.1",
            "value": patient_decrypt_id_number(patient=scene.patient),
        }
    ]
    assert "security" not in patient["meta"]
    assert (patient["gender"], patient["birthDate"]) == (
        scene.patient.sex,
        scene.patient.birth_date.isoformat(),
    )
    assert patient["telecom"] == [
        {"system": "phone", "value": scene.patient.phone, "use": "mobile"}
    ]


def test_encounter_is_virtual_with_its_diagnosis_and_appointment(scene: Any) -> None:
    client = api_client(scene.operations)
    consultation = scene.consultation
    encounter = client.get(f"/fhir/Encounter/{consultation.public_id}").json()
    terminated = client.get(f"/fhir/Encounter/{scene.terminated.public_id}").json()

    assert encounter["status"] == "finished"
    assert encounter["class"] == {"system": codes.V3_ACT_CODE, "code": "VR", "display": "virtual"}
    assert encounter["appointment"] == [{"reference": f"Appointment/{consultation.public_id}"}]
    assert encounter["diagnosis"] == [
        {"condition": {"reference": f"Condition/{consultation.public_id}-I10"}, "rank": 1}
    ]
    assert encounter["subject"] == {"reference": f"Patient/{scene.patient.public_id}"}
    assert terminated["status"] == "finished"
    disposition = terminated["hospitalization"]["dischargeDisposition"]
    assert disposition["coding"][0]["code"] == "other-hcf"
    booked = client.get(f"/fhir/Encounter/{scene.booked.public_id}")
    assert booked.status_code == 404
    appointment = client.get(f"/fhir/Appointment/{scene.booked.public_id}").json()
    assert appointment["status"] == "booked"


def test_vitals_are_loinc_coded_with_ucum_units(scene: Any) -> None:
    client = api_client(scene.operations)
    body = _search(client, f"Observation?encounter={scene.consultation.public_id}&_count=10")
    by_code = {
        resource["code"]["coding"][0]["code"]: resource
        for resource in _resources(body, "Observation")
    }

    assert set(by_code) == {"85354-9", "8867-4", "8310-5", "59408-5", "15074-8", "29463-7"}
    pressure = by_code["85354-9"]
    assert [
        (c["code"]["coding"][0]["code"], c["valueQuantity"]) for c in pressure["component"]
    ] == [
        ("8480-6", {"value": 150, "unit": "mmHg", "system": codes.UCUM, "code": "mm[Hg]"}),
        ("8462-4", {"value": 95, "unit": "mmHg", "system": codes.UCUM, "code": "mm[Hg]"}),
    ]
    assert pressure["interpretation"][0]["coding"][0]["code"] == "A"  # 150/95 is high
    assert by_code["8310-5"]["valueQuantity"] == {
        "value": 36.6,
        "unit": "°C",
        "system": codes.UCUM,
        "code": "Cel",
    }
    assert by_code["15074-8"]["valueQuantity"]["code"] == "mmol/L"
    assert by_code["29463-7"]["valueQuantity"]["value"] == 72.5
    assert pressure["device"] == {"reference": f"Device/{scene.terminal.public_id}"}
    for resource in by_code.values():
        assert resource["category"][0]["coding"][0]["code"] == "vital-signs"


def test_prescription_items_share_the_number_and_carry_atc_and_dosage(scene: Any) -> None:
    client = api_client(scene.operations)
    prescription = scene.prescription
    body = _search(client, f"MedicationRequest?group-identifier={prescription.number}")
    requests = _resources(body, "MedicationRequest")

    assert [r["id"] for r in requests] == [
        f"{prescription.public_id}-1",
        f"{prescription.public_id}-2",
    ]
    assert {r["status"] for r in requests} == {"completed"}  # dispensed
    assert {r["groupIdentifier"]["value"] for r in requests} == {prescription.number}
    metformin = requests[1]
    assert metformin["medicationCodeableConcept"]["coding"][0] == {
        "system": codes.ATC,
        "code": "A10BA02",
        "display": "Metformin extended-release tablets",
    }
    dosage = metformin["dosageInstruction"][0]
    assert dosage["timing"] == {
        "repeat": {"frequency": 2, "period": 1, "periodUnit": "d"},
        "code": {"coding": [{"system": codes.V3_TIMING, "code": "BID"}]},
    }
    assert dosage["route"]["coding"] == [
        {"system": codes.SNOMED, "code": "26643006", "display": "Oral route"}
    ]
    assert dosage["doseAndRate"] == [{"doseQuantity": {"value": 500, "unit": "mg"}}]
    reason = metformin["reasonCode"][0]["coding"][0]
    assert (reason["system"], reason["code"]) == (codes.ICD10, "I10")
    assert metformin["reasonReference"] == [{"reference": f"Condition/{scene.evidence.public_id}"}]
    assert metformin["requester"]["reference"] == f"Practitioner/{scene.doctor.public_id}"


def test_provenance_carries_both_signatures_with_their_certificates(scene: Any) -> None:
    client = api_client(scene.operations)
    prescription = scene.prescription
    body = _search(client, f"Provenance?target=MedicationRequest/{prescription.public_id}-1")
    provenances = {p["id"]: p for p in _resources(body, "Provenance")}
    author = provenances[f"{prescription.public_id}-author"]
    review = provenances[f"{prescription.public_id}-review"]

    targets = [
        {"reference": f"MedicationRequest/{prescription.public_id}-1"},
        {"reference": f"MedicationRequest/{prescription.public_id}-2"},
    ]
    assert author["target"] == review["target"] == targets
    signature = author["signature"][0]
    assert signature["data"] == prescription.doctor_signature
    assert signature["who"]["reference"] == f"Practitioner/{scene.doctor.public_id}"
    assert signature["type"][0]["code"] == "1.2.840.10065.1.12.1.1"
    extensions = {e["url"].rsplit("/", 1)[1]: e for e in signature["extension"]}
    assert extensions["signing-certificate-serial"]["valueString"] == (
        prescription.doctor_certificate_serial
    )
    assert extensions["signature-algorithm"]["valueCode"] == "sm2-sm3"
    assert review["agent"][0]["who"]["reference"] == f"Practitioner/{scene.pharmacist.public_id}"
    assert review["signature"][0]["data"] == prescription.pharmacist_signature
    assert review["signature"][0]["type"][0]["code"] == "1.2.840.10065.1.12.1.13"


def test_invoice_shows_the_insurance_split_and_the_payment(scene: Any) -> None:
    client = api_client(scene.operations)
    order = scene.order
    invoice = client.get(f"/fhir/Invoice/{order.public_id}").json()
    notices = _resources(
        _search(client, f"PaymentNotice?request=Invoice/{order.public_id}"), "PaymentNotice"
    )

    assert invoice["status"] == "balanced"
    assert invoice["identifier"][0]["value"] == order.number
    assert invoice["totalGross"] == {"value": order.total_fen / 100, "currency": "CNY"}
    assert invoice["totalNet"] == {"value": order.payable_fen / 100, "currency": "CNY"}
    deductions = {
        component["code"]["coding"][0]["code"]: component["amount"]["value"]
        for component in invoice["totalPriceComponent"]
    }
    assert deductions == {
        "insurance-fund": order.insurance_fund_fen / 100,
        "insurance-personal-account": order.insurance_personal_fen / 100,
    }
    assert sum(
        line["priceComponent"][0]["amount"]["value"] for line in invoice["lineItem"]
    ) == pytest.approx(order.total_fen / 100)
    assert [n["amount"] for n in notices] == [{"value": order.payable_fen / 100, "currency": "CNY"}]
    assert notices[0]["paymentStatus"]["coding"][0]["code"] == "paid"


def test_dispense_is_completed_at_the_facility(scene: Any) -> None:
    client = api_client(scene.operations)
    body = _search(client, f"MedicationDispense?patient={scene.patient.public_id}")
    dispenses = _resources(body, "MedicationDispense")

    assert [d["status"] for d in dispenses] == ["completed", "completed"]
    assert [d["authorizingPrescription"] for d in dispenses] == [
        [{"reference": f"MedicationRequest/{scene.prescription.public_id}-1"}],
        [{"reference": f"MedicationRequest/{scene.prescription.public_id}-2"}],
    ]
    assert dispenses[0]["performer"][0]["actor"]["reference"] == (
        f"Organization/{scene.facility.public_id}"
    )
    assert dispenses[0]["whenHandedOver"]
