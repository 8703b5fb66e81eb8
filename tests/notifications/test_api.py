"""The notifications API: the caller's own inbox, operations' dead list and retry, channel
preferences, and patient sign-in by phone and one-time code."""

import datetime
import json
from typing import Any

import pytest
from django.utils import timezone
from rest_framework_simplejwt.tokens import AccessToken

from accounts.models import Role, User
from core.models import AuditEvent
from notifications import services
from notifications.models import InAppMessage, LoginCode, Notification, NotificationStatus
from notifications.providers.sms_emulator import MessagingEmulator
from patients.models import Patient
from tests.consultations.builders import make_visit
from tests.factories import api_client, make_doctor, make_patient, make_staff, make_user

pytestmark = pytest.mark.django_db

URL = "/api/v1/notifications/"


def _inbox(user: User, count: int) -> list[InAppMessage]:
    visit = make_visit()
    for n in range(count):
        (row,) = services.notify(
            event="patient_checked_in",
            recipient=user,
            objects={"consultation": visit.consultation.pk},
            dedupe_key=f"inbox:{n}",
        )
        services.notification_deliver(notification_id=row.pk)
    return list(InAppMessage.objects.filter(user=user))


def test_inbox_lists_the_callers_own_newest_first_with_unread_count() -> None:
    doctor, other = make_doctor(), make_doctor()
    mine = _inbox(doctor, 3)
    _inbox(other, 2)
    client = api_client(doctor)

    response = client.get(URL)
    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert [item["id"] for item in response.json()["results"]] == [
        str(message.public_id) for message in mine
    ]
    assert client.get(f"{URL}unread-count/").json() == {"unread": 3}

    read = client.post(f"{URL}{mine[0].public_id}/read/")
    assert read.status_code == 200
    assert read.json()["is_read"] is True
    assert client.get(f"{URL}unread-count/").json() == {"unread": 2}
    unread = client.get(URL, {"unread": "true"}).json()
    assert [item["id"] for item in unread["results"]] == [
        str(message.public_id) for message in mine[1:]
    ]
    # reading twice keeps the first time
    first_read_at = read.json()["read_at"]
    assert client.post(f"{URL}{mine[0].public_id}/read/").json()["read_at"] == first_read_at


def test_another_users_message_is_not_found() -> None:
    doctor, other = make_doctor(), make_doctor()
    (theirs,) = _inbox(other, 1)
    response = api_client(doctor).post(f"{URL}{theirs.public_id}/read/")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_the_inbox_needs_authentication() -> None:
    assert api_client().get(URL).status_code == 401


def _dead_row() -> Notification:
    visit = make_visit()
    (row,) = services.notify(
        event="booking_confirmed",
        recipient=visit.patient,
        objects={"consultation": visit.consultation.pk},
        dedupe_key="dead",
    )
    Notification.objects.filter(pk=row.pk).update(
        status=NotificationStatus.DEAD,
        attempts=8,
        last_error="SMS provider isv.MOBILE_NUMBER_ILLEGAL",
        dead_at=timezone.now(),
    )
    row.refresh_from_db()
    return row


