"""A signature made through the database verifies without it: with the database blocked in this
process, and in a fresh interpreter that has no Django settings at all."""

import datetime
import json
import subprocess
import sys
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from accounts.models import User
from signing.selectors import trusted_ca_certificates
from signing.services import credential_issue, sign_payload
from signing.verification import verify_signature
from tests.signing.conftest import PIN
from tests.support.processes import service_env

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("platform_ca")]
PAYLOAD = '{"diagnosis":"E11.9","items":[{"drug":"二甲双胍片"}]}'.encode()

VERIFY_SCRIPT = """
import datetime, json, sys
from signing.verification import verify_signature

case = json.load(sys.stdin)
results = []
for payload in (case["payload"], case["payload"] + "x"):
    result = verify_signature(
        payload=payload.encode(),
        signature_b64=case["signature"],
        certificate_pem=case["certificate"],
        trusted_ca_pems=case["trusted"],
        signed_at=datetime.datetime.fromisoformat(case["signed_at"]),
        expected_role="doctor",
    )
    results.append(result.problems)
print(json.dumps({"results": results, "django_loaded": "django" in sys.modules}))
"""


@pytest.fixture
def signed(doctor: User) -> dict[str, Any]:
    credential_issue(user=doctor, pin=PIN)
    record = sign_payload(user=doctor, pin=PIN, payload=PAYLOAD)
    return {
        "payload": PAYLOAD.decode(),
        "signature": record.signature,
        "certificate": record.certificate_pem,
        "trusted": trusted_ca_certificates(),
        "signed_at": record.signed_at.isoformat(),
    }


def test_verification_with_the_database_blocked(signed: dict[str, Any], django_db_blocker: Any):
    signed_at = datetime.datetime.fromisoformat(signed["signed_at"])
    with django_db_blocker.block():
        with pytest.raises(RuntimeError, match="Database access not allowed"):
            connection.ensure_connection()
        result = verify_signature(
            payload=PAYLOAD,
            signature_b64=signed["signature"],
            certificate_pem=signed["certificate"],
            trusted_ca_pems=signed["trusted"],
            signed_at=signed_at,
            expected_role="doctor",
        )

    assert (result.valid, result.problems) == (True, [])


def test_verification_in_an_interpreter_without_django_settings(signed: dict[str, Any]):
    environment = service_env(DJANGO_SETTINGS_MODULE=None, DATABASE_URL=None, REDIS_URL=None)

    completed = subprocess.run(
        [sys.executable, "-c", VERIFY_SCRIPT],
        cwd=settings.BASE_DIR,
        env=environment,
        input=json.dumps(signed),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stdout) == {
        "results": [[], ["signature_invalid"]],
        "django_loaded": False,
    }
