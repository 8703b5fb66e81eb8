"""The hot paths' queries are served by the index meant for them (PostgreSQL).

Each path runs the code itself (a selector, a service, an API request) and captures the SQL it
sends; the query on the path's table is explained with `SET LOCAL enable_seqscan = off`, and the
plan must scan the expected index with an index condition on the path's columns. A missing index,
or a query whose conditions no longer fit it, fails by name.

The tables here hold a few rows, where the planner prefers whichever index is smallest (often the
foreign key's own, a prefix of the composite one), or reads a whole small table, rather than what
it picks over millions of rows. So the module's statistics are its own rows' (ANALYZE, after a
past of finished visits is written), and for each EXPLAIN, in a savepoint rolled back afterwards,
the table's other plain indexes are dropped (its primary key and unique constraints stay) and
per-row costs are raised (SMALL_TABLES_AS_LARGE). What is asserted is that the expected index
exists and fits the query, not the planner's choice on toy statistics.
"""

import datetime
import re
from collections.abc import Callable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Model
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from consultations.models import (
    RECORD_RETENTION_YEARS,
    Consultation,
    ConsultationKind,
    ConsultationStatus,
    Slot,
)
from consultations.selectors.consultations import doctor_queue, facility_day_list
from consultations.services import booking
from core import outbox
from core.actors import actor_for_user
from core.dates import local_day_start, years_after
from core.exceptions import DomainError
from notifications.models import OUTBOX_STATES, InAppMessage, Notification
from notifications.selectors import in_app_unread_count
from pharmacy.models import Fulfilment, FulfilmentStatus, TrackingEvent
from pharmacy.pickup_codes import pickup_token
from pharmacy.selectors import fulfilment_detail
from pharmacy.services.pickup import pickup_dispense
from prescriptions.selectors import prescription_get_for_actor
from provider_emulators.hooks import emulator_signed_callback
from tests.consultations.builders import Visit
from tests.factories import make_doctor, make_facility, make_patient
from tests.payments.factories import Sale, open_attempt, payer_pays_quietly, post_callback
from tests.query_budgets.growth import Scene, awaiting_payment, courier_reports, module_scene
from tests.security.actors import (
    DOCTOR_TREATING,
    PATIENT_OWNER,
    PHARMACIST,
    STAFF_OWN,
    rolled_back,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]


def index_on(model: type[Model], *columns: str) -> str:
    """The name of the model's index on exactly these columns (for indexes Django names itself:
    Meta.indexes without a name, and foreign keys)."""
    table = model._meta.db_table
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    names = [
        name
        for name, details in constraints.items()
        if details["index"] and details["columns"] == list(columns)
    ]
    assert names, f"no index on {table} ({', '.join(columns)})"
    return names[0]


@dataclass(frozen=True)
class HotPath:
    name: str
    run: Callable[[Scene], Any]  # runs the code path, whose queries are captured
    table: str  # the table of the query under test (the first captured query reading it)
    # The indexes its plan must scan, each with the columns its index condition must use.
    indexes: Callable[[], dict[str, tuple[str, ...]]]
    marker: str = ""  # a further piece of SQL that picks the query out


def _api(scene: Scene, who: str, url: str) -> None:
    response = scene.world.cast.api(who).get(url)
    assert response.status_code == 200, response.content


def _actor(scene: Scene, who: str) -> Any:
    return actor_for_user(scene.world.cast.users[who])


def _tomorrow() -> str:
    return str(timezone.localdate() + datetime.timedelta(days=1))


def _slots_of_department(scene: Scene) -> None:
    department = scene.world.department.public_id
    _api(
        scene,
        STAFF_OWN,
        f"/api/v1/slots/?department={department}&date={_tomorrow()}&available=true",
    )


def _slots_of_doctor(scene: Scene) -> None:
    doctor = scene.world.doctor.public_id
    _api(scene, STAFF_OWN, f"/api/v1/slots/?doctor={doctor}&date={_tomorrow()}&available=true")


