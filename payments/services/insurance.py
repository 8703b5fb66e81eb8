"""Medical insurance (mocked e-voucher): the split of an order into fund, personal account and
self-pay, and the settlement record of the insured parts.

Only follow-up visits qualify: the patient must hold verified prior-diagnosis evidence. The fund
pays INSURANCE_FUND_RATE of the insurable lines (consultation fee and drugs, never delivery);
the personal account pays INSURANCE_PERSONAL_ACCOUNT_RATE of the rest, up to its balance; the
patient pays the remainder through WeChat Pay or Alipay. The personal account is debited when
the split is made (reserved), so two orders cannot spend the same balance; closing the order
unpaid releases it, a full refund reverses it.
"""

import datetime
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone

from accounts.models import Role
from core.actors import Actor
from core.crypto import encrypt_text
from core.exceptions import DomainError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from patients.evidence import patient_has_verified_evidence
from patients.models import Patient
from payments.models import (
    INSURABLE_LINE_KINDS,
    InsuranceSettlement,
    InsuranceVoucher,
    PaymentOrder,
    SettlementStatus,
)


@dataclass(frozen=True)
class InsuranceSplit:
    fund_fen: int
    personal_account_fen: int


NO_SPLIT = InsuranceSplit(fund_fen=0, personal_account_fen=0)


def _mask_member_id(member_id: str) -> str:
    if len(member_id) <= 6:
        return member_id[:1] + "*" * (len(member_id) - 1)
    return member_id[:3] + "*" * (len(member_id) - 6) + member_id[-3:]


def insurance_voucher_register(
    *,
    actor: Actor,
    patient: Patient,
    insurer: str,
    member_id: str,
    personal_account_balance_fen: int,
) -> InsuranceVoucher:
    """Record (or replace) a patient's e-voucher: clinic staff or operations."""
    if not actor.has_role(Role.CLINIC_STAFF, Role.OPERATIONS):
        raise PermissionDeniedError("Only clinic staff or operations record insurance.")
    member_id = member_id.strip()
    insurer = insurer.strip()
    if not member_id or not insurer:
        raise DomainError(
            "Give the insurer and the member id.",
            code="insurance_voucher_invalid",
            fields={"member_id": ["Required."], "insurer": ["Required."]},
        )
    if personal_account_balance_fen < 0:
        raise DomainError(
            "The balance cannot be negative.",
            code="insurance_voucher_invalid",
            fields={"personal_account_balance_fen": ["Must be zero or more."]},
        )
    with transaction.atomic(durable=True):
        voucher, _ = InsuranceVoucher.objects.update_or_create(
            patient=patient,
            defaults={
                "insurer": insurer,
                "member_id_encrypted": encrypt_text(member_id),
                "member_id_masked": _mask_member_id(member_id),
                "personal_account_balance_fen": personal_account_balance_fen,
                "is_active": True,
            },
        )
        audit_record(
            actor=actor,
            action=AuditAction.UPDATE,
            object_type="patient",
            object_ids=[patient.public_id],
            detail={"insurance_voucher": voucher.member_id_masked},
        )
    return voucher


def _share(amount_fen: int, rate: Decimal) -> int:
    """Insurance pays whole fen, rounded down: the patient's part never loses a fen."""
    return int((Decimal(amount_fen) * rate).quantize(Decimal(1), rounding=ROUND_DOWN))


def insurable_fen(order: PaymentOrder) -> int:
    total = order.lines.filter(kind__in=INSURABLE_LINE_KINDS).aggregate(total=Sum("amount_fen"))
    return int(total["total"] or 0)


def insurance_eligible(*, order: PaymentOrder) -> bool:
    """A follow-up visit (verified evidence) of a patient with an active voucher."""
    return InsuranceVoucher.objects.filter(
        patient_id=order.patient_id, is_active=True
    ).exists() and patient_has_verified_evidence(patient=order.patient)


def insurance_reserve(*, order: PaymentOrder) -> InsuranceSplit:
    """Split the locked order and debit the personal account; the caller writes the amounts.

    Locks the voucher (after the order: the one lock order every insurance write follows).
    """
    if not insurance_eligible(order=order):
        return NO_SPLIT
    voucher = InsuranceVoucher.objects.select_for_update().get(patient_id=order.patient_id)
    insurable = insurable_fen(order)
    fund = _share(insurable, Decimal(settings.INSURANCE_FUND_RATE))
    personal = min(
        voucher.personal_account_balance_fen,
        _share(insurable - fund, Decimal(settings.INSURANCE_PERSONAL_ACCOUNT_RATE)),
    )
    if fund == 0 and personal == 0:
        return NO_SPLIT
    InsuranceVoucher.objects.filter(pk=voucher.pk).update(
        personal_account_balance_fen=F("personal_account_balance_fen") - personal
    )
    InsuranceSettlement.objects.update_or_create(
        order=order,
        defaults={
            "voucher": voucher,
            "fund_fen": fund,
            "personal_account_fen": personal,
            "status": SettlementStatus.RESERVED,
            "settled_at": None,
            "ended_at": None,
        },
    )
    return InsuranceSplit(fund_fen=fund, personal_account_fen=personal)


def _give_back(settlement: InsuranceSettlement, status: str, now: datetime.datetime) -> None:
    InsuranceVoucher.objects.select_for_update().filter(pk=settlement.voucher_id).update(
        personal_account_balance_fen=F("personal_account_balance_fen")
        + settlement.personal_account_fen
    )
    settlement.status = status
    settlement.ended_at = now
    settlement.save(update_fields=["status", "ended_at"])


def insurance_release(*, order: PaymentOrder, now: datetime.datetime | None = None) -> None:
    """The order closed unpaid (or its split is being redone): the reservation goes back."""
    settlement = InsuranceSettlement.objects.filter(
        order=order, status=SettlementStatus.RESERVED
    ).first()
    if settlement is not None:
        _give_back(settlement, SettlementStatus.RELEASED, now or timezone.now())


def insurance_settle(*, order: PaymentOrder, now: datetime.datetime | None = None) -> None:
    """The self-pay part was paid: the insured parts are settled with the insurer."""
    InsuranceSettlement.objects.filter(order=order, status=SettlementStatus.RESERVED).update(
        status=SettlementStatus.SETTLED, settled_at=now or timezone.now()
    )


def insurance_reverse(*, order: PaymentOrder, now: datetime.datetime | None = None) -> None:
    """The order was refunded in full: the settlement is reversed and the account credited."""
    settlement = InsuranceSettlement.objects.filter(
        order=order, status=SettlementStatus.SETTLED
    ).first()
    if settlement is not None:
        _give_back(settlement, SettlementStatus.REVERSED, now or timezone.now())
