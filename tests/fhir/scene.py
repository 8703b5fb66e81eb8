"""A realistic slice of the network for the facade and the feed, made through the services the
flows use: a consultation with vitals from the terminal, a note and diagnosis; a prescription
signed by the doctor and countersigned by the pharmacist (real keys under the test CA); the
order it creates, chosen for pickup with insurance, paid by the emulated WeChat Pay callback;
the medicine handed over at the facility against the pickup code. Plus a terminated
consultation, a booking not yet checked in, and a free slot."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.test import Client
from django.utils import timezone

from accounts.models import Role, User
from clinics.models import Facility, Terminal
from consultations.models import Consultation, Slot
from consultations.services.lifecycle import consultation_complete, consultation_terminate
from consultations.services.records import vital_sign_record
from core.actors import TERMINAL_ROLE, Actor, actor_for_user
from patients.models import Patient, PriorDiagnosisEvidence
from payments.models import PaymentOrder
from payments.services import order_choose_fulfilment
from payments.services.insurance import insurance_voucher_register
from pharmacy.models import Fulfilment
from pharmacy.services.pickup import pickup_dispense
from prescriptions.models import Prescription
from prescriptions.services import lifecycle
from provider_emulators.hooks import emulator_signed_callback
from tests.consultations.builders import Visit, make_visit
from tests.factories import make_patient_user, make_slot, make_terminal, make_user
from tests.payments.factories import Sale, open_attempt, payer_pays_quietly, post_callback
from tests.pharmacy.builders import stock_up
from tests.prescriptions.builders import (
    PIN,
    item,
    make_draft,
    make_drug,
    make_pharmacist,
    spec,
    with_signing_key,
)

READINGS: tuple[tuple[str, str, str | None], ...] = (
    ("blood_pressure", "150", "95"),
    ("heart_rate", "78", None),
    ("temperature", "36.6", None),
    ("spo2", "97", None),
    ("glucose", "6.8", None),
    ("weight", "72.5", None),
)


@dataclass
class Scene:
    visit: Visit
    terminal: Terminal
    prescription: Prescription
    pharmacist: User
    order: PaymentOrder
    fulfilment: Fulfilment
    patient_user: User
    terminated: Consultation
    booked: Consultation
    free_slot: Slot
    operations: User

    @property
    def patient(self) -> Patient:
        return self.visit.patient

    @property
    def facility(self) -> Facility:
        return self.visit.facility

    @property
    def staff(self) -> User:
        return self.visit.staff

    @property
    def doctor(self) -> User:
        return self.visit.doctor

    @property
    def consultation(self) -> Consultation:
        return self.visit.consultation

    @property
    def evidence(self) -> PriorDiagnosisEvidence:
        return PriorDiagnosisEvidence.objects.get(patient=self.patient)


def record_vitals(visit: Visit, terminal: Terminal) -> None:
    actor = Actor(role=TERMINAL_ROLE, terminal_id=terminal.pk, facility_id=terminal.facility_id)
    for kind, value, secondary in READINGS:
        vital_sign_record(
            actor=actor,
            terminal=terminal,
            kind=kind,
            value=Decimal(value),
            value_secondary=Decimal(secondary) if secondary else None,
            consultation=visit.consultation,
        )


def prescribe(visit: Visit) -> tuple[Prescription, User]:
    """Two drugs, signed by the treating doctor, approved by a pharmacist (which creates the
    order)."""
    second = make_drug(
        name_zh="二甲双胍缓释片",
        name_en="Metformin extended-release tablets",
        atc_code="A10BA02",
        strength="500 mg",
        strength_per_unit=Decimal(500),
        max_daily_dose=Decimal(2000),
        price_fen=1860,
    )
    draft = make_draft(
        visit, draft=spec(item(make_drug()), item(second, dose=Decimal(500), frequency="bid"))
    )
    with_signing_key(visit.doctor)
    signed = lifecycle.prescription_sign(
        actor=actor_for_user(visit.doctor), prescription=draft.prescription, pin=PIN
    )
    pharmacist = make_pharmacist()
    approved = lifecycle.prescription_approve(
        actor=actor_for_user(pharmacist), prescription=signed, pin=PIN
    )
    return approved, pharmacist


def pay_and_pick_up(
    visit: Visit, prescription: Prescription
) -> tuple[PaymentOrder, User, Fulfilment]:
    for line in prescription.items.all():
        stock_up(visit.facility, line.drug, 10)
    patient_user = make_patient_user(visit.patient)
    insurance_voucher_register(
        actor=actor_for_user(visit.staff),
        patient=visit.patient,
        insurer="广州市医疗保障局",
        member_id="440104199001011234",
        personal_account_balance_fen=500,
    )
    order = PaymentOrder.objects.get(prescription=prescription)
    order = order_choose_fulfilment(
        actor=actor_for_user(patient_user), order=order, method="pickup"
    )
    sale = Sale(visit=visit, prescription=prescription, order=order, patient_user=patient_user)
    attempt = open_attempt(sale)
    payer_pays_quietly(attempt)
    callback = emulator_signed_callback(provider="wechatpay", out_trade_no=attempt.out_trade_no)
    response = post_callback(Client(), callback, provider="wechatpay")
    assert response.status_code in (200, 204), response.content
    fulfilment = Fulfilment.objects.get(order=order)
    pickup_dispense(actor=actor_for_user(visit.staff), code=fulfilment.pickup_code)
    order.refresh_from_db()
    fulfilment.refresh_from_db()
    return order, patient_user, fulfilment


def make_scene() -> Scene:
    visit = make_visit("in_progress")
    terminal = make_terminal(visit.facility).terminal
    record_vitals(visit, terminal)
    prescription, pharmacist = prescribe(visit)
    consultation_complete(actor=actor_for_user(visit.doctor), consultation=visit.consultation)
    order, patient_user, fulfilment = pay_and_pick_up(visit, prescription)

    referred = make_visit("in_progress", facility=visit.facility, doctor=visit.doctor)
    terminated = consultation_terminate(
        actor=actor_for_user(visit.doctor),
        consultation=referred.consultation,
        reason_code="condition_changed",
        referral_note="血压控制不佳，建议线下就诊。",
    )
    booked = make_visit(
        "booked",
        facility=visit.facility,
        doctor=visit.doctor,
        starts_in=datetime.timedelta(days=1),
    ).consultation
    free_slot = make_slot(visit.doctor, starts_at=timezone.now() + datetime.timedelta(days=2))
    prescription.refresh_from_db()
    visit.consultation.refresh_from_db()
    return Scene(
        visit=visit,
        terminal=terminal,
        prescription=prescription,
        pharmacist=pharmacist,
        order=order,
        fulfilment=fulfilment,
        patient_user=patient_user,
        terminated=terminated,
        booked=booked,
        free_slot=free_slot,
        operations=make_user(role=Role.OPERATIONS),
    )
