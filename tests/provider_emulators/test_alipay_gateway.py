"""The Alipay emulator's gateway over raw HTTP: gateway refusals (40001/40002, unsigned) for
missing parameters, unknown apps and bad signatures; signed 40004 business failures for bad
business parameters; never a 500."""

import datetime as dt
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings

from payments.providers.keys import KeyPaths, load_private_key
from provider_emulators.models import EmulatedTrade
from provider_emulators.registry import alipay_platform
from provider_emulators.signing import alipay_content, rsa_sign, rsa_verify
from tests.payments.providers.support import Emulators

pytestmark = pytest.mark.django_db(transaction=True)

OTHER_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _params(api_method: str, biz: Any = None, **changes: str | None) -> dict[str, str]:
    params = {
        "app_id": settings.ALIPAY_APPID,
        "method": api_method,
        "charset": "utf-8",
        "sign_type": "RSA2",
        "timestamp": dt.datetime.now().strftime("%Y-%m-%d %H:%M:%S"),  # Alipay reads local time
        "version": "1.0",
        "biz_content": biz if isinstance(biz, str) else json.dumps(biz or {}),
    }
    for key, value in changes.items():
        if value is None:
            params.pop(key, None)
        else:
            params[key] = value
    return params


def _signed(params: dict[str, str], key: rsa.RSAPrivateKey | None = None) -> dict[str, str]:
    key = key or load_private_key(
        KeyPaths(settings.PAYMENT_KEYS_DIR).alipay_app_private_key.read_bytes()
    )
    return {**params, "sign": rsa_sign(key, alipay_content(params, exclude=("sign",)))}


def _get(emulators: Emulators, params: dict[str, str]) -> httpx.Response:
    return httpx.get(f"{emulators.url}/emulators/alipay/gateway.do", params=params, timeout=30)


def _signed_answer(response: httpx.Response, key: str) -> dict[str, Any]:
    """The `<method>_response` object, after checking Alipay's signature of its exact text."""
    text = response.text
    start = text.index("{", text.index(f'"{key}"'))
    end = text.rindex(',"sign":"')
    content = text[start:end]
    assert rsa_verify(
        alipay_platform().private_key.public_key(), content.encode(), response.json()["sign"]
    )
    return json.loads(content)


PRECREATE = {"out_trade_no": "ALIAPI0001", "total_amount": "86.40", "subject": "处方药品"}


def test_a_signed_precreate_is_answered_signed(emulators: Emulators) -> None:
    response = _get(emulators, _signed(_params("alipay.trade.precreate", PRECREATE)))

    answer = _signed_answer(response, "alipay_trade_precreate_response")
    trade = EmulatedTrade.objects.get()
    assert answer == {
        "code": "10000",
        "msg": "Success",
        "out_trade_no": "ALIAPI0001",
        "qr_code": f"{emulators.url}/emulators/pay/alipay/{trade.public_id}/",
    }


def test_a_form_post_is_the_same_request(emulators: Emulators) -> None:
    response = httpx.post(
        f"{emulators.url}/emulators/alipay/gateway.do",
        data=_signed(_params("alipay.trade.precreate", PRECREATE)),
        timeout=30,
    )

    assert _signed_answer(response, "alipay_trade_precreate_response")["code"] == "10000"


@pytest.mark.parametrize(
    ("case", "params", "key", "answer"),
    [
        (
            "no_method",
            _params("", PRECREATE, method=None),
            "error_response",
            ("40001", "isv.missing-method"),
        ),
        (
            "unknown_method",
            _params("alipay.trade.pay.now", PRECREATE),
            "error_response",
            ("40002", "isv.invalid-method"),
        ),
        (
            "unknown_app",
            _params("alipay.trade.precreate", PRECREATE, app_id="2021999999999999"),
            "alipay_trade_precreate_response",
            ("40002", "isv.invalid-app-id"),
        ),
        (
            "rsa1",
            _params("alipay.trade.precreate", PRECREATE, sign_type="RSA"),
            "alipay_trade_precreate_response",
            ("40002", "isv.invalid-signature-type"),
        ),
        (
            "gbk",
            _params("alipay.trade.precreate", PRECREATE, charset="gbk"),
            "alipay_trade_precreate_response",
            ("40002", "isv.invalid-charset"),
        ),
        (
            "bad_timestamp",
            _params("alipay.trade.precreate", PRECREATE, timestamp="now"),
            "alipay_trade_precreate_response",
            ("40002", "isv.invalid-timestamp"),
        ),
        (
            "no_timestamp",
            _params("alipay.trade.precreate", PRECREATE, timestamp=None),
            "alipay_trade_precreate_response",
            ("40001", "isv.missing-timestamp"),
        ),
        (
            "bad_notify_url",
            _params("alipay.trade.precreate", PRECREATE, notify_url="ftp://merchant.example/n"),
            "alipay_trade_precreate_response",
            ("40002", "isv.invalid-notify-url"),
        ),
        (
            "biz_not_json",
            _params("alipay.trade.precreate", "{not json"),
            "alipay_trade_precreate_response",
            ("40002", "isv.invalid-parameter"),
        ),
        (
            "biz_not_object",
            _params("alipay.trade.precreate", "[1]"),
            "alipay_trade_precreate_response",
            ("40002", "isv.invalid-parameter"),
        ),
    ],
)
def test_gateway_refusals_are_unsigned_alipay_codes(
    emulators: Emulators, case: str, params: dict[str, str], key: str, answer: tuple[str, str]
) -> None:
    response = _get(emulators, _signed(params))

    assert response.status_code == 200
    body = response.json()
    assert "sign" not in body
    assert (body[key]["code"], body[key]["sub_code"]) == answer, case
    assert not EmulatedTrade.objects.exists()


