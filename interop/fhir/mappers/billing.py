"""ChargeItem (an order line), Invoice (a payment order: what the patient owes, with the
insurance split) and PaymentNotice (a payment received, from the append-only ledger).

Access follows the REST API's orders (`orders_visible_to`). Amounts are integer fen in the
platform and yuan (CNY) here.
"""

from django.db.models import Q, QuerySet

from core.actors import Actor
from interop.fhir import codes
from interop.fhir import datatypes as dt
from interop.fhir.datatypes import JSON
from interop.fhir.mappers.medications import drug_concept, item_id
from interop.fhir.mappers.scheduling import status_filter
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
from payments.models import (
    RECEIPT_KINDS,
    OrderLine,
    OrderLineKind,
    OrderStatus,
    PaymentEvent,
    PaymentOrder,
)
from payments.selectors import AUDIT_OBJECT_TYPE as ORDER_AUDIT
from payments.selectors import orders_visible_to


def order_audit(order: PaymentOrder) -> AuditTarget:
    return AuditTarget(ORDER_AUDIT, str(order.public_id))


def _visible_order_ids(actor: Actor) -> QuerySet[PaymentOrder]:
    return orders_visible_to(actor=actor).values("pk")  # type: ignore[return-value]


def _hospital_reference(context: MapContext) -> JSON:
    if context.hospital is None:
        return {"display": "互联网医院 online hospital"}
    return dt.reference("Organization", context.hospital.public_id, context.hospital.name)


# --- ChargeItem ----------------------------------------------------------------------------------


def charge_item_rows(actor: Actor) -> QuerySet[OrderLine]:
    return OrderLine.objects.filter(order__in=_visible_order_ids(actor)).select_related(
        "order__patient",
        "order__consultation",
        "prescription_item__drug",
        "prescription_item__prescription",
    )


def charge_item_resource(line: OrderLine, context: MapContext) -> JSON:
    order = line.order
    label = OrderLineKind(line.kind).label
    resource = dt.resource("ChargeItem", composite_id(order.public_id, line.pk), order.updated_at)
    resource |= {
        "identifier": [
            dt.identifier(codes.local_system("order-line"), f"{order.number}-{line.pk}")
        ],
        "status": codes.CHARGE_ITEM_STATUS[OrderStatus(order.status)],
        "code": dt.concept(
            dt.coding(codes.local_system("charge-kind"), line.kind, label.split(" ", 1)[1]),
            text=line.description,
        ),
        "subject": dt.reference("Patient", order.patient.public_id),
    }
    if order.consultation.checked_in_at is not None:
        resource["context"] = dt.reference("Encounter", order.consultation.public_id)
    resource |= {
        "occurrenceDateTime": dt.instant(order.created_at),
        "quantity": {"value": line.quantity},
        "priceOverride": dt.money(line.unit_price_fen),
        "enteredDate": dt.instant(order.created_at),
    }
    if line.prescription_item is not None:
        item = line.prescription_item
        resource["productCodeableConcept"] = drug_concept(item.drug)
        resource["supportingInformation"] = [
            dt.reference("MedicationRequest", item_id(item.prescription, item))
        ]
    return resource


def _charge_code_filter(raw: str) -> Q:
    code = parse_token(raw).code
    return Q(kind=code) if code in OrderLineKind.values else NOTHING


