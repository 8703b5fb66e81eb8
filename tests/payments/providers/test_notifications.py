"""`parse_notification` on the notifications the emulators sign: genuine ones are verified and
decrypted; forged, tampered, stale, probing, wrongly keyed or malformed ones are refused with a
code of their own, before anything in them is used."""

import base64
import datetime as dt
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.utils import timezone

from payments.providers import get_gateway
from payments.providers.base import Notification, NotificationRejected
from provider_emulators import services
from provider_emulators.hooks import emulator_pay, emulator_signed_callback
from provider_emulators.models import Channel, Provider
from provider_emulators.registry import alipay_platform, wechatpay_platform
from provider_emulators.services import SignedCallback, TradeOrder
from provider_emulators.signing import (
    alipay_content,
    rsa_sign,
    wechatpay_encrypt,
    wechatpay_signed_headers,
)

pytestmark = pytest.mark.django_db

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def paid() -> Callable[[str], str]:
    """A paid trade at the emulated provider (its notification not sent); returns its number."""

    def pay(provider: str) -> str:
        identity = (
            (wechatpay_platform().merchant.mchid, wechatpay_platform().merchant.appid)
            if provider == Provider.WECHATPAY
            else (alipay_platform().app.seller_id, alipay_platform().app.app_id)
        )
        out_trade_no = f"N{provider[:2].upper()}0001"
        services.trade_open(
            order=TradeOrder(
                provider=provider,
                merchant_id=identity[0],
                app_id=identity[1],
                out_trade_no=out_trade_no,
                channel=Channel.NATIVE if provider == Provider.WECHATPAY else Channel.PRECREATE,
                description="处方药品",
                amount_fen=8640,
                notify_url="https://merchant.example/notify",
                expires_at=None,
            ),
            scanned=True,
        )
        emulator_pay(provider=provider, out_trade_no=out_trade_no, callback=False)
        return out_trade_no

    return pay


def _parse(provider: str, request: SignedCallback) -> Notification:
    return get_gateway(provider).parse_notification(headers=request.headers, body=request.body)


def _rejection(provider: str, request: SignedCallback) -> str:
    with pytest.raises(NotificationRejected) as rejected:
        _parse(provider, request)
    return rejected.value.code


def _with_headers(request: SignedCallback, **headers: str) -> SignedCallback:
    return SignedCallback(request.url, {**request.headers, **headers}, request.body)


def _wechatpay_signed(body: bytes, *, key: rsa.RSAPrivateKey | None = None) -> SignedCallback:
    platform = wechatpay_platform()
    headers = wechatpay_signed_headers(
        private_key=key or platform.private_key,
        public_key_id=platform.public_key_id,
        body=body,
        timestamp=int(timezone.now().timestamp()),
    )
    return SignedCallback("", {"Content-Type": "application/json", **headers}, body)


def _wechatpay_envelope(event_type: str, resource: dict[str, Any]) -> bytes:
    encrypted = wechatpay_encrypt(
        apiv3_key=wechatpay_platform().merchant.apiv3_key,
        plaintext=json.dumps(resource),
        associated_data="transaction",
        original_type="transaction",
    )
    envelope = {
        "id": "ff000000-0000-4000-8000-000000000001",
        "create_time": timezone.localtime().isoformat(timespec="seconds"),
        "resource_type": "encrypt-resource",
        "event_type": event_type,
        "summary": "",
        "resource": encrypted,
    }
    return json.dumps(envelope).encode()


def _alipay_signed(
    params: dict[str, str], *, key: rsa.RSAPrivateKey | None = None
) -> SignedCallback:
    signature = rsa_sign(
        key or alipay_platform().private_key, alipay_content(params, exclude=("sign", "sign_type"))
    )
    body = urlencode({**params, "sign_type": "RSA2", "sign": signature}).encode()
    return SignedCallback("", {"Content-Type": "application/x-www-form-urlencoded"}, body)


def _alipay_params(request: SignedCallback) -> dict[str, str]:
    params = dict(parse_qsl(request.body.decode()))
    del params["sign"], params["sign_type"]
    return params


# --- WeChat Pay ------------------------------------------------------------------------------


def test_a_genuine_wechatpay_notification_is_verified_and_decrypted(paid: Any) -> None:
    out_trade_no = paid(Provider.WECHATPAY)
    request = emulator_signed_callback(provider=Provider.WECHATPAY, out_trade_no=out_trade_no)

    notification = _parse(Provider.WECHATPAY, request)

    assert (notification.kind, notification.status, notification.out_trade_no) == (
        "payment",
        "paid",
        out_trade_no,
    )
    assert notification.amount_fen == 8640
    assert notification.event_id == json.loads(request.body)["id"]


