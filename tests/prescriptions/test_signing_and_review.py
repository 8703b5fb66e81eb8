"""Signing, the pharmacist's review, revisions, and verification (with tampering)."""

import datetime
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from core.actors import actor_for_user
from core.exceptions import DomainError
from notifications.models import Notification
from prescriptions.models import Prescription, PrescriptionItem, PrescriptionStatus
from prescriptions.services import lifecycle, prescribing
from prescriptions.verification import (
    export_document,
    verify_document,
    verify_prescription_signatures,
)
from signing.selectors import trusted_ca_certificates
from signing.services import sign_payload
from tests.factories import make_doctor
from tests.prescriptions.builders import (
    PIN,
    item,
    make_approved,
    make_draft,
    make_drug,
    make_pharmacist,
    make_signed,
    spec,
    with_signing_key,
)

pytestmark = pytest.mark.django_db
ALGORITHMS = ["sm2-sm3", "ecdsa-p256-sha256"]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_sign_and_countersign_verify_with_both_algorithms(algorithm: str) -> None:
    rx = make_approved(algorithm)
    prescription = rx.refresh()
    assert prescription.status == PrescriptionStatus.APPROVED
    report = verify_prescription_signatures(prescription)
    assert (report.valid, report.problems) == (True, [])
    content = json.loads(prescription.signed_content)
    assert content["items"][0]["name"] == "苯磺酸氨氯地平片"
    assert content["patient"]["name"] == rx.visit.patient.name
    review = json.loads(prescription.review_content)
    assert (review["decision"], review["number"]) == ("approved", prescription.number)


def test_signing_sets_validity_to_the_end_of_the_signing_day_in_shanghai() -> None:
    prescription = make_signed().refresh()
    assert settings.TIME_ZONE == "Asia/Shanghai"
    signed_day = timezone.localtime(prescription.signed_at).date()
    valid_until = timezone.localtime(prescription.valid_until)
    assert (valid_until.date(), valid_until.time()) == (
        signed_day + datetime.timedelta(days=1),
        datetime.time(0, 0),
    )


def test_extended_validity_with_a_reason_lasts_three_days() -> None:
    rx = make_signed(draft=spec(item(make_drug()), validity_days=3, validity_reason="行动不便"))
    prescription = rx.refresh()
    signed_day = timezone.localtime(prescription.signed_at).date()
    assert (timezone.localtime(prescription.valid_until).date() - signed_day).days == 3


def test_signing_notifies_every_pharmacist() -> None:
    first, second = make_pharmacist(), make_pharmacist()
    rx = make_signed()
    recipients = set(
        Notification.objects.filter(event="prescription_to_review").values_list(
            "recipient_user_id", flat=True
        )
    )
    assert recipients == {first.pk, second.pk}
    assert rx.prescription.status == PrescriptionStatus.SIGNED


def test_wrong_pin_signs_nothing() -> None:
    rx = make_draft()
    with_signing_key(rx.visit.doctor)
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_sign(
            actor=actor_for_user(rx.visit.doctor), prescription=rx.prescription, pin="000000"
        )
    assert (caught.value.code, caught.value.status_code) == ("signing_pin_invalid", 403)
    prescription = rx.refresh()
    assert (prescription.status, prescription.doctor_signature, prescription.signed_at) == (
        PrescriptionStatus.DRAFT,
        "",
        None,
    )


def test_another_doctor_cannot_sign_even_with_their_own_pin() -> None:
    rx = make_draft()
    other = with_signing_key(make_doctor())
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_sign(
            actor=actor_for_user(other), prescription=rx.prescription, pin=PIN
        )
    assert caught.value.code == "not_treating_doctor"
    assert rx.refresh().status == PrescriptionStatus.DRAFT


def test_unacknowledged_warnings_block_signing_until_acknowledged() -> None:
    rx = make_draft(draft=spec(item(make_drug(), dose=Decimal(20))))
    doctor = actor_for_user(rx.visit.doctor)
    with_signing_key(rx.visit.doctor)
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_sign(actor=doctor, prescription=rx.prescription, pin=PIN)
    assert (caught.value.code, caught.value.extra) == (
        "warnings_unacknowledged",
        {"warnings": ["max_daily_dose"]},
    )
    assert rx.refresh().status == PrescriptionStatus.DRAFT
    warning = rx.prescription.warnings.get()
    prescribing.warning_acknowledge(
        actor=doctor, prescription=rx.prescription, warning_id=warning.pk, reason="顽固性高血压"
    )
    signed = lifecycle.prescription_sign(actor=doctor, prescription=rx.prescription, pin=PIN)
    assert signed.status == PrescriptionStatus.SIGNED
    content = json.loads(signed.signed_content)
    assert content["acknowledged_warnings"][0]["reason"] == "顽固性高血压"


