"""Approved prescriptions, paid orders and their fulfilments, written directly with the ORM (the
signing and payment flows have their own tests), and the courier emulator wired in-process."""

import datetime
import itertools
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from clinics.models import Facility
from patients.models import PriorDiagnosisEvidence
from payments.models import (
    AttemptStatus,
    FulfilmentMethod,
    LedgerKind,
    LedgerSource,
    OrderStatus,
    PaymentAttempt,
    PaymentOrder,
)
from payments.services.ledger import ledger_append, receipt_key
from pharmacy.couriers.http import HttpCourier
from pharmacy.models import FacilityStock, Fulfilment
from pharmacy.services import fulfilment_start
from prescriptions.models import Drug, Prescription, PrescriptionItem
from tests.consultations.builders import Visit, icd10, make_visit
from tests.courier_emulator.transport import InProcessTransport
from tests.factories import make_patient_user
from tests.prescriptions.builders import make_drug

_sequence = itertools.count(1)

ADDRESS: dict[str, str] = {
    "delivery_recipient": "陈志强",
    "delivery_phone": "+8613800138000",
    "delivery_province": "广东省",
    "delivery_city": "佛山市",
    "delivery_district": "南海区",
    "delivery_detail": "桂城街道南海大道北88号3栋502",
}


def make_prescription(
    visit: Visit | None = None,
    *,
    items: list[tuple[Drug, int]] | None = None,
    status: str = "approved",
    valid_for: datetime.timedelta = datetime.timedelta(hours=6),
) -> Prescription:
    """A prescription of the visit in `status` (approved by default), valid `valid_for` from now
    (negative: already past), with `items` as (drug, packs)."""
    visit = visit or make_visit("completed")
    n = next(_sequence)
    now = timezone.now()
    prescription = Prescription.objects.create(
        number=f"RX2026112{n:07d}",
        consultation=visit.consultation,
        patient=visit.patient,
        doctor=visit.doctor.doctor_profile,
        status=status,
        diagnosis=icd10(),
        evidence=PriorDiagnosisEvidence.objects.filter(patient=visit.patient).get(),
        signed_at=now - datetime.timedelta(hours=1),
        valid_until=now + valid_for,
        reviewed_at=now - datetime.timedelta(minutes=30),
        retention_until=datetime.date(2041, 1, 1),
        dispensed_at=now if status == "dispensed" else None,
    )
    for position, (drug, packs) in enumerate(items or [(make_drug(), 2)], start=1):
        PrescriptionItem.objects.create(
            prescription=prescription,
            position=position,
            drug=drug,
            dose=Decimal(5),
            dose_unit="mg",
            frequency="qd",
            route="oral",
            days_supply=7,
            quantity=packs,
            unit_price_fen=drug.price_fen,
        )
    return prescription


def make_paid_order(
    prescription: Prescription,
    *,
    method: str = FulfilmentMethod.PICKUP,
    status: str = OrderStatus.PAID,
) -> PaymentOrder:
    """A paid order for the prescription (pickup at the consultation's facility, or delivery to
    ADDRESS), with the provider payment and its ledger receipt that refunds draw on."""
    n = next(_sequence)
    now = timezone.now()
    amount = sum(item.quantity * item.unit_price_fen for item in prescription.items.all())
    delivery = method == FulfilmentMethod.DELIVERY
    if delivery:
        amount += settings.PAYMENT_DELIVERY_FEE_FEN
    paid = status != OrderStatus.PENDING
    order = PaymentOrder.objects.create(
        number=f"PO2026112{n:07d}",
        patient=prescription.patient,
        consultation=prescription.consultation,
        prescription=prescription,
        status=status,
        total_fen=amount,
        payable_fen=amount,
        paid_fen=amount if paid else 0,
        fulfilment_method=method,
        pickup_facility=None if delivery else prescription.consultation.facility,
        fulfilment_chosen_at=now,
        expires_at=now + datetime.timedelta(hours=2),
        paid_at=now if paid else None,
        **(ADDRESS if delivery else {}),
    )
    if paid:
        attempt = PaymentAttempt.objects.create(
            order=order,
            provider="wechatpay",
            channel="native",
            out_trade_no=f"{order.number}A1",
            amount_fen=amount,
            status=AttemptStatus.PAID,
            transaction_id=f"42000026{n:012d}",
            expires_at=order.expires_at,
            issued_at=now,
            paid_at=now,
        )
        ledger_append(
            order=order,
            kind=LedgerKind.PAID,
            amount_fen=amount,
            dedupe_key=receipt_key(attempt),
            source=LedgerSource.CALLBACK,
            occurred_at=now,
            attempt=attempt,
            transaction_id=attempt.transaction_id,
        )
    return order


def stock_up(facility: Facility, drug: Drug, quantity: int) -> FacilityStock:
    row, _ = FacilityStock.objects.update_or_create(
        facility=facility, drug=drug, defaults={"quantity": quantity}
    )
    return row


def start(order: PaymentOrder) -> Fulfilment:
    """What payments does once the order is paid (in its transaction)."""
    with transaction.atomic():
        fulfilment = fulfilment_start(order=order)
    assert fulfilment is not None
    return fulfilment


@dataclass
class Scene:
    visit: Visit
    prescription: Prescription
    order: PaymentOrder
    fulfilment: Fulfilment
    patient_user: User

    @property
    def facility(self) -> Facility:
        return self.visit.facility

    @property
    def staff(self) -> User:
        return self.visit.staff

    def refresh(self) -> Fulfilment:
        self.fulfilment.refresh_from_db()
        self.prescription.refresh_from_db()
        self.order.refresh_from_db()
        return self.fulfilment


def make_pickup(
    *,
    items: list[tuple[Drug, int]] | None = None,
    stock: int | None = 10,
    facility: Facility | None = None,
    **prescription: Any,
) -> Scene:
    """A paid pickup, ready at the consultation's facility; `stock` packs of each drug on its
    shelf (None: no stock rows)."""
    visit = make_visit("completed", facility=facility)
    items = items or [(make_drug(), 2)]
    if stock is not None:
        for drug, _ in items:
            stock_up(visit.facility, drug, stock)
    rx = make_prescription(visit, items=items, **prescription)
    order = make_paid_order(rx)
    return Scene(
        visit=visit,
        prescription=rx,
        order=order,
        fulfilment=start(order),
        patient_user=make_patient_user(visit.patient),
    )


def make_delivery(**prescription: Any) -> Scene:
    """A paid delivery, not yet dispatched."""
    visit = make_visit("completed")
    rx = make_prescription(visit, **prescription)
    order = make_paid_order(rx, method=FulfilmentMethod.DELIVERY)
    return Scene(
        visit=visit,
        prescription=rx,
        order=order,
        fulfilment=start(order),
        patient_user=make_patient_user(visit.patient),
    )


def emulated_courier(transport: InProcessTransport | None = None) -> HttpCourier:
    """The platform's HTTP courier client talking to the in-repo emulator in-process."""
    return HttpCourier(
        code=settings.COURIER_CODE,
        name=settings.COURIER_NAME,
        base_url=settings.COURIER_API_BASE_URL,
        secret=settings.COURIER_SHARED_SECRET,
        timeout_seconds=5,
        transport=transport or InProcessTransport(),
    )