def _book_first_free(scene: Scene, **target: Any) -> None:
    """Book a newcomer into the first free slot of the doctor or the department."""
    booking.consultation_book(
        actor=_actor(scene, STAFF_OWN), patient=scene.newcomers[0].patient, **target
    )


def _overlapping_bookings(scene: Scene) -> None:
    """The booking's check for the patient's own overlapping bookings (under the lock)."""
    slot = scene.world.free_slot
    booking._check_patient_rules(
        patient=scene.world.patient, now=timezone.now(), period=(slot.starts_at, slot.ends_at)
    )


def _slot_still_free(scene: Scene) -> None:
    """The booking's check that nobody holds the chosen slot (under the doctor's lock)."""
    choose = booking._the_slot(scene.world.free_slot)
    choose(scene.world.doctor.doctor_profile, scene.world.patient, timezone.now())


def _pickup_by_code(scene: Scene) -> None:
    fulfilment = scene.world.fulfilment
    pickup_dispense(actor=_actor(scene, STAFF_OWN), code=fulfilment.pickup_code)


def _pickup_code_shown_again(scene: Scene) -> None:
    """A code no ready pickup holds: the lookup of the facility's fulfilment that had it (the
    handover is then refused)."""
    handed_over = Fulfilment.objects.filter(
        facility=scene.world.facility, status=FulfilmentStatus.PICKED_UP
    ).first()
    assert handed_over is not None
    pickup_dispense(actor=_actor(scene, STAFF_OWN), code=handed_over.pickup_code)


def _pickup_by_token(scene: Scene) -> None:
    fulfilment = scene.world.fulfilment
    assert fulfilment.pickup_code_expires_at is not None
    token = pickup_token(
        fulfilment_public_id=fulfilment.public_id,
        code=fulfilment.pickup_code,
        expires_at=fulfilment.pickup_code_expires_at,
    )
    pickup_dispense(actor=_actor(scene, STAFF_OWN), token=token)


def _paid_callback(scene: Scene) -> Any:
    """A new approved prescription's order, paid at WeChat Pay (the emulator) without telling
    the platform yet; returns the payment notification the emulator signs."""
    world = scene.world
    order = awaiting_payment(world)
    assert order.prescription is not None
    visit = Visit(
        consultation=world.live,
        facility=world.facility,
        staff=world.cast.users[STAFF_OWN],
        doctor=world.doctor,
        patient=world.patient,
    )
    sale = Sale(
        visit=visit,
        prescription=order.prescription,
        order=order,
        patient_user=world.cast.users[PATIENT_OWNER],
    )
    attempt = open_attempt(sale)
    payer_pays_quietly(attempt)
    return emulator_signed_callback(provider="wechatpay", out_trade_no=attempt.out_trade_no)


def _callback(scene: Scene) -> None:
    signed = _paid_callback(scene)
    assert post_callback(Client(), signed, provider="wechatpay").status_code == 204


def _redelivered_callback(scene: Scene) -> None:
    """The same notification twice: the second finds the first's row (its lookup by event id)."""
    signed = _paid_callback(scene)
    for _ in range(2):
        assert post_callback(Client(), signed, provider="wechatpay").status_code == 204