def test_wechatpay_headers_are_found_as_wsgi_environ_keys_too(paid: Any) -> None:
    request = emulator_signed_callback(provider=Provider.WECHATPAY, out_trade_no=paid("wechatpay"))
    meta = {
        "HTTP_" + name.upper().replace("-", "_"): value for name, value in request.headers.items()
    }

    notification = get_gateway("wechatpay").parse_notification(headers=meta, body=request.body)

    assert notification.status == "paid"


def test_a_signature_within_the_window_is_accepted(paid: Any) -> None:
    request = emulator_signed_callback(
        provider=Provider.WECHATPAY,
        out_trade_no=paid("wechatpay"),
        sent_at=timezone.now() - dt.timedelta(seconds=290),
    )

    assert _parse(Provider.WECHATPAY, request).status == "paid"


@pytest.mark.parametrize("seconds", [-301, 301], ids=["stale", "from_the_future"])
def test_a_wechatpay_signature_outside_the_window_is_stale(paid: Any, seconds: int) -> None:
    request = emulator_signed_callback(
        provider=Provider.WECHATPAY,
        out_trade_no=paid("wechatpay"),
        sent_at=timezone.now() + dt.timedelta(seconds=seconds),
    )

    assert _rejection(Provider.WECHATPAY, request) == "stale_timestamp"


def test_wechatpay_rejections_name_what_is_wrong(paid: Any, settings: Any) -> None:
    genuine = emulator_signed_callback(provider=Provider.WECHATPAY, out_trade_no=paid("wechatpay"))
    probe = emulator_signed_callback(
        provider=Provider.WECHATPAY, out_trade_no="NWE0001", probe=True
    )
    random_signature = base64.b64encode(os.urandom(256)).decode()
    tampered_body = genuine.body.replace(b'"summary":"', b'"summary":"X', 1)
    platform = wechatpay_platform()
    wrong_key = wechatpay_signed_headers(
        private_key=OTHER_KEY,
        public_key_id=platform.public_key_id,
        body=genuine.body,
        timestamp=int(timezone.now().timestamp()),
    )
    missing = dict(genuine.headers)
    del missing["Wechatpay-Signature"]

    cases = {
        "probe": probe,
        "forged": _with_headers(genuine, **{"Wechatpay-Signature": "forged-signature"}),
        "random_bytes": _with_headers(genuine, **{"Wechatpay-Signature": random_signature}),
        "wrong_key": _with_headers(genuine, **wrong_key),
        "tampered_body": SignedCallback("", genuine.headers, tampered_body),
        "tampered_nonce": _with_headers(genuine, **{"Wechatpay-Nonce": "A" * 32}),
        "unknown_serial": _with_headers(genuine, **{"Wechatpay-Serial": "PUB_KEY_ID_0199"}),
        "bad_timestamp": _with_headers(genuine, **{"Wechatpay-Timestamp": "yesterday"}),
        "other_algorithm": _with_headers(genuine, **{"Wechatpay-Signature-Type": "SM2"}),
        "missing_header": SignedCallback("", missing, genuine.body),
    }

    assert {name: _rejection(Provider.WECHATPAY, case) for name, case in cases.items()} == {
        "probe": "signature_probe",
        "forged": "malformed_signature",
        "random_bytes": "foreign_signature",
        "wrong_key": "foreign_signature",
        "tampered_body": "bad_signature",
        "tampered_nonce": "bad_signature",
        "unknown_serial": "unknown_serial",
        "bad_timestamp": "bad_timestamp",
        "other_algorithm": "unsupported_signature_type",
        "missing_header": "missing_signature_headers",
    }


def test_a_merchant_holding_the_wrong_apiv3_key_cannot_decrypt(paid: Any, settings: Any) -> None:
    request = emulator_signed_callback(provider=Provider.WECHATPAY, out_trade_no=paid("wechatpay"))
    settings.WECHATPAY_APIV3_KEY = "0" * 32

    assert _rejection(Provider.WECHATPAY, request) == "decryption_failed"


def test_correctly_signed_but_malformed_wechatpay_content_is_refused(paid: Any) -> None:
    out_trade_no = paid("wechatpay")
    missing_field = emulator_signed_callback(
        provider=Provider.WECHATPAY, out_trade_no=out_trade_no, changes={"out_trade_no": None}
    )
    cases = {
        "not_json": _wechatpay_signed(b"<xml>not json</xml>"),
        "not_an_object": _wechatpay_signed(b"[1, 2]"),
        "not_encrypted": _wechatpay_signed(b'{"id": "x", "resource_type": "plain"}'),
        "missing_field": missing_field,
        "other_event": _wechatpay_signed(_wechatpay_envelope("TRANSACTION.CLOSED", {"mchid": "1"})),
    }

    assert {name: _rejection(Provider.WECHATPAY, case) for name, case in cases.items()} == {
        "not_json": "malformed_body",
        "not_an_object": "unsupported_resource",
        "not_encrypted": "unsupported_resource",
        "missing_field": "malformed_resource",
        "other_event": "unsupported_event",
    }


