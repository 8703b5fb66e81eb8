"""Code systems, identifier systems and status mappings of the facade (docs/fhir.md lists them).

Standard systems are HL7's and the terminologies' own URIs. What has no standard system (our
prescription and order numbers, facility codes, extensions) lives under the facade's canonical
base `FHIR_CANONICAL_BASE` (`<base>/sid/<name>` for identifiers and local codes,
`<base>/StructureDefinition/<name>` for extensions), which a deployment keeps stable.
"""

from django.conf import settings

from consultations.models import ConsultationStatus, VitalKind
from patients.models import IdType
from payments.models import OrderStatus
from pharmacy.models import FulfilmentStatus
from prescriptions.models import Frequency, PrescriptionStatus, Route

ICD10 = "http://hl7.org/fhir/sid/icd-10"
ATC = "http://www.whocc.no/atc"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
SNOMED = "http://snomed.info/sct"
V2_IDENTIFIER_TYPE = "http://terminology.hl7.org/CodeSystem/v2-0203"
V2_APPOINTMENT_REASON = "http://terminology.hl7.org/CodeSystem/v2-0276"
V3_ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_OBSERVATION_VALUE = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue"
V3_INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
V3_TIMING = "http://terminology.hl7.org/CodeSystem/v3-GTSAbbreviation"
V3_ROLE_CODE = "http://terminology.hl7.org/CodeSystem/v3-RoleCode"
OBSERVATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/observation-category"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_VERIFICATION = "http://terminology.hl7.org/CodeSystem/condition-ver-status"
CONSENT_SCOPE = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
PRACTITIONER_ROLE = "http://terminology.hl7.org/CodeSystem/practitioner-role"
ORGANIZATION_TYPE = "http://terminology.hl7.org/CodeSystem/organization-type"
LOCATION_PHYSICAL_TYPE = "http://terminology.hl7.org/CodeSystem/location-physical-type"
DEVICE_STATUS_REASON = "http://terminology.hl7.org/CodeSystem/device-status-reason"
DISCHARGE_DISPOSITION = "http://terminology.hl7.org/CodeSystem/discharge-disposition"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
MEDREQ_CATEGORY = "http://terminology.hl7.org/CodeSystem/medicationrequest-category"
MEDREQ_COURSE = "http://terminology.hl7.org/CodeSystem/medicationrequest-course-of-therapy"
PROVENANCE_PARTICIPANT = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE = "urn:iso-astm:E1762-95:2013"
PAYMENT_STATUS = "http://terminology.hl7.org/CodeSystem/paymentstatus"
AUDIT_EVENT_TYPE = "http://terminology.hl7.org/CodeSystem/audit-event-type"
RESTFUL_INTERACTION = "http://hl7.org/fhir/restful-interaction"
AUDIT_SOURCE_TYPE = "http://terminology.hl7.org/CodeSystem/security-source-type"
NETWORK_TYPE_IP = "2"
DATA_ABSENT_REASON = "http://hl7.org/fhir/StructureDefinition/data-absent-reason"
# The mainland resident identity card number (居民身份证号), GB 11643.
RESIDENT_ID_SYSTEM = "urn:oid:2.16.156.10011.1.1"
CURRENCY = "CNY"


def canonical_base() -> str:
    return settings.FHIR_CANONICAL_BASE


def local_system(name: str) -> str:
    """An identifier or code system of ours: `<canonical base>/sid/<name>`."""
    return f"{canonical_base()}/sid/{name}"


def extension_url(name: str) -> str:
    return f"{canonical_base()}/StructureDefinition/{name}"


def id_document_system(id_type: str) -> str:
    if id_type == IdType.RESIDENT_ID:
        return RESIDENT_ID_SYSTEM
    return local_system(id_type.replace("_", "-"))


# v2-0203 identifier types: national person identifier, passport; the two travel permits have
# no code of their own there, so they carry text only.
ID_DOCUMENT_TYPE_CODE: dict[str, str] = {IdType.RESIDENT_ID: "NI", IdType.PASSPORT: "PPN"}

