"""The clinical record of a consultation: SOAP note, diagnoses, vital signs.

Note and diagnoses are the doctor's draft while the consultation is in progress and are fixed
once it ends (records are never deleted). Vital signs come from the terminal's peripherals.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from clinics.models import Terminal
from consultations.models import (
    RECORDING_RETENTION_YEARS,
    ClinicalNote,
    Consultation,
    ConsultationDiagnosis,
    ConsultationStatus,
    VitalKind,
    VitalSign,
)
from consultations.services.lifecycle import AUDIT_OBJECT_TYPE, require_treating_doctor
from core.actors import Actor
from core.dates import years_after
from core.exceptions import ConflictError, DomainError, NotFoundError
from core.models import AuditAction
from core.services import audit_record
from terminology.models import Icd10Code

MAX_SECONDARY_DIAGNOSES = 5


def consultation_attach_recording(
    *, actor: Actor, consultation: Consultation, reference: str
) -> Consultation:
    """Attach the video recording's storage reference; it is kept 3 years from now."""
    reference = reference.strip()
    if not reference:
        raise DomainError(
            "Give the recording reference.",
            code="validation_error",
            fields={"reference": ["Required."]},
        )
    today = timezone.localdate()
    with transaction.atomic(durable=True):
        locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
        locked.recording_reference = reference
        locked.recording_retention_until = years_after(today, RECORDING_RETENTION_YEARS)
        locked.save(
            update_fields=["recording_reference", "recording_retention_until", "updated_at"]
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"record": "recording"},
        )
    return locked


def _lock_in_progress(consultation: Consultation) -> Consultation:
    locked = Consultation.objects.select_for_update().get(pk=consultation.pk)
    if locked.status != ConsultationStatus.IN_PROGRESS:
        raise ConflictError(
            "The record can be written only while the consultation is in progress.",
            code="consultation_not_in_progress",
        )
    return locked


def clinical_note_save(
    *,
    actor: Actor,
    consultation: Consultation,
    subjective: str = "",
    objective: str = "",
    assessment: str = "",
    plan: str = "",
) -> ClinicalNote:
    require_treating_doctor(actor, consultation)
    assert actor.user is not None
    with transaction.atomic(durable=True):
        locked = _lock_in_progress(consultation)
        note, _ = ClinicalNote.objects.update_or_create(
            consultation=locked,
            defaults={
                "subjective": subjective.strip(),
                "objective": objective.strip(),
                "assessment": assessment.strip(),
                "plan": plan.strip(),
                "author": actor.user,
            },
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"record": "note"},
        )
    return note


def consultation_set_diagnoses(
    *, actor: Actor, consultation: Consultation, primary: str, secondary: list[str]
) -> list[ConsultationDiagnosis]:
    """Replace the draft diagnoses: one primary ICD-10 code and up to five secondary ones."""
    require_treating_doctor(actor, consultation)
    assert actor.user is not None
    wanted = [primary, *secondary]
    if len(secondary) > MAX_SECONDARY_DIAGNOSES or len(set(wanted)) != len(wanted):
        raise DomainError(
            "One primary and at most five different secondary diagnoses.",
            code="diagnoses_invalid",
            fields={"secondary": ["At most five, all different from each other and the primary."]},
        )
    codes = {code.code: code for code in Icd10Code.objects.filter(code__in=wanted, is_active=True)}
    unknown = [code for code in wanted if code not in codes]
    if unknown:
        raise DomainError(
            f"Unknown ICD-10 codes: {', '.join(unknown)}.",
            code="diagnosis_code_unknown",
            fields={"primary" if primary in unknown else "secondary": ["Unknown ICD-10 code."]},
        )
    with transaction.atomic(durable=True):
        locked = _lock_in_progress(consultation)
        ConsultationDiagnosis.objects.filter(consultation=locked).delete()  # the draft only
        rows = ConsultationDiagnosis.objects.bulk_create(
            [
                ConsultationDiagnosis(
                    consultation=locked,
                    code=codes[code],
                    is_primary=(code == primary),
                    recorded_by=actor.user,
                )
                for code in wanted
            ]
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[locked.public_id],
            detail={"record": "diagnoses"},
        )
    return rows


@dataclass(frozen=True)
class VitalRange:
    unit: str
    plausible: tuple[Decimal, Decimal]
    normal: tuple[Decimal, Decimal] | None
    # Blood pressure also has a diastolic value.
    secondary_plausible: tuple[Decimal, Decimal] | None = None
    secondary_normal: tuple[Decimal, Decimal] | None = None


