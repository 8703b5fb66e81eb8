"""The audit log: who did what from where, and nobody can change or remove a row.

The application refuses updates and deletes (AppendOnlyError); the database refuses them too
(triggers from core migration 0002), on SQLite and on PostgreSQL, for code that goes around the
ORM; TRUNCATE is refused by privileges on PostgreSQL. Each refusal is checked to leave the row
exactly as it was.
"""

import uuid
from collections.abc import Mapping
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from pytest_django import DjangoAssertNumQueries

from accounts.models import Role
from core.actors import TERMINAL_ROLE, Actor, actor_for_user
from core.models import AppendOnlyError, AuditAction, AuditEvent
from core.services import audit_record
from tests.factories import make_staff, make_terminal

pytestmark = pytest.mark.django_db


def _row(event: AuditEvent) -> Mapping[str, object]:
    return AuditEvent.objects.filter(pk=event.pk).values().get()


@pytest.fixture
def event() -> AuditEvent:
    (recorded,) = audit_record(
        actor=Actor(role=Role.OPERATIONS, ip_address="127.0.0.1"),
        action=AuditAction.READ,
        object_type="patient",
        object_ids=["p-1"],
        detail={"fields": ["id_number"]},
    )
    return recorded


def test_audit_record_writes_one_row_per_object_in_one_insert(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    actor = Actor(role=Role.OPERATIONS, ip_address="127.0.0.1")

    with django_assert_num_queries(1):
        audit_record(
            actor=actor, action=AuditAction.UPDATE, object_type="facility", object_ids=[7, "8"]
        )

    rows = list(
        AuditEvent.objects.order_by("object_id").values(
            "actor_id",
            "actor_role",
            "terminal_id",
            "facility_id",
            "ip_address",
            "action",
            "object_type",
            "object_id",
            "detail",
        )
    )
    common: dict[str, Any] = {
        "actor_id": None,
        "actor_role": "operations",
        "terminal_id": None,
        "facility_id": None,
        "ip_address": "127.0.0.1",
        "action": "update",
        "object_type": "facility",
        "detail": {},
    }
    assert rows == [common | {"object_id": "7"}, common | {"object_id": "8"}]
    assert all(row.occurred_at is not None for row in AuditEvent.objects.all())


def test_audit_record_keeps_the_terminal_and_facility_of_a_terminal_actor() -> None:
    terminal = make_terminal().terminal
    actor = Actor(
        role=TERMINAL_ROLE,
        terminal_id=terminal.pk,
        facility_id=terminal.facility_id,
        ip_address="10.20.30.40",
    )

    (recorded,) = audit_record(
        actor=actor, action=AuditAction.CREATE, object_type="patient", object_ids=["p-9"]
    )

    row = _row(recorded)
    assert (row["actor_id"], row["actor_role"], row["ip_address"]) == (
        None,
        "terminal",
        "10.20.30.40",
    )
    assert (row["terminal_id"], row["facility_id"]) == (terminal.pk, terminal.facility_id)


def test_audit_record_keeps_the_user_and_their_facility() -> None:
    terminal = make_terminal().terminal
    staff = make_staff(facility=terminal.facility)

    (recorded,) = audit_record(
        actor=actor_for_user(staff, ip_address="2001:db8::1"),
        action=AuditAction.READ,
        object_type="patient",
        object_ids=["p-3"],
    )

    row = _row(recorded)
    assert row["actor_id"] == staff.pk
    assert row["actor_role"] == "clinic_staff"
    assert row["facility_id"] == terminal.facility_id
    assert row["terminal_id"] is None
    assert row["ip_address"] == "2001:db8::1"


def test_audit_record_with_no_objects_writes_nothing(
    django_assert_num_queries: DjangoAssertNumQueries,
) -> None:
    with django_assert_num_queries(0):
        recorded = audit_record(
            actor=Actor(role=Role.OPERATIONS),
            action=AuditAction.READ,
            object_type="patient",
            object_ids=[],
        )

    assert recorded == []
    assert not AuditEvent.objects.exists()


def test_orm_queryset_update_is_refused(event: AuditEvent) -> None:
    before = _row(event)

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).update(actor_role="doctor")

    assert _row(event) == before


