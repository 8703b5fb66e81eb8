"""One test per prescribing rule (SPEC §4 rules 1, 3, 5–9): each tries to break the rule through
the service and gets the rule's code, with nothing saved."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from core.actors import actor_for_user
from core.exceptions import DomainError
from patients.models import Patient
from prescriptions.models import (
    ControlClass,
    Prescription,
    PrescriptionItem,
    PrescriptionStatus,
    PrescriptionWarning,
)
from prescriptions.services import prescribing
from tests.consultations.builders import icd10, make_visit
from tests.factories import make_doctor
from tests.prescriptions.builders import item, make_draft, make_drug, spec

pytestmark = pytest.mark.django_db


def refused(visit, draft, *, diagnosis: str = "I10") -> DomainError:
    with pytest.raises(DomainError) as caught:
        prescribing.prescription_create(
            actor=actor_for_user(visit.doctor),
            consultation=visit.consultation,
            diagnosis_code=diagnosis,
            spec=draft,
        )
    assert Prescription.objects.count() == 0
    assert PrescriptionItem.objects.count() == 0
    return caught.value


def test_rule_1_diagnosis_must_match_verified_evidence() -> None:
    visit = make_visit("in_progress")  # evidence: I10, verified
    icd10("E11.9", "2型糖尿病不伴有并发症", "Type 2 diabetes without complications")
    assert refused(visit, spec(item(make_drug())), diagnosis="E11.9").code == (
        "diagnosis_not_follow_up"
    )


def test_rule_1_unverified_evidence_does_not_count() -> None:
    visit = make_visit("in_progress")
    visit.patient.evidence.update(verified_at=None, verified_by=None)
    assert refused(visit, spec(item(make_drug()))).code == "diagnosis_not_follow_up"


def test_rule_1_same_icd_category_as_evidence_is_a_follow_up() -> None:
    visit = make_visit("in_progress")  # evidence I10
    icd10("I10.X00", "高血压", "Hypertension")
    rx = make_draft(visit, diagnosis="I10.X00")
    assert rx.prescription.diagnosis.code == "I10.X00"
    assert rx.prescription.evidence.diagnosis.code == "I10"


def test_rule_3_child_under_6_needs_a_guardian() -> None:
    visit = make_visit("in_progress")
    Patient.objects.filter(pk=visit.patient.pk).update(
        birth_date=timezone.localdate() - datetime.timedelta(days=365 * 3)
    )
    visit.consultation.patient.refresh_from_db()
    assert refused(visit, spec(item(make_drug()))).code == "guardian_required"


def test_rule_3_guardian_recorded_is_kept_with_the_prescription() -> None:
    visit = make_visit("in_progress")
    Patient.objects.filter(pk=visit.patient.pk).update(
        birth_date=timezone.localdate() - datetime.timedelta(days=365 * 3),
        guardian_name="陈母",
        guardian_relationship="母亲",
    )
    visit.consultation.patient.refresh_from_db()
    rx = make_draft(visit)
    assert (rx.prescription.guardian_name, rx.prescription.guardian_relationship) == (
        "陈母",
        "母亲",
    )


def test_rule_4_only_the_treating_doctor_prescribes() -> None:
    visit = make_visit("in_progress")
    other = make_doctor()
    with pytest.raises(DomainError) as caught:
        prescribing.prescription_create(
            actor=actor_for_user(other),
            consultation=visit.consultation,
            diagnosis_code="I10",
            spec=spec(item(make_drug())),
        )
    assert (caught.value.code, caught.value.status_code) == ("not_treating_doctor", 403)
    assert Prescription.objects.count() == 0


@pytest.mark.parametrize("control_class", sorted(set(ControlClass.values) - {ControlClass.NONE}))
def test_rule_5_controlled_classes_are_never_prescribed_online(control_class: str) -> None:
    visit = make_visit("in_progress")
    # Even a formulary row wrongly marked prescribable is refused by its class.
    drug = make_drug(control_class=control_class, online_prescribable=True)
    assert refused(visit, spec(item(drug))).code == "controlled_drug_banned"


def test_rule_5_drug_not_prescribable_online() -> None:
    visit = make_visit("in_progress")
    assert refused(visit, spec(item(make_drug(online_prescribable=False)))).code == (
        "drug_not_prescribable"
    )


def test_rule_6_at_most_five_drugs() -> None:
    visit = make_visit("in_progress")
    six = [item(make_drug(atc_code=f"C0{n}AA01")) for n in range(1, 7)]
    assert refused(visit, spec(*six)).code == "too_many_items"


def test_rule_6_five_drugs_are_allowed() -> None:
    five = [item(make_drug(atc_code=f"C0{n}AA01")) for n in range(1, 6)]
    rx = make_draft(draft=spec(*five))
    assert rx.prescription.items.count() == 5


def test_rule_6_at_least_one_drug() -> None:
    assert refused(make_visit("in_progress"), spec()).code == "items_required"


def test_rule_6_diagnosis_must_be_a_known_code() -> None:
    visit = make_visit("in_progress")
    assert refused(visit, spec(item(make_drug())), diagnosis="X99.9").code == (
        "diagnosis_code_unknown"
    )


def test_rule_7_more_than_7_days_needs_a_reason() -> None:
    visit = make_visit("in_progress")
    assert refused(visit, spec(item(make_drug(), days_supply=8))).code == ("supply_reason_required")


def test_rule_7_more_than_28_days_needs_the_long_term_flag_assessment_and_confirmation() -> None:
    visit = make_visit("in_progress")
    long = item(make_drug(), days_supply=30)
    for fields in (
        {"supply_reason": "慢病稳定"},
        {"supply_reason": "慢病稳定", "long_term": True},
        {"supply_reason": "慢病稳定", "long_term": True, "long_term_assessment": "稳定"},
    ):
        assert refused(visit, spec(long, **fields)).code == "long_term_required"


def test_rule_7_long_term_only_for_eligible_drugs() -> None:
    visit = make_visit("in_progress")
    drug = make_drug(long_term_eligible=False)
    draft = spec(
        item(drug, days_supply=30),
        supply_reason="慢病稳定",
        long_term=True,
        long_term_assessment="血压稳定三月",
        long_term_patient_confirmed=True,
    )
    assert refused(visit, draft).code == "long_term_not_eligible"


def test_rule_7_never_more_than_84_days() -> None:
    visit = make_visit("in_progress")
    draft = spec(
        item(make_drug(), days_supply=85),
        supply_reason="慢病稳定",
        long_term=True,
        long_term_assessment="血压稳定三月",
        long_term_patient_confirmed=True,
    )
    assert refused(visit, draft).code == "days_supply_over_cap"


def test_rule_7_a_complete_long_term_prescription_of_84_days() -> None:
    draft = spec(
        item(make_drug(), days_supply=84),
        supply_reason="慢病稳定",
        long_term=True,
        long_term_assessment="血压稳定三月",
        long_term_patient_confirmed=True,
    )
    rx = make_draft(draft=draft)
    # 5 mg once daily for 84 days from packs of 28 × 5 mg: exactly three packs.
    assert rx.prescription.items.get().quantity == 3


def test_rule_7_quantity_must_fit_dose_and_days() -> None:
    visit = make_visit("in_progress")
    assert refused(visit, spec(item(make_drug(), quantity=5))).code == "quantity_mismatch"


def test_rule_9_validity_at_most_3_days() -> None:
    visit = make_visit("in_progress")
    draft = spec(item(make_drug()), validity_days=4, validity_reason="出差")
    assert refused(visit, draft).code == "validity_too_long"


def test_rule_9_extending_validity_needs_a_reason() -> None:
    visit = make_visit("in_progress")
    assert refused(visit, spec(item(make_drug()), validity_days=2)).code == (
        "validity_reason_required"
    )


def test_consultation_must_be_in_progress_or_completed_today() -> None:
    visit = make_visit("checked_in")
    assert refused(visit, spec(item(make_drug()))).code == "consultation_not_prescribable"


def test_a_consultation_completed_yesterday_is_no_longer_prescribable() -> None:
    visit = make_visit("completed")
    visit.consultation.ended_at = timezone.now() - datetime.timedelta(days=1)
    visit.consultation.save(update_fields=["ended_at"])
    assert refused(visit, spec(item(make_drug()))).code == "consultation_not_prescribable"


def test_a_consultation_completed_today_is_prescribable() -> None:
    visit = make_visit("completed")
    visit.consultation.ended_at = timezone.now()
    visit.consultation.save(update_fields=["ended_at"])
    assert make_draft(visit).prescription.status == PrescriptionStatus.DRAFT


# --- Rule 8: warnings that block signing ---------------------------------------------------------


def test_allergy_warning_from_the_drug_class() -> None:
    visit = make_visit("in_progress")
    Patient.objects.filter(pk=visit.patient.pk).update(allergies=["青霉素"])
    visit.consultation.patient.refresh_from_db()
    amoxicillin = make_drug(
        name_zh="阿莫西林胶囊",
        name_en="Amoxicillin capsules",
        atc_code="J01CA04",
        allergy_classes=["青霉素", "β-内酰胺类"],
        long_term_eligible=False,
        max_daily_dose=Decimal(4000),
        strength_per_unit=Decimal(250),
        units_per_pack=24,
    )
    rx = make_draft(visit, draft=spec(item(amoxicillin, dose=Decimal(500), frequency="tid")))
    assert list(rx.prescription.warnings.values_list("kind", flat=True)) == ["allergy"]


def test_duplicate_therapy_in_one_atc_group() -> None:
    enalapril = make_drug(name_zh="马来酸依那普利片", atc_code="C09AA02")
    perindopril = make_drug(name_zh="培哚普利片", atc_code="C09AA04")
    rx = make_draft(draft=spec(item(enalapril), item(perindopril)))
    warning = rx.prescription.warnings.get()
    assert (warning.kind, warning.key) == ("duplicate_therapy", "duplicate:C09AA")


def test_maximum_daily_dose() -> None:
    rx = make_draft(draft=spec(item(make_drug(), dose=Decimal(10), frequency="bid")))
    assert list(rx.prescription.warnings.values_list("kind", flat=True)) == ["max_daily_dose"]


def test_interaction_pair(interaction_warfarin_aspirin: None) -> None:
    warfarin = make_drug(name_zh="华法林钠片", atc_code="B01AA03", max_daily_dose=None)
    aspirin = make_drug(name_zh="阿司匹林肠溶片", atc_code="B01AC06", max_daily_dose=None)
    rx = make_draft(draft=spec(item(warfarin, dose=Decimal(3)), item(aspirin, dose=Decimal(100))))
    assert list(rx.prescription.warnings.values_list("kind", flat=True)) == ["interaction"]


def test_acknowledgement_survives_unrelated_edits_and_is_dropped_when_the_finding_goes() -> None:
    enalapril = make_drug(name_zh="马来酸依那普利片", atc_code="C09AA02")
    perindopril = make_drug(name_zh="培哚普利片", atc_code="C09AA04")
    rx = make_draft(draft=spec(item(enalapril), item(perindopril)))
    doctor = actor_for_user(rx.visit.doctor)
    warning = rx.prescription.warnings.get()
    prescribing.warning_acknowledge(
        actor=doctor, prescription=rx.prescription, warning_id=warning.pk, reason="换药过渡期一周"
    )
    prescribing.prescription_update(
        actor=doctor,
        prescription=rx.prescription,
        diagnosis_code="I10",
        spec=spec(item(enalapril, days_supply=5), item(perindopril)),
    )
    kept = rx.prescription.warnings.get()
    assert (kept.pk, kept.acknowledged_reason) == (warning.pk, "换药过渡期一周")
    prescribing.prescription_update(
        actor=doctor, prescription=rx.prescription, diagnosis_code="I10", spec=spec(item(enalapril))
    )
    assert not PrescriptionWarning.objects.filter(prescription=rx.prescription).exists()


def test_acknowledging_needs_a_reason() -> None:
    rx = make_draft(draft=spec(item(make_drug(), dose=Decimal(20))))
    warning = rx.prescription.warnings.get()
    with pytest.raises(DomainError) as caught:
        prescribing.warning_acknowledge(
            actor=actor_for_user(rx.visit.doctor),
            prescription=rx.prescription,
            warning_id=warning.pk,
            reason="  ",
        )
    assert caught.value.code == "acknowledgement_reason_required"
    warning.refresh_from_db()
    assert warning.acknowledged_at is None