def test_a_refund_notification_names_the_refund(paid: Any) -> None:
    out_trade_no = paid("wechatpay")
    trade = services.trade_get(
        provider=Provider.WECHATPAY,
        merchant_id=wechatpay_platform().merchant.mchid,
        out_trade_no=out_trade_no,
    )
    services.refund_create(
        trade_pk=trade.pk,
        out_refund_no="NR1",
        amount_fen=640,
        total_fen=8640,
        reason="",
        notify_url="https://merchant.example/refunds",
    )
    request = emulator_signed_callback(
        provider=Provider.WECHATPAY, out_trade_no=out_trade_no, out_refund_no="NR1"
    )

    notification = _parse(Provider.WECHATPAY, request)

    assert (
        notification.kind,
        notification.status,
        notification.out_refund_no,
        notification.amount_fen,
        notification.transaction_id,
    ) == ("refund", "succeeded", "NR1", 640, trade.transaction_id)
    assert request.url == "https://merchant.example/refunds"


# --- Alipay ----------------------------------------------------------------------------------


def test_a_genuine_alipay_notification_is_verified(paid: Any) -> None:
    out_trade_no = paid("alipay")
    request = emulator_signed_callback(provider=Provider.ALIPAY, out_trade_no=out_trade_no)

    notification = _parse(Provider.ALIPAY, request)

    params = _alipay_params(request)
    assert (
        notification.kind,
        notification.status,
        notification.event_id,
        notification.out_trade_no,
        notification.amount_fen,
    ) == ("payment", "paid", params["notify_id"], out_trade_no, 8640)


def test_an_old_alipay_notification_is_stale(paid: Any) -> None:
    request = emulator_signed_callback(
        provider=Provider.ALIPAY,
        out_trade_no=paid("alipay"),
        sent_at=timezone.now() - dt.timedelta(seconds=301),
    )

    assert _rejection(Provider.ALIPAY, request) == "stale_timestamp"


def test_alipay_rejections_name_what_is_wrong(paid: Any) -> None:
    genuine = emulator_signed_callback(provider=Provider.ALIPAY, out_trade_no=paid("alipay"))
    params = _alipay_params(genuine)
    signature = dict(parse_qsl(genuine.body.decode()))["sign"]

    def form(values: dict[str, str]) -> SignedCallback:
        return SignedCallback("", genuine.headers, urlencode(values).encode())

    cases = {
        "missing_sign": form({**params, "sign_type": "RSA2"}),
        "rsa1": form({**params, "sign_type": "RSA", "sign": signature}),
        "forged": form({**params, "sign_type": "RSA2", "sign": "forged!"}),
        "random_bytes": form(
            {**params, "sign_type": "RSA2", "sign": base64.b64encode(os.urandom(256)).decode()}
        ),
        "wrong_key": _alipay_signed(params, key=OTHER_KEY),
        "tampered_amount": form(
            {**params, "total_amount": "0.01", "sign_type": "RSA2", "sign": signature}
        ),
        "bad_time": _alipay_signed({**params, "notify_time": "yesterday"}),
        "waiting": _alipay_signed({**params, "trade_status": "WAIT_BUYER_PAY"}),
        "missing_field": _alipay_signed({k: v for k, v in params.items() if k != "trade_no"}),
        "bad_amount": _alipay_signed({**params, "total_amount": "86.4.0"}),
        "not_utf8": SignedCallback("", genuine.headers, b"\xff\xfe=\x00"),
        "repeated": SignedCallback("", genuine.headers, genuine.body + b"&sign_type=RSA2"),
    }

    assert {name: _rejection(Provider.ALIPAY, case) for name, case in cases.items()} == {
        "missing_sign": "missing_signature",
        "rsa1": "unsupported_signature_type",
        "forged": "malformed_signature",
        "random_bytes": "foreign_signature",
        "wrong_key": "foreign_signature",
        "tampered_amount": "bad_signature",
        "bad_time": "bad_timestamp",
        "waiting": "unsupported_event",
        "missing_field": "malformed_notification",
        "bad_amount": "malformed_notification",
        "not_utf8": "malformed_body",
        "repeated": "malformed_body",
    }


def test_replies_are_what_each_provider_expects() -> None:
    wechatpay, alipay = get_gateway("wechatpay"), get_gateway("alipay")

    assert (wechatpay.reply(accepted=True).status, wechatpay.reply(accepted=True).body) == (
        204,
        b"",
    )
    refused = wechatpay.reply(accepted=False)
    assert (refused.status, refused.content_type, json.loads(refused.body)) == (
        400,
        "application/json",
        {"code": "FAIL", "message": "失败"},
    )
    assert [
        (r.status, r.body) for r in (alipay.reply(accepted=True), alipay.reply(accepted=False))
    ] == [
        (200, b"success"),
        (200, b"failure"),
    ]
    assert alipay.reply(accepted=True).content_type == "text/plain; charset=utf-8"