def test_orm_bulk_update_is_refused(event: AuditEvent) -> None:
    before = _row(event)
    event.object_id = "p-2"

    # bulk_update runs in atomic(savepoint=False): give it a savepoint so the test can go on.
    with pytest.raises(AppendOnlyError), transaction.atomic():
        AuditEvent.objects.bulk_update([event], ["object_id"])

    assert _row(event) == before


def test_orm_queryset_delete_is_refused(event: AuditEvent) -> None:
    before = _row(event)

    with pytest.raises(AppendOnlyError):
        AuditEvent.objects.filter(pk=event.pk).delete()

    assert _row(event) == before


def test_saving_an_existing_row_is_refused(event: AuditEvent) -> None:
    before = _row(event)
    event.detail = {"fields": []}
    event.ip_address = "10.0.0.1"

    with pytest.raises(AppendOnlyError):
        event.save()

    assert _row(event) == before


def test_deleting_an_instance_is_refused(event: AuditEvent) -> None:
    before = _row(event)

    with pytest.raises(AppendOnlyError):
        event.delete()

    assert _row(event) == before


def test_orm_bypass_through_the_base_manager_is_refused_by_the_database(
    event: AuditEvent,
) -> None:
    # _base_manager is a plain manager: only the database trigger stands in the way.
    before = _row(event)

    with (
        pytest.raises(DatabaseError, match=r"append-only \(UPDATE refused\)"),
        transaction.atomic(),
    ):
        AuditEvent._base_manager.filter(pk=event.pk).update(actor_role="doctor")

    assert _row(event) == before


def test_raw_sql_update_is_refused_by_the_database(event: AuditEvent) -> None:
    before = _row(event)

    with (
        pytest.raises(DatabaseError, match=r"append-only \(UPDATE refused\)"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "UPDATE core_auditevent SET actor_role = %s WHERE id = %s", ["doctor", event.pk]
        )

    assert _row(event) == before


def test_raw_sql_delete_is_refused_by_the_database(event: AuditEvent) -> None:
    before = _row(event)

    with (
        pytest.raises(DatabaseError, match=r"append-only \(DELETE refused\)"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM core_auditevent")

    assert _row(event) == before
    assert AuditEvent.objects.count() == 1


@pytest.mark.postgres
def test_the_documented_application_role_can_append_but_not_truncate(event: AuditEvent) -> None:
    """docs/operations.md: TRUNCATE is left to privileges, not to a trigger (the test runner's
    flush needs it), so the application's role gets only SELECT, INSERT on the table."""
    before = _row(event)
    role = f"telehealth_app_{uuid.uuid4().hex[:12]}"
    # CREATE ROLE is transactional in PostgreSQL: the test's rollback removes the role again.
    assert connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT rolsuper OR rolcreaterole FROM pg_roles WHERE rolname = current_user"
        )
        if not cursor.fetchone()[0]:
            pytest.skip("the test database user may not CREATE ROLE")
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        cursor.execute(f"GRANT SELECT, INSERT ON core_auditevent TO {role}")
        cursor.execute(f"SET LOCAL ROLE {role}")
    try:
        (appended,) = audit_record(
            actor=Actor(role=Role.OPERATIONS),
            action=AuditAction.READ,
            object_type="patient",
            object_ids=["p-5"],
        )
        for statement in ["TRUNCATE core_auditevent", "DELETE FROM core_auditevent"]:
            with (
                pytest.raises(DatabaseError, match="permission denied for table core_auditevent"),
                transaction.atomic(),
                connection.cursor() as cursor,
            ):
                cursor.execute(statement)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")

    assert _row(event) == before
    assert AuditEvent.objects.filter(pk=appended.pk).exists()
    assert AuditEvent.objects.count() == 2


def test_appending_still_works_after_a_refusal(event: AuditEvent) -> None:
    with pytest.raises(DatabaseError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_auditevent WHERE id = %s", [event.pk])

    audit_record(
        actor=Actor(role=Role.OPERATIONS),
        action=AuditAction.READ,
        object_type="patient",
        object_ids=["p-4"],
    )

    assert list(AuditEvent.objects.order_by("pk").values_list("object_id", flat=True)) == [
        "p-1",
        "p-4",
    ]
