"""The platform as production runs it, for the load benchmark: a throwaway Redis (broker and
cache), the static files collected, uvicorn serving `telehealth.asgi:application` with two worker
processes and DEBUG off, and a Celery worker on the queues docker-compose's worker consumes.
Settings: bench.settings (the base settings plus the baseline views). Every child is stopped by
its own process id at the end.
"""

import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support.processes import RedisServer, free_port, stop_process, wait_until

BASE_DIR = Path(__file__).resolve().parent.parent.parent
WEB_WORKERS = 2
WORKER_CONCURRENCY = 2  # docker-compose's worker
WORKER_QUEUES = "default,notifications"


@dataclass(frozen=True)
class Stack:
    base_url: str
    workdir: Path
    env: dict[str, str]


def stack_env(*, database_url: str, redis_url: str, base_url: str, workdir: Path) -> dict[str, str]:
    """The environment of every process of the run, the benchmark's own included: the server's
    URLs (payment and courier emulators, links, the regulator feed) point at the server itself,
    never at a port someone else may be serving."""
    return {
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "DJANGO_DEBUG": "false",
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # A connection per request, no pool: production's pool (DATABASE_POOL_MAX_SIZE) would
        # also serve the preparing threads of this process, which hold their connections.
        "DATABASE_CONN_MAX_AGE": "0",
        "DATABASE_POOL_MAX_SIZE": "0",
        "SITE_URL": base_url,
        "PAYMENT_EMULATOR_BASE_URL": f"{base_url}/emulators",
        "COURIER_API_BASE_URL": f"{base_url}/emulators/courier",
        "REGULATOR_FEED_URL": f"{base_url}/emulators/regulator/api/batches",
        "BENCH_STATIC_ROOT": str(workdir / "static"),
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
    }


def _healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> bool:
    if process.poll() is not None:
        raise RuntimeError(f"uvicorn exited with code {process.returncode}:\n{log.read_text()}")
    try:
        return httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@contextmanager
def running_stack(*, database_url: str) -> Iterator[Stack]:
    """Start everything (this process's environment gets the same settings, so what it prepares
    through the services agrees with the server), yield, stop everything."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-load-"))
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    redis_server = RedisServer(workdir)
    children: list[subprocess.Popen[bytes]] = []
    try:
        env = stack_env(
            database_url=database_url,
            redis_url=redis_server.url,
            base_url=base_url,
            workdir=workdir,
        )
        os.environ.update(env)
        child_env = {**os.environ, **env}
        python = sys.executable
        subprocess.run(  # noqa: S603 - our own interpreter and manage.py
            [python, "manage.py", "collectstatic", "--noinput", "-v0"],
            cwd=BASE_DIR,
            env=child_env,
            check=True,
        )
        web_log = workdir / "uvicorn.log"
        with web_log.open("wb") as log:
            children.append(
                subprocess.Popen(  # noqa: S603
                    [
                        *(python, "-m", "uvicorn", "telehealth.asgi:application"),
                        *("--host", "127.0.0.1", "--port", str(port)),
                        *("--workers", str(WEB_WORKERS), "--lifespan", "off"),
                        *("--log-level", "warning", "--no-access-log"),
                    ],
                    cwd=BASE_DIR,
                    env=child_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        worker_log = workdir / "worker.log"
        with worker_log.open("wb") as log:
            children.append(
                subprocess.Popen(  # noqa: S603
                    [
                        str(Path(python).with_name("celery")),
                        *("-A", "telehealth", "worker", "-Q", WORKER_QUEUES),
                        *("--concurrency", str(WORKER_CONCURRENCY), "--loglevel", "WARNING"),
                        *("-n", f"bench-load-{port}@localhost"),
                    ],
                    cwd=BASE_DIR,
                    env=child_env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        # /healthz answers 200 once the database, Redis and a Celery worker all answer.
        wait_until(
            lambda: _healthy(base_url, children[0], web_log),
            timeout=90,
            interval=0.5,
            what=f"the platform on {base_url} (logs in {workdir})",
        )
        yield Stack(base_url=base_url, workdir=workdir, env=env)
    finally:
        for child in reversed(children):
            stop_process(child, grace=30)
        redis_server.kill()


def wait_for_idle_worker(*, timeout: float = 300) -> None:
    """Until the broker's queues are empty and the worker runs nothing: what preparing a
    working set set off (notifications, dispatches) is not left to compete with the clock."""
    import redis
    from django.conf import settings

    from telehealth.celery import app

    broker = redis.Redis.from_url(settings.CELERY_BROKER_URL)
    queues = WORKER_QUEUES.split(",")

    def idle() -> bool:
        if any(broker.llen(queue) for queue in queues):
            return False
        active = app.control.inspect(timeout=1.0).active() or {}
        return not any(active.values())

    wait_until(idle, timeout=timeout, interval=0.5, what="the Celery worker to finish its queue")
