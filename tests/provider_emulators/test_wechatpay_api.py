"""The WeChat Pay emulator's API over raw HTTP: it checks the merchant's request signature
(401 SIGN_ERROR otherwise), signs every answer, and answers malformed input with WeChat Pay's
400 codes, never a 500."""

import base64
import json
import time
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from django.conf import settings
from wechatpayv3.utils import build_authorization

from payments.providers.keys import KeyPaths, load_private_key
from provider_emulators.models import EmulatedTrade
from provider_emulators.registry import wechatpay_platform
from provider_emulators.signing import rsa_verify
from tests.payments.providers.support import Emulators

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _merchant_key() -> rsa.RSAPrivateKey:
    return load_private_key(KeyPaths(settings.PAYMENT_KEYS_DIR).wechatpay_merchant_key.read_bytes())


def _call(
    emulators: Emulators,
    method: str,
    path: str,
    body: str = "",
    *,
    key: rsa.RSAPrivateKey | None = None,
    serial_no: str | None = None,
    mchid: str | None = None,
    authorization: str | None = None,
) -> httpx.Response:
    merchant = wechatpay_platform().merchant
    if authorization is None:
        authorization = build_authorization(
            path,
            method,
            mchid or merchant.mchid,
            serial_no or merchant.serial_no,
            key or _merchant_key(),
            data=body,
        )
    return httpx.request(
        method,
        f"{emulators.url}/emulators/wechatpay{path}",
        content=body.encode(),
        headers={"Authorization": authorization, "Content-Type": "application/json"},
        timeout=30,
    )


def _signed_by_wechatpay(response: httpx.Response) -> bool:
    platform = wechatpay_platform()
    message = b"%s\n%s\n%s\n" % (
        response.headers["Wechatpay-Timestamp"].encode(),
        response.headers["Wechatpay-Nonce"].encode(),
        response.content,
    )
    return response.headers["Wechatpay-Serial"] == platform.public_key_id and rsa_verify(
        platform.private_key.public_key(), message, response.headers["Wechatpay-Signature"]
    )


def _order(**changes: Any) -> str:
    body = {
        "appid": settings.WECHATPAY_APPID,
        "mchid": settings.WECHATPAY_MCHID,
        "description": "处方药品",
        "out_trade_no": "WXAPI00001",
        "notify_url": "https://merchant.example/notify",
        "amount": {"total": 100, "currency": "CNY"},
    }
    for key, value in changes.items():
        if value is None:
            body.pop(key)
        else:
            body[key] = value
    return json.dumps(body)


def test_a_signed_order_is_answered_with_a_signed_code_url(emulators: Emulators) -> None:
    response = _call(emulators, "POST", "/v3/pay/transactions/native", _order())

    assert response.status_code == 200
    assert _signed_by_wechatpay(response)
    trade = EmulatedTrade.objects.get()
    assert response.json() == {
        "code_url": f"{emulators.url}/emulators/pay/wechatpay/{trade.public_id}/"
    }


def _old_authorization() -> str:
    merchant = wechatpay_platform().merchant
    timestamp = str(int(time.time()) - 600)
    message = f"POST\n/v3/pay/transactions/native\n{timestamp}\nNONCE\n{_order()}\n".encode()
    signature = base64.b64encode(
        _merchant_key().sign(message, padding.PKCS1v15(), hashes.SHA256())
    ).decode()
    return (
        f'WECHATPAY2-SHA256-RSA2048 mchid="{merchant.mchid}",nonce_str="NONCE",'
        f'signature="{signature}",timestamp="{timestamp}",serial_no="{merchant.serial_no}"'
    )


