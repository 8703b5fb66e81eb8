"""Informed consent: the published texts, recording consent, who may read and write it."""

import datetime
import hashlib

import pytest
from django.utils import timezone

from clinics.models import Terminal
from core.actors import actor_for_user
from core.dates import years_after
from core.exceptions import NotFoundError
from core.models import AuditEvent
from patients.consents import consent_record, patient_has_consent
from patients.models import ConsentRecord, ConsentTemplate, Patient
from tests.factories import (
    api_client,
    make_consent,
    make_consultation,
    make_doctor,
    make_facility,
    make_patient,
    make_terminal,
    resident_id,
    terminal_client,
)
from tests.patients.cast import Cast, make_cast

pytestmark = pytest.mark.django_db

TEMPLATES = "/api/v1/consent-templates/"


def consents_url(patient: Patient) -> str:
    return f"/api/v1/patients/{patient.public_id}/consents/"


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@pytest.fixture
def cast() -> Cast:
    return make_cast(name="李秀英", birth="19580312")


def payload(**overrides):
    values = {
        "template_version": "2026.1",
        "language": "zh-hans",
        "signer": "patient",
        "signer_name": "李秀英",
        "method": "terminal_signature",
    }
    return values | overrides


# --- the published texts -----------------------------------------------------------------------


def test_version_2026_1_is_published_in_chinese_and_english():
    templates = {t.language: t for t in ConsentTemplate.objects.filter(version="2026.1")}
    assert set(templates) == {"zh-hans", "en"}
    assert all(t.is_active for t in templates.values())
    zh, en = templates["zh-hans"].text, templates["en"].text
    for phrase in [
        "复诊",
        "不提供首诊",
        "120",
        "不少于15年",
        "不少于3年",
        "《中华人民共和国个人信息保护法》",
        "撤回",
        "诊查费",
        "六周岁以下儿童",
    ]:
        assert phrase in zh, phrase
    for phrase in [
        "follow-up",
        "does not provide first visits",
        "120",
        "no less than 15 years",
        "no less than 3 years",
        "Personal Information Protection Law",
        "withdraw",
        "consultation fee",
        "under six years of age",
    ]:
        assert phrase in en, phrase
    # Sections line up: the translation has the nine headings of the original.
    assert [f"{n}." for n in range(1, 10)] == [
        line.split(" ")[0] for line in en.splitlines() if line[:2].rstrip(".").isdigit()
    ]
    assert (
        sum(line[:2] in {f"{c}、" for c in "一二三四五六七八九"} for line in zh.splitlines()) == 9
    )


def test_terminals_and_staff_read_active_texts_with_their_hash(cast):
    ConsentTemplate.objects.create(
        version="2025.9", language="zh-hans", title="旧版", text="旧文本", is_active=False
    )
    for client in (api_client(cast.staff), terminal_client(cast.terminal_credential)):
        response = client.get(TEMPLATES, {"language": "zh-hans"})
        assert response.status_code == 200
        [template] = response.json()["results"]
        stored = ConsentTemplate.objects.get(version="2026.1", language="zh-hans")
        assert template["version"] == "2026.1"
        assert template["text"] == stored.text
        assert template["text_sha256"] == sha256(stored.text)
    both = api_client(cast.staff).get(TEMPLATES).json()
    assert sorted(t["language"] for t in both["results"]) == ["en", "zh-hans"]


def test_texts_need_authentication():
    assert api_client().get(TEMPLATES).status_code == 401


# --- recording consent -------------------------------------------------------------------------


