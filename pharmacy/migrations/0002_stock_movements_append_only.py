"""Database-level guarantee that stock movements are append-only (as core 0002 does for the audit
log): PostgreSQL and SQLite triggers refuse UPDATE and DELETE; TRUNCATE is left to privileges."""

from django.db import migrations

POSTGRES_CREATE = """
CREATE OR REPLACE FUNCTION pharmacy_stockmovement_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'pharmacy_stockmovement is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER pharmacy_stockmovement_no_update_delete
    BEFORE UPDATE OR DELETE ON pharmacy_stockmovement
    FOR EACH ROW EXECUTE FUNCTION pharmacy_stockmovement_refuse_change();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS pharmacy_stockmovement_no_update_delete ON pharmacy_stockmovement;
DROP FUNCTION IF EXISTS pharmacy_stockmovement_refuse_change();
"""
SQLITE_CREATE = [
    """CREATE TRIGGER pharmacy_stockmovement_no_update BEFORE UPDATE ON pharmacy_stockmovement
       BEGIN SELECT RAISE(ABORT, 'pharmacy_stockmovement is append-only (UPDATE refused)'); END;""",
    """CREATE TRIGGER pharmacy_stockmovement_no_delete BEFORE DELETE ON pharmacy_stockmovement
       BEGIN SELECT RAISE(ABORT, 'pharmacy_stockmovement is append-only (DELETE refused)'); END;""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS pharmacy_stockmovement_no_update;",
    "DROP TRIGGER IF EXISTS pharmacy_stockmovement_no_delete;",
]


def _run(schema_editor, postgres, sqlite):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(postgres, params=None)  # no params: "%" is PL/pgSQL's placeholder
    elif vendor == "sqlite":
        for statement in sqlite:
            schema_editor.execute(statement)


def install(apps, schema_editor):
    _run(schema_editor, POSTGRES_CREATE, SQLITE_CREATE)


def uninstall(apps, schema_editor):
    _run(schema_editor, POSTGRES_DROP, SQLITE_DROP)


class Migration(migrations.Migration):
    dependencies = [("pharmacy", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