def test_a_signed_prescription_is_immutable() -> None:
    rx = make_signed()
    with pytest.raises(DomainError) as caught:
        prescribing.prescription_update(
            actor=actor_for_user(rx.visit.doctor),
            prescription=rx.prescription,
            diagnosis_code="I10",
            spec=spec(item(make_drug(), days_supply=3)),
        )
    assert caught.value.code == "prescription_immutable"
    assert rx.prescription.items.get().days_supply == 7


def test_reject_revise_sign_approve() -> None:
    rx = make_signed()
    pharmacist = make_pharmacist()
    rejected = lifecycle.prescription_reject(
        actor=actor_for_user(pharmacist),
        prescription=rx.prescription,
        reasons=["dose"],
        comment="剂量偏低，请调整",
    )
    assert (rejected.status, rejected.rejection_reasons) == ("rejected", ["dose"])
    assert Notification.objects.filter(
        event="prescription_rejected", recipient_user=rx.visit.doctor
    ).exists()
    doctor = actor_for_user(rx.visit.doctor)
    revision = prescribing.prescription_revise(actor=doctor, prescription=rejected)
    assert (revision.number, revision.version, revision.previous_version_id) == (
        rejected.number,
        2,
        rejected.pk,
    )
    prescribing.prescription_update(
        actor=doctor,
        prescription=revision,
        diagnosis_code="I10",
        spec=spec(item(revision.items.get().drug, dose=Decimal(10))),
    )
    signed = lifecycle.prescription_sign(actor=doctor, prescription=revision, pin=PIN)
    approved = lifecycle.prescription_approve(
        actor=actor_for_user(pharmacist), prescription=signed, pin=PIN
    )
    assert approved.status == PrescriptionStatus.APPROVED
    assert json.loads(approved.signed_content)["prescription"]["previous_version"] == str(
        rejected.public_id
    )
    # The rejected version is still exactly what was signed.
    assert verify_prescription_signatures(Prescription.objects.get(pk=rejected.pk)).valid
    with pytest.raises(DomainError) as caught:
        prescribing.prescription_revise(actor=doctor, prescription=rejected)
    assert caught.value.code == "already_revised"


def test_rejection_needs_known_reasons_and_a_comment() -> None:
    rx = make_signed()
    pharmacist = actor_for_user(make_pharmacist())
    for reasons, comment, code in (
        ([], "请修改", "rejection_reason_invalid"),
        (["made_up"], "请修改", "rejection_reason_invalid"),
        (["dose"], " ", "rejection_comment_required"),
    ):
        with pytest.raises(DomainError) as caught:
            lifecycle.prescription_reject(
                actor=pharmacist, prescription=rx.prescription, reasons=reasons, comment=comment
            )
        assert caught.value.code == code
    assert rx.refresh().status == PrescriptionStatus.SIGNED


def test_a_doctor_cannot_approve() -> None:
    rx = make_signed()
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_approve(
            actor=actor_for_user(rx.visit.doctor), prescription=rx.prescription, pin=PIN
        )
    assert caught.value.code == "not_pharmacist"
    assert rx.refresh().status == PrescriptionStatus.SIGNED


def test_pharmacist_wrong_pin_approves_nothing() -> None:
    rx = make_signed()
    pharmacist = make_pharmacist()
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_approve(
            actor=actor_for_user(pharmacist), prescription=rx.prescription, pin="999999"
        )
    assert caught.value.code == "signing_pin_invalid"
    prescription = rx.refresh()
    assert (prescription.status, prescription.pharmacist_signature) == ("signed", "")


# --- Tampering ------------------------------------------------------------------------------------


def test_changing_a_signed_item_in_the_database_is_detected_and_named() -> None:
    rx = make_approved()
    PrescriptionItem.objects.filter(prescription=rx.prescription).update(dose=Decimal(10))
    report = verify_prescription_signatures(rx.refresh())
    assert report.problems == ["content_changed"]
    assert report.details["changed"] == ["items[0].dose"]


@pytest.mark.parametrize(
    ("field", "value", "changed"),
    [
        ("validity_days", 3, ["validity.days"]),
        ("supply_reason", "随意", ["supply.reason"]),
        ("number", "RX20990101000001", ["prescription.number"]),
    ],
)
def test_changing_a_signed_field_is_detected(field: str, value: object, changed: list[str]) -> None:
    rx = make_approved()
    Prescription.objects.filter(pk=rx.prescription.pk).update(**{field: value})
    report = verify_prescription_signatures(rx.refresh())
    assert "content_changed" in report.problems
    assert report.details["changed"] == changed


