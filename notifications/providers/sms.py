"""SMS provider client, shaped like Aliyun's SendSms (Tencent's differs in names only).

`SMS_API_BASE_URL` set: HTTP to that base URL (the in-repo emulator, or a gateway in front of the
real provider — switching is configuration). Unset: the in-process emulator, for the embedded
default and tests. `OutId` carries the notification's id: the provider answers a repeated OutId
with the first message's BizId instead of sending again.
"""

import json
from functools import cache
from typing import Any, Protocol

import httpx
from django.conf import settings

from core.tasks import RetryableError
from notifications.providers import PermanentDeliveryError
from notifications.providers.sms_emulator import SMS_PATH, default_emulator

# Codes worth retrying; any other code but OK is a refusal (bad number, template, signature).
RETRYABLE_CODES = frozenset(
    {"isv.BUSINESS_LIMIT_CONTROL", "isp.SYSTEM_ERROR", "isv.OUT_OF_SERVICE", "Throttling.User"}
)


class SmsProvider(Protocol):
    def send(self, *, phone: str, template_code: str, params: dict[str, str], out_id: str) -> str:
        """Send one SMS; returns the provider's message id (BizId)."""
        ...


def _payload(*, phone: str, template_code: str, params: dict[str, str], out_id: str) -> dict:
    return {
        "PhoneNumbers": phone,
        "SignName": settings.SMS_SIGN_NAME,
        "TemplateCode": template_code,
        "TemplateParam": json.dumps(params, ensure_ascii=False),
        "OutId": out_id,
    }


def interpret(status: int, body: dict[str, Any]) -> str:
    if status >= 500 or status == 429:
        raise RetryableError(f"SMS provider HTTP {status}")
    if status >= 400:
        raise PermanentDeliveryError(f"SMS provider HTTP {status}: {body.get('Message', '')}")
    code = body.get("Code")
    if code == "OK":
        return str(body.get("BizId", ""))
    if code in RETRYABLE_CODES:
        raise RetryableError(f"SMS provider {code}: {body.get('Message', '')}")
    raise PermanentDeliveryError(f"SMS provider {code}: {body.get('Message', '')}")


@cache
def http_client() -> httpx.Client:
    """One connection pool per process (worker processes are forked before first use)."""
    return httpx.Client(timeout=settings.SMS_TIMEOUT_SECONDS)


class HttpSmsProvider:
    def __init__(self, base_url: str) -> None:
        self.url = base_url.rstrip("/") + SMS_PATH

    def send(self, *, phone: str, template_code: str, params: dict[str, str], out_id: str) -> str:
        headers = (
            {"Authorization": f"Bearer {settings.SMS_API_KEY}"} if settings.SMS_API_KEY else {}
        )
        try:
            response = http_client().post(
                self.url,
                json=_payload(
                    phone=phone, template_code=template_code, params=params, out_id=out_id
                ),
                headers=headers,
            )
        except httpx.TransportError as error:
            raise RetryableError(f"SMS provider unreachable: {error}") from error
        try:
            body = response.json()
        except ValueError:
            body = {}
        return interpret(response.status_code, body if isinstance(body, dict) else {})


class InProcessSmsProvider:
    def send(self, *, phone: str, template_code: str, params: dict[str, str], out_id: str) -> str:
        status, body = default_emulator.send_sms(
            _payload(phone=phone, template_code=template_code, params=params, out_id=out_id)
        )
        return interpret(status, body)


def sms_provider() -> SmsProvider:
    if settings.SMS_API_BASE_URL:
        return HttpSmsProvider(settings.SMS_API_BASE_URL)
    return InProcessSmsProvider()
