"""MedicationRequest (one per prescription item, grouped by the prescription number),
MedicationDispense (one per dispensed item) and Provenance (the doctor's signature and the
pharmacist's countersignature).

Access follows the REST API: items and signatures with their prescription
(`prescriptions_visible_to`), dispenses with their fulfilment (`fulfilments_visible_to`).
"""

import datetime
from collections.abc import Callable

from django.db.models import Q, QuerySet

from core.actors import Actor
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.mappers.clinical import icd10_concept
from interop.fhir.mappers.scheduling import status_filter
from interop.fhir.params import (
    NOTHING,
    date_filter,
    parse_reference,
    parse_token,
    reference_filter,
)
from interop.fhir.registry import (
    AuditTarget,
    Include,
    MapContext,
    ResourceType,
    SearchParam,
    Source,
    composite_filter,
    composite_id,
    integer_part,
    references_at,
    split_composite_id,
)
from pharmacy.models import DispenseItem, FulfilmentStatus
from pharmacy.selectors import AUDIT_OBJECT_TYPE as FULFILMENT_AUDIT
from pharmacy.selectors import fulfilments_visible_to
from prescriptions.models import (
    Drug,
    Frequency,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
    RejectionReason,
    Route,
)
from prescriptions.selectors import AUDIT_OBJECT_TYPE as PRESCRIPTION_AUDIT
from prescriptions.selectors import prescriptions_visible_to
from signing.certificates import CertificateError, parse_certificate

# --- MedicationRequest ---------------------------------------------------------------------------


def drug_concept(drug: Drug) -> JSON:
    return dt.concept(
        dt.coding(codes.ATC, drug.atc_code, drug.name_en),
        dt.coding(codes.local_system("drug"), drug.code, drug.name_zh),
        text=f"{drug.name_zh} {drug.strength}",
    )


def item_id(prescription: Prescription, item: PrescriptionItem) -> str:
    return composite_id(prescription.public_id, item.position)


def medication_request_rows(actor: Actor) -> QuerySet[PrescriptionItem]:
    return PrescriptionItem.objects.filter(
        prescription__in=prescriptions_visible_to(actor=actor).values("pk")
    ).select_related(
        "drug",
        "prescription__patient",
        "prescription__doctor__user",
        "prescription__diagnosis",
        "prescription__evidence",
        "prescription__consultation",
    )


def _status_reason(prescription: Prescription) -> str:
    if prescription.status == PrescriptionStatus.SIGNED:
        return "待药师审核 awaiting the pharmacist's review"
    if prescription.status == PrescriptionStatus.EXPIRED:
        return "已过有效期 validity ended before dispensing"
    if prescription.status == PrescriptionStatus.REVOKED:
        return f"已撤销 revoked: {prescription.revoke_reason}"
    if prescription.status == PrescriptionStatus.REJECTED:
        reasons = ", ".join(
            RejectionReason(reason).label for reason in prescription.rejection_reasons
        )
        return f"审核驳回 rejected by the pharmacist: {reasons}"
    return ""


def dosage(item: PrescriptionItem) -> JSON:
    abbreviation, repeat = codes.TIMING[item.frequency]
    route_code, route_display = codes.ROUTE_CODES[item.route]
    route_label = dt.label(Route(item.route).label)
    frequency_label = dt.label(Frequency(item.frequency).label)
    value: JSON = {
        "sequence": 1,
        "text": f"{route_label} 每次{item.dose.normalize():f}{item.dose_unit} {frequency_label}",
    }
    if item.instructions:
        value["patientInstruction"] = item.instructions
    timing: JSON = {}
    if repeat:
        timing["repeat"] = dict(repeat)
    if abbreviation:
        timing["code"] = dt.concept(dt.coding(codes.V3_TIMING, abbreviation))
    if timing:
        value["timing"] = timing
    if item.frequency == Frequency.PRN:
        value["asNeededBoolean"] = True
    value["route"] = dt.concept(
        dt.coding(codes.SNOMED, route_code, route_display), text=route_label
    )
    value["doseAndRate"] = [{"doseQuantity": dt.quantity(item.dose, item.dose_unit)}]
    return value


def days(value: int) -> JSON:
    return dt.quantity(value, "days", "d")