@pytest.mark.parametrize(
    ("case", "options", "status", "code"),
    [
        ("no_authorization", {"authorization": ""}, 401, "SIGN_ERROR"),
        ("other_scheme", {"authorization": "Bearer abc"}, 401, "SIGN_ERROR"),
        ("wrong_key", {"key": OTHER_KEY}, 401, "SIGN_ERROR"),
        (
            "wrong_serial",
            {"serial_no": "1DDE55AD98ED71D6EDD4A4A16996DE7B47773A8C"},
            401,
            "SIGN_ERROR",
        ),
        ("unknown_merchant", {"mchid": "1900000999"}, 400, "MCH_NOT_EXISTS"),
    ],
)
def test_an_unauthenticated_request_is_refused_and_nothing_is_created(
    emulators: Emulators, case: str, options: dict[str, Any], status: int, code: str
) -> None:
    response = _call(emulators, "POST", "/v3/pay/transactions/native", _order(), **options)

    assert (response.status_code, response.json()["code"]) == (status, code), case
    assert _signed_by_wechatpay(response)
    assert not EmulatedTrade.objects.exists()


def test_an_expired_request_signature_is_refused(emulators: Emulators) -> None:
    response = _call(
        emulators,
        "POST",
        "/v3/pay/transactions/native",
        _order(),
        authorization=_old_authorization(),
    )

    assert (response.status_code, response.json()["code"]) == (401, "SIGN_ERROR")
    assert not EmulatedTrade.objects.exists()


