"""Payment services (writes). Other apps call these names."""

from payments.services.insurance import insurance_voucher_register
from payments.services.orders import (
    DeliveryAddress,
    PaymentStart,
    order_choose_fulfilment,
    order_close,
    order_create_for_prescription,
    order_pay,
    orders_close_expired,
    payments_query_unconfirmed,
)
from payments.services.refunds import (
    order_refund,
    refund_for_failed_delivery,
    refund_for_rejected_prescription,
    refund_for_terminated_consultation,
    refund_submit,
    refunds_query_unsettled,
)

__all__ = [
    "DeliveryAddress",
    "PaymentStart",
    "insurance_voucher_register",
    "order_choose_fulfilment",
    "order_close",
    "order_create_for_prescription",
    "order_pay",
    "order_refund",
    "orders_close_expired",
    "payments_query_unconfirmed",
    "refund_for_failed_delivery",
    "refund_for_rejected_prescription",
    "refund_for_terminated_consultation",
    "refund_submit",
    "refunds_query_unsettled",
]