CHARGE_ITEM = ResourceType(
    name="ChargeItem",
    documentation="One line of a payment order: consultation fee, a drug, the delivery fee.",
    sources=(
        Source(
            rows=charge_item_rows,
            to_resource=charge_item_resource,
            id_filter=composite_filter("order__public_id", integer_part("pk")),
            order_by=("-order__created_at", "-order__pk", "pk"),
            filters={
                "patient": reference_filter("order__patient__public_id", "Patient"),
                "subject": reference_filter("order__patient__public_id", "Patient"),
                "context": reference_filter("order__consultation__public_id", "Encounter"),
                "code": _charge_code_filter,
                "entered-date": date_filter("order__created_at"),
            },
            last_updated="order__updated_at",
            audit=lambda line: order_audit(line.order),
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "subject": SearchParam("reference", "Patient/<id>"),
        "context": SearchParam("reference", "Encounter/<id>"),
        "code": SearchParam("token", "consultation_fee | drug | delivery_fee"),
        "entered-date": SearchParam("date", "When the order was created"),
    },
    includes={"ChargeItem:patient": Include("Patient", references_at("subject"))},
)

# --- Invoice -------------------------------------------------------------------------------------


def invoice_rows(actor: Actor) -> QuerySet[PaymentOrder]:
    return orders_visible_to(actor=actor).prefetch_related("lines")


def _cancelled_reason(order: PaymentOrder) -> str:
    if order.status == OrderStatus.REFUNDED:
        return "已全额退款 refunded in full"
    if order.status == OrderStatus.FAILED:
        return "支付失败 payment failed"
    return f"已关闭 closed: {order.close_reason}" if order.close_reason else "已关闭 closed"


def invoice_resource(order: PaymentOrder, context: MapContext) -> JSON:
    status = codes.INVOICE_STATUS[OrderStatus(order.status)]
    resource = dt.resource("Invoice", str(order.public_id), order.updated_at)
    resource |= {
        "identifier": [dt.identifier(codes.local_system("order-number"), order.number)],
        "status": status,
    }
    if status == "cancelled":
        resource["cancelledReason"] = _cancelled_reason(order)
    resource |= {
        "subject": dt.reference("Patient", order.patient.public_id),
        "date": dt.instant(order.created_at),
        "issuer": _hospital_reference(context),
        "lineItem": [
            {
                "sequence": sequence,
                "chargeItemReference": dt.reference(
                    "ChargeItem", composite_id(order.public_id, line.pk)
                ),
                "priceComponent": [{"type": "base", "amount": dt.money(line.amount_fen)}],
            }
            for sequence, line in enumerate(order.lines.all(), start=1)
        ],
    }
    deductions = [
        ("insurance-fund", "医保统筹基金 insurance fund", order.insurance_fund_fen),
        (
            "insurance-personal-account",
            "医保个人账户 personal account",
            order.insurance_personal_fen,
        ),
    ]
    components = [
        {
            "type": "deduction",
            "code": dt.concept(dt.coding(codes.local_system("price-component"), code), text=text),
            "amount": dt.money(amount),
        }
        for code, text, amount in deductions
        if amount
    ]
    if components:
        resource["totalPriceComponent"] = components
    resource |= {"totalNet": dt.money(order.payable_fen), "totalGross": dt.money(order.total_fen)}
    return resource


def _order_number_filter(raw: str) -> Q:
    token = parse_token(raw)
    if token.code is None or token.system not in (None, codes.local_system("order-number")):
        return NOTHING
    return Q(number=token.code)


INVOICE = ResourceType(
    name="Invoice",
    documentation="A payment order: total, the insurance split (deductions) and the self-pay "
    "amount (totalNet).",
    sources=(
        Source(
            rows=invoice_rows,
            to_resource=invoice_resource,
            id_filter=uuid_id(),
            order_by=("-created_at", "-pk"),
            filters={
                "patient": reference_filter("patient__public_id", "Patient"),
                "subject": reference_filter("patient__public_id", "Patient"),
                "status": status_filter(codes.INVOICE_STATUS),
                "identifier": _order_number_filter,
                "date": date_filter("created_at"),
            },
            last_updated="updated_at",
            audit=order_audit,
        ),
    ),
    params={
        "patient": SearchParam("reference", "Patient/<id>"),
        "subject": SearchParam("reference", "Patient/<id>"),
        "status": SearchParam("token", "issued | balanced | cancelled"),
        "identifier": SearchParam("token", "The order number"),
        "date": SearchParam("date", "When the order was created"),
    },
    includes={"Invoice:patient": Include("Patient", references_at("subject"))},
)

# --- PaymentNotice -------------------------------------------------------------------------------


def payment_notice_rows(actor: Actor) -> QuerySet[PaymentEvent]:
    return PaymentEvent.objects.filter(
        order__in=_visible_order_ids(actor), kind__in=RECEIPT_KINDS
    ).select_related("order")


def payment_notice_resource(event: PaymentEvent, context: MapContext) -> JSON:
    order = event.order
    payment: JSON = {"display": f"{event.provider} {event.out_trade_no}".strip()}
    if event.transaction_id:
        payment["identifier"] = dt.identifier(
            codes.local_system(f"{event.provider}-transaction"), event.transaction_id
        )
    resource = dt.resource(
        "PaymentNotice", composite_id(order.public_id, event.pk), event.recorded_at
    )
    resource |= {
        "status": "active",
        "request": dt.reference("Invoice", order.public_id),
        "created": dt.instant(event.recorded_at),
        "payment": payment,
        "paymentDate": dt.date(dt.local_date(event.occurred_at)),
        "recipient": _hospital_reference(context),
        "amount": dt.money(event.amount_fen),
        "paymentStatus": dt.concept(dt.coding(codes.PAYMENT_STATUS, "paid", "Paid")),
    }
    return resource


PAYMENT_NOTICE = ResourceType(
    name="PaymentNotice",
    documentation="A payment received for an order (the ledger's receipts, late ones included).",
    sources=(
        Source(
            rows=payment_notice_rows,
            to_resource=payment_notice_resource,
            id_filter=composite_filter("order__public_id", integer_part("pk")),
            order_by=("-recorded_at", "-pk"),
            filters={
                "request": reference_filter("order__public_id", "Invoice"),
                "created": date_filter("recorded_at"),
            },
            last_updated="recorded_at",
            audit=lambda event: order_audit(event.order),
        ),
    ),
    params={
        "request": SearchParam("reference", "Invoice/<id>"),
        "created": SearchParam("date", "When the payment was recorded"),
    },
    includes={"PaymentNotice:request": Include("Invoice", references_at("request"))},
)