# Plausible: what a working device on a living patient can read; outside it the reading is
# refused. Normal: adult reference ranges; outside them the reading is kept and flagged.
VITAL_RANGES: dict[str, VitalRange] = {
    VitalKind.BLOOD_PRESSURE: VitalRange(
        "mmHg",
        (Decimal(50), Decimal(260)),
        (Decimal(90), Decimal("139.99")),
        (Decimal(30), Decimal(160)),
        (Decimal(60), Decimal("89.99")),
    ),
    VitalKind.HEART_RATE: VitalRange(
        "/min", (Decimal(25), Decimal(250)), (Decimal(60), Decimal(100))
    ),
    VitalKind.TEMPERATURE: VitalRange(
        "°C", (Decimal(30), Decimal(43)), (Decimal("36.0"), Decimal("37.3"))
    ),
    VitalKind.SPO2: VitalRange("%", (Decimal(50), Decimal(100)), (Decimal(95), Decimal(100))),
    VitalKind.GLUCOSE: VitalRange(
        "mmol/L", (Decimal(1), Decimal(35)), (Decimal("3.9"), Decimal("7.8"))
    ),
    VitalKind.WEIGHT: VitalRange("kg", (Decimal("0.5"), Decimal(350)), None),
}


def _within(value: Decimal, bounds: tuple[Decimal, Decimal]) -> bool:
    return bounds[0] <= value <= bounds[1]


def _check_vital(kind: str, value: Decimal, secondary: Decimal | None) -> bool:
    """Refuse an implausible reading; return whether a plausible one is abnormal."""
    if kind not in VITAL_RANGES:
        raise DomainError(
            "Unknown vital sign.", code="vital_kind_invalid", fields={"kind": ["Unknown."]}
        )
    spec = VITAL_RANGES[kind]

    def implausible(field: str) -> DomainError:
        return DomainError(
            f"The {kind} reading is outside what a device can plausibly measure.",
            code="vital_implausible",
            fields={field: [f"Outside the plausible range for {kind}."]},
        )

    if not _within(value, spec.plausible):
        raise implausible("value")
    abnormal = spec.normal is not None and not _within(value, spec.normal)
    if spec.secondary_plausible is not None:
        if (
            secondary is None
            or not _within(secondary, spec.secondary_plausible)
            or secondary >= value
        ):
            raise implausible("value_secondary")
        assert spec.secondary_normal is not None
        abnormal = abnormal or not _within(secondary, spec.secondary_normal)
    elif secondary is not None:
        raise DomainError(
            "Only blood pressure has a second value.",
            code="validation_error",
            fields={"value_secondary": ["Not used for this vital sign."]},
        )
    return abnormal


def vital_sign_record(
    *,
    actor: Actor,
    terminal: Terminal,
    kind: str,
    value: Decimal,
    value_secondary: Decimal | None = None,
    measured_at: datetime.datetime | None = None,
    consultation: Consultation | None = None,
) -> VitalSign:
    """A terminal reports a peripheral reading for the consultation checked in at it."""
    now = timezone.now()
    measured_at = measured_at or now
    if measured_at > now + datetime.timedelta(minutes=5) or measured_at < now - datetime.timedelta(
        hours=12
    ):
        raise DomainError(
            "The measurement time is not plausible.",
            code="measured_at_invalid",
            fields={"measured_at": ["Within the last 12 hours, not in the future."]},
        )
    abnormal = _check_vital(kind, value, value_secondary)
    with transaction.atomic(durable=True):
        candidates = Consultation.objects.select_for_update().filter(
            facility_id=terminal.facility_id,
            status__in=[ConsultationStatus.CHECKED_IN, ConsultationStatus.IN_PROGRESS],
        )
        if consultation is not None:
            target = candidates.filter(pk=consultation.pk).first()
        else:
            target = (
                candidates.filter(checked_in_terminal=terminal).order_by("-checked_in_at").first()
            )
        if target is None:
            raise NotFoundError(
                "No consultation is checked in at this terminal.",
                code="consultation_not_checked_in",
            )
        reading = VitalSign.objects.create(
            consultation=target,
            terminal=terminal,
            kind=kind,
            value=value,
            value_secondary=value_secondary,
            unit=VITAL_RANGES[kind].unit,
            is_abnormal=abnormal,
            measured_at=measured_at,
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type=AUDIT_OBJECT_TYPE,
            object_ids=[target.public_id],
            detail={"record": "vitals", "kind": kind},
        )
    return reading