HOT_PATHS = [
    HotPath(
        "slot search by department, day and availability",
        _slots_of_department,
        "consultations_slot",
        lambda: {index_on(Slot, "department_id", "starts_at"): ("department_id", "starts_at")},
        marker="LIMIT",
    ),
    HotPath(
        "slot search by doctor, day and availability",
        _slots_of_doctor,
        "consultations_slot",
        lambda: {"slot_doctor_start_unique": ("doctor_id", "starts_at")},
        marker="LIMIT",
    ),
    HotPath(
        "booking: the department's first free slot",
        lambda s: _book_first_free(s, department=s.world.department),
        "consultations_slot",
        lambda: {index_on(Slot, "department_id", "starts_at"): ("department_id", "starts_at")},
        marker="LIMIT 1",
    ),
    HotPath(
        "booking: the doctor's first free slot",
        lambda s: _book_first_free(s, doctor=s.world.doctor.doctor_profile),
        "consultations_slot",
        lambda: {"slot_doctor_start_unique": ("doctor_id", "starts_at")},
        marker="LIMIT 1",
    ),
    HotPath(
        "booking: the patient's overlapping bookings",
        _overlapping_bookings,
        "consultations_consultation",
        lambda: {index_on(Consultation, "patient_id", "status"): ("patient_id",)},
    ),
    HotPath(
        "booking: the slot is still free",
        _slot_still_free,
        "consultations_consultation",
        lambda: {"consultation_one_booking_per_slot": ("slot_id",)},
    ),
    HotPath(
        "the doctor's queue",
        lambda s: doctor_queue(actor=_actor(s, DOCTOR_TREATING)),
        "consultations_consultation",
        lambda: {
            index_on(Consultation, "doctor_id", "status", "scheduled_start"): (
                "doctor_id",
                "status",
                "scheduled_start",
            ),
            index_on(Consultation, "department_id", "walk_in_date", "status"): (
                "department_id",
                "walk_in_date",
                "status",
            ),
        },
    ),
    HotPath(
        "the facility's day list",
        lambda s: list(
            facility_day_list(facility_id=s.world.facility.pk, day=timezone.localdate())
        ),
        "consultations_consultation",
        # The booked (a time range) or the day's walk-ins (a date): the OR keeps the range out of
        # the index condition, so the facility's rows are read and filtered.
        lambda: {index_on(Consultation, "facility_id", "scheduled_start"): ("facility_id",)},
    ),
    HotPath(
        "the patient's consultations",
        lambda s: _api(s, PATIENT_OWNER, "/api/v1/consultations/"),
        "consultations_consultation",
        lambda: {index_on(Consultation, "patient_id", "status"): ("patient_id",)},
        marker="LIMIT",
    ),
    HotPath(
        "the patient's orders",
        lambda s: _api(s, PATIENT_OWNER, "/api/v1/orders/"),
        "payments_paymentorder",
        lambda: {"payment_order_patient_idx": ("patient_id",)},
        marker="LIMIT",
    ),
    HotPath(
        "the doctor's prescriptions, newest first",
        lambda s: _api(s, DOCTOR_TREATING, "/api/v1/prescriptions/"),
        "prescriptions_prescription",
        lambda: {"prescription_doctor_idx": ("doctor_id",)},
        marker="LIMIT",
    ),
    HotPath(
        "the pharmacist's review queue",
        lambda s: _api(s, PHARMACIST, "/api/v1/prescriptions/review-queue/"),
        "prescriptions_prescription",
        lambda: {"prescription_queue_idx": ("status",)},
        marker="LIMIT",
    ),
    HotPath(
        "a prescription by its public id",
        lambda s: prescription_get_for_actor(
            actor=_actor(s, PHARMACIST), public_id=s.world.approved.public_id
        ),
        "prescriptions_prescription",
        lambda: {"prescriptions_prescription_public_id_key": ("public_id",)},
    ),
    HotPath(
        "a payment callback finds its order by out_trade_no",
        _callback,
        "payments_paymentattempt",
        lambda: {"payments_paymentattempt_out_trade_no_key": ("out_trade_no",)},
        marker='"out_trade_no" =',
    ),
    HotPath(
        "a redelivered callback finds the first one",
        _redelivered_callback,
        "payments_inboundcallback",
        lambda: {"callback_event_once": ("provider", "event_id")},
        marker='"event_id" =',
    ),
    HotPath(
        "the payment ledger's dedupe lookup",
        _callback,
        "payments_paymentevent",
        lambda: {"payments_paymentevent_dedupe_key_key": ("dedupe_key",)},
        marker='"dedupe_key" =',
    ),
    HotPath(
        "a pickup by its code",
        _pickup_by_code,
        "pharmacy_fulfilment",
        lambda: {"fulfilment_active_pickup_code_unique": ("pickup_code",)},
        marker='"pickup_code" =',
    ),
    HotPath(
        "a pickup code shown again after the handover",
        _pickup_code_shown_again,
        "pharmacy_fulfilment",
        lambda: {"fulfilment_pickup_code_idx": ("facility_id", "pickup_code")},
        marker='"picked_up_at" DESC',
    ),
    HotPath(
        "a pickup by its QR token",
        _pickup_by_token,
        "pharmacy_fulfilment",
        lambda: {"pharmacy_fulfilment_public_id_key": ("public_id",)},
        marker='"public_id" =',
    ),
    HotPath(
        "a courier's report finds its waybill",
        lambda s: courier_reports(s.delivery, "in_transit"),
        "pharmacy_waybill",
        lambda: {"waybill_number_unique": ("courier", "waybill_number")},
        marker='"waybill_number" =',
    ),
    HotPath(
        "the tracking events of a fulfilment",
        lambda s: fulfilment_detail(s.delivery),
        "pharmacy_trackingevent",
        lambda: {index_on(TrackingEvent, "waybill_id"): ("waybill_id",)},
    ),
    HotPath(
        "notifications due for sending",
        lambda s: outbox.due_ids(
            Notification,
            states=OUTBOX_STATES,
            now=timezone.now(),
            grace=datetime.timedelta(seconds=settings.NOTIFICATION_SWEEP_AFTER_SECONDS),
            limit=settings.NOTIFICATION_SWEEP_BATCH,
        ),
        "notifications_notification",
        lambda: {
            index_on(Notification, "status", "next_attempt_at"): ("status", "next_attempt_at")
        },
    ),
    HotPath(
        "a user's unread in-app messages",
        lambda s: in_app_unread_count(actor=_actor(s, PATIENT_OWNER)),
        "notifications_inappmessage",
        lambda: {
            index_on(InAppMessage, "user_id", "read_at", "created_at"): ("user_id", "read_at")
        },
    ),
]


