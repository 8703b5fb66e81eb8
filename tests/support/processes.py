"""Real service processes for tests: a throwaway Redis server and a Celery worker.

Each helper starts a child process, waits for it by polling with a deadline (never a fixed
sleep), and stops it by its own process id.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

import redis
from django.conf import settings


def free_port() -> int:
    """A TCP port nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    condition: Callable[[], bool], *, timeout: float, interval: float = 0.05, what: str
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout}s waiting for {what}")
        time.sleep(interval)


def stop_process(process: subprocess.Popen[Any], *, grace: float = 15.0) -> None:
    """SIGTERM (a Celery worker's warm shutdown), then SIGKILL if it does not exit in time."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=grace)


class RedisServer:
    """A private `redis-server` on a free port: no persistence, killed at will."""

    def __init__(self, workdir: Path, *, port: int | None = None) -> None:
        """`port`: restart a stopped server where its clients expect it."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [
                *(binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(workdir)),
                *("--save", "", "--appendonly", "no", "--daemonize", "no"),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_until(self._answers, timeout=10, what=f"redis-server on port {self.port}")
        except BaseException:
            self.kill()
            raise

    def _answers(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(f"redis-server exited with code {self.process.returncode}")
        try:
            return bool(redis.Redis(port=self.port, socket_connect_timeout=0.2).ping())
        except redis.ConnectionError:
            return False

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)


@contextmanager
def redis_server(workdir: Path) -> Iterator[RedisServer]:
    server = RedisServer(workdir)
    try:
        yield server
    finally:
        server.kill()


class CeleryWorker:
    """`celery -A telehealth worker` consuming one queue, solo pool, logging to a file."""

    def __init__(
        self,
        *,
        queue: str,
        env: Mapping[str, str],
        log_path: Path,
        include: tuple[str, ...] = (),
    ) -> None:
        self.queue = queue
        self.nodename = f"tests-{uuid.uuid4().hex[:12]}@localhost"
        self.log_path = log_path
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "telehealth",
            "worker",
            "-Q",
            queue,
            "-n",
            self.nodename,
            "--concurrency",
            "1",
            "--pool",
            "solo",
            "--without-heartbeat",
            "--without-mingle",
            "--without-gossip",
            "--loglevel",
            "INFO",
        ]
        if include:
            command += ["--include", ",".join(include)]
        with log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=settings.BASE_DIR,
                env=dict(env),
                stdout=log,
                stderr=subprocess.STDOUT,
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_ready(self, app: Any, *, timeout: float = 60) -> None:
        """Poll the worker with a broadcast ping addressed to it alone until it answers."""

        def answers() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(
                    f"celery worker exited with code {self.process.returncode}:\n{self.log()}"
                )
            replies = app.control.ping(destination=[self.nodename], timeout=0.5, limit=1)
            return bool(replies)

        try:
            wait_until(answers, timeout=timeout, what=f"worker {self.nodename}")
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}\n{self.log()}") from None

    def stop(self) -> None:
        stop_process(self.process)


class CeleryBeat:
    """`celery -A telehealth beat` with its schedule file in a scratch folder."""

    def __init__(self, *, env: Mapping[str, str], workdir: Path) -> None:
        self.log_path = workdir / "beat.log"
        command = [
            str(Path(sys.executable).with_name("celery")),
            "-A",
            "telehealth",
            "beat",
            "--schedule",
            str(workdir / "beat-schedule"),
            "--loglevel",
            "INFO",
        ]
        with self.log_path.open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=settings.BASE_DIR, env=dict(env), stdout=log, stderr=subprocess.STDOUT
            )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        stop_process(self.process)


def service_env(**overrides: str | None) -> dict[str, str]:
    """This process's environment with some variables replaced (a value) or removed (None)."""
    env = dict(os.environ)
    for name, value in overrides.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = value
    return env


def worker_database_url() -> str:
    """The database pytest-django created, as DATABASE_URL (NAME is the test name by now)."""
    db = settings.DATABASES["default"]
    credentials = quote(db["USER"], safe="")
    if db.get("PASSWORD"):
        credentials += ":" + quote(db["PASSWORD"], safe="")
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}@{db['HOST']}{port}/{quote(db['NAME'], safe='')}"