def test_operations_list_dead_notifications_and_retry_them(
    emulator: MessagingEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    row = _dead_row()
    operator = make_user(role=Role.OPERATIONS)
    client = api_client(operator)

    listed = client.get(f"{URL}dead/")
    assert listed.status_code == 200
    (item,) = listed.json()["results"]
    assert item["id"] == str(row.public_id)
    assert item["last_error"] == "SMS provider isv.MOBILE_NUMBER_ILLEGAL"
    assert item["recipient_patient"] == str(row.recipient_patient.public_id)  # type: ignore[union-attr]

    with django_capture_on_commit_callbacks(execute=True):
        retried = client.post(f"{URL}{row.public_id}/retry/")
    assert retried.status_code == 200
    row.refresh_from_db()
    assert (row.status, row.attempts) == (NotificationStatus.SENT, 1)
    assert len(emulator.snapshot()["sms"]) == 1
    assert AuditEvent.objects.filter(
        object_type="notification", object_id=str(row.public_id)
    ).exists()
    assert client.get(f"{URL}dead/").json()["count"] == 0

    again = client.post(f"{URL}{row.public_id}/retry/")
    assert again.status_code == 409
    assert again.json()["code"] == "invalid_transition"


@pytest.mark.parametrize("role", [Role.CLINIC_STAFF, Role.DOCTOR, Role.PHARMACIST, Role.PATIENT])
def test_only_operations_see_or_retry_dead_notifications(role: str) -> None:
    row = _dead_row()
    client = api_client(make_user(role=role))
    assert client.get(f"{URL}dead/").status_code == 403
    assert client.post(f"{URL}{row.public_id}/retry/").status_code == 404
    row.refresh_from_db()
    assert row.status == NotificationStatus.DEAD


def test_preferences_default_by_role_and_can_be_changed() -> None:
    staff = make_staff()
    client = api_client(staff)
    assert client.get(f"{URL}preferences/").json() == {"channels": ["in_app"]}
    changed = client.put(f"{URL}preferences/", {"channels": ["in_app", "email"]}, format="json")
    assert changed.status_code == 200
    assert client.get(f"{URL}preferences/").json() == {"channels": ["in_app", "email"]}
    bad = client.put(f"{URL}preferences/", {"channels": ["fax"]}, format="json")
    assert bad.status_code == 400


# --- Patient sign-in by one-time code -------------------------------------------------------

OTP_REQUEST = "/api/v1/auth/otp/request/"
OTP_VERIFY = "/api/v1/auth/otp/verify/"


def _sent_code(emulator: MessagingEmulator) -> str:
    text = json.loads(emulator.snapshot()["sms"][-1]["TemplateParam"])["text"]
    return "".join(char for char in text if char.isdigit())[:6]


def test_a_patient_signs_in_with_a_code_sent_by_sms(
    emulator: MessagingEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    patient = make_patient(make_staff(), phone="13912345678")
    client = api_client()

    with django_capture_on_commit_callbacks(execute=True):
        requested = client.post(OTP_REQUEST, {"phone": "139 1234 5678"}, format="json")
    assert requested.status_code == 202
    (sms,) = emulator.snapshot()["sms"]
    assert sms["PhoneNumbers"] == "+8613912345678"
    code = _sent_code(emulator)
    assert len(code) == 6
    stored = LoginCode.objects.get()
    assert code not in stored.code_hash

    verified = client.post(OTP_VERIFY, {"phone": "13912345678", "code": code}, format="json")
    assert verified.status_code == 200
    patient.refresh_from_db()
    assert patient.user is not None
    assert patient.user.role == Role.PATIENT
    assert not patient.user.has_usable_password()
    token = AccessToken(verified.json()["access"])
    assert token["sub"] == str(patient.user.public_id)
    me = api_client(patient.user).get("/api/v1/me/").json()
    assert me["role"] == "patient"

    reused = client.post(OTP_VERIFY, {"phone": "13912345678", "code": code}, format="json")
    assert reused.status_code == 400
    assert reused.json()["code"] == "otp_invalid"
    stored.refresh_from_db()
    assert stored.used_at is not None
    assert stored.code_encrypted == ""


def test_an_unknown_phone_gets_the_same_answer_and_no_sms(emulator: MessagingEmulator) -> None:
    response = api_client().post(OTP_REQUEST, {"phone": "13700000000"}, format="json")
    assert response.status_code == 202
    assert LoginCode.objects.count() == 0
    assert Notification.objects.count() == 0


def test_wrong_expired_and_too_many_codes(emulator: MessagingEmulator, settings: Any) -> None:
    from notifications import otp

    make_patient(make_staff(), phone="13912345678")
    client = api_client()
    settings.LOGIN_CODE_MAX_ATTEMPTS = 2
    otp.login_code_request(phone="13912345678")
    for _ in range(2):
        wrong = client.post(OTP_VERIFY, {"phone": "13912345678", "code": "000000"}, format="json")
        assert wrong.json()["code"] == "otp_invalid"
    assert LoginCode.objects.get().used_at is not None  # burnt after two wrong guesses

    old = timezone.now() - datetime.timedelta(minutes=6)
    otp.login_code_request(phone="13912345678", now=old)
    assert (
        client.post(OTP_VERIFY, {"phone": "13912345678", "code": "123456"}, format="json").json()[
            "code"
        ]
        == "otp_invalid"
    )

    settings.LOGIN_CODE_MAX_PER_HOUR = 3
    otp.login_code_request(phone="13912345678")
    limited = client.post(OTP_REQUEST, {"phone": "13912345678"}, format="json")
    assert limited.status_code == 429
    assert limited.json()["code"] == "otp_rate_limited"
    assert LoginCode.objects.count() == 3


def test_a_shared_phone_signs_in_the_eldest_patient(
    emulator: MessagingEmulator, django_capture_on_commit_callbacks: Any
) -> None:
    staff = make_staff()
    from tests.factories import resident_id

    parent = make_patient(
        staff, name="陈志强", phone="13912345678", id_number=resident_id(birth="19800101")
    )
    child = make_patient(
        staff,
        name="陈小明",
        phone="13912345678",
        id_number=resident_id(birth="20220101"),
        guardian_name="陈志强",
        guardian_relationship="父亲",
        guardian_phone="13912345678",
    )
    with django_capture_on_commit_callbacks(execute=True):
        api_client().post(OTP_REQUEST, {"phone": "13912345678"}, format="json")
    code = _sent_code(emulator)
    api_client().post(OTP_VERIFY, {"phone": "13912345678", "code": code}, format="json")

    assert Patient.objects.get(pk=parent.pk).user is not None
    assert Patient.objects.get(pk=child.pk).user is None
    assert Notification.objects.get().recipient_patient_id == parent.pk
