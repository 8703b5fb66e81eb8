"""What the delivery flow needs from a courier: create a waybill, cancel it. Tracking comes the
other way, as signed callbacks (pharmacy.services.tracking)."""

from abc import ABC, abstractmethod
from dataclasses import dataclass

from core.tasks import RetryableError


@dataclass(frozen=True)
class Address:
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


@dataclass(frozen=True)
class WaybillRequest:
    # Ours and unique per attempt: the courier answers a repeated request with the same waybill.
    reference: str
    sender: Address
    recipient: Address
    description: str
    notify_url: str


@dataclass(frozen=True)
class WaybillCreated:
    waybill_number: str


class CourierUnavailable(RetryableError):
    """The courier could not be reached or failed on its side: try again later."""


class CourierRefused(Exception):
    """The courier refused the request (bad address, unknown waybill…): retrying repeats it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class Courier(ABC):
    code: str
    name: str

    @abstractmethod
    def create_waybill(self, request: WaybillRequest) -> WaybillCreated:
        """Order a pickup and delivery; idempotent on `request.reference`."""

    @abstractmethod
    def cancel_waybill(self, *, waybill_number: str, reason: str) -> None:
        """Withdraw a waybill the courier has not delivered; cancelling twice is not an error."""
