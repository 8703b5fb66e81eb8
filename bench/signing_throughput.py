"""Signature throughput of both algorithms, single-threaded, a few seconds per figure.

    .venv/bin/python bench/signing_throughput.py [--seconds 3] [--scrypt-n 32768]

Works in a throwaway test database (`setup_databases`, as the test runner does: in-memory
SQLite by default, `test_<name>` on a DATABASE_URL server), creates the platform CA and one
doctor with a credential per algorithm, then prints per algorithm:

1. raw sign/s and verify/s: the algorithm alone on a canonical prescription-sized payload;
2. offline verifications/s: `verify_signature` (signature + issuing CA's signature over the
   certificate + validity + role), what the public verification page runs;
3. sign_payload/s: the service as prescribing calls it — lock the credential row, unlock the
   key with the PIN (scrypt at --scrypt-n, r=8, p=1), sign, write the audit row, commit.
"""

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings.base")

PIN = "246813"


def _rate(operation: Callable[[], object], seconds: float) -> tuple[float, int]:
    """Operations per second over at least `seconds` (after one warm-up call)."""
    operation()
    count = 0
    started = time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        operation()
        count += 1
    return count / elapsed, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="per figure")
    parser.add_argument("--scrypt-n", type=int, default=None, help="default: the setting")
    options = parser.parse_args()

    import django
    from django.test.utils import setup_databases, teardown_databases

    django.setup()
    databases = setup_databases(verbosity=0, interactive=False)
    try:
        _run(options)
    finally:
        teardown_databases(databases, verbosity=0)


def _run(options: argparse.Namespace) -> None:
    from django.conf import settings

    from signing.algorithms import ALGORITHM_NAMES
    from signing.canonical import canonical_json
    from signing.pki import pki_init
    from signing.selectors import trusted_ca_certificates

    if options.scrypt_n:
        settings.SIGNING_PIN_SCRYPT_N = options.scrypt_n
    payload = canonical_json(
        {
            "prescription": {"number": "RX202601050001", "version": 1},
            "patient": {"name": "陈志强", "sex": "male", "age": 67},
            "doctor": {"name": "林志明", "department": "心血管内科"},
            "diagnosis": {"code": "I10", "name": "特发性（原发性）高血压"},
            "items": [
                {"drug": "苯磺酸氨氯地平片", "strength": "5mg", "dose": "5mg", "days": 7},
                {"drug": "阿托伐他汀钙片", "strength": "20mg", "dose": "20mg", "days": 7},
            ],
            "validity": {"signed_at": "2026-01-05T10:00:00+08:00", "days": 1},
        }
    )
    pki_init()
    trusted = trusted_ca_certificates()
    scrypt = (settings.SIGNING_PIN_SCRYPT_N, settings.SIGNING_PIN_SCRYPT_R)
    print(
        f"database {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}, "
        f"payload {len(payload)} bytes, scrypt n={scrypt[0]} r={scrypt[1]}, "
        f"{options.seconds:g} s per figure"
    )
    header = f"{'algorithm':<20}{'sign/s':>10}{'verify/s':>10}{'offline verify/s':>18}"
    print(f"{header}{'sign_payload/s':>16}  (ms per sign_payload)")
    for name in ALGORITHM_NAMES:
        rates = _measure(name, payload, trusted, options.seconds)
        sign_rate, verify_rate, offline_rate, service_rate = rates
        print(
            f"{name:<20}{sign_rate:>10.0f}{verify_rate:>10.0f}{offline_rate:>18.0f}"
            f"{service_rate:>16.1f}  ({1000 / service_rate:.0f} ms)"
        )


def _measure(
    name: str, payload: bytes, trusted: list[str], seconds: float
) -> tuple[float, float, float, float]:
    from signing.algorithms import get_algorithm
    from signing.services import credential_issue, sign_payload
    from signing.verification import verify_signature
    from tests.factories import make_doctor

    algorithm = get_algorithm(name)
    private_key = algorithm.generate_private_key()
    public_key = algorithm.public_key(private_key)
    signature = algorithm.sign(private_key, payload)
    sign_rate, _ = _rate(lambda: algorithm.sign(private_key, payload), seconds)
    verify_rate, _ = _rate(lambda: algorithm.verify(public_key, payload, signature), seconds)

    doctor = make_doctor(full_name="林志明")
    credential_issue(user=doctor, pin=PIN, algorithm=name)
    record = sign_payload(user=doctor, pin=PIN, payload=payload)

    def offline() -> None:
        result = verify_signature(
            payload=payload,
            signature_b64=record.signature,
            certificate_pem=record.certificate_pem,
            trusted_ca_pems=trusted,
            signed_at=record.signed_at,
            expected_role="doctor",
        )
        assert result.valid, result.problems

    offline_rate, _ = _rate(offline, seconds)
    service_rate, _ = _rate(lambda: sign_payload(user=doctor, pin=PIN, payload=payload), seconds)
    return sign_rate, verify_rate, offline_rate, service_rate


if __name__ == "__main__":
    main()
