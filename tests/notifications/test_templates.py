"""Every event in the registry has its templates in both languages, renders with realistic
data, and its SMS stays minimal: no diagnosis, no drug name, no identity number."""

from typing import Any

import pytest

from notifications import services
from notifications.events import EVENTS
from notifications.models import Notification
from notifications.rendering import TEMPLATE_DIR, render
from tests.consultations.builders import make_visit
from tests.factories import make_user

LANGUAGES = ("zh-hans", "en")
DIAGNOSIS = "特发性（原发性）高血压"
DRUGS = ["苯磺酸氨氯地平片", "二甲双胍缓释片"]
ID_NUMBER = "440104199001011237"
FULL_NAME = "陈志强"

# What the flows that have not landed yet will pass: realistic values, including the
# sensitive ones the SMS must leave out.
REALISTIC: dict[str, Any] = {
    "patient_name": "陈**",
    "patient_full_name": FULL_NAME,
    "id_number": ID_NUMBER,
    "doctor_name": "李文华",
    "pharmacist_name": "黄敏",
    "department_name": "心血管内科",
    "facility_name": "大参林药店（越秀东风店）",
    "hospital_name": "广东省第二人民医院",
    "start": "2026-11-26 09:30",
    "walk_in_token": 7,
    "is_walk_in": False,
    "termination_reason_code": "condition_changed",
    "prescription_number": "RX20261126000123",
    "diagnosis": DIAGNOSIS,
    "drugs": DRUGS,
    "reason": "剂量超出说明书推荐范围",
    "amount_yuan": "86.40",
    "refund_yuan": "30.00",
    "payment_url": "https://pay.example.org/p/7Hq2",
    "pickup_deadline": "2026-11-28 18:00",
    "courier": "顺丰速运",
    "tracking_number": "SF1402938475612",
    "notification_id": "2f0c6a8e-7d1b-4c55-9d0e-5b1f0f5e2a11",
    "event": "booking_confirmed",
    "channel": "sms",
    "attempts": 8,
    "last_error": "SMS provider isv.MOBILE_NUMBER_ILLEGAL",
    "code": "472913",
    "minutes": 5,
}


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_every_event_has_both_templates_and_renders(event: str, language: str) -> None:
    for name in EVENTS[event].template_names(language):
        assert (TEMPLATE_DIR / name).is_file(), name

    message = render(event=event, language=language, context=REALISTIC)

    assert message.title
    assert message.body
    assert message.sms
    assert "{{" not in message.body + message.sms
    assert "None" not in message.body + message.sms
    chinese = any("\u4e00" <= char <= "\u9fff" for char in message.title)
    assert chinese == (language == "zh-hans"), message.title


@pytest.mark.parametrize("language", LANGUAGES)
def test_a_walk_in_booking_names_the_day_and_the_number(language: str) -> None:
    context = REALISTIC | {"is_walk_in": True, "start": "2026-11-26 00:00"}
    message = render(event="booking_confirmed", language=language, context=context)
    for text in (message.body, message.sms):
        assert "2026-11-26" in text
        assert "00:00" not in text
        assert "7" in text


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("event", sorted(EVENTS))
def test_sms_is_minimal(event: str, language: str) -> None:
    sms = render(event=event, language=language, context=REALISTIC).sms
    for secret in (DIAGNOSIS, "高血压", *DRUGS, ID_NUMBER, FULL_NAME, REALISTIC["reason"]):
        assert secret not in sms, (event, language, sms)
    assert len(sms) <= 140, (event, language, len(sms))


def test_the_registry_and_the_template_folders_agree() -> None:
    folders = {path.name for path in (TEMPLATE_DIR / "notifications" / "events").iterdir()}
    assert folders == set(EVENTS)


@pytest.mark.django_db
@pytest.mark.parametrize("language", LANGUAGES)
def test_wired_events_render_from_real_objects(language: str) -> None:
    visit = make_visit()
    operator = make_user(preferred_language=language)
    from notifications.events import _consultation_context

    # The consultation events here; prescription, payment and fulfilment events render from
    # their own objects in their apps' tests.
    for event, spec in sorted(EVENTS.items()):
        if spec.build_context is not _consultation_context:
            continue
        context = spec.build_context({"consultation": visit.consultation.pk})
        message = render(event=event, language=language, context=context)
        assert visit.doctor.full_name in message.body or visit.facility.name in message.body
        assert visit.patient.name not in message.sms
    dead = services.notify(
        event="notification_dead",
        recipient=operator,
        objects={"notification": 0},
        dedupe_key="d",
    )[0]
    context = EVENTS["notification_dead"].build_context({"notification": dead.pk})  # type: ignore[misc]
    assert (
        str(dead.public_id)
        in render(event="notification_dead", language=language, context=context).body
    )
    assert Notification.objects.count() == 1
