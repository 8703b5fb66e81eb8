"""Patient sign-in by phone and one-time code (SPEC §7).

A code is 6 digits, valid LOGIN_CODE_TTL_SECONDS (5 min), single use, at most
LOGIN_CODE_MAX_ATTEMPTS wrong guesses, at most LOGIN_CODE_MAX_PER_HOUR codes per phone per hour;
it is sent at once by SMS through the notification outbox (urgent, SMS only).

Several patients may share a phone (a parent and a child). The account belongs to the eldest
patient with that number — the adult whose phone it is; the others are reached through their
own records (family access arrives with the patient pages).
"""

import datetime
import secrets

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.crypto import constant_time_compare, salted_hmac

from accounts.models import Role, User
from core.actors import Actor
from core.crypto import encrypt_text
from core.exceptions import DomainError
from core.models import AuditAction
from core.services import audit_record
from notifications.models import LoginCode
from notifications.services import notify
from patients.identity import normalize_phone
from patients.models import Patient


def _code_hash(phone: str, code: str) -> str:
    return salted_hmac("telehealth.login_code", f"{phone}:{code}", algorithm="sha256").hexdigest()


def _account_holder(patients: list[Patient]) -> Patient:
    return min(patients, key=lambda patient: (patient.birth_date, patient.pk))


def _invalid_code() -> DomainError:
    return DomainError("The code is wrong or has expired.", code="otp_invalid")


def login_code_request(*, phone: str, now: datetime.datetime | None = None) -> LoginCode | None:
    """Issue and send a code to a patient's phone. A number no patient has gets nothing (and the
    caller cannot tell: the API answers the same)."""
    now = now or timezone.now()
    phone = normalize_phone(phone)
    with transaction.atomic(durable=True):
        # Locking the phone's patients serialises requests for one number (the hourly limit).
        patients = list(Patient.objects.select_for_update().filter(phone=phone).order_by("pk"))
        if not patients:
            return None
        recent = LoginCode.objects.filter(
            phone=phone, created_at__gte=now - datetime.timedelta(hours=1)
        ).count()
        if recent >= settings.LOGIN_CODE_MAX_PER_HOUR:
            raise DomainError(
                "Too many codes for this number; try again later.",
                code="otp_rate_limited",
                status_code=429,
            )
        code = f"{secrets.randbelow(10**6):06d}"
        login_code = LoginCode.objects.create(
            phone=phone,
            code_hash=_code_hash(phone, code),
            code_encrypted=encrypt_text(code),
            expires_at=now + datetime.timedelta(seconds=settings.LOGIN_CODE_TTL_SECONDS),
        )
        notify(
            event="login_code",
            recipient=_account_holder(patients),
            objects={"login_code": login_code.pk},
            dedupe_key=f"login_code:{login_code.pk}",
            urgent=True,
            now=now,
        )
    return login_code


def login_code_verify(
    *, phone: str, code: str, ip_address: str | None = None, now: datetime.datetime | None = None
) -> User:
    """Check the latest live code for the phone; on success, the account holder's User (made on
    first sign-in and linked to the patient)."""
    now = now or timezone.now()
    try:
        phone = normalize_phone(phone)
    except DomainError:
        raise _invalid_code() from None
    user: User | None = None
    with transaction.atomic(durable=True):
        login_code = (
            LoginCode.objects.select_for_update()
            .filter(phone=phone, used_at__isnull=True, expires_at__gt=now)
            .order_by("-created_at", "-pk")
            .first()
        )
        if login_code is None:
            raise _invalid_code()
        matches = constant_time_compare(login_code.code_hash, _code_hash(phone, code.strip()))
        if not matches:
            login_code.failed_attempts += 1
            if login_code.failed_attempts >= settings.LOGIN_CODE_MAX_ATTEMPTS:
                login_code.used_at = now  # burnt: a new code is needed
                login_code.code_encrypted = ""
            login_code.save(update_fields=["failed_attempts", "used_at", "code_encrypted"])
        else:
            login_code.used_at = now
            login_code.code_encrypted = ""
            login_code.save(update_fields=["used_at", "code_encrypted"])
            patients = list(Patient.objects.select_for_update().filter(phone=phone))
            if not patients:
                raise _invalid_code()
            holder = _account_holder(patients)
            user = User.objects.filter(pk=holder.user_id).first() if holder.user_id else None
            if user is None:
                user = User(
                    username=f"patient-{holder.public_id.hex}",
                    role=Role.PATIENT,
                    full_name=holder.name,
                    phone=phone,
                )
                user.set_unusable_password()
                user.save()
                Patient.objects.filter(pk=holder.pk).update(user=user)
                audit_record(
                    actor=Actor(role=Role.PATIENT, user=user, ip_address=ip_address),
                    action=AuditAction.UPDATE,
                    object_type="patient",
                    object_ids=[holder.public_id],
                    detail={"fields": ["user"]},
                )
    if user is None:
        raise _invalid_code()
    return user
