"""Runs a scale generation: the network, the id reservation, the history batches (in worker
processes), the pharmacies' stock ledger and the statistics, each step recorded as it commits
(`core.ScaleStep`) so that a run stopped anywhere continues where it stopped.
"""

import datetime
import multiprocessing
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from django.db import connection, connections, models, transaction
from django.utils import timezone

from clinics.models import Department
from consultations.models import Consultation
from core.dates import local_day_start
from core.models import ScaleRun, ScaleStep
from core.scale.context import HISTORY_DAYS, Context, context_load
from core.scale.history import Batch
from core.scale.network import network_build
from core.scale.plan import MODELS, Plan
from patients.models import Patient
from payments.models import OrderNumberCounter, PaymentOrder
from pharmacy.models import Dispense, DispenseItem, FacilityStock, StockMovement
from prescriptions.models import Prescription, PrescriptionNumberCounter

Progress = Callable[[str], None]
NETWORK = "network"
HISTORY = "history"
STOCK = "stock"
INDEXES = "indexes"
OPENING_STOCK_NOTE = "opening stock"
# Packs left on each shelf after the history, so pickups can go on.
STOCK_LEFT = 50
PROGRESS_EVERY_SECONDS = 5.0


class GenerationError(Exception):
    """The run cannot start or continue as asked (the message says why and what to do)."""


class GenerationStopped(Exception):
    """Stopped after the number of batches asked for (to try resuming)."""


@dataclass(frozen=True)
class Options:
    patients: int
    consultations: int
    doctors: int
    facilities: int
    seed: int
    batch_size: int


@dataclass(frozen=True)
class Outcome:
    run: ScaleRun
    batches_written: int
    seconds: float


def _require_postgresql() -> None:
    if connection.vendor != "postgresql":
        raise GenerationError(
            "seed_scale writes with PostgreSQL's COPY and needs PostgreSQL: set "
            "DATABASE_URL=postgres://… (SQLite is not supported, at any size; use seed_demo)."
        )


def _run_for(options: Options, until: datetime.date | None) -> ScaleRun:
    wanted = asdict(options)
    run = ScaleRun.objects.order_by("pk").first()
    if run is None:
        if Patient.objects.exists() or Consultation.objects.exists():
            raise GenerationError(
                "This database already holds patients or consultations seed_scale did not "
                "generate; generate into an empty, migrated database."
            )
        return ScaleRun.objects.create(options=wanted, history_until=until or timezone.localdate())
    if run.options != wanted or (until is not None and until != run.history_until):
        raise GenerationError(
            f"This database holds a seed_scale run with other options ({run.options}, history "
            f"until {run.history_until}). Run again with the same options to continue it, or "
            "generate into another database."
        )
    return run


def _done(run: ScaleRun, phase: str) -> set[int]:
    return set(ScaleStep.objects.filter(run=run, phase=phase).values_list("batch", flat=True))


def _check_capacity(ctx: Context, options: Options) -> None:
    for code, department in ctx.departments.items():
        needed = ctx.department_count(code, options.consultations)
        if needed > department.slots.size:
            raise GenerationError(
                f"{options.consultations} consultations need {needed} slots in {code}, whose "
                f"{len(department.doctors)} doctors have {department.slots.size} in "
                f"{HISTORY_DAYS} days: ask for more --doctors."
            )
    if options.consultations and not options.patients:
        raise GenerationError("Consultations need patients: --patients must be at least 1.")


def _reserve_ids(run: ScaleRun, plan: Plan) -> None:
    """Move each table's sequence past the windows of every batch, once per run."""
    ranges: dict[str, list[int]] = {}
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        locked = ScaleRun.objects.select_for_update().get(pk=run.pk)
        if locked.id_ranges:
            run.id_ranges = locked.id_ranges
            return
        for model in MODELS:
            table = model._meta.db_table
            cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
            sequence = cursor.fetchone()[0]
            quoted = connection.ops.quote_name(table)
            cursor.execute(
                f"SELECT GREATEST((SELECT COALESCE(MAX(id), 0) FROM {quoted}), "  # noqa: S608
                f"(SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END "
                f"FROM {sequence})) + 1"
            )
            first = cursor.fetchone()[0]
            window = plan.window(model)
            cursor.execute(
                "SELECT setval(%s, %s, true)", [sequence, first + plan.batches * window - 1]
            )
            ranges[table] = [first, window]
        locked.id_ranges = ranges
        locked.save(update_fields=["id_ranges"])
    run.id_ranges = ranges


# --- Indexes ------------------------------------------------------------------------------------


