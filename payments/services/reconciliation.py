"""Daily reconciliation: each provider's statement for a day against the ledger.

Payments are matched by out_trade_no, refunds by out_refund_no, on the provider's own times
(the ledger records when the provider says a payment or refund happened). Three kinds of
discrepancy are reported: missing_locally (the provider has it, the ledger does not),
missing_at_provider (the reverse) and amount_mismatch. A day can be run again; its report is
replaced and counts its runs.
"""

import datetime
import logging
from collections import defaultdict
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from accounts.models import Role
from core.actors import Actor
from core.dates import local_day_bounds
from core.exceptions import DomainError, PermissionDeniedError
from payments.models import (
    RECEIPT_KINDS,
    DiscrepancyKind,
    LedgerKind,
    PaymentAttempt,
    PaymentEvent,
    Provider,
    ReconciliationDiscrepancy,
    ReconciliationReport,
    ReconciliationStatus,
)
from payments.providers.base import BillLine, GatewayError, GatewayRejected
from payments.services.gateways import gateway_for

logger = logging.getLogger(__name__)

PAYMENT = "payment"
REFUND = "refund"


@dataclass(frozen=True)
class _Entry:
    line_kind: str
    out_trade_no: str
    out_refund_no: str
    transaction_id: str
    amount_fen: int


def _provider_entries(lines: list[BillLine]) -> dict[tuple[str, str], _Entry]:
    """Statement lines by (kind, number); repeated numbers add up."""
    totals: dict[tuple[str, str], int] = defaultdict(int)
    first: dict[tuple[str, str], BillLine] = {}
    for line in lines:
        key = (line.kind, line.out_refund_no if line.kind == REFUND else line.out_trade_no)
        totals[key] += line.amount_fen
        first.setdefault(key, line)
    return {
        key: _Entry(
            line_kind=line.kind,
            out_trade_no=line.out_trade_no,
            out_refund_no=line.out_refund_no,
            transaction_id=line.transaction_id,
            amount_fen=totals[key],
        )
        for key, line in first.items()
    }


def _ledger_entries(provider: str, bill_date: datetime.date) -> dict[tuple[str, str], _Entry]:
    start, end = local_day_bounds(bill_date)
    events = PaymentEvent.objects.filter(
        provider=provider,
        occurred_at__gte=start,
        occurred_at__lt=end,
        kind__in=(*RECEIPT_KINDS, LedgerKind.REFUND_SUCCEEDED),
    )
    entries: dict[tuple[str, str], _Entry] = {}
    for event in events:
        is_refund = event.kind == LedgerKind.REFUND_SUCCEEDED
        key = (REFUND, event.out_refund_no) if is_refund else (PAYMENT, event.out_trade_no)
        entries[key] = _Entry(
            line_kind=key[0],
            out_trade_no=event.out_trade_no,
            out_refund_no=event.out_refund_no,
            transaction_id=event.transaction_id,
            amount_fen=event.amount_fen,
        )
    return entries


def _discrepancies(
    report: ReconciliationReport,
    provider_side: dict[tuple[str, str], _Entry],
    ledger_side: dict[tuple[str, str], _Entry],
) -> tuple[list[ReconciliationDiscrepancy], int]:
    order_ids = dict(
        PaymentAttempt.objects.filter(
            out_trade_no__in={
                e.out_trade_no for e in [*provider_side.values(), *ledger_side.values()]
            }
        ).values_list("out_trade_no", "order_id")
    )
    rows = []
    matched = 0
    for key in sorted(provider_side.keys() | ledger_side.keys()):
        theirs, ours = provider_side.get(key), ledger_side.get(key)
        if theirs is not None and ours is not None and theirs.amount_fen == ours.amount_fen:
            matched += 1
            continue
        if ours is None:
            kind = DiscrepancyKind.MISSING_LOCALLY
        elif theirs is None:
            kind = DiscrepancyKind.MISSING_AT_PROVIDER
        else:
            kind = DiscrepancyKind.AMOUNT_MISMATCH
        entry = theirs or ours
        assert entry is not None
        rows.append(
            ReconciliationDiscrepancy(
                report=report,
                kind=kind,
                line_kind=entry.line_kind,
                out_trade_no=entry.out_trade_no,
                out_refund_no=entry.out_refund_no,
                transaction_id=entry.transaction_id,
                provider_amount_fen=theirs.amount_fen if theirs else None,
                ledger_amount_fen=ours.amount_fen if ours else None,
                order_id=order_ids.get(entry.out_trade_no),
            )
        )
    return rows, matched


