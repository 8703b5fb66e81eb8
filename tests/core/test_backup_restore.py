"""scripts/db-backup and scripts/db-restore: back up, wipe, restore, and find every record and
the audit log (with its append-only triggers) intact."""

import os
import subprocess
import uuid
from pathlib import Path

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from core.actors import actor_for_user
from core.models import AuditAction
from core.services import audit_record
from tests.consultations.builders import make_visit
from tests.factories import make_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
SCRIPTS = Path(settings.BASE_DIR) / "scripts"
# Tables whose every row is compared before and after.
TABLES = (
    "core_auditevent",
    "patients_patient",
    "patients_priordiagnosisevidence",
    "consultations_consultation",
    "consultations_clinicalnote",
    "accounts_user",
)


def _url(name: str) -> str:
    params = connection.settings_dict
    user = params["USER"] or "postgres"
    return f"postgres://{user}@{params['HOST'] or '127.0.0.1'}:{params['PORT'] or 5432}/{name}"


def _rows(url: str) -> dict[str, list[tuple[object, ...]]]:
    with psycopg.connect(url) as conn:
        return {
            table: conn.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()  # noqa: S608
            for table in TABLES
        }


def _run(*args: str, url: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*args],
        env={**os.environ, "DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_backup_wipe_restore_keeps_every_record_and_the_audit_log(tmp_path: Path) -> None:
    visit = make_visit("in_progress")
    operator = make_user()
    audit_record(
        actor=actor_for_user(operator),
        action=AuditAction.READ,
        object_type="patient",
        object_ids=[visit.patient.public_id],
    )
    source = _url(connection.settings_dict["NAME"])
    before = _rows(source)
    assert all(before[table] for table in TABLES)

    dump = tmp_path / "telehealth.dump"
    backup = _run(str(SCRIPTS / "db-backup"), str(dump), url=source)
    assert backup.returncode == 0, backup.stderr
    assert dump.stat().st_size > 0

    scratch = f"telehealth_restore_{uuid.uuid4().hex[:8]}"
    admin = _url("postgres")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{scratch}"')
    target = _url(scratch)
    try:
        # Something is there already (a database in use), then the restore replaces it.
        with psycopg.connect(target, autocommit=True) as conn:
            conn.execute("CREATE TABLE leftover (id int)")
        refused = _run(str(SCRIPTS / "db-restore"), str(dump), url=target)
        assert refused.returncode == 2
        restored = _run(str(SCRIPTS / "db-restore"), str(dump), "--yes", url=target)
        assert restored.returncode == 0, restored.stderr
        assert _rows(target) == before
        with psycopg.connect(target) as conn:
            tables = {
                row[0]
                for row in conn.execute(
                    "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
                )
            }
            assert "leftover" not in tables
            with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
                conn.execute("UPDATE core_auditevent SET object_type = 'x'")
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{scratch}" WITH (FORCE)')
