"""The payment ledger: appending effects once, and the order amounts derived from it.

Callers hold the order's row lock: every effect on an order is appended under it, so checking
for an effect and appending it cannot interleave with another writer of the same order; the
ledger's unique constraints are the backstop for anything that gets past that.
"""

import datetime
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, Sum
from django.db.models.functions import Coalesce

from core.actors import Actor
from payments.models import (
    RECEIPT_KINDS,
    InboundCallback,
    LedgerKind,
    PaymentAttempt,
    PaymentEvent,
    PaymentOrder,
    Refund,
)


@dataclass(frozen=True)
class LedgerTotals:
    received_fen: int
    refunded_fen: int
    refund_pending_fen: int


def ledger_has(*, dedupe_key: str) -> bool:
    return PaymentEvent.objects.filter(dedupe_key=dedupe_key).exists()


def ledger_append(
    *,
    order: PaymentOrder,
    kind: LedgerKind,
    amount_fen: int,
    dedupe_key: str,
    source: str,
    occurred_at: datetime.datetime,
    attempt: PaymentAttempt | None = None,
    refund: Refund | None = None,
    callback: InboundCallback | None = None,
    transaction_id: str = "",
    actor: Actor | None = None,
    detail: dict[str, Any] | None = None,
) -> PaymentEvent | None:
    """Record one effect; None when it is already recorded (the same `dedupe_key`)."""
    if ledger_has(dedupe_key=dedupe_key):
        return None
    return PaymentEvent.objects.create(
        order=order,
        attempt=attempt,
        refund=refund,
        callback=callback,
        kind=kind,
        provider=attempt.provider if attempt is not None else "",
        out_trade_no=attempt.out_trade_no if attempt is not None else "",
        transaction_id=transaction_id,
        out_refund_no=refund.out_refund_no if refund is not None else "",
        amount_fen=amount_fen,
        source=source,
        actor=actor.user if actor is not None else None,
        dedupe_key=dedupe_key,
        occurred_at=occurred_at,
        detail=detail or {},
    )


def _sum(condition: Q) -> Coalesce:
    return Coalesce(Sum("amount_fen", filter=condition), 0)


def ledger_totals(*, order_id: int) -> LedgerTotals:
    """What the ledger says the order received, got back, and has on its way back."""
    sums = PaymentEvent.objects.filter(order_id=order_id).aggregate(
        received=_sum(Q(kind__in=RECEIPT_KINDS)),
        refunded=_sum(Q(kind=LedgerKind.REFUND_SUCCEEDED)),
        requested=_sum(Q(kind=LedgerKind.REFUND_REQUESTED)),
        failed=_sum(Q(kind=LedgerKind.REFUND_FAILED)),
    )
    return LedgerTotals(
        received_fen=sums["received"],
        refunded_fen=sums["refunded"],
        refund_pending_fen=sums["requested"] - sums["refunded"] - sums["failed"],
    )


def ledger_sync_order(order: PaymentOrder) -> None:
    """Copy the ledger's totals onto the locked order (the caller saves it)."""
    totals = ledger_totals(order_id=order.pk)
    order.paid_fen = totals.received_fen
    order.refunded_fen = totals.refunded_fen
    order.refund_pending_fen = totals.refund_pending_fen


def receipt_key(attempt: PaymentAttempt) -> str:
    """A provider order brings money in at most once, whether accepted or late."""
    return f"receipt:{attempt.provider}:{attempt.out_trade_no}"


def refund_settled_key(refund: Refund) -> str:
    """A refund settles once: succeeded or failed, never both."""
    return f"refund_settled:{refund.out_refund_no}"