def medication_request_resource(item: PrescriptionItem, context: MapContext) -> JSON:
    prescription = item.prescription
    status = codes.MEDICATION_REQUEST_STATUS[PrescriptionStatus(prescription.status)]
    resource = dt.resource(
        "MedicationRequest", item_id(prescription, item), prescription.updated_at
    )
    resource |= {
        "identifier": [
            dt.identifier(
                codes.local_system("prescription-item"),
                f"{prescription.number}-{prescription.version}-{item.position}",
            )
        ],
        "status": status,
    }
    reason = _status_reason(prescription)
    if reason:
        resource["statusReason"] = dt.concept(
            dt.coding(codes.local_system("prescription-status"), prescription.status), text=reason
        )
    resource |= {
        "intent": "order",
        "category": [dt.concept(dt.coding(codes.MEDREQ_CATEGORY, "outpatient", "Outpatient"))],
        "medicationCodeableConcept": drug_concept(item.drug),
        "subject": dt.reference("Patient", prescription.patient.public_id),
        "encounter": dt.reference("Encounter", prescription.consultation.public_id),
        "authoredOn": dt.instant(prescription.signed_at or prescription.created_at),
        "requester": dt.reference(
            "Practitioner",
            prescription.doctor.user.public_id,
            prescription.doctor.user.full_name,
        ),
        "reasonCode": [icd10_concept(prescription.diagnosis)],
        "reasonReference": [dt.reference("Condition", prescription.evidence.public_id)],
        "groupIdentifier": dt.identifier(
            codes.local_system("prescription-number"), prescription.number
        ),
        "courseOfTherapyType": dt.concept(
            dt.coding(codes.MEDREQ_COURSE, "continuous", "Continuous long term therapy")
            if prescription.long_term
            else dt.coding(codes.MEDREQ_COURSE, "acute", "Short course (acute) therapy")
        ),
        "dosageInstruction": [dosage(item)],
    }
    dispense_request: JSON = {
        "quantity": dt.quantity(item.quantity, item.drug.pack_unit),
        "expectedSupplyDuration": days(item.days_supply),
    }
    if prescription.signed_at is not None and prescription.valid_until is not None:
        dispense_request["validityPeriod"] = {
            "start": dt.instant(prescription.signed_at),
            "end": dt.instant(prescription.valid_until),
        }
    resource["dispenseRequest"] = dispense_request
    return resource


def _item_identifier_filter(raw: str) -> Q:
    token = parse_token(raw)
    if token.code is None or token.system not in (None, codes.local_system("prescription-item")):
        return NOTHING
    parts = token.code.rsplit("-", 2)
    if len(parts) != 3 or not parts[1].isdigit() or not parts[2].isdigit():
        return NOTHING
    return Q(
        prescription__number=parts[0], prescription__version=int(parts[1]), position=int(parts[2])
    )


def _group_identifier_filter(raw: str) -> Q:
    token = parse_token(raw)
    if token.code is None or token.system not in (None, codes.local_system("prescription-number")):
        return NOTHING
    return Q(prescription__number=token.code)


def _atc_filter(field: str) -> Callable[[str], Q]:
    def build(raw: str) -> Q:
        token = parse_token(raw)
        if token.code is None:
            return NOTHING
        if token.system == codes.local_system("drug"):
            return Q(**{f"{field}__code": token.code})
        if token.system not in (None, codes.ATC):
            return NOTHING
        return Q(**{f"{field}__atc_code": token.code})

    return build


def prescription_audit(prescription: Prescription) -> AuditTarget:
    return AuditTarget(PRESCRIPTION_AUDIT, str(prescription.public_id))