def _history(scene: Scene, *, days: int = 240) -> None:
    """A finished walk-in visit on each of the past `days` days, spread over a dozen patients,
    four doctors and four facilities (written in bulk): the statistics of a platform with a past,
    where most consultations are long over and any one patient, doctor or facility holds few."""
    world = scene.world
    staff = world.cast.users[STAFF_OWN]
    patients = [world.patient, *(make_patient(staff, name="李建国") for _ in range(11))]
    doctors = [world.doctor.doctor_profile, *(make_doctor().doctor_profile for _ in range(3))]
    facilities = [world.facility, *(make_facility() for _ in range(3))]
    today = timezone.localdate()
    visits = []
    for n in range(days):
        day = today - datetime.timedelta(days=n + 1)
        midnight = local_day_start(day)
        doctor = doctors[n % len(doctors)]
        visits.append(
            Consultation(
                patient=patients[n % len(patients)],
                department=doctor.department,
                doctor=doctor,
                facility=facilities[n % len(facilities)],
                kind=ConsultationKind.WALK_IN,
                walk_in_date=day,
                walk_in_token=1,
                scheduled_start=midnight,
                scheduled_end=midnight + datetime.timedelta(days=1),
                status=ConsultationStatus.COMPLETED,
                fee_fen=doctor.department.consultation_fee_fen,
                booked_by=staff,
                retention_until=years_after(day, RECORD_RETENTION_YEARS),
            )
        )
    Consultation.objects.bulk_create(visits)