def _defer_indexes(run: ScaleRun, progress: Progress) -> None:
    """Drop the secondary indexes and unique constraints of the tables the batches fill, keeping
    the statements that rebuild them (as pg_restore loads data before indexes).

    Every row then costs one heap write instead of a dozen random index-page writes, each with
    a full-page image in the WAL after every checkpoint; a sorted build at the end is far
    cheaper. Primary keys, check constraints, NOT NULL and foreign keys (with the indexes they
    rely on) stay in force throughout, and a unique constraint rebuilt over a duplicate fails
    the run there.
    """
    tables = [model._meta.db_table for model in MODELS]
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        locked = ScaleRun.objects.select_for_update().get(pk=run.pk)
        if locked.deferred_indexes or ScaleStep.objects.filter(run=run, phase=INDEXES).exists():
            run.deferred_indexes = locked.deferred_indexes
            return
        cursor.execute(
            """
            SELECT t.relname, x.relname, pg_get_indexdef(i.indexrelid), c.conname,
                   pg_get_constraintdef(c.oid)
            FROM pg_index i
            JOIN pg_class x ON x.oid = i.indexrelid
            JOIN pg_class t ON t.oid = i.indrelid
            LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid AND c.conrelid = i.indrelid
            WHERE t.oid = ANY(%s::regclass[])
              AND NOT i.indisprimary
              AND i.indexrelid NOT IN (SELECT conindid FROM pg_constraint WHERE contype = 'f')
            ORDER BY t.relname, x.relname
            """,
            [tables],
        )
        deferred = []
        for table, index, index_sql, constraint, constraint_sql in cursor.fetchall():
            quoted = connection.ops.quote_name(table)
            if constraint:
                name = connection.ops.quote_name(constraint)
                cursor.execute(f"ALTER TABLE {quoted} DROP CONSTRAINT {name}")
                sql = f"ALTER TABLE {quoted} ADD CONSTRAINT {name} {constraint_sql}"
                deferred.append(
                    {"table": table, "name": constraint, "sql": sql, "constraint": True}
                )
            else:
                cursor.execute(f"DROP INDEX {connection.ops.quote_name(index)}")
                deferred.append(
                    {"table": table, "name": index, "sql": index_sql, "constraint": False}
                )
        locked.deferred_indexes = deferred
        locked.save(update_fields=["deferred_indexes"])
    run.deferred_indexes = deferred
    progress(f"indexes: {len(deferred)} secondary indexes and unique constraints set aside")


def _rebuild(entry: dict[str, Any], cursor: Any) -> None:
    """A model's declared constraint or index through the schema editor (the statement its
    migration ran: a partial index's condition read back from the catalogue would be written
    differently), anything else (field uniques and indexes) from the catalogue's definition."""
    model = next(m for m in MODELS if m._meta.db_table == entry["table"])
    declared = [*model._meta.constraints, *model._meta.indexes]
    match = next((item for item in declared if item.name == entry["name"]), None)
    if match is None:
        cursor.execute(entry["sql"])
        return
    with connection.schema_editor() as editor:
        if isinstance(match, models.Index):
            editor.add_index(model, match)
        else:
            editor.add_constraint(model, match)


def _restore_indexes(run: ScaleRun, progress: Progress) -> None:
    """Rebuild what `_defer_indexes` dropped, one committed statement at a time (a run stopped
    here rebuilds the rest when run again)."""
    if not run.deferred_indexes:
        return
    started = time.monotonic()
    total = len(run.deferred_indexes)
    while run.deferred_indexes:
        entry = run.deferred_indexes[0]
        with transaction.atomic(durable=True), connection.cursor() as cursor:
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            if entry["constraint"]:
                cursor.execute(
                    "SELECT 1 FROM pg_constraint WHERE conname = %s AND conrelid = %s::regclass",
                    [entry["name"], entry["table"]],
                )
                exists = cursor.fetchone() is not None
            else:
                cursor.execute("SELECT to_regclass(%s)", [entry["name"]])
                exists = cursor.fetchone()[0] is not None
            if not exists:
                _rebuild(entry, cursor)
            run.deferred_indexes = run.deferred_indexes[1:]
            ScaleRun.objects.filter(pk=run.pk).update(deferred_indexes=run.deferred_indexes)
    with transaction.atomic(durable=True):
        ScaleStep.objects.get_or_create(run=run, phase=INDEXES)
    progress(f"indexes: {total} rebuilt in {time.monotonic() - started:.1f} s")


# --- Batches ------------------------------------------------------------------------------------

# What the worker processes read: set before they fork, so each gets it without pickling.
_WORK: dict[str, Any] = {}


