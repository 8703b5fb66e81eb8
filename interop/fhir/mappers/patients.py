"""Patient: the real-name registry (patients.Patient).

The identity-document number is the identifier (the resident ID under its national OID, other
documents under our systems). It is shown in full only to callers who may see it (operations,
staff of the patient's facility, system clients allowed to); everyone else gets the masked
form and the resource carries the MASKED security label.
"""

from django.db.models import Q, QuerySet

from core.actors import Actor
from core.crypto import lookup_hashes
from core.exceptions import DomainError
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.params import NOTHING, date_filter, parse_token, string_filter
from interop.fhir.registry import (
    AuditTarget,
    MapContext,
    ResourceType,
    SearchParam,
    Source,
    uuid_id,
)
from patients.identity import normalize_phone, parse_identity
from patients.models import IdType, Patient
from patients.selectors import AUDIT_OBJECT_TYPE, patients_visible_to
from patients.services import identity_lookup_key, patient_decrypt_id_number


def patient_rows(actor: Actor) -> QuerySet[Patient]:
    return patients_visible_to(actor=actor)


def _identifier(patient: Patient, *, full: bool) -> JSON:
    type_code = codes.ID_DOCUMENT_TYPE_CODE.get(patient.id_type)
    type_text = dt.label(IdType(patient.id_type).label)
    value = patient_decrypt_id_number(patient=patient) if full else patient.id_number_masked
    return {
        "use": "official",
        "type": dt.concept(
            *([dt.coding(codes.V2_IDENTIFIER_TYPE, type_code)] if type_code else []),
            text=type_text,
        ),
        "system": codes.id_document_system(patient.id_type),
        "value": value,
    }


def patient_resource(patient: Patient, context: MapContext) -> JSON:
    full = context.caller.sees_full_identifiers
    resource = dt.resource("Patient", str(patient.public_id), None)
    resource["meta"] = dt.meta(patient.updated_at, masked=not full)
    resource |= {
        "identifier": [_identifier(patient, full=full)],
        "active": True,
        "name": [{"use": "official", "text": patient.name}],
        "telecom": [{"system": "phone", "value": patient.phone, "use": "mobile"}],
        "gender": patient.sex,
        "birthDate": dt.date(patient.birth_date),
    }
    if patient.guardian_name:
        contact: JSON = {
            "relationship": [
                dt.concept(
                    dt.coding(codes.V3_ROLE_CODE, "GUARD", "guardian"),
                    text=patient.guardian_relationship or "监护人",
                )
            ],
            "name": {"text": patient.guardian_name},
        }
        if patient.guardian_phone:
            contact["telecom"] = [{"system": "phone", "value": patient.guardian_phone}]
        resource["contact"] = [contact]
    return resource


def _identifier_filter(raw: str) -> Q:
    """By the full document number, through the keyed hash (numbers are stored encrypted)."""
    token = parse_token(raw)
    if token.code is None:
        return NOTHING
    id_types = [
        id_type
        for id_type in IdType.values
        if token.system is None or codes.id_document_system(id_type) == token.system
    ]
    hashes: list[str] = []
    for id_type in id_types:
        try:
            identity = parse_identity(id_type, token.code)
        except DomainError:
            continue
        hashes += lookup_hashes(identity_lookup_key(identity.id_type, identity.number))
    return Q(id_number_hash__in=hashes) if hashes else NOTHING


def _phone_filter(raw: str) -> Q:
    try:
        return Q(phone=normalize_phone(parse_token(raw).code or ""))
    except DomainError:
        return NOTHING


def _gender_filter(raw: str) -> Q:
    return Q(sex=parse_token(raw).code)


PATIENT = ResourceType(
    name="Patient",
    documentation="The real-name registry; identity-document numbers masked unless the caller "
    "may see them in full.",
    sources=(
        Source(
            rows=patient_rows,
            to_resource=patient_resource,
            id_filter=uuid_id(),
            order_by=("-created_at", "-pk"),
            filters={
                "identifier": _identifier_filter,
                "name": string_filter("name"),
                "birthdate": date_filter("birth_date", date_only=True),
                "gender": _gender_filter,
                "phone": _phone_filter,
            },
            last_updated="updated_at",
            audit=lambda patient: AuditTarget(AUDIT_OBJECT_TYPE, str(patient.public_id)),
        ),
    ),
    params={
        "identifier": SearchParam(
            "token", f"The full document number, e.g. {codes.RESIDENT_ID_SYSTEM}|<18 characters>"
        ),
        "name": SearchParam("string", "The name starts with (case-insensitive)"),
        "birthdate": SearchParam("date", "Date of birth"),
        "gender": SearchParam("token", "male | female"),
        "phone": SearchParam("token", "Mobile number (normalised to E.164)"),
    },
)