def test_editing_the_signed_content_itself_breaks_the_signature() -> None:
    rx = make_approved()
    prescription = rx.refresh()
    forged = prescription.signed_content.replace('"days_supply":7', '"days_supply":70')
    assert forged != prescription.signed_content
    Prescription.objects.filter(pk=prescription.pk).update(signed_content=forged)
    report = verify_prescription_signatures(rx.refresh())
    assert "doctor:signature_invalid" in report.problems
    # The countersignature was over the original content, so it no longer binds either.
    assert "pharmacist:countersignature_not_bound" in report.problems


def test_a_certificate_from_another_ca_is_refused(tmp_path: Path) -> None:
    """Swap in a doctor certificate and signature made under a foreign CA."""
    from signing.models import CertificateAuthority

    rx = make_approved()
    prescription = rx.refresh()
    trusted = trusted_ca_certificates()
    # A second PKI in its own right: a fresh CA whose certificates the verifier does not trust.
    CertificateAuthority.objects.update(is_active=False)
    from django.core.management import call_command

    call_command("init_pki", "--force-new", verbosity=0)
    impostor = make_doctor()
    with_signing_key(impostor)
    signature = sign_payload(user=impostor, pin=PIN, payload=prescription.signed_content.encode())
    document = export_document(prescription)
    document["doctor"]["signature"] = signature.signature
    document["doctor"]["certificate"] = signature.certificate_pem
    report = verify_document(document, trusted_ca_pems=trusted)
    assert "doctor:certificate_untrusted" in report.problems


def test_a_pharmacist_key_in_the_doctor_slot_is_refused() -> None:
    rx = make_approved()
    prescription = rx.refresh()
    assert rx.pharmacist is not None
    signature = sign_payload(
        user=rx.pharmacist, pin=PIN, payload=prescription.signed_content.encode()
    )
    Prescription.objects.filter(pk=prescription.pk).update(
        doctor_signature=signature.signature, doctor_certificate=signature.certificate_pem
    )
    report = verify_prescription_signatures(rx.refresh())
    assert "doctor:certificate_role_mismatch" in report.problems


def test_approval_refuses_a_tampered_prescription() -> None:
    rx = make_signed()
    PrescriptionItem.objects.filter(prescription=rx.prescription).update(days_supply=6)
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_approve(
            actor=actor_for_user(make_pharmacist()), prescription=rx.prescription, pin=PIN
        )
    assert (caught.value.code, caught.value.extra["problems"]) == (
        "signature_invalid",
        ["content_changed"],
    )
    assert rx.refresh().status == PrescriptionStatus.SIGNED


# --- Offline verification ---------------------------------------------------------------------