def _write_batch(batch: int) -> tuple[int, int, int, float, float]:
    """Build and write one batch with its step row: (batch, rows, consultations, seconds
    building, seconds writing)."""
    ctx: Context = _WORK["context"]
    plan: Plan = _WORK["plan"]
    run: ScaleRun = _WORK["run"]
    started = time.monotonic()
    built = Batch(ctx, plan, run.id_ranges, batch)
    tables = built.build()
    building = time.monotonic() - started
    with transaction.atomic(durable=True):
        with connection.cursor() as cursor:
            # A lost commit is only a batch to write again: its step row goes with it.
            cursor.execute("SET LOCAL synchronous_commit TO OFF")
        rows = sum(table.copy() for table in tables.values())
        ScaleStep.objects.create(run=run, phase=HISTORY, batch=batch, rows=rows)
    return batch, rows, built.consultations, building, time.monotonic() - started - building


def _batches(todo: list[int], workers: int) -> Iterator[tuple[int, int, int, float, float]]:
    if workers <= 1 or len(todo) <= 1:
        for batch in todo:
            yield _write_batch(batch)
        return
    connections.close_all()  # each worker opens its own connection
    pool = multiprocessing.get_context("fork").Pool(workers)
    try:
        yield from pool.imap_unordered(_write_batch, todo, chunksize=1)
        pool.close()
    finally:
        pool.terminate()
        pool.join()


def _history(
    run: ScaleRun,
    ctx: Context,
    plan: Plan,
    *,
    workers: int,
    stop_after: int | None,
    progress: Progress,
) -> int:
    done = _done(run, HISTORY)
    todo = [batch for batch in range(plan.batches) if batch not in done]
    total = plan.batches
    progress(
        f"history: {plan.batches} batches of about {plan.batch_size} consultations; "
        f"{len(done)} already written, {len(todo)} to write with {workers} worker(s)"
    )
    _WORK.update(context=ctx, plan=plan, run=run)
    started = time.monotonic()
    last_report = started
    written = rows = consultations = 0
    building = writing = 0.0
    consultations_before = sum(len(plan.consultation_range(batch)) for batch in done)
    try:
        for _, batch_rows, batch_consultations, batch_building, batch_writing in _batches(
            todo, workers
        ):
            written += 1
            rows += batch_rows
            consultations += batch_consultations
            building += batch_building
            writing += batch_writing
            now = time.monotonic()
            finished = written == len(todo)
            if finished or now - last_report >= PROGRESS_EVERY_SECONDS:
                last_report = now
                elapsed = now - started
                rate = rows / elapsed if elapsed else 0.0
                left = (len(todo) - written) * elapsed / written
                progress(
                    f"  history: {len(done) + written}/{total} batches · "
                    f"{consultations_before + consultations:,}/{plan.consultations:,} "
                    f"consultations · {rows:,} rows · {rate:,.0f} rows/s · "
                    f"{elapsed:.0f} s, about {left:.0f} s left (workers: {building:.0f} s "
                    f"building rows, {writing:.0f} s writing them)"
                )
            if stop_after is not None and written >= stop_after and not finished:
                raise GenerationStopped(
                    f"Stopped after {written} batch(es), as asked; run the same command again "
                    "to continue."
                )
    finally:
        _WORK.clear()
    return written


# --- After the history -------------------------------------------------------------------------


