"""Facility stock: adjustments with a reason (never below zero, every change an append-only
movement), and the selectors payments asks before offering pickup or delivery."""

import pytest
from django.db import IntegrityError, transaction

from core.actors import actor_for_user
from core.exceptions import ConflictError, DomainError, PermissionDeniedError
from core.models import AuditEvent
from pharmacy.models import AppendOnlyError, FacilityStock, StockMovement
from pharmacy.selectors import delivery_available, pickup_available
from pharmacy.services.stock import stock_adjust
from tests.consultations.builders import make_visit
from tests.factories import make_facility, make_staff, make_user
from tests.pharmacy.builders import make_prescription, stock_up
from tests.prescriptions.builders import make_drug

pytestmark = pytest.mark.django_db


def test_staff_receive_and_write_off_stock_with_reasons() -> None:
    facility = make_facility()
    staff = make_staff(facility=facility)
    drug = make_drug()

    received = stock_adjust(
        actor=actor_for_user(staff), facility=facility, drug=drug, change=12, reason="received"
    )
    damaged = stock_adjust(
        actor=actor_for_user(staff),
        facility=facility,
        drug=drug,
        change=-2,
        reason="damaged",
        note="两盒包装破损",
    )

    assert FacilityStock.objects.get(facility=facility, drug=drug).quantity == 10
    assert (received.change, received.quantity_after, received.actor) == (12, 12, staff)
    assert (damaged.change, damaged.quantity_after, damaged.note) == (-2, 10, "两盒包装破损")
    assert AuditEvent.objects.filter(object_type="facility_stock").count() == 2


def test_an_adjustment_below_zero_is_refused_and_nothing_changes() -> None:
    facility = make_facility()
    drug = make_drug()
    stock_up(facility, drug, 3)
    operations = actor_for_user(make_user())

    with pytest.raises(ConflictError) as refused:
        stock_adjust(actor=operations, facility=facility, drug=drug, change=-4, reason="expired")

    assert refused.value.code == "stock_insufficient"
    assert FacilityStock.objects.get().quantity == 3
    assert StockMovement.objects.count() == 0


def test_the_database_refuses_a_negative_quantity_whatever_the_code_does() -> None:
    row = stock_up(make_facility(), make_drug(), 1)
    with pytest.raises(IntegrityError), transaction.atomic():
        FacilityStock.objects.filter(pk=row.pk).update(quantity=-1)


@pytest.mark.parametrize(
    ("change", "reason", "code"),
    [(0, "received", "stock_change_invalid"), (5, "dispensed", "stock_reason_invalid")],
)
def test_an_adjustment_needs_a_change_and_a_reason_a_person_may_give(
    change: int, reason: str, code: str
) -> None:
    facility = make_facility()
    with pytest.raises(DomainError) as refused:
        stock_adjust(
            actor=actor_for_user(make_staff(facility=facility)),
            facility=facility,
            drug=make_drug(),
            change=change,
            reason=reason,
        )
    assert refused.value.code == code
    assert FacilityStock.objects.count() == 0


def test_staff_adjust_only_their_own_facility() -> None:
    facility = make_facility()
    with pytest.raises(PermissionDeniedError):
        stock_adjust(
            actor=actor_for_user(make_staff()),
            facility=facility,
            drug=make_drug(),
            change=1,
            reason="received",
        )
    assert FacilityStock.objects.count() == 0


def test_stock_movements_are_append_only() -> None:
    facility = make_facility()
    movement = stock_adjust(
        actor=actor_for_user(make_staff(facility=facility)),
        facility=facility,
        drug=make_drug(),
        change=1,
        reason="received",
    )
    with pytest.raises(AppendOnlyError):
        movement.save()
    with pytest.raises(AppendOnlyError):
        StockMovement.objects.update(change=2)
    with pytest.raises(AppendOnlyError):
        movement.delete()
    # And below the application: the database trigger.
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        StockMovement.objects.raw(
            "UPDATE pharmacy_stockmovement SET change = 5 WHERE id = %s RETURNING id",
            [movement.pk],
        )[0]
    assert StockMovement.objects.get().change == 1


def test_pickup_is_offered_only_where_every_item_is_in_stock() -> None:
    amlodipine, metformin = make_drug(), make_drug(code="TEST-MET2")
    visit = make_visit("completed")
    rx = make_prescription(visit, items=[(amlodipine, 2), (metformin, 1)])
    here = visit.facility

    assert pickup_available(here, rx) is False  # nothing on the shelf
    stock_up(here, amlodipine, 2)
    assert pickup_available(here, rx) is False  # one item missing
    stock_up(here, metformin, 1)
    assert pickup_available(here, rx) is True
    stock_up(here, amlodipine, 1)
    assert pickup_available(here, rx) is False  # fewer packs than prescribed
    stock_up(here, amlodipine, 5)
    here.is_active = False
    assert pickup_available(here, rx) is False


def test_the_same_drug_on_two_lines_needs_the_sum() -> None:
    drug = make_drug()
    visit = make_visit("completed")
    rx = make_prescription(visit, items=[(drug, 2), (drug, 2)])
    stock_up(visit.facility, drug, 3)
    assert pickup_available(visit.facility, rx) is False
    stock_up(visit.facility, drug, 4)
    assert pickup_available(visit.facility, rx) is True


def test_cold_chain_medicine_is_pickup_only() -> None:
    insulin = make_drug(code="TEST-INS", name_zh="门冬胰岛素注射液", cold_chain=True)
    assert delivery_available(make_prescription(items=[(make_drug(), 1)])) is True
    assert delivery_available(make_prescription(items=[(make_drug(), 1), (insulin, 1)])) is False
