"""Database-level guarantee that the payment ledger is append-only (as core's audit log).

PostgreSQL: a row trigger raises on UPDATE or DELETE. SQLite: triggers that abort. TRUNCATE is
left to privileges (the test runner empties tables with it).
"""

from django.db import migrations

POSTGRES_CREATE = """
CREATE OR REPLACE FUNCTION payments_paymentevent_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'payments_paymentevent is append-only (% refused)', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER payments_paymentevent_no_update_delete
    BEFORE UPDATE OR DELETE ON payments_paymentevent
    FOR EACH ROW EXECUTE FUNCTION payments_paymentevent_refuse_change();
"""
POSTGRES_DROP = """
DROP TRIGGER IF EXISTS payments_paymentevent_no_update_delete ON payments_paymentevent;
DROP FUNCTION IF EXISTS payments_paymentevent_refuse_change();
"""
SQLITE_CREATE = [
    """CREATE TRIGGER payments_paymentevent_no_update BEFORE UPDATE ON payments_paymentevent
       BEGIN SELECT RAISE(ABORT, 'payments_paymentevent is append-only (UPDATE refused)'); END;""",
    """CREATE TRIGGER payments_paymentevent_no_delete BEFORE DELETE ON payments_paymentevent
       BEGIN SELECT RAISE(ABORT, 'payments_paymentevent is append-only (DELETE refused)'); END;""",
]
SQLITE_DROP = [
    "DROP TRIGGER IF EXISTS payments_paymentevent_no_update;",
    "DROP TRIGGER IF EXISTS payments_paymentevent_no_delete;",
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
    dependencies = [("payments", "0001_initial")]

    operations = [migrations.RunPython(install, uninstall)]
