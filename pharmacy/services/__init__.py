"""Writes of the pharmacy: stock, fulfilments, pickup dispenses, deliveries and tracking.

Lock order, everywhere: prescription → payment order → fulfilment → waybill → stock rows (by
drug id). Courier calls happen outside transactions.
"""

from pharmacy.services.fulfilments import fulfilment_start

__all__ = ["fulfilment_start"]
