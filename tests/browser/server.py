"""A live ASGI server over the test database, for tests that talk to it over real sockets.

uvicorn runs `telehealth.asgi:application` (HTTP and WebSocket) in a background thread of the
test process, so it serves the test database whatever it is: PostgreSQL, or the in-memory
SQLite database that only this process can reach. What the test writes must be committed for
the server to see it, so these tests are transactional (`transactional_db`).
"""

import importlib
import threading

import uvicorn
from django.db import connection

from core.models import AuditEvent
from tests.support.processes import free_port, wait_until


class LiveAsgiServer:
    def __init__(self) -> None:
        self.host = "127.0.0.1"
        self.port = free_port()
        self.url = f"http://{self.host}:{self.port}"
        self._server = uvicorn.Server(
            uvicorn.Config(
                "telehealth.asgi:application",
                host=self.host,
                port=self.port,
                lifespan="off",
                log_level="warning",
                timeout_graceful_shutdown=10,
            )
        )
        self._thread = threading.Thread(
            target=self._server.run, name=f"live-asgi-{self.port}", daemon=True
        )

    def start(self) -> None:
        self._thread.start()

        def started() -> bool:
            if not self._thread.is_alive():
                raise RuntimeError("the live ASGI server stopped while starting")
            return self._server.started

        wait_until(started, timeout=30, what=f"uvicorn on {self.url}")

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)
        if self._thread.is_alive():
            raise RuntimeError(f"the live ASGI server on {self.url} did not stop")


def release_audit_log_for_flush() -> None:
    """Let the end of a transactional test empty the tables on SQLite.

    Django empties them with DELETE there, which the audit log's append-only triggers refuse
    (PostgreSQL empties them with TRUNCATE, which row triggers do not see). Lift the triggers
    from the migration that installs them, remove this test's audit rows, and put the triggers
    back, before the flush runs.
    """
    if connection.vendor != "sqlite":
        return
    triggers = importlib.import_module("core.migrations.0002_audit_append_only_triggers")
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        for statement in triggers.SQLITE_DROP:
            cursor.execute(statement)
        cursor.execute(f"DELETE FROM {table}")  # noqa: S608 - the table name is the model's
        for statement in triggers.SQLITE_CREATE:
            cursor.execute(statement)