def test_a_body_changed_after_signing_is_refused(emulators: Emulators) -> None:
    merchant = wechatpay_platform().merchant
    authorization = build_authorization(
        "/v3/pay/transactions/native",
        "POST",
        merchant.mchid,
        merchant.serial_no,
        _merchant_key(),
        data=_order(),
    )

    response = _call(
        emulators,
        "POST",
        "/v3/pay/transactions/native",
        _order(amount={"total": 1}),
        authorization=authorization,
    )

    assert (response.status_code, response.json()["code"]) == (401, "SIGN_ERROR")
    assert not EmulatedTrade.objects.exists()


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "code"),
    [
        ("POST", "/v3/pay/transactions/native", "not json", 400, "PARAM_ERROR"),
        ("POST", "/v3/pay/transactions/native", "[1, 2]", 400, "PARAM_ERROR"),
        ("POST", "/v3/pay/transactions/native", "{}", 400, "PARAM_ERROR"),
        (
            "POST",
            "/v3/pay/transactions/native",
            _order(amount={"total": "100"}),
            400,
            "PARAM_ERROR",
        ),
        ("POST", "/v3/pay/transactions/native", _order(amount={"total": 0}), 400, "PARAM_ERROR"),
        ("POST", "/v3/pay/transactions/native", _order(amount={"total": True}), 400, "PARAM_ERROR"),
        (
            "POST",
            "/v3/pay/transactions/native",
            _order(amount={"total": 10**20}),
            400,
            "PARAM_ERROR",
        ),
        ("POST", "/v3/pay/transactions/native", _order(amount=[100]), 400, "PARAM_ERROR"),
        (
            "POST",
            "/v3/pay/transactions/native",
            _order(amount={"total": 1, "currency": "USD"}),
            400,
            "PARAM_ERROR",
        ),
        ("POST", "/v3/pay/transactions/native", _order(out_trade_no="A1"), 400, "PARAM_ERROR"),
        (
            "POST",
            "/v3/pay/transactions/native",
            _order(out_trade_no="订单号码订单号码"),
            400,
            "PARAM_ERROR",
        ),
        ("POST", "/v3/pay/transactions/native", _order(description=None), 400, "PARAM_ERROR"),
        ("POST", "/v3/pay/transactions/native", _order(description="x" * 128), 400, "PARAM_ERROR"),
        ("POST", "/v3/pay/transactions/native", _order(notify_url="ftp://x"), 400, "PARAM_ERROR"),
        ("POST", "/v3/pay/transactions/native", _order(time_expire="tomorrow"), 400, "PARAM_ERROR"),
        (
            "POST",
            "/v3/pay/transactions/native",
            _order(time_expire="2030-01-01T10:00:00"),
            400,
            "PARAM_ERROR",
        ),
        (
            "POST",
            "/v3/pay/transactions/native",
            _order(appid="wx0000000000000000"),
            400,
            "APPID_MCHID_NOT_MATCH",
        ),
        ("POST", "/v3/pay/transactions/native", _order(mchid="1900000999"), 400, "INVALID_REQUEST"),
        ("POST", "/v3/pay/transactions/jsapi", _order(), 400, "PARAM_ERROR"),
        ("POST", "/v3/pay/transactions/jsapi", _order(payer={"openid": 7}), 400, "PARAM_ERROR"),
        ("GET", "/v3/pay/transactions/out-trade-no/WXAPI00001", "", 400, "PARAM_ERROR"),
        (
            "GET",
            "/v3/pay/transactions/out-trade-no/WXAPI00001?mchid=1900000999",
            "",
            400,
            "PARAM_ERROR",
        ),
        (
            "GET",
            f"/v3/pay/transactions/out-trade-no/NOSUCHORDER?mchid={settings.WECHATPAY_MCHID}",
            "",
            404,
            "ORDER_NOT_EXIST",
        ),
        (
            "GET",
            f"/v3/pay/transactions/id/4200000000?mchid={settings.WECHATPAY_MCHID}",
            "",
            404,
            "ORDER_NOT_EXIST",
        ),
        ("POST", "/v3/pay/transactions/out-trade-no/WXAPI00001/close", "{}", 400, "PARAM_ERROR"),
        ("POST", "/v3/refund/domestic/refunds", "[]", 400, "PARAM_ERROR"),
        ("POST", "/v3/refund/domestic/refunds", '{"out_refund_no": "R1"}', 400, "PARAM_ERROR"),
        (
            "POST",
            "/v3/refund/domestic/refunds",
            '{"out_refund_no": "R1", "amount": {"refund": 1, "total": 1}}',
            400,
            "PARAM_ERROR",
        ),
        (
            "POST",
            "/v3/refund/domestic/refunds",
            json.dumps(
                {
                    "out_refund_no": "R1",
                    "out_trade_no": "NOSUCH",
                    "amount": {"refund": 1, "total": 1},
                }
            ),
            404,
            "RESOURCE_NOT_EXISTS",
        ),
        ("GET", "/v3/refund/domestic/refunds/NOSUCHREFUND", "", 404, "RESOURCE_NOT_EXISTS"),
        ("GET", "/v3/bill/tradebill?bill_date=2024-13-01", "", 400, "PARAM_ERROR"),
        ("GET", "/v3/bill/tradebill?bill_date=2999-01-01", "", 400, "INVALID_REQUEST"),
        ("GET", "/v3/bill/tradebill?bill_date=2024-01-01&tar_type=ZIP", "", 400, "PARAM_ERROR"),
        ("GET", "/v3/bill/tradebill?bill_date=2024-01-01&bill_type=ODD", "", 400, "PARAM_ERROR"),
        ("GET", "/v3/bill/tradebill?bill_date=2024-01-01", "", 400, "NO_STATEMENT_EXIST"),
        ("GET", "/v3/billdownload/file?token=nothing", "", 400, "INVALID_REQUEST"),
        ("POST", "/v3/pay/transactions/native", _order(description="处方\x00"), 400, "PARAM_ERROR"),
        (
            "GET",
            f"/v3/pay/transactions/out-trade-no/%00?mchid={settings.WECHATPAY_MCHID}",
            "",
            404,
            "ORDER_NOT_EXIST",
        ),
        ("GET", "/v3/refund/domestic/refunds/%00", "", 404, "RESOURCE_NOT_EXISTS"),
        ("GET", "/v3/billdownload/file?token=%00", "", 400, "INVALID_REQUEST"),
        ("GET", "/v3/pay/transactions/native", "", 405, "METHOD_NOT_ALLOWED"),
        ("POST", "/v3/no/such/api", "{}", 404, "NOT_FOUND"),
    ],
)
def test_malformed_or_unknown_requests_get_wechatpays_error_never_a_500(
    emulators: Emulators, method: str, path: str, body: str, status: int, code: str
) -> None:
    response = _call(emulators, method, path, body)

    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert _signed_by_wechatpay(response)
    assert not EmulatedTrade.objects.exists()
