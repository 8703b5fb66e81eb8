"""Reads of payment orders and reconciliation reports, scoped to the actor.

Operations see every order; clinic staff the orders of consultations at their facility; a
patient their own. Anyone else sees none, and an order they may not see is "not found". Orders
carry patient data (name, address): reading them is audited.
"""

from typing import Any

from django.conf import settings
from django.db.models import Prefetch, QuerySet

from accounts.models import Role
from core.actors import Actor
from core.exceptions import NotFoundError, PermissionDeniedError
from core.models import AuditAction
from core.services import audit_record
from payments.models import (
    PaymentAttempt,
    PaymentOrder,
    ReconciliationReport,
    Refund,
)
from payments.services.ledger import LedgerTotals, ledger_totals

AUDIT_OBJECT_TYPE = "payment_order"


def order_payment_url(order: PaymentOrder) -> str:
    """The patient's page for the order (choose pickup or delivery, pay)."""
    return f"{settings.SITE_URL}/m/orders/{order.public_id}/"


def orders_visible_to(*, actor: Actor) -> QuerySet[PaymentOrder]:
    orders = PaymentOrder.objects.select_related(
        "patient", "consultation__facility", "prescription", "pickup_facility"
    )
    if actor.has_role(Role.OPERATIONS):
        return orders
    if actor.has_role(Role.CLINIC_STAFF) and actor.facility_id is not None:
        return orders.filter(consultation__facility_id=actor.facility_id)
    if actor.has_role(Role.PATIENT) and actor.user is not None:
        return orders.filter(patient__user=actor.user)
    return orders.none()


def order_get_for_actor(*, actor: Actor, public_id: Any) -> PaymentOrder:
    order = (
        orders_visible_to(actor=actor)
        .prefetch_related(
            "lines",
            Prefetch("attempts", PaymentAttempt.objects.order_by("pk")),
            Prefetch("refunds", Refund.objects.select_related("attempt").order_by("pk")),
        )
        .filter(public_id=public_id)
        .first()
    )
    if order is None:
        raise NotFoundError("Order not found.")
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[order.public_id],
    )
    return order


def orders_record_list_read(*, actor: Actor, orders: list[PaymentOrder]) -> None:
    audit_record(
        actor=actor,
        action=AuditAction.READ,
        object_type=AUDIT_OBJECT_TYPE,
        object_ids=[order.public_id for order in orders],
        detail={"via": "list"},
    )


def order_ledger_totals(*, order: PaymentOrder) -> LedgerTotals:
    """What the ledger alone says (the order's cached amounts must agree)."""
    return ledger_totals(order_id=order.pk)


def _require_operations(actor: Actor) -> None:
    if not actor.has_role(Role.OPERATIONS):
        raise PermissionDeniedError("Reconciliation is for operations.")


def reconciliation_reports_for(*, actor: Actor) -> QuerySet[ReconciliationReport]:
    _require_operations(actor)
    return ReconciliationReport.objects.all()


def reconciliation_report_get(*, actor: Actor, public_id: Any) -> ReconciliationReport:
    _require_operations(actor)
    report = (
        ReconciliationReport.objects.prefetch_related("discrepancies__order")
        .filter(public_id=public_id)
        .first()
    )
    if report is None:
        raise NotFoundError("Report not found.")
    return report
