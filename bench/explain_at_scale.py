"""Where the hot reads spend their time on a database at scale: every SQL statement the read
endpoints send, explained with EXPLAIN (ANALYZE, BUFFERS) on that database.

    .venv/bin/python bench/explain_at_scale.py \
        --database-url postgres://postgres@127.0.0.1:5432/telehealth_scale_1m

Works on an existing database (a `seed_scale` one; nothing is created or dropped; the reads
write their audit rows as in production). For each endpoint it picks the busiest actor the
data holds (the doctor, facility, patient with the most rows), requests the endpoint in-process
through the API as that actor, captures the statements, then explains each SELECT and prints:
queries, the sum and the worst of the statements' execution times, and every sequential scan of
a table over `--big` rows with the rows it read. A hot path that lost its index shows up here as
a sequential scan of a table holding over `--big` rows, and as execution time that grows with
the data (a small table scanned in a loop costs time but is not listed).
"""

import argparse
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

BASE_DIR = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(BASE_DIR))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "telehealth.settings.base")


@dataclass(frozen=True)
class Read:
    name: str
    role: str  # whose point of view: doctor, staff, patient, pharmacist
    url: str


@dataclass
class Explained:
    statements: int = 0
    total_ms: float = 0.0
    worst_ms: float = 0.0
    worst_sql: str = ""
    seq_scans: list[str] | None = None


def _busiest(field: str) -> Any:
    """The id most consultations share in `field` (a doctor, facility or patient)."""
    from django.db.models import Count

    from consultations.models import Consultation

    return (
        Consultation.objects.values(field)
        .annotate(n=Count("id"))
        .order_by("-n")
        .values_list(field, flat=True)
        .first()
    )


def _actors() -> dict[str, Any]:
    from accounts.models import Role, User
    from clinics.models import StaffMembership
    from patients.models import Patient
    from payments.models import PaymentOrder

    doctor = User.objects.get(doctor_profile__pk=_busiest("doctor"))
    staff = StaffMembership.objects.filter(facility_id=_busiest("facility")).first()
    busiest_payer = (
        PaymentOrder.objects.exclude(consultation__patient__user=None)
        .values_list("consultation__patient", flat=True)
        .first()
    )
    if busiest_payer is None:
        sys.exit("No payment order of a patient with an account: is this a seed_scale database?")
    patient = Patient.objects.get(pk=busiest_payer)
    return {
        "doctor": doctor,
        "staff": staff.user if staff else None,
        "patient": patient.user,
        "pharmacist": User.objects.filter(role=Role.PHARMACIST).first(),
    }


def _reads() -> list[Read]:
    from django.utils import timezone

    from consultations.models import Slot
    from pharmacy.models import Fulfilment

    slot = Slot.objects.filter(starts_at__gt=timezone.now()).select_related("department").first()
    fulfilment = Fulfilment.objects.exclude(patient__user=None).order_by("-pk").first()
    today = timezone.localdate().isoformat()
    reads = [
        Read("doctor queue", "doctor", "/api/v1/consultations/queue/"),
        Read("doctor prescriptions", "doctor", "/api/v1/prescriptions/"),
        Read("facility day list", "staff", f"/api/v1/consultations/day/?date={today}"),
        Read("facility patients", "staff", "/api/v1/patients/"),
        Read("patient consultations", "patient", "/api/v1/consultations/"),
        Read("patient orders", "patient", "/api/v1/orders/"),
        Read("patient notifications", "patient", "/api/v1/notifications/"),
        Read("review queue", "pharmacist", "/api/v1/prescriptions/review-queue/"),
    ]
    if slot is not None:
        day = timezone.localdate(slot.starts_at).isoformat()
        reads.insert(
            0,
            Read(
                "slot search",
                "staff",
                f"/api/v1/slots/?department={slot.department.public_id}&date={day}&available=true",
            ),
        )
    if fulfilment is not None and fulfilment.patient.user is not None:
        reads.append(
            Read("patient tracking", "fulfilment", f"/api/v1/fulfilments/{fulfilment.public_id}/")
        )
    return reads


def _explain(sql: str, big: int) -> tuple[float, list[str]]:
    from django.db import connection, transaction

    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}")
            (plan,) = cursor.fetchone()
        transaction.set_rollback(True)
    plan = plan[0] if isinstance(plan, list) else json.loads(plan)[0]
    scans: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        if node.get("Node Type") == "Seq Scan" and _table_rows(node["Relation Name"]) >= big:
            loops = node.get("Actual Loops", 1)
            read = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * loops
            scans.append(f"{node['Relation Name']} ({read:,} rows read)")
        for child in node.get("Plans", []):
            walk(child)

    walk(plan["Plan"])
    return plan["Execution Time"], scans


def _table_rows(relation: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples::bigint FROM pg_class WHERE relname = %s", [relation])
        row = cursor.fetchone()
    return int(row[0]) if row else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument(
        "--big", type=int, default=10_000, help="a table this big must not be read sequentially"
    )
    options = parser.parse_args()
    os.environ["DATABASE_URL"] = options.database_url
    os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver")
    os.environ.setdefault("LOG_LEVEL", "WARNING")

    import django

    django.setup()
    from django.db import connection
    from django.test.utils import CaptureQueriesContext
    from rest_framework.test import APIClient

    from consultations.models import Consultation
    from patients.models import Patient

    actors = _actors()
    print(
        f"{options.database_url.rsplit('/', 1)[-1]}: {Consultation.objects.count():,} "
        f"consultations, {Patient.objects.count():,} patients"
    )
    print(f"{'read':<24} {'HTTP':>4} {'SQL':>4} {'SQL ms':>8} {'worst':>7}  sequential scans")
    for read in _reads():
        if read.role == "fulfilment":
            from pharmacy.models import Fulfilment

            public_id = read.url.rstrip("/").rsplit("/", 1)[-1]
            user = Fulfilment.objects.get(public_id=public_id).patient.user
        else:
            user = actors[read.role]
        client = APIClient()
        client.force_authenticate(user)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(read.url)
        result = Explained(seq_scans=[])
        for query in captured.captured_queries:
            sql = query["sql"]
            if not sql.lstrip().upper().startswith("SELECT"):
                continue
            milliseconds, scans = _explain(sql, options.big)
            result.statements += 1
            result.total_ms += milliseconds
            if milliseconds > result.worst_ms:
                result.worst_ms, result.worst_sql = milliseconds, sql
            assert result.seq_scans is not None
            result.seq_scans.extend(scans)
        listed = ", ".join(result.seq_scans or []) or "-"
        print(
            f"{read.name:<24} {response.status_code:>4} {len(captured.captured_queries):>4} "
            f"{result.total_ms:>8.1f} {result.worst_ms:>7.1f}  {listed}"
        )
        if result.seq_scans:
            print(f"    worst statement: {result.worst_sql[:400]}")


if __name__ == "__main__":
    main()
