"""Wrong PINs guessed at the same moment from many threads, against PostgreSQL: exactly
SIGNING_PIN_MAX_ATTEMPTS guesses are checked, every other one is refused as locked, and the
right PIN is refused afterwards — round after round."""

import threading
from collections import Counter
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from core.exceptions import PermissionDeniedError
from core.models import AuditEvent
from signing.models import SigningCredential
from signing.pki import pki_init
from signing.services import credential_issue, sign_payload
from tests.factories import make_doctor
from tests.signing.conftest import PIN, WRONG_PIN

THREADS = 12
ROUNDS = 4


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_wrong_guesses_never_exceed_the_limit(settings: Any):
    # A PIN check that takes a few milliseconds widens the window a lost update would need.
    settings.SIGNING_PIN_SCRYPT_N = 2**11
    pki_init(algorithms=("ecdsa-p256-sha256",))
    doctor = make_doctor()
    credential = credential_issue(user=doctor, pin=PIN, algorithm="ecdsa-p256-sha256")
    barrier = threading.Barrier(THREADS)
    outcomes: list[Counter[str]] = [Counter() for _ in range(ROUNDS)]
    failures: list[BaseException] = []
    lock = threading.Lock()

    def guesser() -> None:
        try:
            for number in range(ROUNDS):
                barrier.wait(timeout=60)
                try:
                    sign_payload(user=doctor, pin=WRONG_PIN, payload=b"guess")
                    code = "signed"
                except PermissionDeniedError as refusal:
                    code = refusal.code
                with lock:
                    outcomes[number][code] += 1
                barrier.wait(timeout=60)
                if threading.current_thread() is threads[0] and number < ROUNDS - 1:
                    # Between rounds one thread lifts the lock, as time would.
                    SigningCredential.objects.filter(pk=credential.pk).update(
                        locked_until=timezone.now()
                    )
                barrier.wait(timeout=60)
        except BaseException as error:  # reported below; a dead thread must not hide
            with lock:
                failures.append(error)
            barrier.abort()
        finally:
            connection.close()

    threads = [threading.Thread(target=guesser) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert failures == []
    assert not any(thread.is_alive() for thread in threads)
    limit = settings.SIGNING_PIN_MAX_ATTEMPTS
    for number, counts in enumerate(outcomes):
        assert counts == {"signing_pin_invalid": limit, "signing_pin_locked": THREADS - limit}, (
            number
        )
    assert AuditEvent.objects.filter(detail__event="pin_failed").count() == limit * ROUNDS
    assert not AuditEvent.objects.filter(detail__event="signed").exists()
    # Locked again after the last round: the right PIN is refused too.
    with pytest.raises(PermissionDeniedError) as refused:
        sign_payload(user=doctor, pin=PIN, payload=b"right pin")
    assert refused.value.code == "signing_pin_locked"
