"""Encounter (a consultation once the patient checked in; class VR, virtual), Condition (the
consultation's diagnoses and the patient's prior-diagnosis evidence, ICD-10), Observation (the
terminal's vital-sign readings, LOINC and UCUM) and Consent (informed consent to remote care).

Access follows the REST API: the clinical record of a consultation is shown with the
consultation (`consultations_visible_to`); consents and evidence with the patient
(`patients_visible_to`).
"""

from collections.abc import Callable

from django.db.models import Prefetch, Q, QuerySet

from consultations.models import (
    Consultation,
    ConsultationDiagnosis,
    ConsultationStatus,
    TerminationReason,
    VitalKind,
    VitalSign,
)
from consultations.selectors.consultations import AUDIT_OBJECT_TYPE as CONSULTATION_AUDIT
from consultations.selectors.consultations import consultations_visible_to
from core.actors import Actor
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.mappers.scheduling import ONLINE_FOLLOW_UP, consultation_audit, status_filter
from interop.fhir.params import NOTHING, date_filter, parse_token, reference_filter
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
    uuid_id,
)
from patients.consents import AUDIT_OBJECT_TYPE as CONSENT_AUDIT
from patients.evidence import AUDIT_OBJECT_TYPE as EVIDENCE_AUDIT
from patients.models import ConsentMethod, ConsentRecord, ConsentSigner, PriorDiagnosisEvidence
from patients.selectors import patients_visible_to
from terminology.models import Icd10Code

# --- Encounter -----------------------------------------------------------------------------------


def encounter_rows(actor: Actor) -> QuerySet[Consultation]:
    return (
        consultations_visible_to(actor=actor)
        .filter(checked_in_at__isnull=False)
        .select_related("department__hospital")
        .prefetch_related(
            Prefetch("diagnoses", ConsultationDiagnosis.objects.select_related("code"))
        )
    )


def diagnosis_id(consultation: Consultation, diagnosis: ConsultationDiagnosis) -> str:
    return composite_id(consultation.public_id, diagnosis.code.code)


def encounter_resource(consultation: Consultation, context: MapContext) -> JSON:
    resource = dt.resource("Encounter", str(consultation.public_id), consultation.updated_at)
    resource |= {
        "status": codes.ENCOUNTER_STATUS[ConsultationStatus(consultation.status)],
        "class": dt.coding(codes.V3_ACT_CODE, "VR", "virtual"),
        "serviceType": dt.concept(text=ONLINE_FOLLOW_UP),
        "subject": dt.reference("Patient", consultation.patient.public_id),
    }
    if consultation.doctor is not None:
        resource["participant"] = [
            {
                "type": [
                    dt.concept(dt.coding(codes.PARTICIPATION_TYPE, "PPRF", "primary performer"))
                ],
                "individual": dt.reference(
                    "Practitioner",
                    consultation.doctor.user.public_id,
                    consultation.doctor.user.full_name,
                ),
            }
        ]
    resource["appointment"] = [dt.reference("Appointment", consultation.public_id)]
    period = {"start": dt.instant(consultation.checked_in_at)}  # type: ignore[arg-type]
    if consultation.ended_at is not None:
        period["end"] = dt.instant(consultation.ended_at)
    resource["period"] = period
    diagnoses = list(consultation.diagnoses.all())
    if diagnoses:
        resource["diagnosis"] = [
            {
                "condition": dt.reference("Condition", diagnosis_id(consultation, diagnosis)),
                "rank": 1 if diagnosis.is_primary else 2,
            }
            for diagnosis in diagnoses
        ]
    if consultation.status == ConsultationStatus.TERMINATED:
        reason = TerminationReason(consultation.termination_reason).label
        resource["hospitalization"] = {
            "dischargeDisposition": dt.concept(
                dt.coding(codes.DISCHARGE_DISPOSITION, "other-hcf", "Other healthcare facility"),
                text=f"终止转诊：{dt.label(reason)}",
            )
        }
    resource["location"] = [
        {
            "location": dt.reference(
                "Location", consultation.facility.public_id, consultation.facility.name
            )
        }
    ]
    hospital = consultation.department.hospital
    resource["serviceProvider"] = dt.reference("Organization", hospital.public_id, hospital.name)
    return resource