def _table(model: type[models.Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _stock(run: ScaleRun, ctx: Context, progress: Progress) -> None:
    """Each facility's shelf: an opening receipt at the start of the history covering every
    pack handed over there plus what is left, then one movement per pickup, in time order
    (quantity_after running down), and the shelf as it stands. Also the day counters of
    prescription and order numbers, at the highest number each day used."""
    opened = local_day_start(ctx.history_start)
    movement, dispense, item = _table(StockMovement), _table(Dispense), _table(DispenseItem)
    with transaction.atomic(durable=True), connection.cursor() as cursor:
        if ScaleStep.objects.filter(run=run, phase=STOCK).exists():
            return
        taken = (
            f"SELECT d.facility_id, i.drug_id, i.quantity, d.id AS dispense_id, "  # noqa: S608
            f"d.dispensed_by_id, d.actor_role, d.terminal_id, d.dispensed_at "
            f"FROM {item} i JOIN {dispense} d ON d.id = i.dispense_id "
            f"WHERE d.facility_id IS NOT NULL"
        )
        totals = (
            f"SELECT facility_id, drug_id, SUM(quantity) AS packs FROM ({taken}) t "  # noqa: S608
            "GROUP BY 1, 2"
        )
        columns = (
            "facility_id, drug_id, change, quantity_after, reason, note, dispense_id, actor_id, "
            "actor_role, terminal_id, occurred_at"
        )
        cursor.execute(
            f"INSERT INTO {movement} ({columns}) "  # noqa: S608
            f"SELECT facility_id, drug_id, packs + %s, packs + %s, 'received', %s, NULL, NULL, "
            f"'system', NULL, %s FROM ({totals}) s",
            [STOCK_LEFT, STOCK_LEFT, OPENING_STOCK_NOTE, opened],
        )
        received = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {movement} ({columns}) "  # noqa: S608
            f"SELECT t.facility_id, t.drug_id, -t.quantity, s.packs + %s - SUM(t.quantity) "
            f"OVER (PARTITION BY t.facility_id, t.drug_id ORDER BY t.dispensed_at, t.dispense_id "
            f"ROWS UNBOUNDED PRECEDING), 'dispensed', '', t.dispense_id, t.dispensed_by_id, "
            f"t.actor_role, t.terminal_id, t.dispensed_at "
            f"FROM ({taken}) t JOIN ({totals}) s USING (facility_id, drug_id)",
            [STOCK_LEFT],
        )
        dispensed = cursor.rowcount
        cursor.execute(
            f"INSERT INTO {_table(FacilityStock)} (facility_id, drug_id, quantity, updated_at) "  # noqa: S608
            f"SELECT facility_id, drug_id, %s, %s FROM ({totals}) s",
            [STOCK_LEFT, timezone.now()],
        )
        shelves = cursor.rowcount
        for counter, source, prefix in (
            (PrescriptionNumberCounter, Prescription, "RX"),
            (OrderNumberCounter, PaymentOrder, "PO"),
        ):
            cursor.execute(
                f"INSERT INTO {_table(counter)} (date, last_value) "  # noqa: S608
                f"SELECT to_date(substr(number, 3, 8), 'YYYYMMDD'), MAX(substr(number, 11)::int) "
                f"FROM {_table(source)} WHERE number LIKE %s GROUP BY 1 "
                f"ON CONFLICT (date) DO UPDATE SET last_value = "
                f"GREATEST({_table(counter)}.last_value, EXCLUDED.last_value)",
                [f"{prefix}%"],
            )
        ScaleStep.objects.create(run=run, phase=STOCK, rows=received + dispensed + shelves)
    progress(
        f"stock: {shelves:,} shelves, {received:,} opening receipts, {dispensed:,} pickups taken"
    )


def table_counts() -> dict[str, int]:
    """Rows in every table the generator writes (exact counts)."""
    models_counted: list[type[models.Model]] = [
        Department,
        *MODELS,
        StockMovement,
        FacilityStock,
    ]
    with connection.cursor() as cursor:
        counts = {}
        for model in models_counted:
            cursor.execute(f"SELECT count(*) FROM {_table(model)}")  # noqa: S608
            counts[model._meta.db_table] = cursor.fetchone()[0]
    return counts


def scale_generate(
    options: Options,
    *,
    until: datetime.date | None,
    workers: int,
    stop_after: int | None,
    progress: Progress,
) -> Outcome:
    _require_postgresql()
    started = time.monotonic()
    run = _run_for(options, until)
    history_start = run.history_until - datetime.timedelta(days=HISTORY_DAYS)
    progress(
        f"history from {history_start} to {run.history_until} (exclusive); run {run.pk}, "
        f"seed {options.seed}"
    )
    if not _done(run, NETWORK):
        phase_started = time.monotonic()
        progress(f"network: {options.facilities:,} facilities, {options.doctors:,} doctors")
        network_build(
            doctors=options.doctors,
            facilities=options.facilities,
            seed=options.seed,
            history_start=history_start,
            history_until=run.history_until,
            progress=progress,
        )
        ScaleStep.objects.create(run=run, phase=NETWORK)
        progress(f"network: done in {time.monotonic() - phase_started:.1f} s")
    phase_started = time.monotonic()
    ctx = context_load(
        doctors=options.doctors,
        facilities=options.facilities,
        seed=options.seed,
        history_until=run.history_until,
    )
    progress(
        f"context: {len(ctx.departments)} departments with schedulable doctors, "
        f"{len(ctx.signers)} signers unlocked, in {time.monotonic() - phase_started:.1f} s"
    )
    _check_capacity(ctx, options)
    plan = Plan(options.patients, options.consultations, options.batch_size)
    _reserve_ids(run, plan)
    if len(_done(run, HISTORY)) < plan.batches:
        _defer_indexes(run, progress)
    written = _history(run, ctx, plan, workers=workers, stop_after=stop_after, progress=progress)
    _restore_indexes(run, progress)
    _stock(run, ctx, progress)
    if run.finished_at is None:
        phase_started = time.monotonic()
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        progress(f"ANALYZE: {time.monotonic() - phase_started:.1f} s")
        run.finished_at = timezone.now()
        run.save(update_fields=["finished_at"])
    return Outcome(run=run, batches_written=written, seconds=time.monotonic() - started)