def _save_report(
    *, provider: str, bill_date: datetime.date, now: datetime.datetime, **fields: object
) -> ReconciliationReport:
    report = (
        ReconciliationReport.objects.select_for_update()
        .filter(provider=provider, bill_date=bill_date)
        .first()
    )
    if report is None:
        report = ReconciliationReport(provider=provider, bill_date=bill_date, runs=0)
    report.runs += 1
    report.ran_at = now
    for name, value in fields.items():
        setattr(report, name, value)
    report.save()
    report.discrepancies.all().delete()
    return report


def reconcile_provider_day(
    *, provider: str, bill_date: datetime.date, now: datetime.datetime | None = None
) -> ReconciliationReport:
    """Download the provider's statement for the day and compare it with the ledger."""
    now = now or timezone.now()
    try:
        lines = gateway_for(provider).download_bill(bill_date=bill_date)
    except (GatewayError, GatewayRejected) as error:
        logger.warning("reconciliation %s %s: bill download failed: %s", provider, bill_date, error)
        with transaction.atomic(durable=True):
            return _save_report(
                provider=provider,
                bill_date=bill_date,
                now=now,
                status=ReconciliationStatus.FAILED,
                error=str(error)[:300],
                provider_lines=0,
                ledger_lines=0,
                matched=0,
                missing_locally=0,
                missing_at_provider=0,
                amount_mismatch=0,
            )
    provider_side = _provider_entries(lines)
    ledger_side = _ledger_entries(provider, bill_date)
    with transaction.atomic(durable=True):
        report = _save_report(
            provider=provider,
            bill_date=bill_date,
            now=now,
            status=ReconciliationStatus.COMPLETED,
            error="",
            provider_lines=len(provider_side),
            ledger_lines=len(ledger_side),
        )
        rows, matched = _discrepancies(report, provider_side, ledger_side)
        ReconciliationDiscrepancy.objects.bulk_create(rows)
        report.matched = matched
        report.missing_locally = sum(r.kind == DiscrepancyKind.MISSING_LOCALLY for r in rows)
        report.missing_at_provider = sum(
            r.kind == DiscrepancyKind.MISSING_AT_PROVIDER for r in rows
        )
        report.amount_mismatch = sum(r.kind == DiscrepancyKind.AMOUNT_MISMATCH for r in rows)
        report.save()
    if rows:
        logger.warning("reconciliation %s %s: %d discrepancies", provider, bill_date, len(rows))
    return report


def reconcile_day(
    *, bill_date: datetime.date, providers: list[str] | None = None
) -> list[ReconciliationReport]:
    return [
        reconcile_provider_day(provider=provider, bill_date=bill_date)
        for provider in providers or Provider.values
    ]


def reconciliation_run(
    *, actor: Actor, provider: str, bill_date: datetime.date
) -> ReconciliationReport:
    """Operations run (or re-run) one provider's day."""
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Reconciliation is for operations.")
    if provider not in Provider.values:
        raise DomainError(
            "Unknown provider.",
            code="provider_invalid",
            fields={"provider": [f"One of {', '.join(Provider.values)}."]},
        )
    if bill_date >= timezone.localdate():
        raise DomainError(
            "Only a finished day has a statement.",
            code="bill_date_invalid",
            fields={"date": ["Must be before today."]},
        )
    return reconcile_provider_day(provider=provider, bill_date=bill_date)