def test_staff_record_consent_with_the_hash_of_the_exact_text(cast):
    terminal_row = Terminal.objects.get(serial=cast.terminal_credential.split(":")[0])
    text = ConsentTemplate.objects.get(version="2026.1", language="zh-hans").text

    response = api_client(cast.staff).post(
        consents_url(cast.patient),
        payload(terminal=str(terminal_row.public_id), text_sha256=sha256(text).upper()),
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["text_sha256"] == sha256(text)
    assert (body["template_version"], body["language"], body["signer"]) == (
        "2026.1",
        "zh-hans",
        "patient",
    )
    assert body["terminal"] == str(terminal_row.public_id)
    assert body["facility"] == str(cast.facility.public_id)
    assert body["recorded_by"] == str(cast.staff.public_id)
    record = ConsentRecord.objects.get()
    assert (record.patient, record.terminal, record.recorded_by) == (
        cast.patient,
        terminal_row,
        cast.staff,
    )
    create = AuditEvent.objects.get(action="create", object_type="consent")
    assert (create.object_id, create.actor_id, create.detail) == (
        str(record.pk),
        cast.staff.pk,
        {"patient": str(cast.patient.public_id)},
    )
    assert patient_has_consent(patient=cast.patient)


def test_english_text_and_no_terminal(cast):
    response = api_client(cast.staff).post(
        consents_url(cast.patient), payload(language="en", method="paper_scanned"), format="json"
    )
    assert response.status_code == 201
    assert response.json()["terminal"] is None
    assert ConsentRecord.objects.get().template.language == "en"


def test_a_text_other_than_the_published_one_is_refused(cast):
    response = api_client(cast.staff).post(
        consents_url(cast.patient), payload(text_sha256=sha256("一段别的文字")), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "consent_text_mismatch"
    assert not ConsentRecord.objects.exists()
    assert not AuditEvent.objects.filter(action="create", object_type="consent").exists()
    assert not patient_has_consent(patient=cast.patient)


@pytest.mark.parametrize(
    "overrides",
    [{"template_version": "2019.1"}, {"template_version": "2025.9"}],
)
def test_unknown_or_withdrawn_versions_are_refused(cast, overrides):
    ConsentTemplate.objects.create(
        version="2025.9", language="zh-hans", title="旧版", text="旧文本", is_active=False
    )
    response = api_client(cast.staff).post(
        consents_url(cast.patient), payload(**overrides), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "consent_template_unknown"
    assert not ConsentRecord.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"signer_name": "王小明"}, "signer_name"),
        ({"signer": "guardian", "signer_name": "李秀英"}, "signer_name"),
    ],
)
def test_signer_must_be_the_patient_or_their_recorded_guardian(cast, overrides, field):
    response = api_client(cast.staff).post(
        consents_url(cast.patient), payload(**overrides), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "consent_signer_mismatch"
    assert field in response.json()["fields"]
    assert not ConsentRecord.objects.exists()


def test_a_child_under_six_is_consented_for_by_the_guardian(cast):
    child = make_patient(
        cast.staff,
        name="王小宝",
        id_number=resident_id(birth="20230501"),
        guardian_name="王建国",
        guardian_relationship="父亲",
        guardian_phone="13712345678",
    )
    client = api_client(cast.staff)

    by_child = client.post(consents_url(child), payload(signer_name="王小宝"), format="json")
    assert by_child.status_code == 400
    assert by_child.json()["code"] == "consent_guardian_required"

    wrong_guardian = client.post(
        consents_url(child), payload(signer="guardian", signer_name="王建"), format="json"
    )
    assert wrong_guardian.json()["code"] == "consent_signer_mismatch"

    by_guardian = client.post(
        consents_url(child), payload(signer="guardian", signer_name=" 王建国 "), format="json"
    )
    assert by_guardian.status_code == 201
    assert by_guardian.json()["signer_name"] == "王建国"


def test_a_child_under_six_without_a_guardian_cannot_consent_yet(cast):
    child = make_patient(cast.staff, name="张小花", id_number=resident_id(birth="20240101"))
    response = api_client(cast.staff).post(
        consents_url(child), payload(signer="guardian", signer_name="张大山"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "consent_guardian_required"


def test_a_terminal_of_another_facility_is_not_found(cast):
    elsewhere = make_terminal(make_facility()).terminal
    response = api_client(cast.staff).post(
        consents_url(cast.patient), payload(terminal=str(elsewhere.public_id)), format="json"
    )
    assert response.status_code == 404
    assert not ConsentRecord.objects.exists()


def test_the_service_checks_the_terminal_and_the_patient_itself(cast):
    elsewhere = make_terminal(make_facility()).terminal
    with pytest.raises(NotFoundError):
        consent_record(
            actor=actor_for_user(cast.staff), patient=cast.patient, terminal=elsewhere, **payload()
        )
    with pytest.raises(NotFoundError):
        consent_record(actor=actor_for_user(cast.other_staff), patient=cast.patient, **payload())
    assert not ConsentRecord.objects.exists()


def test_invalid_choices_are_field_errors(cast):
    response = api_client(cast.staff).post(
        consents_url(cast.patient), payload(method="verbal", language="fr"), format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert set(response.json()["fields"]) == {"method", "language"}


def test_factory_records_through_the_service(cast):
    record = make_consent(cast.patient, cast.staff)
    assert record.text_sha256 == sha256(record.template.text)


# --- who may read and write --------------------------------------------------------------------


def client_for(cast: Cast, role: str):
    if role == "anonymous":
        return api_client()
    if role == "terminal":
        return terminal_client(cast.terminal_credential)
    return api_client(getattr(cast, role))


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("staff", 200),
        ("doctor", 200),
        ("operations", 200),
        ("patient_user", 200),
        ("other_staff", 404),
        ("other_doctor", 404),
        ("other_patient_user", 404),
        ("terminal", 404),
        ("anonymous", 401),
    ],
)
def test_who_reads_the_consents(cast, role, expected):
    record = make_consent(cast.patient, cast.staff)
    response = client_for(cast, role).get(consents_url(cast.patient))

    assert response.status_code == expected
    reads = AuditEvent.objects.filter(action="read", object_type="consent")
    if expected == 200:
        body = response.json()
        assert body["count"] == 1
        assert body["results"][0]["signed_at"]
        assert list(reads.values_list("object_id", flat=True)) == [str(record.pk)]
    else:
        assert not reads.exists()


@pytest.mark.parametrize(
    ("role", "expected", "code"),
    [
        ("staff", 201, None),
        ("doctor", 403, "permission_denied"),
        ("operations", 403, "permission_denied"),
        ("patient_user", 403, "permission_denied"),
        ("other_staff", 404, "not_found"),
        ("other_doctor", 404, "not_found"),
        ("other_patient_user", 404, "not_found"),
        ("terminal", 404, "not_found"),
        ("anonymous", 401, "not_authenticated"),
    ],
)
def test_who_records_consent(cast, role, expected, code):
    response = client_for(cast, role).post(consents_url(cast.patient), payload(), format="json")

    assert response.status_code == expected
    if code:
        assert response.json()["code"] == code
        assert not ConsentRecord.objects.exists()
    else:
        assert ConsentRecord.objects.count() == 1


def test_a_cancelled_consultation_still_lets_the_doctor_read(cast):
    """Visibility follows any consultation (the record of a past booking stays readable)."""
    doctor = make_doctor()
    make_consultation(
        patient=cast.patient, doctor_user=doctor, facility=cast.facility, status="cancelled"
    )
    assert api_client(doctor).get(consents_url(cast.patient)).status_code == 200


def test_not_a_uuid_is_a_404_and_consents_are_never_deleted(cast):
    client = api_client(cast.staff)
    assert client.get("/api/v1/patients/123/consents/").status_code == 404
    make_consent(cast.patient, cast.staff)
    assert client.delete(consents_url(cast.patient)).status_code == 405
    assert ConsentRecord.objects.count() == 1


def test_the_guardian_rule_ends_on_the_sixth_birthday(cast):
    today = timezone.localdate()
    six_today = years_after(today, -6)
    six_tomorrow = six_today + datetime.timedelta(days=1)
    client = api_client(cast.staff)
    for birth, expected in ((six_today, 201), (six_tomorrow, 400)):
        child = make_patient(
            cast.staff, name="刘小雨", id_number=resident_id(birth=birth.strftime("%Y%m%d"))
        )
        response = client.post(consents_url(child), payload(signer_name="刘小雨"), format="json")
        assert response.status_code == expected, birth
    assert response.json()["code"] == "consent_guardian_required"
