"""Couriers: the interface the delivery flow talks to, and the configured client."""

from django.conf import settings

from pharmacy.couriers.base import Courier
from pharmacy.couriers.http import HttpCourier


def courier_client() -> Courier:
    """The courier of the settings (the in-repo emulator unless COURIER_API_BASE_URL says
    otherwise)."""
    return HttpCourier(
        code=settings.COURIER_CODE,
        name=settings.COURIER_NAME,
        base_url=settings.COURIER_API_BASE_URL,
        secret=settings.COURIER_SHARED_SECRET,
        timeout_seconds=settings.COURIER_TIMEOUT_SECONDS,
    )


__all__ = ["Courier", "courier_client"]
