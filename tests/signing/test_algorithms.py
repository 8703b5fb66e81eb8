"""The two signature algorithms, the sealed-key format and the canonical JSON: no database.

SM2 results are checked against OpenSSL (a separate implementation) where the `openssl` binary
is available: it verifies our signatures and certificates and we verify its signatures.
"""

import datetime
import shutil
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from asn1crypto import pem

from signing import keystore
from signing.algorithms import (
    ALGORITHM_NAMES,
    SM2_DEFAULT_USER_ID,
    InvalidKeyError,
    UnknownAlgorithmError,
    get_algorithm,
)
from signing.canonical import CanonicalJSONError, canonical_json
from tests.signing.pkitools import make_ca, make_signer

OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="needs the openssl command")
SM2_DISTID = f"distid:{SM2_DEFAULT_USER_ID.decode()}"


def test_the_registry_offers_exactly_the_settings_choices():
    assert ALGORITHM_NAMES == ("sm2-sm3", "ecdsa-p256-sha256")
    with pytest.raises(UnknownAlgorithmError):
        get_algorithm("rsa-md5")


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_sign_verify_and_key_serialisation(name: str):
    algorithm = get_algorithm(name)
    private_key = algorithm.generate_private_key()
    public_key = algorithm.public_key(private_key)

    signature = algorithm.sign(private_key, b"payload")

    assert len(private_key) == 32
    assert (len(public_key), public_key[0]) == (65, 4)
    assert algorithm.verify(public_key, b"payload", signature) is True
    assert algorithm.verify(public_key, b"payload!", signature) is False
    assert algorithm.verify(public_key, b"payload", signature[:-1]) is False
    # DER only: the same integers with a trailing byte are refused.
    assert algorithm.verify(public_key, b"payload", signature + b"\x00") is False
    assert algorithm.public_key_from_der(algorithm.public_key_to_der(public_key)) == public_key
    # Given the key's own public point, the signature is the same kind of signature.
    assert algorithm.verify(
        public_key, b"payload", algorithm.sign(private_key, b"payload", public_key=public_key)
    )
    # Signatures are randomised: two signatures of one payload differ and both verify.
    again = algorithm.sign(private_key, b"payload")
    assert again != signature
    assert algorithm.verify(public_key, b"payload", again) is True


@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_a_point_off_the_curve_is_refused(name: str):
    algorithm = get_algorithm(name)
    public_key = bytearray(algorithm.public_key(algorithm.generate_private_key()))
    public_key[-1] ^= 1

    with pytest.raises(InvalidKeyError):
        algorithm.validate_public_key(bytes(public_key))
    assert algorithm.verify(bytes(public_key), b"x", algorithm.sign(b"\x01" * 32, b"x")) is False


def test_the_der_of_one_curve_is_refused_by_the_other():
    sm2, p256 = get_algorithm("sm2-sm3"), get_algorithm("ecdsa-p256-sha256")
    der = p256.public_key_to_der(p256.public_key(p256.generate_private_key()))

    with pytest.raises(InvalidKeyError):
        sm2.public_key_from_der(der)


def test_sm3_gives_the_standard_digest_either_way():
    from gmssl import sm3

    from signing.algorithms import sm3_digest

    # GB/T 32905-2016, example 1.
    expected = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    assert sm3_digest(b"abc").hex() == expected
    assert sm3.sm3_hash(list(b"abc")) == expected
    long = bytes(range(256)) * 9
    assert sm3_digest(long).hex() == sm3.sm3_hash(list(long))


def test_sm2_refuses_out_of_range_signature_integers():
    from asn1crypto.algos import DSASignature

    sm2 = get_algorithm("sm2-sm3")
    public_key = sm2.public_key(sm2.generate_private_key())
    n = int(sm2._n)  # type: ignore[attr-defined]
    for r, s in ((0, 1), (1, 0), (n, 1), (1, n)):
        signature = DSASignature({"r": r, "s": s}).dump()
        assert sm2.verify(public_key, b"x", signature) is False