def _verify_offline(
    tmp_path: Path, document: dict[str, object]
) -> subprocess.CompletedProcess[str]:
    export = tmp_path / "prescription.json"
    export.write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    bundle = tmp_path / "ca.pem"
    bundle.write_text("".join(trusted_ca_certificates()), encoding="ascii")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "telehealth.settings.base",
        # No database is reachable: the verification must not need one.
        "DATABASE_URL": "postgres://nobody@127.0.0.1:9/none",
        "REDIS_URL": "",
    }
    return subprocess.run(
        [sys.executable, "manage.py", "verify_prescription", str(export), "--ca", str(bundle)],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_an_export_verifies_offline_without_a_database(tmp_path: Path, algorithm: str) -> None:
    prescription = make_approved(algorithm).refresh()
    result = _verify_offline(tmp_path, export_document(prescription))
    assert result.returncode == 0, result.stderr
    assert f"prescription {prescription.number} v1" in result.stdout
    assert "VALID" in result.stdout


def test_a_tampered_export_fails_offline(tmp_path: Path) -> None:
    document = export_document(make_approved().refresh())
    doctor = document["doctor"]
    doctor["content"] = doctor["content"].replace('"quantity":1', '"quantity":9')
    result = _verify_offline(tmp_path, document)
    assert result.returncode == 1
    assert "problem: doctor:signature_invalid" in result.stdout


# --- Expiry, revocation, dispensing ------------------------------------------------------------


def test_expiry_task_expires_signed_and_approved_past_validity() -> None:
    signed, approved, fresh = make_signed(), make_approved(), make_approved()
    later = signed.refresh().valid_until
    assert later is not None
    Prescription.objects.filter(pk=fresh.prescription.pk).update(
        valid_until=later + (later - timezone.now())
    )
    assert lifecycle.prescriptions_expire(now=later) == 2
    assert (signed.refresh().status, approved.refresh().status, fresh.refresh().status) == (
        "expired",
        "expired",
        "approved",
    )


def test_an_expired_prescription_cannot_be_approved() -> None:
    rx = make_signed()
    past = timezone.now() - datetime.timedelta(minutes=1)
    Prescription.objects.filter(pk=rx.prescription.pk).update(valid_until=past)
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_approve(
            actor=actor_for_user(make_pharmacist()), prescription=rx.prescription, pin=PIN
        )
    assert caught.value.code == "prescription_expired"


def test_revoke_needs_the_treating_doctor_or_operations_and_a_reason() -> None:
    from tests.factories import make_user

    rx = make_approved()
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_revoke(
            actor=actor_for_user(make_doctor()), prescription=rx.prescription, reason="错开"
        )
    assert caught.value.code == "not_treating_doctor"
    with pytest.raises(DomainError) as caught:
        lifecycle.prescription_revoke(
            actor=actor_for_user(rx.visit.doctor), prescription=rx.prescription, reason=" "
        )
    assert caught.value.code == "revoke_reason_required"
    revoked = lifecycle.prescription_revoke(
        actor=actor_for_user(make_user()), prescription=rx.prescription, reason="患者要求取消"
    )
    assert (revoked.status, revoked.revoke_reason) == ("revoked", "患者要求取消")


def test_rule_10_only_an_approved_prescription_is_effective() -> None:
    rx = make_signed()
    with pytest.raises(DomainError) as caught:
        lifecycle.require_effective(rx.prescription)
    assert caught.value.code == "prescription_not_effective"


def test_rule_11_dispensed_at_most_once() -> None:
    from django.db import transaction

    rx = make_approved()
    staff = actor_for_user(rx.visit.staff)
    with transaction.atomic():
        lifecycle.prescription_mark_dispensed(actor=staff, prescription=rx.prescription)
    with pytest.raises(DomainError) as caught, transaction.atomic():
        lifecycle.prescription_mark_dispensed(actor=staff, prescription=rx.prescription)
    assert caught.value.code == "invalid_transition"
    assert rx.refresh().status == PrescriptionStatus.DISPENSED
    assert rx.prescription.events.filter(to_status="dispensed").count() == 1


def test_rule_11_the_database_refuses_a_dispensed_status_without_its_record() -> None:
    from django.db import IntegrityError, transaction

    rx = make_approved()
    with pytest.raises(IntegrityError), transaction.atomic():
        Prescription.objects.filter(pk=rx.prescription.pk).update(status="dispensed")


def test_a_certificate_revoked_before_signing_is_reported_one_revoked_after_is_not() -> None:
    from signing.models import SigningCredential

    rx = make_approved()
    prescription = rx.refresh()
    assert prescription.signed_at is not None
    credential = SigningCredential.objects.get(
        certificate_serial=prescription.doctor_certificate_serial
    )
    SigningCredential.objects.filter(pk=credential.pk).update(
        status="revoked", revoked_at=prescription.signed_at + datetime.timedelta(hours=1)
    )
    assert verify_prescription_signatures(prescription).valid
    SigningCredential.objects.filter(pk=credential.pk).update(
        revoked_at=prescription.signed_at - datetime.timedelta(hours=1)
    )
    assert verify_prescription_signatures(prescription).problems == ["doctor:certificate_revoked"]


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_prescription_messages_render_from_a_real_prescription(language: str) -> None:
    from notifications.events import EVENTS
    from notifications.rendering import render

    rx = make_signed()
    lifecycle.prescription_reject(
        actor=actor_for_user(make_pharmacist()),
        prescription=rx.prescription,
        reasons=["dose"],
        comment="剂量偏低",
    )
    for event in ("prescription_to_review", "prescription_approved", "prescription_rejected"):
        build = EVENTS[event].build_context
        assert build is not None
        message = render(
            event=event, language=language, context=build({"prescription": rx.prescription.pk})
        )
        assert rx.prescription.number in message.body
        assert rx.visit.patient.name not in message.body + message.sms
    rejected = render(
        event="prescription_rejected",
        language=language,
        context=EVENTS["prescription_rejected"].build_context({"prescription": rx.prescription.pk}),  # type: ignore[misc]
    )
    assert "剂量偏低" in rejected.body
