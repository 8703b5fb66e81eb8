"""The second factor for page sign-in of doctors, pharmacists and operations: a TOTP code.

After the password, the user is not signed in yet: the session remembers who passed the first
step (for `SIGNIN_SECOND_FACTOR_SECONDS`). A user without a confirmed authenticator enrols (the
secret as a QR code and as text) and confirms with a first code. Codes are checked under a row
lock, a step is accepted once, and wrong codes count against the account's sign-in throttle.
"""

from __future__ import annotations

import datetime

import pyotp
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import TotpDevice, User
from accounts.signin import signin_attempt_begin, signin_succeeded
from core.crypto import decrypt_text, encrypt_text
from core.exceptions import DomainError

ISSUER = "Guangdong Online Hospital"


def second_factor_required(user: User) -> bool:
    return user.role in settings.SIGNIN_SECOND_FACTOR_ROLES


def totp_enrolment(*, user: User) -> tuple[str, str]:
    """The secret to enrol (a new one until confirmed) and its otpauth:// URI for the QR code."""
    device = TotpDevice.objects.filter(user=user).first()
    if device is None:
        device = TotpDevice.objects.create(
            user=user, secret_encrypted=encrypt_text(pyotp.random_base32())
        )
    secret = decrypt_text(device.secret_encrypted)
    uri = pyotp.TOTP(secret).provisioning_uri(name=user.get_username(), issuer_name=ISSUER)
    return secret, uri


def totp_is_confirmed(*, user: User) -> bool:
    return TotpDevice.objects.filter(user=user, confirmed_at__isnull=False).exists()


def totp_verify(
    *, user: User, code: str, address: str | None, now: datetime.datetime | None = None
) -> None:
    """Accept a code once (the current step or the one either side of it), or refuse."""
    now = now or timezone.now()
    signin_attempt_begin(username=user.get_username(), address=address)
    code = code.strip()
    with transaction.atomic(durable=True):
        device = TotpDevice.objects.select_for_update().filter(user=user).first()
        if device is None or not (code.isdigit() and len(code) == 6):
            raise DomainError("The code is wrong.", code="totp_invalid")
        totp = pyotp.TOTP(decrypt_text(device.secret_encrypted))
        step = totp.timecode(now)
        accepted = next(
            (
                candidate
                for candidate in (step - 1, step, step + 1)
                if candidate > device.last_used_step
                and pyotp.utils.strings_equal(totp.generate_otp(candidate), code)
            ),
            None,
        )
        if accepted is None:
            raise DomainError("The code is wrong or was already used.", code="totp_invalid")
        device.last_used_step = accepted
        device.confirmed_at = device.confirmed_at or now
        device.save(update_fields=["last_used_step", "confirmed_at"])
    signin_succeeded(username=user.get_username())
