"""One batch of the history: its patients, their consultations, and everything that followed
from each consultation, as the services would have written it.

A consultation is booked by the staff of the patient's facility for a slot of a doctor of the
department; it is cancelled, missed or held. A held one may be terminated and referred, or
completed with a note and diagnosis, and most completed ones end with a prescription: signed by
the doctor and countersigned by a pharmacist (real signatures over the content `clinical_content`
builds), an order, and then either an unpaid order that closes while the prescription expires,
or a payment and its fulfilment — a pickup at the facility or a parcel with courier tracking.
A few pickups are never collected (refunded by operations) and a few parcels come back
(refunded less the consultation fee). The patient gets an SMS at each step.

Everything stops at the end of the history (`history_until` 00:00): a step that would come
later has not happened yet, and the rows show the state the system would be in at that moment.

The batch's values come from one random stream seeded with (seed, batch), and each row's id from
the batch's id windows: the same batch is the same rows, whenever and wherever it is written.
"""

import base64
import datetime
import json
import random
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from accounts.models import Role, User
from consultations.models import (
    RECORDING_RETENTION_YEARS,
    ClinicalNote,
    Consultation,
    ConsultationDiagnosis,
    ConsultationEvent,
    ConsultationKind,
    ConsultationStatus,
    Slot,
    TerminationReason,
    VitalKind,
    VitalSign,
)
from consultations.services.booking import retention_until
from consultations.services.records import VITAL_RANGES, _check_vital
from core.actors import SYSTEM_ROLE
from core.dates import age_on, local_day_start, years_after
from core.demo import data as demo
from core.demo.builder import _full_name, _given_name, _surname
from core.scale import data
from core.scale.context import DAYS_SUPPLY_CHOICES, Context, Department, Doctor, Regimen, Site
from core.scale.network import EVIDENCE_DOCUMENT, EVIDENCE_PDF
from core.scale.plan import MODELS, Ids, Plan
from core.scale.tables import Table
from notifications.events import EVENTS
from notifications.models import Notification, NotificationChannel, NotificationStatus
from patients.identity import IdType
from patients.models import (
    GUARDIAN_REQUIRED_UNDER_YEARS,
    ConsentMethod,
    ConsentRecord,
    ConsentSigner,
    IdentityVerification,
    Patient,
    PatientFacility,
    PriorDiagnosisEvidence,
    Sex,
    VerificationMethod,
)
from patients.services import patient_identity_columns
from payments.models import (
    AttemptStatus,
    FulfilmentMethod,
    LedgerKind,
    LedgerSource,
    OrderEvent,
    OrderLine,
    OrderLineKind,
    OrderStatus,
    PayChannel,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    Provider,
    Refund,
    RefundStatus,
    RefundTrigger,
)
from pharmacy.models import (
    CallbackOutcome,
    CourierCallback,
    Dispense,
    DispenseItem,
    Fulfilment,
    FulfilmentEvent,
    FulfilmentStatus,
    TrackingEvent,
    TrackingStatus,
    Waybill,
)
from pharmacy.services.delivery import PARCEL_DESCRIPTION
from pharmacy.services.tracking import COURIER_ROLE
from prescriptions import rules
from prescriptions.content import clinical_content, content_bytes, review_content
from prescriptions.models import (
    Prescription,
    PrescriptionEvent,
    PrescriptionItem,
    PrescriptionStatus,
)
from prescriptions.services.lifecycle import validity_end
from prescriptions.services.prescribing import RETENTION_YEARS as PRESCRIPTION_RETENTION_YEARS

TZ = timezone.get_default_timezone()
MINUTE = datetime.timedelta(minutes=1)
HOUR = datetime.timedelta(hours=1)
DAY = datetime.timedelta(days=1)
SLOT = datetime.timedelta(minutes=15)
MORNING = datetime.time(8, 30)
AFTERNOON = datetime.time(14, 0)
CHILD_UNDER = 14
ADULT_FROM = 18
CODE_SPACE = 10**8  # pickup codes
WAYBILL_SPACE = 10**12
# Multipliers coprime to their spaces: index → code is a bijection, so codes never repeat.
PICKUP_CODE_STEP = 48_271_237
WAYBILL_STEP = 792_281_625_143
LANGUAGE = settings.LANGUAGE_CODE


def _uuid(rng: random.Random) -> uuid.UUID:
    return uuid.UUID(int=rng.getrandbits(128), version=4)


def _between(
    rng: random.Random, start: datetime.datetime, end: datetime.datetime
) -> datetime.datetime:
    span = max((end - start).total_seconds(), 0.0)
    return start + datetime.timedelta(seconds=rng.uniform(0, span))


def _minutes(rng: random.Random, low: float, high: float) -> datetime.timedelta:
    return datetime.timedelta(minutes=rng.uniform(low, high))


def _second(moment: datetime.datetime) -> datetime.datetime:
    return moment.replace(microsecond=0)


def _local_date(moment: datetime.datetime) -> datetime.date:
    """The Asia/Shanghai date (timezone.localdate without the per-call active-zone lookup)."""
    return moment.astimezone(TZ).date()


def _b64(signature: bytes) -> str:
    return base64.b64encode(signature).decode("ascii")


@dataclass
class Evidence:
    pk: int
    public_id: uuid.UUID
    icd10: str
    uploaded_at: datetime.datetime
    uploaded_by: int
    verified_by: int | None = None
    verified_at: datetime.datetime | None = None
    instance: PriorDiagnosisEvidence | None = None


@dataclass
class PatientDraft:
    pk: int
    public_id: uuid.UUID
    sex: str
    birth_date: datetime.date
    number: str
    name: str
    phone: str
    allergies: list[str]
    site: Site
    guardian_name: str = ""
    guardian_relationship: str = ""
    first_booked: datetime.datetime | None = None
    account_at: datetime.datetime | None = None
    user_pk: int | None = None
    user_public_id: uuid.UUID | None = None
    conditions: dict[str, str] = field(default_factory=dict)  # icd10 → name
    evidence: dict[str, Evidence] = field(default_factory=dict)
    instance: Patient | None = None

    def age_on(self, day: datetime.date) -> int:
        return age_on(self.birth_date, day)


@dataclass
class Visit:
    index: int
    department: Department
    doctor: Doctor
    start: datetime.datetime
    slot_sequence: int  # unique among the day's slots of the whole network
    condition: data.Condition
    patient: PatientDraft
    booked_at: datetime.datetime
    outcome: str