@pytest.mark.parametrize("tamper", ["wrong_key", "changed_after_signing", "no_sign", "garbage"])
def test_a_request_not_signed_by_the_app_is_refused(emulators: Emulators, tamper: str) -> None:
    params = _params("alipay.trade.precreate", PRECREATE)
    if tamper == "wrong_key":
        params = _signed(params, OTHER_KEY)
    elif tamper == "changed_after_signing":
        params = {
            **_signed(params),
            "biz_content": json.dumps({**PRECREATE, "total_amount": "0.01"}),
        }
    elif tamper == "garbage":
        params = {**params, "sign": "%%%"}

    body = _get(emulators, params).json()

    expected = (
        ("40001", "isv.missing-sign") if tamper == "no_sign" else ("40002", "isv.invalid-signature")
    )
    answer = body["alipay_trade_precreate_response"]
    assert (answer["code"], answer["sub_code"]) == expected
    assert not EmulatedTrade.objects.exists()


@pytest.mark.parametrize(
    ("method", "biz", "sub_code"),
    [
        ("alipay.trade.precreate", {**PRECREATE, "total_amount": "abc"}, "ACQ.INVALID_PARAMETER"),
        ("alipay.trade.precreate", {**PRECREATE, "total_amount": "0.00"}, "ACQ.INVALID_PARAMETER"),
        ("alipay.trade.precreate", {**PRECREATE, "total_amount": "-1"}, "ACQ.INVALID_PARAMETER"),
        ("alipay.trade.precreate", {**PRECREATE, "total_amount": "1.234"}, "ACQ.INVALID_PARAMETER"),
        (
            "alipay.trade.precreate",
            {**PRECREATE, "total_amount": "100000000.01"},
            "ACQ.INVALID_PARAMETER",
        ),
        ("alipay.trade.precreate", {**PRECREATE, "subject": ""}, "ACQ.INVALID_PARAMETER"),
        (
            "alipay.trade.precreate",
            {**PRECREATE, "out_trade_no": "no spaces"},
            "ACQ.INVALID_PARAMETER",
        ),
        ("alipay.trade.precreate", {**PRECREATE, "time_expire": "soon"}, "ACQ.INVALID_PARAMETER"),
        ("alipay.trade.precreate", {**PRECREATE, "subject": "处方\x00"}, "ACQ.INVALID_PARAMETER"),
        ("alipay.trade.query", {"out_trade_no": "\x00"}, "ACQ.TRADE_NOT_EXIST"),
        ("alipay.trade.query", {}, "ACQ.INVALID_PARAMETER"),
        ("alipay.trade.query", {"out_trade_no": "NOSUCH"}, "ACQ.TRADE_NOT_EXIST"),
        ("alipay.trade.close", {"out_trade_no": "NOSUCH"}, "ACQ.TRADE_NOT_EXIST"),
        (
            "alipay.trade.refund",
            {"out_trade_no": "NOSUCH", "refund_amount": "1"},
            "ACQ.TRADE_NOT_EXIST",
        ),
        (
            "alipay.trade.fastpay.refund.query",
            {"out_trade_no": "NOSUCH", "out_request_no": "R"},
            "ACQ.TRADE_NOT_EXIST",
        ),
        (
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "signcustomer", "bill_date": "2024-01-01"},
            "isv.invalid-parameter",
        ),
        (
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": "2024-01"},
            "isv.invalid-parameter",
        ),
        (
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": "2999-01-01"},
            "isv.invalid-parameter",
        ),
        (
            "alipay.data.dataservice.bill.downloadurl.query",
            {"bill_type": "trade", "bill_date": "2024-01-01"},
            "isp.bill_not_exist",
        ),
    ],
)
def test_business_failures_are_signed_40004_answers(
    emulators: Emulators, method: str, biz: dict[str, Any], sub_code: str
) -> None:
    response = _get(emulators, _signed(_params(method, biz)))

    answer = _signed_answer(response, method.replace(".", "_") + "_response")
    assert (answer["code"], answer["msg"], answer["sub_code"]) == (
        "40004",
        "Business Failed",
        sub_code,
    )
    assert not EmulatedTrade.objects.exists()


def test_a_bill_link_that_does_not_exist_is_not_found(emulators: Emulators) -> None:
    for token in ("nothing", "%00"):
        response = httpx.get(f"{emulators.url}/emulators/alipay/bill/{token}/", timeout=30)

        assert response.status_code == 404