# Consultation → Appointment.status.
APPOINTMENT_STATUS: dict[str, str] = {
    ConsultationStatus.BOOKED: "booked",
    ConsultationStatus.CHECKED_IN: "checked-in",
    ConsultationStatus.IN_PROGRESS: "fulfilled",
    ConsultationStatus.COMPLETED: "fulfilled",
    ConsultationStatus.TERMINATED: "fulfilled",
    ConsultationStatus.CANCELLED: "cancelled",
    ConsultationStatus.NO_SHOW: "noshow",
}
# Consultation (checked in at least) → Encounter.status.
ENCOUNTER_STATUS: dict[str, str] = {
    ConsultationStatus.CHECKED_IN: "arrived",
    ConsultationStatus.IN_PROGRESS: "in-progress",
    ConsultationStatus.COMPLETED: "finished",
    ConsultationStatus.TERMINATED: "finished",
    ConsultationStatus.CANCELLED: "cancelled",
}
# Prescription (SPEC §3) → MedicationRequest.status; see docs/fhir.md for why.
MEDICATION_REQUEST_STATUS: dict[str, str] = {
    PrescriptionStatus.DRAFT: "draft",
    PrescriptionStatus.SIGNED: "on-hold",
    PrescriptionStatus.APPROVED: "active",
    PrescriptionStatus.DISPENSED: "completed",
    PrescriptionStatus.EXPIRED: "stopped",
    PrescriptionStatus.REVOKED: "cancelled",
    PrescriptionStatus.REJECTED: "cancelled",
}
# Fulfilment (where the dispensed medicine is) → MedicationDispense.status.
MEDICATION_DISPENSE_STATUS: dict[str, str] = {
    FulfilmentStatus.PICKED_UP: "completed",
    FulfilmentStatus.DELIVERED: "completed",
    FulfilmentStatus.DISPATCHED: "in-progress",
    FulfilmentStatus.IN_TRANSIT: "in-progress",
    FulfilmentStatus.OUT_FOR_DELIVERY: "in-progress",
    FulfilmentStatus.FAILED: "in-progress",
    FulfilmentStatus.RETURNED: "stopped",
}
# Payment order → Invoice.status and ChargeItem.status.
INVOICE_STATUS: dict[str, str] = {
    OrderStatus.CREATED: "issued",
    OrderStatus.PENDING: "issued",
    OrderStatus.PAID: "balanced",
    OrderStatus.REFUNDING: "balanced",
    OrderStatus.REFUNDED: "cancelled",
    OrderStatus.CLOSED: "cancelled",
    OrderStatus.FAILED: "cancelled",
}
CHARGE_ITEM_STATUS: dict[str, str] = {
    OrderStatus.CREATED: "billable",
    OrderStatus.PENDING: "billable",
    OrderStatus.PAID: "billed",
    OrderStatus.REFUNDING: "billed",
    OrderStatus.REFUNDED: "aborted",
    OrderStatus.CLOSED: "aborted",
    OrderStatus.FAILED: "aborted",
}


def statuses_for(mapping: dict[str, str], fhir_code: str) -> list[str]:
    """The internal statuses a FHIR status code stands for (a search by status)."""
    return [internal for internal, code in mapping.items() if code == fhir_code]


# Vital signs: LOINC code, display, UCUM unit. Glucose is 15074-8 (moles/volume) because the
# terminals measure mmol/L; 2339-0 is the mass concentration (mg/dL).
BLOOD_PRESSURE_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SYSTOLIC = ("8480-6", "Systolic blood pressure")
DIASTOLIC = ("8462-4", "Diastolic blood pressure")
VITAL_CODES: dict[str, tuple[str, str, str]] = {
    VitalKind.HEART_RATE: ("8867-4", "Heart rate", "/min"),
    VitalKind.TEMPERATURE: ("8310-5", "Body temperature", "Cel"),
    VitalKind.SPO2: (
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
    ),
    VitalKind.GLUCOSE: ("15074-8", "Glucose [Moles/volume] in Blood", "mmol/L"),
    VitalKind.WEIGHT: ("29463-7", "Body weight", "kg"),
}
MMHG = "mm[Hg]"

# Frequencies: the timing abbreviation (when HL7 has one) and the repeat.
TIMING: dict[str, tuple[str | None, dict[str, object]]] = {
    Frequency.QD: ("QD", {"frequency": 1, "period": 1, "periodUnit": "d"}),
    Frequency.BID: ("BID", {"frequency": 2, "period": 1, "periodUnit": "d"}),
    Frequency.TID: ("TID", {"frequency": 3, "period": 1, "periodUnit": "d"}),
    Frequency.QID: ("QID", {"frequency": 4, "period": 1, "periodUnit": "d"}),
    Frequency.QN: ("BED", {"frequency": 1, "period": 1, "periodUnit": "d", "when": ["HS"]}),
    Frequency.Q8H: ("Q8H", {"frequency": 1, "period": 8, "periodUnit": "h"}),
    Frequency.Q12H: (None, {"frequency": 1, "period": 12, "periodUnit": "h"}),
    Frequency.QW: ("WK", {"frequency": 1, "period": 1, "periodUnit": "wk"}),
    Frequency.PRN: (None, {}),
}
# Routes: SNOMED CT.
ROUTE_CODES: dict[str, tuple[str, str]] = {
    Route.ORAL: ("26643006", "Oral route"),
    Route.SUBLINGUAL: ("37839007", "Sublingual route"),
    Route.TOPICAL: ("6064005", "Topical route"),
    Route.INHALED: ("447694001", "Respiratory tract route"),
    Route.NASAL: ("46713006", "Nasal route"),
    Route.OPHTHALMIC: ("54485002", "Ophthalmic route"),
    Route.SUBCUTANEOUS: ("34206005", "Subcutaneous route"),
    Route.INTRAMUSCULAR: ("78421000", "Intramuscular route"),
    Route.INTRAVENOUS: ("47625008", "Intravenous route"),
    Route.RECTAL: ("37161004", "Rectal route"),
    Route.TRANSDERMAL: ("45890007", "Transdermal route"),
}