class Batch:
    """Builds the rows of one batch into its tables (nothing is written here)."""

    def __init__(self, ctx: Context, plan: Plan, ranges: dict[str, list[int]], batch: int) -> None:
        self.ctx = ctx
        self.plan = plan
        self.batch = batch
        self.ids = Ids(plan, ranges, batch)
        self.rng = random.Random(f"{ctx.seed}:history:{batch}")  # noqa: S311 - reproducible data
        self.tables = {model: Table(model) for model in MODELS}
        self.end = local_day_start(ctx.history_until)
        self.consultations = 0
        self.messages: list[tuple[PatientDraft, str, dict[str, int], str, datetime.datetime]] = []
        self._scratch = Prescription(version=1, consultation=Consultation())
        self._scratch_items = [PrescriptionItem() for _ in range(rules.MAX_ITEMS)]

    # --- Patients ---------------------------------------------------------------------------

    def _patients(self) -> list[PatientDraft]:
        rng = self.rng
        guardian_born_after = years_after(self.ctx.history_start, -GUARDIAN_REQUIRED_UNDER_YEARS)
        drafts = []
        for index in self.plan.patient_range(self.batch):
            sex = rng.choice((Sex.MALE, Sex.FEMALE))
            number = self.ctx.resident_ids.number(
                index, male=sex == Sex.MALE, parity_draw=rng.randrange(5)
            )
            birth_date = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
            surname = _surname(rng)
            phone = f"+86{rng.choice(demo.MOBILE_PREFIXES)}{rng.randrange(10**8):08d}"
            draft = PatientDraft(
                pk=self.ids(Patient),
                public_id=_uuid(rng),
                sex=sex,
                birth_date=birth_date,
                number=number,
                name=surname + _given_name(rng, sex),
                phone=phone,
                allergies=[rng.choice(demo.ALLERGIES)] if rng.random() < 0.15 else [],
                site=self.ctx.sites[rng.randrange(len(self.ctx.sites))],
            )
            relationship = rng.choice(demo.GUARDIAN_RELATIONSHIPS)
            guardian = (
                surname + _given_name(rng, Sex.MALE)
                if relationship in ("父亲", "祖父")
                else _full_name(rng, Sex.FEMALE)
            )
            if birth_date > guardian_born_after:  # under 6 at some point of the history
                draft.guardian_name, draft.guardian_relationship = guardian, relationship
            drafts.append(draft)
        return drafts

    def _write_patients(self, drafts: list[PatientDraft]) -> None:
        rng = self.rng
        start = local_day_start(self.ctx.history_start)
        for draft in drafts:
            if draft.first_booked is not None:
                created = draft.first_booked - _minutes(rng, 10, 60 * 24 * 60)
                verified = True
            else:
                created = _between(rng, start, self.end - HOUR)
                verified = rng.random() < 0.9
            created = min(created, self.end - HOUR)
            verified_at = created + _minutes(rng, 1, 8) if verified else None
            chronic = list(draft.conditions.values())
            if draft.user_pk is not None:
                assert draft.account_at is not None
                assert draft.user_public_id is not None
                self.tables[User].add(
                    id=draft.user_pk,
                    password=f"!{rng.getrandbits(160):040x}",  # an unusable password
                    username=f"patient-{draft.user_public_id.hex}",
                    date_joined=draft.account_at,
                    last_login=draft.account_at,
                    public_id=draft.user_public_id,
                    role=Role.PATIENT,
                    full_name=draft.name,
                    phone=draft.phone,
                )
            self.tables[Patient].add(
                id=draft.pk,
                public_id=draft.public_id,
                user_id=draft.user_pk,
                name=draft.name,
                id_type=IdType.RESIDENT_ID,
                birth_date=draft.birth_date,
                sex=draft.sex,
                phone=draft.phone,
                allergies=draft.allergies,
                chronic_conditions=chronic,
                guardian_name=draft.guardian_name,
                guardian_relationship=draft.guardian_relationship,
                guardian_phone=draft.phone if draft.guardian_name else "",
                identity_verified_at=verified_at,
                created_by_id=draft.site.staff_pk,
                created_at=created,
                updated_at=draft.account_at or verified_at or created,
                **patient_identity_columns(id_type=IdType.RESIDENT_ID, number=draft.number),
            )
            self.tables[PatientFacility].add(
                id=self.ids(PatientFacility),
                patient_id=draft.pk,
                facility_id=draft.site.facility_pk,
                first_served_at=created,
            )
            if verified_at is not None:
                self.tables[IdentityVerification].add(
                    id=self.ids(IdentityVerification),
                    patient_id=draft.pk,
                    verified_by_id=draft.site.staff_pk,
                    facility_id=draft.site.facility_pk,
                    method=VerificationMethod.ID_CARD_READER
                    if rng.random() < 0.85
                    else VerificationMethod.DOCUMENT_IN_PERSON,
                    verified_at=verified_at,
                )
            if draft.first_booked is not None:
                self._consent(draft)
            for evidence in draft.evidence.values():
                self.tables[PriorDiagnosisEvidence].add(
                    id=evidence.pk,
                    public_id=evidence.public_id,
                    patient_id=draft.pk,
                    document=EVIDENCE_DOCUMENT,
                    document_name=f"门诊病历_{evidence.uploaded_at:%Y%m%d}.pdf",
                    content_type="application/pdf",
                    size_bytes=len(EVIDENCE_PDF),
                    issuing_institution=rng.choice(data.ISSUING_INSTITUTIONS),
                    diagnosis_id=self.ctx.icd10[evidence.icd10].pk,
                    diagnosis_date=(evidence.uploaded_at - rng.randint(30, 1500) * DAY).date(),
                    uploaded_by_id=evidence.uploaded_by,
                    uploaded_at=evidence.uploaded_at,
                    verified_by_id=evidence.verified_by,
                    verified_at=evidence.verified_at,
                )

    def _consent(self, draft: PatientDraft) -> None:
        assert draft.first_booked is not None
        signed_at = draft.first_booked - _minutes(self.rng, 1, 5)
        guardian = draft.age_on(signed_at.date()) < GUARDIAN_REQUIRED_UNDER_YEARS
        self.tables[ConsentRecord].add(
            id=self.ids(ConsentRecord),
            patient_id=draft.pk,
            template_id=self.ctx.consent_template_pk,
            text_sha256=self.ctx.consent_sha256,
            signer=ConsentSigner.GUARDIAN if guardian else ConsentSigner.PATIENT,
            signer_name=draft.guardian_name if guardian else draft.name,
            method=self.rng.choice(
                (ConsentMethod.TERMINAL_SIGNATURE, ConsentMethod.TERMINAL_CONFIRMATION)
            ),
            facility_id=draft.site.facility_pk,
            terminal_id=draft.site.terminal_pk,
            recorded_by_id=draft.site.staff_pk,
            signed_at=signed_at,
        )

    # --- Visits ----------------------------------------------------------------------------

    def _visits(self, patients: list[PatientDraft]) -> list[Visit]:
        rng = self.rng
        middle = self.ctx.history_start + datetime.timedelta(days=365)
        pools: dict[str, list[PatientDraft]] = {"child": [], "female": [], "": []}
        for draft in patients:
            age = draft.age_on(middle)
            if age < CHILD_UNDER:
                pools["child"].append(draft)
            elif age >= ADULT_FROM:
                pools[""].append(draft)
                if draft.sex == Sex.FEMALE:
                    pools["female"].append(draft)
        visits = []
        for index in self.plan.consultation_range(self.batch):
            department, local = self.ctx.department_of(index)
            key = department.slots.key(local)
            doctor = department.doctors[key.doctor_index]
            day = self.ctx.days[key.day_index]
            if key.slot_index < 14:
                clock, offset = MORNING, key.slot_index
            else:
                clock, offset = AFTERNOON, key.slot_index - 14
            start = datetime.datetime.combine(day, clock, tzinfo=TZ) + offset * SLOT
            condition = rng.choice(department.conditions)
            pool = pools[condition.patients] or pools[""] or patients
            patient = pool[int(len(pool) * rng.random() ** 2)]
            lead = _minutes(rng, 30, 60 * 24 * 10)
            draw = rng.randrange(1000)
            if draw < data.CANCELLED_PER_MILLE:
                outcome = ConsultationStatus.CANCELLED
            elif draw < data.CANCELLED_PER_MILLE + data.NO_SHOW_PER_MILLE:
                outcome = ConsultationStatus.NO_SHOW
            elif (
                draw < data.CANCELLED_PER_MILLE + data.NO_SHOW_PER_MILLE + data.TERMINATED_PER_MILLE
            ):
                outcome = ConsultationStatus.TERMINATED
            else:
                outcome = ConsultationStatus.COMPLETED
            visits.append(
                Visit(
                    index=index,
                    department=department,
                    doctor=doctor,
                    start=start,
                    slot_sequence=doctor.global_index * 28 + key.slot_index + 1,
                    condition=condition,
                    patient=patient,
                    booked_at=_second(start - lead),
                    outcome=outcome,
                )
            )
        return visits

    def _plan_records(self, visits: list[Visit]) -> None:
        """Consent before each patient's first booking; a prior-diagnosis document per patient
        and condition, uploaded at its first booking and verified by the doctor of the first
        consultation of it that took place, just before it started."""
        by_patient: dict[int, list[Visit]] = defaultdict(list)
        for visit in visits:
            by_patient[visit.patient.pk].append(visit)
        for group in by_patient.values():
            group.sort(key=lambda v: (v.start, v.index))
            patient = group[0].patient
            patient.first_booked = min(v.booked_at for v in group)
            for visit in group:
                icd10 = visit.condition.icd10
                patient.conditions.setdefault(icd10, self.ctx.icd10[icd10].name_zh)
                evidence = patient.evidence.get(icd10)
                if evidence is None:
                    uploaded = min(v.booked_at for v in group if v.condition.icd10 == icd10)
                    evidence = patient.evidence[icd10] = Evidence(
                        pk=self.ids(PriorDiagnosisEvidence),
                        public_id=_uuid(self.rng),
                        icd10=icd10,
                        uploaded_at=uploaded - _minutes(self.rng, 1, 3),
                        uploaded_by=patient.site.staff_pk,
                    )
                held = visit.outcome in (
                    ConsultationStatus.COMPLETED,
                    ConsultationStatus.TERMINATED,
                )
                if held and evidence.verified_at is None:
                    evidence.verified_by = visit.doctor.user_pk
                    evidence.verified_at = _second(visit.start - _minutes(self.rng, 0.5, 2))

    # --- One consultation ------------------------------------------------------------------

    def _consultation_event(
        self,
        pk: int,
        from_status: str,
        to_status: str,
        at: datetime.datetime,
        *,
        actor: int | None,
        role: str,
        terminal: int | None = None,
        reason: str = "",
    ) -> None:
        self._status_event(
            ConsultationEvent,
            {"consultation_id": pk, "terminal_id": terminal},
            from_status,
            to_status,
            at,
            actor=actor,
            role=role,
            reason=reason,
        )

    def _status_event(
        self,
        model: type[Any],
        subject: dict[str, int | None],
        from_status: str,
        to_status: str,
        at: datetime.datetime,
        *,
        actor: int | None,
        role: str,
        reason: str,
    ) -> None:
        """One row of a lifecycle's event table: `subject` names the object (and any extra
        reference the table has), the rest is common to every such table."""
        self.tables[model].add(
            id=self.ids(model),
            **subject,
            from_status=from_status,
            to_status=to_status,
            actor_id=actor,
            actor_role=role,
            reason=reason,
            occurred_at=at,
        )

    def _sms(
        self,
        patient: PatientDraft,
        event: str,
        objects: dict[str, int],
        dedupe_key: str,
        at: datetime.datetime,
    ) -> None:
        """An SMS to the patient, sent within seconds (written once the batch knows when the
        patient's account began, which the message is addressed to from then on)."""
        if at < self.end:
            self.messages.append(
                (
                    patient,
                    event,
                    objects,
                    f"{dedupe_key}|p{patient.pk}|{NotificationChannel.SMS}",
                    at,
                )
            )

    def _write_sms(self) -> None:
        rng = self.rng
        for patient, event, objects, dedupe_key, at in self.messages:
            sent_at = at + datetime.timedelta(seconds=rng.uniform(1, 20))
            has_account = patient.account_at is not None and patient.account_at <= at
            self.tables[Notification].add(
                id=self.ids(Notification),
                public_id=_uuid(rng),
                recipient_user_id=patient.user_pk if has_account else None,
                recipient_patient_id=patient.pk,
                channel=NotificationChannel.SMS,
                event=event,
                language=LANGUAGE,
                objects_ids=objects,
                dedupe_key=dedupe_key,
                urgent=EVENTS[event].urgent,
                status=NotificationStatus.SENT,
                attempts=1,
                next_attempt_at=at,
                sent_at=sent_at,
                provider_message_id=f"{int(sent_at.timestamp())}^{rng.getrandbits(64):016x}",
                created_at=at,
                updated_at=sent_at,
            )

    def _visit(self, visit: Visit) -> None:
        rng = self.rng
        patient = visit.patient
        site = patient.site
        department = visit.department
        doctor = visit.doctor
        pk = self.ids(Consultation)
        slot_pk = self.ids(Slot)
        end = visit.start + SLOT
        self.tables[Slot].add(
            id=slot_pk,
            public_id=_uuid(rng),
            doctor_id=doctor.pk,
            department_id=department.pk,
            starts_at=visit.start,
            ends_at=end,
            created_at=_second(visit.start - 20 * DAY),
        )
        booked = visit.booked_at
        self._consultation_event(
            pk, "", ConsultationStatus.BOOKED, booked, actor=site.staff_pk, role=Role.CLINIC_STAFF
        )
        self._sms(
            patient, "booking_confirmed", {"consultation": pk}, f"consultation:{pk}:booked", booked
        )
        row: dict[str, Any] = {
            "id": pk,
            "public_id": _uuid(rng),
            "patient_id": patient.pk,
            "department_id": department.pk,
            "doctor_id": doctor.pk,
            "facility_id": site.facility_pk,
            "kind": ConsultationKind.SCHEDULED,
            "slot_id": slot_pk,
            "scheduled_start": visit.start,
            "scheduled_end": end,
            "status": visit.outcome,
            "fee_fen": department.fee_fen,
            "booked_by_id": site.staff_pk,
            "retention_until": retention_until(_local_date(booked)),
            "created_at": booked,
        }
        self.consultations += 1
        if visit.outcome == ConsultationStatus.CANCELLED:
            at = _second(_between(rng, booked, visit.start - MINUTE))
            reason = rng.choice(data.CANCEL_REASONS)
            row.update(cancel_reason=reason, updated_at=at)
            self._consultation_event(
                pk,
                ConsultationStatus.BOOKED,
                ConsultationStatus.CANCELLED,
                at,
                actor=site.staff_pk,
                role=Role.CLINIC_STAFF,
                reason=reason,
            )
            self.tables[Consultation].add(**row)
            return
        if visit.outcome == ConsultationStatus.NO_SHOW:
            at = _second(
                end
                + datetime.timedelta(minutes=settings.NO_SHOW_GRACE_MINUTES)
                + _minutes(rng, 0, 5)
            )
            row.update(updated_at=at)
            self._consultation_event(
                pk,
                ConsultationStatus.BOOKED,
                ConsultationStatus.NO_SHOW,
                at,
                actor=None,
                role=SYSTEM_ROLE,
            )
            self.tables[Consultation].add(**row)
            return
        checked_in = _second(visit.start - _minutes(rng, 0, 10))
        started = _second(visit.start + _minutes(rng, 0, 6))
        self._consultation_event(
            pk,
            ConsultationStatus.BOOKED,
            ConsultationStatus.CHECKED_IN,
            checked_in,
            actor=site.staff_pk,
            role=Role.CLINIC_STAFF,
            terminal=site.terminal_pk,
        )
        self._vitals(pk, visit, checked_in)
        self._consultation_event(
            pk,
            ConsultationStatus.CHECKED_IN,
            ConsultationStatus.IN_PROGRESS,
            started,
            actor=doctor.user_pk,
            role=Role.DOCTOR,
        )
        row.update(
            checked_in_at=checked_in, checked_in_terminal_id=site.terminal_pk, started_at=started
        )
        if visit.outcome == ConsultationStatus.TERMINATED:
            ended = _second(started + _minutes(rng, 3, 10))
            reason = rng.choice(TerminationReason.values)
            row.update(
                ended_at=ended,
                termination_reason=reason,
                referral_note=data.TERMINATION_NOTES[reason],
                recording_retention_until=years_after(
                    _local_date(ended), RECORDING_RETENTION_YEARS
                ),
                updated_at=ended,
            )
            self._consultation_event(
                pk,
                ConsultationStatus.IN_PROGRESS,
                ConsultationStatus.TERMINATED,
                ended,
                actor=doctor.user_pk,
                role=Role.DOCTOR,
                reason=reason,
            )
            self._sms(
                patient,
                "consultation_terminated",
                {"consultation": pk},
                f"consultation:{pk}:terminated",
                ended,
            )
            self.tables[Consultation].add(**row)
            return
        prescribed = rng.randrange(1000) < data.PRESCRIBED_PER_MILLE
        drafted = _second(started + _minutes(rng, 4, 9))
        signed = _second(drafted + _minutes(rng, 1, 3))
        ended = _second((signed if prescribed else drafted) + _minutes(rng, 1, 4))
        icd = self.ctx.icd10[visit.condition.icd10]
        self.tables[ClinicalNote].add(
            id=self.ids(ClinicalNote),
            consultation_id=pk,
            subjective=visit.condition.subjective,
            objective="视频问诊：神志清，精神可，对答切题。",
            assessment=f"{icd.name_zh}，病情稳定。",
            plan=visit.condition.plan,
            author_id=doctor.user_pk,
            updated_at=drafted - MINUTE,
        )
        self.tables[ConsultationDiagnosis].add(
            id=self.ids(ConsultationDiagnosis),
            consultation_id=pk,
            code_id=icd.pk,
            is_primary=True,
            recorded_by_id=doctor.user_pk,
            recorded_at=drafted - 2 * MINUTE,
        )
        row.update(
            ended_at=ended,
            recording_retention_until=years_after(_local_date(ended), RECORDING_RETENTION_YEARS),
            updated_at=ended,
        )
        self._consultation_event(
            pk,
            ConsultationStatus.IN_PROGRESS,
            ConsultationStatus.COMPLETED,
            ended,
            actor=doctor.user_pk,
            role=Role.DOCTOR,
        )
        self.tables[Consultation].add(**row)
        if prescribed:
            self._prescription(visit, pk, row["public_id"], drafted, signed)

    def _vitals(self, pk: int, visit: Visit, at: datetime.datetime) -> None:
        rng = self.rng
        readings: list[tuple[str, Decimal, Decimal | None]] = [
            (
                VitalKind.BLOOD_PRESSURE,
                Decimal(rng.randint(105, 160)),
                Decimal(rng.randint(62, 98)),
            ),
            (VitalKind.HEART_RATE, Decimal(rng.randint(58, 96)), None),
        ]
        if visit.condition.icd10.startswith("E11"):
            readings.append((VitalKind.GLUCOSE, Decimal(rng.randint(45, 110)) / 10, None))
        for kind, value, secondary in readings:
            self.tables[VitalSign].add(
                id=self.ids(VitalSign),
                consultation_id=pk,
                terminal_id=visit.patient.site.terminal_pk,
                kind=kind,
                value=value,
                value_secondary=secondary,
                unit=VITAL_RANGES[kind].unit,
                is_abnormal=_check_vital(kind, value, secondary),
                measured_at=at,
                recorded_at=at,
            )

    # --- Prescription ----------------------------------------------------------------------

    def _regimen(self, visit: Visit) -> Regimen:
        rng = self.rng
        days = rng.choices(
            [days for days, _ in DAYS_SUPPLY_CHOICES], [w for _, w in DAYS_SUPPLY_CHOICES]
        )[0]
        choices = self.ctx.regimens[(visit.department.code, visit.condition.icd10, days)]
        allowed = [r for r in choices if not r.allergies & set(visit.patient.allergies)]
        return rng.choice(allowed or choices[:1])

    def _patient_instance(self, draft: PatientDraft) -> Patient:
        if draft.instance is None:
            draft.instance = Patient(
                pk=draft.pk,
                public_id=draft.public_id,
                name=draft.name,
                sex=draft.sex,
                birth_date=draft.birth_date,
            )
        return draft.instance

    def _evidence_instance(self, evidence: Evidence) -> PriorDiagnosisEvidence:
        if evidence.instance is None:
            evidence.instance = PriorDiagnosisEvidence(pk=evidence.pk, public_id=evidence.public_id)
        return evidence.instance

    def _prescription_event(
        self,
        pk: int,
        from_status: str,
        to_status: str,
        at: datetime.datetime,
        *,
        actor: int | None,
        role: str,
        reason: str = "",
    ) -> None:
        self._status_event(
            PrescriptionEvent,
            {"prescription_id": pk},
            from_status,
            to_status,
            at,
            actor=actor,
            role=role,
            reason=reason,
        )

    def _prescription(
        self,
        visit: Visit,
        consultation_pk: int,
        consultation_public_id: uuid.UUID,
        drafted: datetime.datetime,
        signed: datetime.datetime,
    ) -> None:
        rng = self.rng
        ctx = self.ctx
        patient = visit.patient
        doctor = visit.doctor
        regimen = self._regimen(visit)
        evidence = patient.evidence[visit.condition.icd10]
        pk = self.ids(Prescription)
        day = _local_date(signed)
        validity_days = 1
        if rng.randrange(1000) < data.EXTENDED_VALIDITY_PER_MILLE:
            validity_days = rng.choice((2, 3))
        valid_until = validity_end(signed, validity_days)
        under_six = patient.age_on(day) < GUARDIAN_REQUIRED_UNDER_YEARS
        # One scratch prescription (with its consultation and items) per batch, refilled for
        # each: clinical_content reads them; building model instances per row costs more than
        # the signatures.
        prescription = self._scratch
        prescription.pk = pk
        prescription.public_id = _uuid(rng)
        prescription.number = f"RX{day:%Y%m%d}{visit.slot_sequence:06d}"
        prescription.consultation.pk = consultation_pk
        prescription.consultation.public_id = consultation_public_id
        prescription.patient = self._patient_instance(patient)
        prescription.doctor = doctor.profile
        prescription.diagnosis = ctx.icd10[visit.condition.icd10]
        prescription.evidence = self._evidence_instance(evidence)
        prescription.supply_reason = regimen.supply_reason
        prescription.validity_days = validity_days
        prescription.validity_reason = data.VALIDITY_REASON if validity_days > 1 else ""
        prescription.guardian_name = patient.guardian_name if under_six else ""
        prescription.guardian_relationship = patient.guardian_relationship if under_six else ""
        items = self._scratch_items[: len(regimen.items)]
        for position, (item, spec) in enumerate(zip(items, regimen.items, strict=False), 1):
            item.pk = self.ids(PrescriptionItem)
            item.position = position
            item.drug = spec.drug
            item.dose = spec.dose
            item.dose_unit = spec.drug.dose_unit
            item.frequency = spec.frequency
            item.route = spec.route
            item.days_supply = spec.days_supply
            item.quantity = spec.quantity or 1
            item.instructions = spec.instructions
            item.unit_price_fen = spec.drug.price_fen
        content = content_bytes(
            clinical_content(
                prescription, signed_at=signed, valid_until=valid_until, items=items, warnings=[]
            )
        )
        doctor_key = ctx.signers[doctor.user_pk].key_at(signed)
        doctor_signature = doctor_key.algorithm.sign(doctor_key.private_key, content)
        prescription.signed_content = content.decode()
        prescription.doctor_signature = _b64(doctor_signature)
        pharmacist = ctx.pharmacists[rng.randrange(len(ctx.pharmacists))]
        reviewed = _second(signed + _minutes(rng, 4, 90))
        review = content_bytes(
            review_content(
                prescription,
                decision=PrescriptionStatus.APPROVED,
                reviewed_at=reviewed,
                pharmacist_name=pharmacist.user.full_name,
                pharmacist_id=str(pharmacist.user.public_id),
                pharmacist_licence=pharmacist.licence_number,
            )
        )
        pharmacist_key = ctx.signers[pharmacist.user_id].key_at(reviewed)
        pharmacist_signature = pharmacist_key.algorithm.sign(pharmacist_key.private_key, review)
        for item in items:
            self.tables[PrescriptionItem].add(
                id=item.pk,
                prescription_id=pk,
                position=item.position,
                drug_id=item.drug.pk,
                dose=item.dose,
                dose_unit=item.dose_unit,
                frequency=item.frequency,
                route=item.route,
                days_supply=item.days_supply,
                quantity=item.quantity,
                instructions=item.instructions,
                unit_price_fen=item.unit_price_fen,
            )
        self._prescription_event(
            pk, "", PrescriptionStatus.DRAFT, drafted, actor=doctor.user_pk, role=Role.DOCTOR
        )
        self._prescription_event(
            pk,
            PrescriptionStatus.DRAFT,
            PrescriptionStatus.SIGNED,
            signed,
            actor=doctor.user_pk,
            role=Role.DOCTOR,
        )
        self._prescription_event(
            pk,
            PrescriptionStatus.SIGNED,
            PrescriptionStatus.APPROVED,
            reviewed,
            actor=pharmacist.user_id,
            role=Role.PHARMACIST,
        )
        row: dict[str, Any] = {
            "id": pk,
            "public_id": prescription.public_id,
            "number": prescription.number,
            "version": 1,
            "consultation_id": consultation_pk,
            "patient_id": patient.pk,
            "doctor_id": doctor.pk,
            "status": PrescriptionStatus.APPROVED,
            "diagnosis_id": prescription.diagnosis.pk,
            "evidence_id": evidence.pk,
            "supply_reason": prescription.supply_reason,
            "validity_days": validity_days,
            "validity_reason": prescription.validity_reason,
            "guardian_name": prescription.guardian_name,
            "guardian_relationship": prescription.guardian_relationship,
            "signed_at": signed,
            "valid_until": valid_until,
            "signed_content": prescription.signed_content,
            "doctor_signature": prescription.doctor_signature,
            "doctor_certificate": doctor_key.certificate_pem,
            "doctor_certificate_serial": doctor_key.serial,
            "reviewed_at": reviewed,
            "pharmacist_id": pharmacist.pk,
            "review_content": review.decode(),
            "pharmacist_signature": _b64(pharmacist_signature),
            "pharmacist_certificate": pharmacist_key.certificate_pem,
            "pharmacist_certificate_serial": pharmacist_key.serial,
            "retention_until": years_after(day, PRESCRIPTION_RETENTION_YEARS),
            "created_at": drafted,
            "updated_at": reviewed,
        }
        self._order(visit, row, items, regimen)
        self.tables[Prescription].add(**row)

    # --- Order, payment, fulfilment --------------------------------------------------------

    def _order_event(
        self,
        pk: int,
        from_status: str,
        to_status: str,
        at: datetime.datetime,
        *,
        actor: int | None,
        role: str,
        reason: str = "",
    ) -> None:
        self._status_event(
            OrderEvent,
            {"order_id": pk},
            from_status,
            to_status,
            at,
            actor=actor,
            role=role,
            reason=reason,
        )

    def _ledger(
        self,
        order: dict[str, Any],
        kind: str,
        amount: int,
        dedupe_key: str,
        source: str,
        at: datetime.datetime,
        *,
        attempt: dict[str, Any] | None = None,
        refund: dict[str, Any] | None = None,
        actor: int | None = None,
        transaction_id: str = "",
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.tables[PaymentEvent].add(
            id=self.ids(PaymentEvent),
            order_id=order["id"],
            attempt_id=attempt["id"] if attempt else None,
            refund_id=refund["id"] if refund else None,
            kind=kind,
            provider=attempt["provider"] if attempt else "",
            out_trade_no=attempt["out_trade_no"] if attempt else "",
            transaction_id=transaction_id,
            out_refund_no=refund["out_refund_no"] if refund else "",
            amount_fen=amount,
            source=source,
            actor_id=actor,
            dedupe_key=dedupe_key,
            occurred_at=at,
            recorded_at=at,
            detail=detail or {},
        )

    def _order(
        self,
        visit: Visit,
        prescription: dict[str, Any],
        items: list[PrescriptionItem],
        regimen: Regimen,
    ) -> None:
        """The order made at approval, with the consultation fee (the first order of the
        consultation carries it) and one line per item."""
        rng = self.rng
        patient = visit.patient
        reviewed: datetime.datetime = prescription["reviewed_at"]
        pk = self.ids(PaymentOrder)
        lines: list[dict[str, Any]] = [
            {
                "kind": OrderLineKind.CONSULTATION_FEE,
                "prescription_item_id": None,
                "description": f"诊查费 {visit.department.name}"[:200],
                "quantity": 1,
                "unit_price_fen": visit.department.fee_fen,
            },
            *(
                {
                    "kind": OrderLineKind.DRUG,
                    "prescription_item_id": item.pk,
                    "description": f"{item.drug.name_zh} {item.drug.strength}"[:200],
                    "quantity": item.quantity,
                    "unit_price_fen": item.unit_price_fen,
                }
                for item in items
            ),
        ]
        timeout = reviewed + datetime.timedelta(minutes=settings.PAYMENT_ORDER_TIMEOUT_MINUTES)
        order: dict[str, Any] = {
            "id": pk,
            "public_id": _uuid(rng),
            "number": f"PO{_local_date(reviewed):%Y%m%d}{visit.slot_sequence:06d}",
            "patient_id": patient.pk,
            "consultation_id": prescription["consultation_id"],
            "prescription_id": prescription["id"],
            "status": OrderStatus.CREATED,
            "carries_consultation_fee": True,
            "pickup_only": regimen.cold_chain,
            "expires_at": min(timeout, prescription["valid_until"]),
            "created_at": reviewed,
            "updated_at": reviewed,
        }
        self._sms(patient, "payment_link", {"order": pk}, f"order:{pk}:payment_link", reviewed)
        choose = _second(reviewed + _minutes(rng, 10, 240))
        pays = (
            rng.randrange(1000) >= data.UNPAID_PER_MILLE
            # Paying this late would leave no time to hand the medicine over in its validity.
            and choose < order["expires_at"] - HOUR
        )
        delivery = not regimen.cold_chain and rng.randrange(1000) < data.DELIVERY_PER_MILLE
        if pays and choose < self.end:
            self._choose(order, lines, visit, delivery, choose)
            pay_at = _second(choose + _minutes(rng, 1, 3))
            if pay_at < self.end:
                self._pay(order, lines, prescription, visit, items, pay_at)
        elif not pays:
            self._unpaid(order, prescription)
        total = sum(line["quantity"] * line["unit_price_fen"] for line in lines)
        order.update(total_fen=total, payable_fen=total)
        for line in lines:
            self.tables[OrderLine].add(
                id=self.ids(OrderLine),
                order_id=pk,
                amount_fen=line["quantity"] * line["unit_price_fen"],
                **line,
            )
        self.tables[PaymentOrder].add(**order)

    def _unpaid(self, order: dict[str, Any], prescription: dict[str, Any]) -> None:
        """Nobody paid: the sweep closes the order, the expiry job expires the prescription."""
        closed = _second(order["expires_at"] + _minutes(self.rng, 0.5, 5))
        if closed < self.end:
            order.update(
                status=OrderStatus.CLOSED,
                closed_at=closed,
                close_reason="timeout",
                updated_at=closed,
            )
            self._ledger(
                order,
                LedgerKind.CLOSED,
                0,
                f"closed:{order['number']}",
                LedgerSource.SERVICE,
                closed,
                detail={"reason": "timeout"},
            )
            self._order_event(
                order["id"],
                OrderStatus.CREATED,
                OrderStatus.CLOSED,
                closed,
                actor=None,
                role=SYSTEM_ROLE,
                reason="timeout",
            )
        self._expire(prescription)

    def _expire(self, prescription: dict[str, Any]) -> None:
        expired = _second(prescription["valid_until"] + _minutes(self.rng, 0.5, 5))
        if expired >= self.end:
            return
        prescription.update(
            status=PrescriptionStatus.EXPIRED, expired_at=expired, updated_at=expired
        )
        self._prescription_event(
            prescription["id"],
            PrescriptionStatus.APPROVED,
            PrescriptionStatus.EXPIRED,
            expired,
            actor=None,
            role=SYSTEM_ROLE,
            reason="past valid_until",
        )

    def _account(self, patient: PatientDraft, at: datetime.datetime) -> None:
        """The patient signs in on the phone (SMS code) to pay: their account dates from the
        first time."""
        if patient.user_pk is None:
            patient.user_pk = self.ids(User)
            patient.user_public_id = _uuid(self.rng)
        login = _second(at - _minutes(self.rng, 1, 3))
        if patient.account_at is None or login < patient.account_at:
            patient.account_at = login

    def _choose(
        self,
        order: dict[str, Any],
        lines: list[dict[str, Any]],
        visit: Visit,
        delivery: bool,
        at: datetime.datetime,
    ) -> None:
        """Pickup at the consultation's facility, or delivery to an address in its district
        (with the delivery fee)."""
        rng = self.rng
        patient = visit.patient
        site = patient.site
        self._account(patient, at)
        order.update(fulfilment_chosen_at=at, updated_at=at)
        if not delivery:
            order.update(
                fulfilment_method=FulfilmentMethod.PICKUP, pickup_facility_id=site.facility_pk
            )
            return
        order.update(
            fulfilment_method=FulfilmentMethod.DELIVERY,
            delivery_recipient=patient.guardian_name or patient.name,
            delivery_phone=patient.phone,
            delivery_province=site.province,
            delivery_city=site.city,
            delivery_district=site.district,
            delivery_detail=f"{rng.choice(demo.ROADS)}{rng.randint(1, 399)}号"
            f"{rng.randint(1, 30)}栋{rng.randint(101, 2806)}房",
        )
        fee = settings.PAYMENT_DELIVERY_FEE_FEN
        if fee > 0:
            lines.append(
                {
                    "kind": OrderLineKind.DELIVERY_FEE,
                    "prescription_item_id": None,
                    "description": "配送费",
                    "quantity": 1,
                    "unit_price_fen": fee,
                }
            )

    def _pay(
        self,
        order: dict[str, Any],
        lines: list[dict[str, Any]],
        prescription: dict[str, Any],
        visit: Visit,
        items: list[PrescriptionItem],
        at: datetime.datetime,
    ) -> None:
        """One provider order, paid: the ledger's request and receipt, the order's moves."""
        rng = self.rng
        patient = visit.patient
        total = sum(line["quantity"] * line["unit_price_fen"] for line in lines)
        day = _local_date(at)
        if rng.random() < 0.65:
            provider = Provider.WECHATPAY
            channel = rng.choice((PayChannel.JSAPI, PayChannel.NATIVE))
            transaction_id = f"4200{day:%Y%m%d}{visit.index:016d}"
        else:
            provider = Provider.ALIPAY
            channel = rng.choice((PayChannel.WAP, PayChannel.PRECREATE))
            transaction_id = f"{day:%Y%m%d}22001{visit.index:015d}"
        issued = _second(at - _minutes(rng, 0.2, 1))
        attempt: dict[str, Any] = {
            "id": self.ids(PaymentAttempt),
            "order_id": order["id"],
            "provider": provider,
            "channel": channel,
            "out_trade_no": f"{order['number']}-1",
            "amount_fen": total,
            "status": AttemptStatus.PAID,
            "transaction_id": transaction_id,
            "expires_at": order["expires_at"],
            "created_at": issued,
            "issued_at": issued,
            "paid_at": at,
        }
        self.tables[PaymentAttempt].add(**attempt)
        self._ledger(
            order,
            LedgerKind.PAYMENT_REQUESTED,
            total,
            f"payment_requested:{attempt['out_trade_no']}",
            LedgerSource.PROVIDER_REPLY,
            issued,
            attempt=attempt,
            actor=patient.user_pk,
            detail={"channel": channel},
        )
        self._order_event(
            order["id"],
            OrderStatus.CREATED,
            OrderStatus.PENDING,
            issued,
            actor=patient.user_pk,
            role=Role.PATIENT,
            reason=f"{provider} {channel}",
        )
        self._ledger(
            order,
            LedgerKind.PAID,
            total,
            f"receipt:{provider}:{attempt['out_trade_no']}",
            LedgerSource.QUERY,
            at,
            attempt=attempt,
            transaction_id=transaction_id,
            detail={"order_status": OrderStatus.PENDING},
        )
        self._order_event(
            order["id"],
            OrderStatus.PENDING,
            OrderStatus.PAID,
            at,
            actor=None,
            role=SYSTEM_ROLE,
            reason=f"{provider} {transaction_id}",
        )
        order.update(status=OrderStatus.PAID, paid_at=at, paid_fen=total, updated_at=at)
        self._sms(
            patient, "payment_received", {"order": order["id"]}, f"order:{order['id']}:paid", at
        )
        fulfilment = self._fulfilment(order, prescription, visit, at)
        if order["fulfilment_method"] == FulfilmentMethod.PICKUP:
            self._pickup(fulfilment, order, attempt, prescription, visit, items, at)
        else:
            fee_share = visit.department.fee_fen
            self._delivery(fulfilment, order, attempt, prescription, visit, items, at, fee_share)

    def _refund(
        self,
        order: dict[str, Any],
        attempt: dict[str, Any],
        patient: PatientDraft,
        amount: int,
        *,
        trigger: str,
        trigger_key: str,
        reason: str,
        requested: datetime.datetime,
        actor: int | None,
        role: str,
    ) -> None:
        """A refund requested and settled by the provider: ledger, order moves, the SMS."""
        settled = _second(requested + _minutes(self.rng, 1, 30))
        refund: dict[str, Any] = {
            "id": self.ids(Refund),
            "order_id": order["id"],
            "attempt_id": attempt["id"],
            "out_refund_no": f"{order['number']}-R1",
            "amount_fen": amount,
            "reason": reason,
            "trigger": trigger,
            "trigger_key": trigger_key,
            "status": RefundStatus.REQUESTED,
            "requested_by_id": actor,
            "created_at": requested,
        }
        self._ledger(
            order,
            LedgerKind.REFUND_REQUESTED,
            amount,
            f"refund_requested:{refund['out_refund_no']}",
            LedgerSource.SERVICE,
            requested,
            attempt=attempt,
            refund=refund,
            actor=actor,
            detail={"trigger": trigger, "reason": reason},
        )
        self._order_event(
            order["id"],
            OrderStatus.PAID,
            OrderStatus.REFUNDING,
            requested,
            actor=actor,
            role=role,
            reason="refund requested",
        )
        order.update(status=OrderStatus.REFUNDING, refund_pending_fen=amount, updated_at=requested)
        if settled < self.end:
            provider_refund_id = f"50{settled:%Y%m%d}{refund['id']:018d}"
            refund.update(
                status=RefundStatus.SUCCEEDED,
                provider_refund_id=provider_refund_id,
                submissions=1,
                submitted_at=requested,
                settled_at=settled,
            )
            self._ledger(
                order,
                LedgerKind.REFUND_SUCCEEDED,
                amount,
                f"refund_settled:{refund['out_refund_no']}",
                LedgerSource.PROVIDER_REPLY,
                settled,
                attempt=attempt,
                refund=refund,
                detail={"provider_refund_id": provider_refund_id, "error": ""},
            )
            whole = amount == order["paid_fen"]
            to_status = OrderStatus.REFUNDED if whole else OrderStatus.PAID
            self._order_event(
                order["id"],
                OrderStatus.REFUNDING,
                to_status,
                settled,
                actor=None,
                role=SYSTEM_ROLE,
                reason="refunded" if whole else "refunds settled",
            )
            order.update(
                status=to_status, refunded_fen=amount, refund_pending_fen=0, updated_at=settled
            )
            self._sms(
                patient,
                "refund_issued",
                {"refund": refund["id"]},
                f"refund:{refund['id']}:issued",
                settled,
            )
        self.tables[Refund].add(**refund)

    def _fulfilment_event(
        self,
        fulfilment: dict[str, Any],
        to_status: str,
        at: datetime.datetime,
        *,
        actor: int | None,
        role: str,
        reason: str = "",
        tracking_event: int | None = None,
    ) -> None:
        self._status_event(
            FulfilmentEvent,
            {"fulfilment_id": fulfilment["id"], "tracking_event_id": tracking_event},
            fulfilment["status"],
            to_status,
            at,
            actor=actor,
            role=role,
            reason=reason,
        )
        fulfilment.update(status=to_status, updated_at=at)

    def _fulfilment(
        self,
        order: dict[str, Any],
        prescription: dict[str, Any],
        visit: Visit,
        paid: datetime.datetime,
    ) -> dict[str, Any]:
        delivery = order["fulfilment_method"] == FulfilmentMethod.DELIVERY
        fulfilment: dict[str, Any] = {
            "id": self.ids(Fulfilment),
            "public_id": _uuid(self.rng),
            "order_id": order["id"],
            "prescription_id": prescription["id"],
            "patient_id": visit.patient.pk,
            "method": order["fulfilment_method"],
            "status": "",
            "facility_id": visit.patient.site.facility_pk,
            "paid_at": paid,
            "created_at": paid,
        }
        if delivery:
            fulfilment.update(
                recipient_name=order["delivery_recipient"],
                recipient_phone=order["delivery_phone"],
                province=order["delivery_province"],
                city=order["delivery_city"],
                district=order["delivery_district"],
                address_detail=order["delivery_detail"],
            )
        self._fulfilment_event(
            fulfilment,
            FulfilmentStatus.AWAITING_PAYMENT,
            paid,
            actor=None,
            role=SYSTEM_ROLE,
            reason=f"order {order['number']} paid",
        )
        return fulfilment

    def _dispense(
        self,
        fulfilment: dict[str, Any],
        prescription: dict[str, Any],
        items: list[PrescriptionItem],
        at: datetime.datetime,
        *,
        facility: int | None,
        actor: int | None,
        role: str,
    ) -> None:
        """The handover: the prescription dispensed, exactly once, with what was handed over.
        (A pickup's stock movements are written with the whole history's, at the end.)"""
        dispense_pk = self.ids(Dispense)
        self.tables[Dispense].add(
            id=dispense_pk,
            fulfilment_id=fulfilment["id"],
            prescription_id=prescription["id"],
            facility_id=facility,
            dispensed_by_id=actor,
            actor_role=role,
            dispensed_at=at,
        )
        for item in items:
            self.tables[DispenseItem].add(
                id=self.ids(DispenseItem),
                dispense_id=dispense_pk,
                prescription_item_id=item.pk,
                drug_id=item.drug.pk,
                quantity=item.quantity,
            )
        self._prescription_event(
            prescription["id"],
            PrescriptionStatus.APPROVED,
            PrescriptionStatus.DISPENSED,
            at,
            actor=actor,
            role=role,
        )
        prescription.update(status=PrescriptionStatus.DISPENSED, dispensed_at=at, updated_at=at)

    def _pickup(
        self,
        fulfilment: dict[str, Any],
        order: dict[str, Any],
        attempt: dict[str, Any],
        prescription: dict[str, Any],
        visit: Visit,
        items: list[PrescriptionItem],
        paid: datetime.datetime,
    ) -> None:
        rng = self.rng
        patient = visit.patient
        site = patient.site
        valid_until: datetime.datetime = prescription["valid_until"]
        code_expires = min(
            valid_until,
            paid + datetime.timedelta(hours=settings.PHARMACY_PICKUP_CODE_LIFETIME_HOURS),
        )
        code = f"{(visit.index * PICKUP_CODE_STEP + self.ctx.seed) % CODE_SPACE:08d}"
        fulfilment.update(pickup_code=code, pickup_code_expires_at=code_expires, ready_at=paid)
        self._fulfilment_event(
            fulfilment, FulfilmentStatus.READY_FOR_PICKUP, paid, actor=None, role=SYSTEM_ROLE
        )
        self._sms(
            patient,
            "ready_for_pickup",
            {"fulfilment": fulfilment["id"]},
            f"fulfilment:{fulfilment['id']}:ready_for_pickup",
            paid,
        )
        if rng.randrange(1000) < data.PICKUP_NOT_COLLECTED_PER_MILLE:
            # Never collected: the prescription expires, operations refund the whole order.
            self._expire(prescription)
            requested = _second(valid_until + _minutes(rng, 60 * 24, 60 * 24 * 3))
            if requested < self.end:
                self._refund(
                    order,
                    attempt,
                    patient,
                    order["paid_fen"],
                    trigger=RefundTrigger.OPERATIONS,
                    trigger_key=f"operations:{_uuid(rng).hex}",
                    reason=data.PICKUP_NOT_COLLECTED_REFUND_REASON,
                    requested=requested,
                    actor=self.ctx.operations_pk,
                    role=Role.OPERATIONS,
                )
        else:
            picked = _second(_between(rng, paid + 10 * MINUTE, code_expires - 5 * MINUTE))
            if picked < self.end:
                self._dispense(
                    fulfilment,
                    prescription,
                    items,
                    picked,
                    facility=site.facility_pk,
                    actor=site.staff_pk,
                    role=Role.CLINIC_STAFF,
                )
                fulfilment.update(picked_up_at=picked)
                self._fulfilment_event(
                    fulfilment,
                    FulfilmentStatus.PICKED_UP,
                    picked,
                    actor=site.staff_pk,
                    role=Role.CLINIC_STAFF,
                    reason="handed over at the facility",
                )
        self.tables[Fulfilment].add(**fulfilment)

    def _delivery(
        self,
        fulfilment: dict[str, Any],
        order: dict[str, Any],
        attempt: dict[str, Any],
        prescription: dict[str, Any],
        visit: Visit,
        items: list[PrescriptionItem],
        paid: datetime.datetime,
        fee_share: int,
    ) -> None:
        """Dispatched by the hospital pharmacy with a waybill, then the courier's reports (each
        stored as its callback and tracking event); a failed parcel comes back and the medicine
        and delivery fee are refunded."""
        rng = self.rng
        patient = visit.patient
        dispatched = _second(paid + _minutes(rng, 1, 20))
        if dispatched >= self.end:
            self.tables[Fulfilment].add(**fulfilment)
            return
        self._dispense(
            fulfilment, prescription, items, dispatched, facility=None, actor=None, role=SYSTEM_ROLE
        )
        number = f"SD{(visit.index * WAYBILL_STEP + self.ctx.seed) % WAYBILL_SPACE:012d}"
        waybill: dict[str, Any] = {
            "id": self.ids(Waybill),
            "fulfilment_id": fulfilment["id"],
            "courier": settings.COURIER_CODE,
            "attempt": 1,
            "reference": f"{fulfilment['public_id'].hex}-1",
            "waybill_number": number,
            "status": TrackingStatus.CREATED,
            "created_at": dispatched,
        }
        fulfilment.update(dispatched_at=dispatched, delivery_attempts=1)
        self._fulfilment_event(
            fulfilment,
            FulfilmentStatus.DISPATCHED,
            dispatched,
            actor=None,
            role=SYSTEM_ROLE,
            reason=f"{settings.COURIER_NAME} {number}",
        )
        self._sms(
            patient,
            "dispatched",
            {"fulfilment": fulfilment["id"]},
            f"waybill:{waybill['id']}:dispatched",
            dispatched,
        )
        fails = rng.randrange(1000) < data.DELIVERY_FAILED_PER_MILLE
        accepted = dispatched + _minutes(rng, 10, 60)
        picked_up = accepted + _minutes(rng, 60, 180)
        in_transit = picked_up + _minutes(rng, 120, 480)
        next_morning = local_day_start(_local_date(in_transit) + DAY) + 8 * HOUR
        out = next_morning + _minutes(rng, 0, 180)
        last = out + _minutes(rng, 60, 300)
        reports = [
            (TrackingStatus.ACCEPTED, accepted, None),
            (TrackingStatus.PICKED_UP, picked_up, FulfilmentStatus.IN_TRANSIT),
            (TrackingStatus.IN_TRANSIT, in_transit, None),
            (TrackingStatus.OUT_FOR_DELIVERY, out, FulfilmentStatus.OUT_FOR_DELIVERY),
            (
                TrackingStatus.FAILED if fails else TrackingStatus.DELIVERED,
                last,
                FulfilmentStatus.FAILED if fails else FulfilmentStatus.DELIVERED,
            ),
        ]
        failure = rng.choice(data.DELIVERY_FAILURE_REASONS) if fails else ""
        announced = {
            TrackingStatus.OUT_FOR_DELIVERY: "out_for_delivery",
            TrackingStatus.DELIVERED: "delivered",
            TrackingStatus.FAILED: "delivery_failed",
        }
        for sequence, (status, occurred, target) in enumerate(reports, 1):
            occurred = _second(occurred)
            received = occurred + datetime.timedelta(seconds=rng.uniform(1, 30))
            if received >= self.end:
                break
            event_id = f"{number}-{sequence}"
            signer = (
                patient.guardian_name or patient.name if status == TrackingStatus.DELIVERED else ""
            )
            report = {
                "event_id": event_id,
                "waybill_number": number,
                "status": status,
                "occurred_at": occurred.isoformat(),
                "location": rng.choice(data.DELIVERY_LOCATIONS),
                "description": PARCEL_DESCRIPTION if sequence == 1 else "",
                "signer_name": signer,
                "reason": failure if status == TrackingStatus.FAILED else "",
            }
            callback_pk = self.ids(CourierCallback)
            self.tables[CourierCallback].add(
                id=callback_pk,
                headers={},
                body=json.dumps(report, ensure_ascii=False).encode(),
                outcome=CallbackOutcome.APPLIED,
                event_id=event_id,
                received_at=received,
                processed_at=received,
            )
            tracking_pk = self.ids(TrackingEvent)
            self.tables[TrackingEvent].add(
                id=tracking_pk,
                waybill_id=waybill["id"],
                callback_id=callback_pk,
                courier=settings.COURIER_CODE,
                event_id=event_id,
                status=status,
                occurred_at=occurred,
                location=report["location"],
                description=report["description"],
                signer_name=signer,
                failure_reason=report["reason"],
                applied=True,
                received_at=received,
            )
            waybill["status"] = status
            if target is None or target == fulfilment["status"]:
                continue
            changes: dict[str, Any] = {}
            if status == TrackingStatus.DELIVERED:
                changes = {"delivered_at": occurred}
                waybill.update(signer_name=signer, delivered_at=occurred)
            elif status == TrackingStatus.FAILED:
                changes = {"failed_at": occurred, "failure_reason": failure}
                waybill.update(failure_reason=failure, failed_at=occurred)
            fulfilment.update(changes)
            self._fulfilment_event(
                fulfilment,
                target,
                occurred,
                actor=None,
                role=COURIER_ROLE,
                reason=failure or report["location"],
                tracking_event=tracking_pk,
            )
            event = announced.get(status)
            if event is not None:
                self._sms(
                    patient,
                    event,
                    {"fulfilment": fulfilment["id"]},
                    f"waybill:{waybill['id']}:{status}",
                    received,
                )
        if fulfilment["status"] == FulfilmentStatus.FAILED:
            returned = _second(fulfilment["failed_at"] + _minutes(rng, 60 * 20, 60 * 48))
            if returned < self.end:
                fulfilment.update(returned_at=returned)
                self._fulfilment_event(
                    fulfilment,
                    FulfilmentStatus.RETURNED,
                    returned,
                    actor=self.ctx.operations_pk,
                    role=Role.OPERATIONS,
                    reason="parcel returned to the pharmacy",
                )
                self._refund(
                    order,
                    attempt,
                    patient,
                    order["paid_fen"] - fee_share,
                    trigger=RefundTrigger.DELIVERY_FAILED,
                    trigger_key=RefundTrigger.DELIVERY_FAILED,
                    reason="配送失败，退还药费及配送费",
                    requested=returned,
                    actor=None,
                    role=SYSTEM_ROLE,
                )
        self.tables[Waybill].add(**waybill)
        self.tables[Fulfilment].add(**fulfilment)

    # --- The batch -------------------------------------------------------------------------

    def build(self) -> dict[type[models.Model], Table]:
        patients = self._patients()
        visits = self._visits(patients)
        self._plan_records(visits)
        for visit in visits:
            self._visit(visit)
        self._write_patients(patients)
        self._write_sms()
        return self.tables