def _openssl(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    assert OPENSSL is not None
    return subprocess.run(
        [OPENSSL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


@needs_openssl
def test_openssl_verifies_our_sm2_signature_and_we_verify_openssls(tmp_path: Path):
    sm2 = get_algorithm("sm2-sm3")
    private_key = sm2.generate_private_key()
    (tmp_path / "message").write_bytes("处方内容".encode())
    (tmp_path / "signature").write_bytes(sm2.sign(private_key, "处方内容".encode()))
    public_der = sm2.public_key_to_der(sm2.public_key(private_key))
    (tmp_path / "public.pem").write_bytes(pem.armor("PUBLIC KEY", public_der))

    ours = _openssl(
        *("pkeyutl", "-verify", "-pubin", "-inkey", "public.pem", "-rawin", "-digest", "sm3"),
        *("-in", "message", "-sigfile", "signature", "-pkeyopt", SM2_DISTID),
        cwd=tmp_path,
    )
    assert ours.returncode == 0, ours.stderr
    assert "Signature Verified Successfully" in ours.stdout

    keygen = _openssl(
        "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:SM2", "-out", "k.pem",
        cwd=tmp_path,
    )  # fmt: skip
    assert keygen.returncode == 0, keygen.stderr
    theirs = _openssl(
        *("pkeyutl", "-sign", "-inkey", "k.pem", "-rawin", "-digest", "sm3"),
        *("-in", "message", "-out", "theirs", "-pkeyopt", SM2_DISTID),
        cwd=tmp_path,
    )
    assert theirs.returncode == 0, theirs.stderr
    exported = _openssl(
        "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "k.der", cwd=tmp_path
    )
    assert exported.returncode == 0, exported.stderr
    their_key = sm2.public_key_from_der((tmp_path / "k.der").read_bytes())
    assert sm2.verify(their_key, "处方内容".encode(), (tmp_path / "theirs").read_bytes())
    assert not sm2.verify(their_key, "处方内容!".encode(), (tmp_path / "theirs").read_bytes())


@needs_openssl
@pytest.mark.parametrize("name", ALGORITHM_NAMES)
def test_openssl_accepts_our_certificate_chain(tmp_path: Path, name: str):
    ca = make_ca(name, not_before=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1))
    signer = make_signer(
        ca, not_before=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=1)
    )
    (tmp_path / "ca.pem").write_text(ca.certificate_pem)
    (tmp_path / "signer.pem").write_text(signer.certificate_pem)
    # OpenSSL 3 uses an empty SM2 id unless told; the standard (and our CA) use the default id.
    options = ["-vfyopt", SM2_DISTID] if name == "sm2-sm3" else []

    result = _openssl("verify", *options, "-CAfile", "ca.pem", "signer.pem", cwd=tmp_path)
    text = _openssl("x509", "-in", "signer.pem", "-noout", "-text", cwd=tmp_path).stdout

    assert (result.returncode, result.stdout.strip()) == (0, "signer.pem: OK"), result.stderr
    assert "Digital Signature, Non Repudiation" in text
    assert "CA:FALSE" in text
    assert "Policy: 2.25.49574766398024646930412797767159261841.1.1" in text
    assert ("SM2-with-SM3" if name == "sm2-sm3" else "ecdsa-with-SHA256") in text
    forged = make_signer(make_ca(name, not_before=datetime.datetime.now(datetime.UTC)))
    (tmp_path / "forged.pem").write_text(forged.certificate_pem)
    refused = _openssl("verify", *options, "-CAfile", "ca.pem", "forged.pem", cwd=tmp_path)
    assert refused.returncode != 0


COST = keystore.ScryptCost(n=2**4, r=8, p=1)


def test_a_pin_sealed_key_opens_only_with_its_pin_and_context():
    sealed = keystore.seal_with_pin(b"k" * 32, "246813", cost=COST, context="credential:1")

    assert keystore.open_with_pin(sealed, "246813", context="credential:1") == b"k" * 32
    assert sealed.startswith("scrypt-aes256gcm$16$8$1$")
    assert "246813" not in sealed
    with pytest.raises(keystore.UnsealError):
        keystore.open_with_pin(sealed, "246814", context="credential:1")
    with pytest.raises(keystore.UnsealError):
        keystore.open_with_pin(sealed, "246813", context="credential:2")
    with pytest.raises(keystore.UnsealError):
        keystore.open_with_pin(
            sealed.replace("$16$", "$2097152$"), "246813", context="credential:1"
        )


def test_one_pin_key_seals_many_keys_under_their_own_nonces():
    pin_key = keystore.derive_pin_key("246810", COST)

    first = keystore.seal_with_pin_key(b"a" * 32, pin_key, context="c:1")
    second = keystore.seal_with_pin_key(b"a" * 32, pin_key, context="c:2")

    assert first.split("$")[4] == second.split("$")[4]  # the shared salt
    assert first.split("$")[5] != second.split("$")[5]  # nonces differ
    assert keystore.open_with_pin(second, "246810", context="c:2") == b"a" * 32


def test_a_secret_sealed_key_opens_only_with_its_secret():
    sealed = keystore.seal_with_secret(b"ca-key", "secret-one", context="signing-ca:1")

    assert keystore.open_with_secret(sealed, "secret-one", context="signing-ca:1") == b"ca-key"
    with pytest.raises(keystore.UnsealError):
        keystore.open_with_secret(sealed, "secret-two", context="signing-ca:1")


def test_canonical_json_is_sorted_compact_utf8():
    value = {"b": [1, "二", None, True], "a": {"z": "0.50", "y": -3}}

    assert canonical_json(value) == '{"a":{"y":-3,"z":"0.50"},"b":[1,"二",null,true]}'.encode()
    assert canonical_json({"a": 1, "b": 2}) == canonical_json({"b": 2, "a": 1})


@pytest.mark.parametrize(
    "value",
    [
        {"dose": 0.5},
        {"price": Decimal("12.30")},
        {1: "x"},
        [float("nan")],
        {"at": datetime.date(2026, 1, 5)},
    ],
)
def test_canonical_json_refuses_ambiguous_values(value: object):
    with pytest.raises(CanonicalJSONError):
        canonical_json(value)
