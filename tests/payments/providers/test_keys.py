"""`manage.py init_payment_keys`: every key file, once; never replaced; the gateways' settings
resolve to them."""

import stat
import string
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command

from payments.providers.config import alipay_config, wechatpay_config
from payments.providers.keys import KeyPaths, certificate_serial_no, load_private_key

KEY_FILES = [
    "alipay/alipay_public_key.pem",
    "alipay/app_private_key.pem",
    "alipay/app_public_key.pem",
    "emulators/alipay_private_key.pem",
    "emulators/wechatpay_platform_key.pem",
    "wechatpay/apiclient_cert.pem",
    "wechatpay/apiclient_key.pem",
    "wechatpay/apiv3_key",
    "wechatpay/pub_key.pem",
    "wechatpay/pub_key_id",
]
PRIVATE = {
    "alipay/app_private_key.pem",
    "emulators/alipay_private_key.pem",
    "emulators/wechatpay_platform_key.pem",
    "wechatpay/apiclient_key.pem",
    "wechatpay/apiv3_key",
    "wechatpay/pub_key_id",
}


def _files(directory: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(directory)): path.read_bytes()
        for path in sorted(directory.rglob("*"))
        if path.is_file()
    }


def _public_pem(private_key_file: Path) -> bytes:
    return (
        load_private_key(private_key_file.read_bytes())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def test_the_command_creates_every_key_once(tmp_path: Path) -> None:
    first, second = StringIO(), StringIO()

    call_command("init_payment_keys", dir=tmp_path, stdout=first)
    created = _files(tmp_path)
    call_command("init_payment_keys", dir=tmp_path, stdout=second)

    assert sorted(created) == KEY_FILES
    assert first.getvalue().endswith(f"payment keys in {tmp_path}: 10 created\n")
    assert second.getvalue() == f"payment keys in {tmp_path}: all present\n"
    assert _files(tmp_path) == created
    modes = {name: stat.S_IMODE((tmp_path / name).stat().st_mode) for name in KEY_FILES}
    assert {name for name, mode in modes.items() if mode == 0o600} == PRIVATE
    assert {name for name, mode in modes.items() if mode == 0o644} == set(KEY_FILES) - PRIVATE


def test_the_generated_keys_fit_together(tmp_path: Path) -> None:
    call_command("init_payment_keys", dir=tmp_path, stdout=StringIO())
    paths = KeyPaths(tmp_path)

    apiv3_key = paths.wechatpay_apiv3_key.read_text()
    public_key_id = paths.wechatpay_public_key_id.read_text()
    assert len(apiv3_key) == 32
    assert set(apiv3_key) <= set(string.ascii_letters + string.digits)
    assert public_key_id.startswith("PUB_KEY_ID_01")
    assert len(public_key_id) == 39
    assert paths.wechatpay_public_key.read_bytes() == _public_pem(
        paths.emulated_wechatpay_private_key
    )
    assert paths.alipay_public_key.read_bytes() == _public_pem(paths.emulated_alipay_private_key)
    assert paths.alipay_app_public_key.read_bytes() == _public_pem(paths.alipay_app_private_key)
    assert load_private_key(paths.wechatpay_merchant_key.read_bytes()).key_size == 2048


def test_a_lost_public_half_is_derived_again_from_its_private_key(tmp_path: Path) -> None:
    call_command("init_payment_keys", dir=tmp_path, stdout=StringIO())
    paths = KeyPaths(tmp_path)
    original = paths.alipay_app_public_key.read_bytes()
    private = paths.alipay_app_private_key.read_bytes()
    paths.alipay_app_public_key.unlink()

    out = StringIO()
    call_command("init_payment_keys", dir=tmp_path, stdout=out)

    assert out.getvalue() == (
        f"created {paths.alipay_app_public_key}\npayment keys in {tmp_path}: 1 created\n"
    )
    assert paths.alipay_app_public_key.read_bytes() == original
    assert paths.alipay_app_private_key.read_bytes() == private


def test_the_settings_resolve_to_the_key_files(tmp_path: Path, settings: Any) -> None:
    settings.PAYMENT_KEYS_DIR = tmp_path / "fresh"
    settings.PAYMENT_KEYS_AUTOCREATE = True

    wechatpay = wechatpay_config()
    alipay = alipay_config()

    paths = KeyPaths(tmp_path / "fresh")
    assert wechatpay.merchant_private_key_pem == paths.wechatpay_merchant_key.read_text()
    assert wechatpay.merchant_serial_no == certificate_serial_no(
        paths.wechatpay_merchant_cert.read_bytes()
    )
    assert wechatpay.apiv3_key == paths.wechatpay_apiv3_key.read_text()
    assert (wechatpay.public_key_pem, wechatpay.public_key_id) == (
        paths.wechatpay_public_key.read_text(),
        paths.wechatpay_public_key_id.read_text(),
    )
    assert (alipay.app_private_key_pem, alipay.alipay_public_key_pem) == (
        paths.alipay_app_private_key.read_text(),
        paths.alipay_public_key.read_text(),
    )


def test_explicit_settings_win_over_the_key_files(tmp_path: Path, settings: Any) -> None:
    settings.PAYMENT_KEYS_DIR = tmp_path
    settings.PAYMENT_KEYS_AUTOCREATE = True
    settings.WECHATPAY_APIV3_KEY = "k" * 32
    settings.WECHATPAY_MERCHANT_SERIAL_NO = "ABC123"
    settings.WECHATPAY_PUBLIC_KEY_ID = "PUB_KEY_ID_0199"

    config = wechatpay_config()

    assert (config.apiv3_key, config.merchant_serial_no, config.public_key_id) == (
        "k" * 32,
        "ABC123",
        "PUB_KEY_ID_0199",
    )


def test_missing_keys_without_autocreate_are_a_configuration_error(
    tmp_path: Path, settings: Any
) -> None:
    settings.PAYMENT_KEYS_DIR = tmp_path / "empty"
    settings.PAYMENT_KEYS_AUTOCREATE = False

    with pytest.raises(ImproperlyConfigured, match="init_payment_keys"):
        alipay_config()
    assert not (tmp_path / "empty").exists()


def test_an_apiv3_key_of_the_wrong_length_is_a_configuration_error(settings: Any) -> None:
    settings.WECHATPAY_APIV3_KEY = "short"

    with pytest.raises(ImproperlyConfigured, match="32 bytes"):
        wechatpay_config()