@pytest.fixture(scope="module")
def scene(
    django_db_setup: None, django_db_blocker: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scene]:
    with module_scene(django_db_blocker, tmp_path_factory.mktemp("indexes-media")) as made:
        _history(made)
        with connection.cursor() as cursor:
            # Statistics of the scene's rows, not of whatever the tables last held (ANALYZE in a
            # transaction samples its own rows; the statistics are rolled back with it).
            cursor.execute("ANALYZE")
        yield made


def _captured(scene: Scene, path: HotPath) -> list[str]:
    # A refusal after the lookup (a pickup already handed over) still ran the lookup.
    with rolled_back(), CaptureQueriesContext(connection) as captured, suppress(DomainError):
        path.run(scene)
    return [query["sql"] for query in captured.captured_queries]


# On tables of a few rows, reading a whole table (or a whole index, in place of the sequential
# scan ruled out) and hashing it costs about what one lookup does; over the tables of production
# a lookup of one patient's or one doctor's rows wins by far. Per-row costs raised a hundredfold
# and no hash or merge joins make the planner choose as it would there.
SMALL_TABLES_AS_LARGE = (
    "cpu_tuple_cost = 1",
    "cpu_index_tuple_cost = 1",
    "enable_hashjoin = off",
    "enable_mergejoin = off",
)


def _drop_other_indexes(table: str, keep: list[str]) -> None:
    """Drop the table's plain indexes but `keep` (the caller's savepoint brings them back)."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT index.relname
            FROM pg_index
            JOIN pg_class index ON index.oid = pg_index.indexrelid
            WHERE pg_index.indrelid = %s::regclass
              AND NOT EXISTS (SELECT 1 FROM pg_constraint WHERE conindid = pg_index.indexrelid)
              AND NOT index.relname = ANY(%s)
            """,
            [table, keep],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')


@dataclass
class Plan:
    scans: dict[str, list[str]]  # index name: the index condition of each scan of it
    outline: str  # the plan, one node a line, for failure messages


def _explain(sql: str, *, table: str, keep: list[str]) -> Plan:
    """The plan of `sql` with sequential scans ruled out and the table's other plain indexes
    gone."""
    with rolled_back(), connection.cursor() as cursor:
        _drop_other_indexes(table, keep)
        cursor.execute("SET LOCAL enable_seqscan = off")
        for setting in SMALL_TABLES_AS_LARGE:
            cursor.execute(f"SET LOCAL {setting}")
        cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}")
        (document,) = cursor.fetchone()
    scans: dict[str, list[str]] = {}
    lines: list[str] = []

    def walk(node: dict[str, Any], depth: int) -> None:
        if "Index Name" in node:
            scans.setdefault(node["Index Name"], []).append(node.get("Index Cond", ""))
        described = [node["Node Type"], node.get("Relation Name", ""), node.get("Index Name", "")]
        for key in ("Index Cond", "Filter", "Recheck Cond"):
            if key in node:
                described.append(f"{key}: {node[key]}")
        lines.append("  " * depth + " ".join(part for part in described if part))
        for child in node.get("Plans", []):
            walk(child, depth + 1)

    walk(document[0]["Plan"], 0)
    return Plan(scans=scans, outline="\n".join(lines))


@pytest.mark.parametrize("path", HOT_PATHS, ids=[path.name for path in HOT_PATHS])
def test_the_hot_path_scans_its_index(scene: Scene, path: HotPath) -> None:
    queries = [
        sql
        for sql in _captured(scene, path)
        if f'FROM "{path.table}"' in sql and path.marker in sql
    ]
    assert queries, f"{path.name}: no query reads {path.table} with {path.marker!r}"
    expected = path.indexes()
    plan = _explain(queries[0], table=path.table, keep=list(expected))
    fitting = {
        index: any(
            all(re.search(rf"\b{column}\b", condition) for column in columns)
            for condition in plan.scans.get(index, [])
        )
        for index, columns in expected.items()
    }
    assert all(fitting.values()), (
        f"{path.name}: expected {expected}, the plan is\n{plan.outline}\nfor\n{queries[0]}"
    )
