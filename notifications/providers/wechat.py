"""WeChat official-account template messages (`cgi-bin/message/template/send`), emulated.

`WECHAT_API_BASE_URL` set: HTTP to it; unset: the in-process emulator. `client_msg_id` carries
the notification's id so a repeated request is not delivered twice. The recipient's openid is
emulated by the user's public id (binding a real WeChat account arrives with the patient pages).
"""

from typing import Any

import httpx
from django.conf import settings

from core.tasks import RetryableError
from notifications.providers import PermanentDeliveryError
from notifications.providers.sms import http_client
from notifications.providers.sms_emulator import WECHAT_PATH, default_emulator

RETRYABLE_ERRCODES = frozenset({-1, 45009, 45047})


def interpret(status: int, body: dict[str, Any]) -> str:
    if status >= 500 or status == 429:
        raise RetryableError(f"WeChat HTTP {status}")
    errcode = body.get("errcode")
    if status == 200 and errcode == 0:
        return str(body.get("msgid", ""))
    if errcode in RETRYABLE_ERRCODES:
        raise RetryableError(f"WeChat errcode {errcode}: {body.get('errmsg', '')}")
    raise PermanentDeliveryError(f"WeChat errcode {errcode}: {body.get('errmsg', '')}")


def send_template_message(
    *, openid: str, template_id: str, data: dict[str, Any], client_msg_id: str
) -> str:
    payload = {
        "touser": openid,
        "template_id": template_id,
        "data": data,
        "client_msg_id": client_msg_id,
    }
    if not settings.WECHAT_API_BASE_URL:
        return interpret(*default_emulator.send_wechat(payload))
    try:
        response = http_client().post(
            settings.WECHAT_API_BASE_URL.rstrip("/") + WECHAT_PATH, json=payload
        )
    except httpx.TransportError as error:
        raise RetryableError(f"WeChat unreachable: {error}") from error
    try:
        body = response.json()
    except ValueError:
        body = {}
    return interpret(response.status_code, body if isinstance(body, dict) else {})
