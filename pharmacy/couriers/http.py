"""A courier spoken to over HTTP and JSON, signed both ways with the shared secret
(pharmacy.couriers.signatures). The in-repo emulator (courier_emulator) speaks it.

    POST {base}/api/waybills/                   {reference, sender, recipient, description,
                                                 notify_url} → 201/200 {waybill_number, ...}
    POST {base}/api/waybills/{number}/cancel/   {reason} → 200
"""

import json
from dataclasses import asdict
from typing import Any

import httpx

from pharmacy.couriers.base import (
    Courier,
    CourierRefused,
    CourierUnavailable,
    WaybillCreated,
    WaybillRequest,
)
from pharmacy.couriers.signatures import signed_headers


class HttpCourier(Courier):
    def __init__(
        self,
        *,
        code: str,
        name: str,
        base_url: str,
        secret: str,
        timeout_seconds: float,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.code = code
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.secret = secret
        self.timeout_seconds = timeout_seconds
        self.transport = transport

    def _post(self, path: str, payload: dict[str, Any]) -> dict[str, Any]:
        body = json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            with httpx.Client(timeout=self.timeout_seconds, transport=self.transport) as client:
                response = client.post(
                    f"{self.base_url}{path}",
                    content=body,
                    headers=signed_headers(secret=self.secret, body=body),
                )
        except httpx.HTTPError as error:
            raise CourierUnavailable(f"courier unreachable: {error}") from error
        if response.status_code >= 500:
            raise CourierUnavailable(f"courier answered {response.status_code}")
        try:
            answer = response.json()
        except ValueError as error:
            raise CourierUnavailable("courier answered something other than JSON") from error
        if not isinstance(answer, dict):
            raise CourierUnavailable("courier answered something other than an object")
        if response.status_code >= 400:
            raise CourierRefused(
                str(answer.get("code") or "courier_refused"), str(answer.get("message") or "")
            )
        return answer

    def create_waybill(self, request: WaybillRequest) -> WaybillCreated:
        answer = self._post("/api/waybills/", asdict(request))
        number = answer.get("waybill_number")
        if not isinstance(number, str) or not number:
            raise CourierUnavailable("courier answered without a waybill number")
        return WaybillCreated(waybill_number=number)

    def cancel_waybill(self, *, waybill_number: str, reason: str) -> None:
        self._post(f"/api/waybills/{waybill_number}/cancel/", {"reason": reason})