MEDICATION_REQUEST = ResourceType(
    name="MedicationRequest",
    documentation="One per prescription item; the items of one prescription share "
    "groupIdentifier (the prescription number, kept across revised versions).",
    sources=(
        Source(
            rows=medication_request_rows,
            to_resource=medication_request_resource,
            id_filter=composite_filter("prescription__public_id", integer_part("position")),
            order_by=("-prescription__created_at", "-prescription__pk", "position"),
            filters={
                "patient": reference_filter("prescription__patient__public_id", "Patient"),
                "subject": reference_filter("prescription__patient__public_id", "Patient"),
                "encounter": reference_filter("prescription__consultation__public_id", "Encounter"),
                "requester": reference_filter(
                    "prescription__doctor__user__public_id", "Practitioner"
                ),
                "status": status_filter(codes.MEDICATION_REQUEST_STATUS, "prescription__status"),
                "intent": lambda raw: Q() if parse_token(raw).code == "order" else NOTHING,
                "identifier": _item_identifier_filter,
                "group-identifier": _group_identifier_filter,
                "code": _atc_filter("drug"),
                "authoredon": date_filter("prescription__signed_at"),
            },
            last_updated="prescription__updated_at",
            audit=lambda item: prescription_audit(item.prescription),
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "subject": SearchParam("reference", "Patient/<id>"),
        "encounter": SearchParam("reference", "Encounter/<id>"),
        "requester": SearchParam("reference", "Practitioner/<id> (the prescribing doctor)"),
        "status": SearchParam(
            "token", "draft | on-hold | active | completed | stopped | cancelled"
        ),
        "intent": SearchParam("token", "order"),
        "identifier": SearchParam("token", "<prescription number>-<version>-<position>"),
        "group-identifier": SearchParam("token", "The prescription number"),
        "code": SearchParam("token", f"ATC code ({codes.ATC}) or formulary code"),
        "authoredon": SearchParam("date", "When signed"),
    },
    includes={
        "MedicationRequest:patient": Include("Patient", references_at("subject")),
        "MedicationRequest:subject": Include("Patient", references_at("subject")),
        "MedicationRequest:requester": Include("Practitioner", references_at("requester")),
        "MedicationRequest:encounter": Include("Encounter", references_at("encounter")),
    },
)

# --- MedicationDispense --------------------------------------------------------------------------


def medication_dispense_rows(actor: Actor) -> QuerySet[DispenseItem]:
    return DispenseItem.objects.filter(
        dispense__fulfilment__in=fulfilments_visible_to(actor=actor).values("pk")
    ).select_related(
        "drug",
        "prescription_item",
        "dispense__facility",
        "dispense__fulfilment",
        "dispense__prescription__patient",
        "dispense__prescription__consultation",
    )


def _handed_over(item: DispenseItem) -> datetime.datetime | None:
    fulfilment = item.dispense.fulfilment
    return fulfilment.picked_up_at or fulfilment.delivered_at


def medication_dispense_resource(item: DispenseItem, context: MapContext) -> JSON:
    dispense = item.dispense
    fulfilment = dispense.fulfilment
    prescription = dispense.prescription
    request_id = item_id(prescription, item.prescription_item)
    resource = dt.resource("MedicationDispense", request_id, fulfilment.updated_at)
    if dispense.facility is not None:
        performer = dt.reference(
            "Organization", dispense.facility.public_id, dispense.facility.name
        )
    elif context.hospital is not None:
        performer = dt.reference("Organization", context.hospital.public_id, context.hospital.name)
    else:
        performer = {"display": "互联网医院药房 hospital pharmacy"}
    resource |= {
        "extension": [
            dt.extension(
                "fulfilment-method",
                valueCoding=dt.coding(codes.local_system("fulfilment-method"), fulfilment.method),
            )
        ],
        "status": codes.MEDICATION_DISPENSE_STATUS[FulfilmentStatus(fulfilment.status)],
        "medicationCodeableConcept": drug_concept(item.drug),
        "subject": dt.reference("Patient", prescription.patient.public_id),
        "context": dt.reference("Encounter", prescription.consultation.public_id),
        "performer": [{"actor": performer}],
    }
    if dispense.facility is not None:
        resource["location"] = dt.reference(
            "Location", dispense.facility.public_id, dispense.facility.name
        )
    resource |= {
        "authorizingPrescription": [dt.reference("MedicationRequest", request_id)],
        "type": dt.concept(dt.coding(codes.V3_ACT_CODE, "FF", "First Fill")),
        "quantity": dt.quantity(item.quantity, item.drug.pack_unit),
        "daysSupply": days(item.prescription_item.days_supply),
        "whenPrepared": dt.instant(dispense.dispensed_at),
    }
    handed_over = _handed_over(item)
    if handed_over is not None:
        resource["whenHandedOver"] = dt.instant(handed_over)
    return resource


def _prescription_reference_filter(raw: str) -> Q:
    split = split_composite_id(parse_reference(raw, "MedicationRequest"))
    if split is None or not split[1].isdigit():
        return NOTHING
    return Q(dispense__prescription__public_id=split[0], prescription_item__position=int(split[1]))


DISPENSE_STATUS_FILTER = status_filter(
    codes.MEDICATION_DISPENSE_STATUS, "dispense__fulfilment__status"
)

MEDICATION_DISPENSE = ResourceType(
    name="MedicationDispense",
    documentation="One per dispensed item (handed over at the facility, or sent by courier).",
    sources=(
        Source(
            rows=medication_dispense_rows,
            to_resource=medication_dispense_resource,
            id_filter=composite_filter(
                "dispense__prescription__public_id", integer_part("prescription_item__position")
            ),
            order_by=("-dispense__dispensed_at", "-dispense__pk", "prescription_item__position"),
            filters={
                "patient": reference_filter(
                    "dispense__prescription__patient__public_id", "Patient"
                ),
                "subject": reference_filter(
                    "dispense__prescription__patient__public_id", "Patient"
                ),
                "status": DISPENSE_STATUS_FILTER,
                "prescription": _prescription_reference_filter,
                "code": _atc_filter("drug"),
                "whenprepared": date_filter("dispense__dispensed_at"),
            },
            last_updated="dispense__fulfilment__updated_at",
            audit=lambda item: AuditTarget(
                FULFILMENT_AUDIT, str(item.dispense.fulfilment.public_id)
            ),
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "subject": SearchParam("reference", "Patient/<id>"),
        "status": SearchParam("token", "in-progress | completed | stopped"),
        "prescription": SearchParam("reference", "MedicationRequest/<id>"),
        "code": SearchParam("token", "ATC code or formulary code"),
        "whenprepared": SearchParam("date", "When dispensed from stock"),
    },
    includes={
        "MedicationDispense:patient": Include("Patient", references_at("subject")),
        "MedicationDispense:prescription": Include(
            "MedicationRequest", references_at("authorizingPrescription")
        ),
    },
)

# --- Provenance ----------------------------------------------------------------------------------

# The signature bytes are the raw DER (r, s) value over the canonical JSON of the signed content;
# no registered media type names that, so the algorithm travels in an extension.
SIGNATURE_FORMAT = "application/octet-stream"
AUTHOR_SIGNATURE = ("1.2.840.10065.1.12.1.1", "Author's Signature")
REVIEW_SIGNATURE = ("1.2.840.10065.1.12.1.13", "Review Signature")


def signed_prescription_rows(actor: Actor) -> QuerySet[Prescription]:
    return (
        Prescription.objects.filter(pk__in=prescriptions_visible_to(actor=actor).values("pk"))
        .select_related("patient", "doctor__user", "pharmacist__user")
        .prefetch_related("items")
    )


def _certificate_der_b64(pem_text: str) -> str:
    return "".join(line for line in pem_text.strip().splitlines() if not line.startswith("-----"))


def _signature(
    *,
    kind: tuple[str, str],
    when: datetime.datetime,
    who: JSON,
    data: str,
    certificate_pem: str,
    certificate_serial: str,
) -> JSON:
    extensions = [dt.extension("signing-certificate-serial", valueString=certificate_serial)]
    try:
        algorithm = parse_certificate(certificate_pem).algorithm.name
    except CertificateError:
        algorithm = ""
    if algorithm:
        extensions.append(dt.extension("signature-algorithm", valueCode=algorithm))
    extensions.append(
        dt.extension("signing-certificate", valueBase64Binary=_certificate_der_b64(certificate_pem))
    )
    return {
        "extension": extensions,
        "type": [dt.coding(codes.SIGNATURE_TYPE, *kind)],
        "when": dt.instant(when),
        "who": who,
        "targetFormat": "application/json",
        "sigFormat": SIGNATURE_FORMAT,
        "data": data,
    }


def _targets(prescription: Prescription) -> list[JSON]:
    return [
        dt.reference("MedicationRequest", item_id(prescription, item))
        for item in prescription.items.all()
    ]


def _entity(prescription: Prescription) -> JSON:
    return {
        "role": "source",
        "what": {
            "identifier": dt.identifier(
                codes.local_system("prescription-number"), prescription.number
            ),
            "display": f"{prescription.number} v{prescription.version}",
        },
    }


def author_provenance_resource(prescription: Prescription, context: MapContext) -> JSON:
    doctor = dt.reference(
        "Practitioner", prescription.doctor.user.public_id, prescription.doctor.user.full_name
    )
    signed_at: datetime.datetime = prescription.signed_at  # type: ignore[assignment]
    resource = dt.resource("Provenance", composite_id(prescription.public_id, "author"), None)
    resource |= {
        "target": _targets(prescription),
        "recorded": dt.instant(signed_at),
        "agent": [
            {
                "type": dt.concept(dt.coding(codes.PROVENANCE_PARTICIPANT, "author", "Author")),
                "who": doctor,
            }
        ],
        "entity": [_entity(prescription)],
        "signature": [
            _signature(
                kind=AUTHOR_SIGNATURE,
                when=signed_at,
                who=doctor,
                data=prescription.doctor_signature,
                certificate_pem=prescription.doctor_certificate,
                certificate_serial=prescription.doctor_certificate_serial,
            )
        ],
    }
    return resource


def review_provenance_resource(prescription: Prescription, context: MapContext) -> JSON:
    pharmacist_user = prescription.pharmacist.user  # type: ignore[union-attr]
    pharmacist = dt.reference("Practitioner", pharmacist_user.public_id, pharmacist_user.full_name)
    reviewed_at: datetime.datetime = prescription.reviewed_at  # type: ignore[assignment]
    resource = dt.resource("Provenance", composite_id(prescription.public_id, "review"), None)
    resource |= {
        "target": _targets(prescription),
        "recorded": dt.instant(reviewed_at),
        "agent": [
            {
                "type": dt.concept(dt.coding(codes.PROVENANCE_PARTICIPANT, "verifier", "Verifier")),
                "who": pharmacist,
            }
        ],
        "entity": [_entity(prescription)],
        "signature": [
            _signature(
                kind=REVIEW_SIGNATURE,
                when=reviewed_at,
                who=pharmacist,
                data=prescription.pharmacist_signature,
                certificate_pem=prescription.pharmacist_certificate,
                certificate_serial=prescription.pharmacist_certificate_serial,
            )
        ],
    }
    return resource


def _target_filter(raw: str) -> Q:
    split = split_composite_id(parse_reference(raw, "MedicationRequest"))
    if split is None:
        return NOTHING
    return Q(public_id=split[0])


def _provenance_part(part: str) -> Callable[[str], Q | None]:
    return lambda value: Q() if value == part else None


def _provenance_source(
    part: str,
    to_resource: Callable[[Prescription, MapContext], JSON],
    signed: Q,
    recorded_field: str,
) -> Source:
    return Source(
        rows=lambda actor: signed_prescription_rows(actor).filter(signed),
        to_resource=to_resource,
        id_filter=composite_filter("public_id", _provenance_part(part)),
        order_by=(f"-{recorded_field}", "-pk"),
        filters={
            "target": _target_filter,
            "patient": reference_filter("patient__public_id", "Patient"),
            "agent": reference_filter(
                "doctor__user__public_id" if part == "author" else "pharmacist__user__public_id",
                "Practitioner",
            ),
            "recorded": date_filter(recorded_field),
        },
        audit=prescription_audit,
    )


PROVENANCE = ResourceType(
    name="Provenance",
    documentation="The doctor's signature (author) and the pharmacist's countersignature "
    "(verifier) of each prescription version, with the certificate that verifies them.",
    sources=(
        _provenance_source(
            "author",
            author_provenance_resource,
            Q(signed_at__isnull=False) & ~Q(doctor_signature=""),
            "signed_at",
        ),
        _provenance_source(
            "review",
            review_provenance_resource,
            Q(reviewed_at__isnull=False, pharmacist__isnull=False) & ~Q(pharmacist_signature=""),
            "reviewed_at",
        ),
    ),
    params={
        "target": SearchParam("reference", "MedicationRequest/<id>"),
        "patient": SearchParam("reference", "Patient/<id>"),
        "agent": SearchParam("reference", "Practitioner/<id> (signer)"),
        "recorded": SearchParam("date", "When signed"),
    },
    includes={"Provenance:agent": Include("Practitioner", references_at("agent.who"))},
)