ENCOUNTER = ResourceType(
    name="Encounter",
    documentation="A consultation from check-in on (bookings alone are Appointments).",
    sources=(
        Source(
            rows=encounter_rows,
            to_resource=encounter_resource,
            id_filter=uuid_id(),
            order_by=("-scheduled_start", "-pk"),
            filters={
                "patient": reference_filter("patient__public_id", "Patient"),
                "subject": reference_filter("patient__public_id", "Patient"),
                "practitioner": reference_filter("doctor__user__public_id", "Practitioner"),
                "location": reference_filter("facility__public_id", "Location"),
                "appointment": reference_filter("public_id", "Appointment"),
                "date": date_filter("checked_in_at"),
                "status": status_filter(codes.ENCOUNTER_STATUS),
                "class": lambda raw: Q() if parse_token(raw).code == "VR" else NOTHING,
            },
            last_updated="updated_at",
            audit=consultation_audit,
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "subject": SearchParam("reference", "Patient/<id>"),
        "practitioner": SearchParam("reference", "Practitioner/<id>"),
        "location": SearchParam("reference", "Location/<id> (the facility)"),
        "appointment": SearchParam("reference", "Appointment/<id>"),
        "date": SearchParam("date", "Check-in time"),
        "status": SearchParam("token", "arrived | in-progress | finished | cancelled"),
        "class": SearchParam("token", "VR (every encounter here is virtual)"),
    },
    includes={
        "Encounter:patient": Include("Patient", references_at("subject")),
        "Encounter:subject": Include("Patient", references_at("subject")),
        "Encounter:practitioner": Include("Practitioner", references_at("participant.individual")),
        "Encounter:location": Include("Location", references_at("location.location")),
        "Encounter:appointment": Include("Appointment", references_at("appointment")),
    },
)

# --- Condition -----------------------------------------------------------------------------------


def icd10_concept(code: Icd10Code) -> JSON:
    return dt.concept(dt.coding(codes.ICD10, code.code, code.name_en), text=code.name_zh)


def diagnosis_rows(actor: Actor) -> QuerySet[ConsultationDiagnosis]:
    return ConsultationDiagnosis.objects.filter(
        consultation__in=consultations_visible_to(actor=actor).values("pk")
    ).select_related("code", "consultation__patient", "recorded_by")


def diagnosis_resource(diagnosis: ConsultationDiagnosis, context: MapContext) -> JSON:
    consultation = diagnosis.consultation
    resource = dt.resource("Condition", diagnosis_id(consultation, diagnosis), None)
    resource |= {
        "clinicalStatus": dt.concept(dt.coding(codes.CONDITION_CLINICAL, "active", "Active")),
        "verificationStatus": dt.concept(
            dt.coding(codes.CONDITION_VERIFICATION, "confirmed", "Confirmed")
        ),
        "category": [
            dt.concept(
                dt.coding(codes.CONDITION_CATEGORY, "encounter-diagnosis", "Encounter Diagnosis")
            )
        ],
        "code": icd10_concept(diagnosis.code),
        "subject": dt.reference("Patient", consultation.patient.public_id),
        "encounter": dt.reference("Encounter", consultation.public_id),
        "recordedDate": dt.instant(diagnosis.recorded_at),
        "recorder": dt.reference(
            "Practitioner", diagnosis.recorded_by.public_id, diagnosis.recorded_by.full_name
        ),
    }
    return resource


def evidence_rows(actor: Actor) -> QuerySet[PriorDiagnosisEvidence]:
    return PriorDiagnosisEvidence.objects.filter(
        patient__in=patients_visible_to(actor=actor).values("pk")
    ).select_related("diagnosis", "patient")


def evidence_resource(evidence: PriorDiagnosisEvidence, context: MapContext) -> JSON:
    verified = evidence.verified_at is not None
    resource = dt.resource("Condition", str(evidence.public_id), None)
    resource |= {
        "clinicalStatus": dt.concept(dt.coding(codes.CONDITION_CLINICAL, "active", "Active")),
        "verificationStatus": dt.concept(
            dt.coding(
                codes.CONDITION_VERIFICATION,
                "confirmed" if verified else "unconfirmed",
                "Confirmed" if verified else "Unconfirmed",
            )
        ),
        "category": [
            dt.concept(
                dt.coding(codes.CONDITION_CATEGORY, "problem-list-item", "Problem List Item")
            )
        ],
        "code": icd10_concept(evidence.diagnosis),
        "subject": dt.reference("Patient", evidence.patient.public_id),
        "recordedDate": dt.date(evidence.diagnosis_date),
        "evidence": [{"detail": [{"display": evidence.document_name}]}],
        "note": [
            {
                "text": f"首诊机构 diagnosed at: {evidence.issuing_institution}；"
                f"诊断日期 on: {dt.date(evidence.diagnosis_date)}"
            }
        ],
    }
    return resource


def _icd10_filter(field: str) -> Callable[[str], Q]:
    def build(raw: str) -> Q:
        token = parse_token(raw)
        if token.code is None or token.system not in (None, codes.ICD10):
            return NOTHING
        return Q(**{field: token.code})

    return build


def _category_filter(category: str) -> Callable[[str], Q]:
    return lambda raw: Q() if parse_token(raw).code == category else NOTHING


def _verification_filter(raw: str) -> Q:
    code = parse_token(raw).code
    if code == "confirmed":
        return Q(verified_at__isnull=False)
    if code == "unconfirmed":
        return Q(verified_at__isnull=True)
    return NOTHING


CONDITION = ResourceType(
    name="Condition",
    documentation="Consultation diagnoses (encounter-diagnosis), then prior-diagnosis evidence "
    "(problem-list-item; confirmed once a doctor verified it).",
    sources=(
        Source(
            rows=diagnosis_rows,
            to_resource=diagnosis_resource,
            id_filter=composite_filter("consultation__public_id", lambda code: Q(code__code=code)),
            order_by=("-recorded_at", "-pk"),
            filters={
                "patient": reference_filter("consultation__patient__public_id", "Patient"),
                "subject": reference_filter("consultation__patient__public_id", "Patient"),
                "encounter": reference_filter("consultation__public_id", "Encounter"),
                "code": _icd10_filter("code__code"),
                "category": _category_filter("encounter-diagnosis"),
                "verification-status": lambda raw: (
                    Q() if parse_token(raw).code == "confirmed" else NOTHING
                ),
                "recorded-date": date_filter("recorded_at"),
            },
            audit=lambda diagnosis: AuditTarget(
                CONSULTATION_AUDIT, str(diagnosis.consultation.public_id)
            ),
        ),
        Source(
            rows=evidence_rows,
            to_resource=evidence_resource,
            id_filter=uuid_id(),
            order_by=("-uploaded_at", "-pk"),
            filters={
                "patient": reference_filter("patient__public_id", "Patient"),
                "subject": reference_filter("patient__public_id", "Patient"),
                "code": _icd10_filter("diagnosis__code"),
                "category": _category_filter("problem-list-item"),
                "verification-status": _verification_filter,
                "recorded-date": date_filter("diagnosis_date", date_only=True),
            },
            audit=lambda evidence: AuditTarget(EVIDENCE_AUDIT, str(evidence.public_id)),
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "subject": SearchParam("reference", "Patient/<id>"),
        "encounter": SearchParam("reference", "Encounter/<id> (diagnoses only)"),
        "code": SearchParam("token", f"ICD-10 code ({codes.ICD10})"),
        "category": SearchParam("token", "encounter-diagnosis | problem-list-item"),
        "verification-status": SearchParam("token", "confirmed | unconfirmed"),
        "recorded-date": SearchParam("date", "When recorded (evidence: the prior diagnosis)"),
    },
    includes={
        "Condition:patient": Include("Patient", references_at("subject")),
        "Condition:encounter": Include("Encounter", references_at("encounter")),
    },
)

# --- Observation ---------------------------------------------------------------------------------


def vital_rows(actor: Actor) -> QuerySet[VitalSign]:
    return VitalSign.objects.filter(
        consultation__in=consultations_visible_to(actor=actor).values("pk")
    ).select_related("consultation__patient", "terminal")


def _loinc(code_display: tuple[str, str], text: str = "") -> JSON:
    return dt.concept(dt.coding(codes.LOINC, *code_display), text=text)


def observation_resource(vital: VitalSign, context: MapContext) -> JSON:
    consultation = vital.consultation
    kind = VitalKind(vital.kind)
    resource = dt.resource("Observation", composite_id(consultation.public_id, vital.pk), None)
    resource |= {
        "status": "final",
        "category": [
            dt.concept(dt.coding(codes.OBSERVATION_CATEGORY, "vital-signs", "Vital Signs"))
        ],
    }
    text = dt.label(kind.label)
    if kind == VitalKind.BLOOD_PRESSURE:
        resource["code"] = _loinc(codes.BLOOD_PRESSURE_PANEL, text)
    else:
        code, display, _unit = codes.VITAL_CODES[kind]
        resource["code"] = _loinc((code, display), text)
    resource |= {
        "subject": dt.reference("Patient", consultation.patient.public_id),
        "encounter": dt.reference("Encounter", consultation.public_id),
        "effectiveDateTime": dt.instant(vital.measured_at),
        "issued": dt.instant(vital.recorded_at),
    }
    if vital.is_abnormal:
        resource["interpretation"] = [
            dt.concept(dt.coding(codes.V3_INTERPRETATION, "A", "Abnormal"))
        ]
    if vital.terminal is not None:
        resource["device"] = dt.reference("Device", vital.terminal.public_id)
    if kind == VitalKind.BLOOD_PRESSURE:
        components = [
            {
                "code": _loinc(codes.SYSTOLIC),
                "valueQuantity": dt.quantity(vital.value, "mmHg", codes.MMHG),
            }
        ]
        if vital.value_secondary is not None:
            components.append(
                {
                    "code": _loinc(codes.DIASTOLIC),
                    "valueQuantity": dt.quantity(vital.value_secondary, "mmHg", codes.MMHG),
                }
            )
        resource["component"] = components
    else:
        unit = codes.VITAL_CODES[kind][2]
        resource["valueQuantity"] = dt.quantity(vital.value, vital.unit, unit)
    return resource


LOINC_TO_KIND = {code: kind for kind, (code, _display, _unit) in codes.VITAL_CODES.items()}
LOINC_TO_KIND[codes.BLOOD_PRESSURE_PANEL[0]] = VitalKind.BLOOD_PRESSURE


def _vital_code_filter(raw: str) -> Q:
    token = parse_token(raw)
    kind = LOINC_TO_KIND.get(token.code or "")
    if kind is None or token.system not in (None, codes.LOINC):
        return NOTHING
    return Q(kind=kind)


OBSERVATION = ResourceType(
    name="Observation",
    documentation="Vital signs read by the terminal during a consultation (LOINC, UCUM).",
    sources=(
        Source(
            rows=vital_rows,
            to_resource=observation_resource,
            id_filter=composite_filter("consultation__public_id", integer_part("pk")),
            order_by=("-measured_at", "-pk"),
            filters={
                "patient": reference_filter("consultation__patient__public_id", "Patient"),
                "subject": reference_filter("consultation__patient__public_id", "Patient"),
                "encounter": reference_filter("consultation__public_id", "Encounter"),
                "code": _vital_code_filter,
                "category": _category_filter("vital-signs"),
                "date": date_filter("measured_at"),
                "device": reference_filter("terminal__public_id", "Device"),
            },
            last_updated="recorded_at",
            audit=lambda vital: AuditTarget(CONSULTATION_AUDIT, str(vital.consultation.public_id)),
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "subject": SearchParam("reference", "Patient/<id>"),
        "encounter": SearchParam("reference", "Encounter/<id>"),
        "code": SearchParam("token", f"LOINC code ({codes.LOINC})"),
        "category": SearchParam("token", "vital-signs"),
        "date": SearchParam("date", "When measured"),
        "device": SearchParam("reference", "Device/<id> (the terminal)"),
    },
    includes={
        "Observation:patient": Include("Patient", references_at("subject")),
        "Observation:encounter": Include("Encounter", references_at("encounter")),
    },
)

# --- Consent -------------------------------------------------------------------------------------

# BCP 47 tags of the consent texts' languages.
LANGUAGE_TAGS = {"zh-hans": "zh-Hans", "en": "en"}


def consent_rows(actor: Actor) -> QuerySet[ConsentRecord]:
    return ConsentRecord.objects.filter(
        patient__in=patients_visible_to(actor=actor).values("pk")
    ).select_related("patient", "template", "facility")


def consent_resource(record: ConsentRecord, context: MapContext) -> JSON:
    template = record.template
    resource = dt.resource("Consent", composite_id(record.patient.public_id, record.pk), None)
    if record.signer == ConsentSigner.PATIENT:
        performer = dt.reference("Patient", record.patient.public_id)
    else:
        performer = {"display": f"{record.signer_name}（监护人 guardian）"}
    resource |= {
        "extension": [
            dt.extension(
                "consent-method",
                valueCoding=dt.coding(
                    codes.local_system("consent-method"),
                    record.method,
                    ConsentMethod(record.method).label.split(" ", 1)[1],
                ),
            )
        ],
        "status": "active",
        "scope": dt.concept(dt.coding(codes.CONSENT_SCOPE, "treatment", "Treatment")),
        "category": [dt.concept(dt.coding(codes.LOINC, "59284-0", "Patient Consent"))],
        "patient": dt.reference("Patient", record.patient.public_id),
        "dateTime": dt.instant(record.signed_at),
        "performer": [performer],
        "organization": [dt.reference("Organization", record.facility.public_id)],
        "sourceAttachment": {
            "extension": [dt.extension("consent-text-sha256", valueString=record.text_sha256)],
            "contentType": "text/plain",
            "language": LANGUAGE_TAGS.get(template.language, template.language),
            "title": f"{template.title} v{template.version}",
            "creation": dt.instant(template.published_at),
        },
        "policyRule": dt.concept(
            dt.coding(codes.local_system("consent-template"), template.version),
            text="互联网诊疗知情同意 informed consent to remote care",
        ),
        "provision": {"type": "permit"},
    }
    return resource


CONSENT = ResourceType(
    name="Consent",
    documentation="Informed consent to remote care, to the exact text shown (SHA-256).",
    sources=(
        Source(
            rows=consent_rows,
            to_resource=consent_resource,
            id_filter=composite_filter("patient__public_id", integer_part("pk")),
            order_by=("-signed_at", "-pk"),
            filters={
                "patient": reference_filter("patient__public_id", "Patient"),
                "date": date_filter("signed_at"),
                "status": lambda raw: Q() if parse_token(raw).code == "active" else NOTHING,
            },
            audit=lambda record: AuditTarget(CONSENT_AUDIT, str(record.pk)),
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "date": SearchParam("date", "When signed"),
        "status": SearchParam("token", "active"),
    },
    includes={"Consent:patient": Include("Patient", references_at("patient"))},
)
