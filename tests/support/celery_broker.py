"""Point the project's Celery app at a throwaway broker for one test, then put it back.

Celery caches broker connections in kombu's process-wide pool registry (`kombu.pools`),
keyed by broker URL; `app.pool` and `app.amqp.producer_pool` are handles into it. Closing a
pool without removing it from the registry leaves a closed pool that every later publish to
that URL trips over ("Acquire on closed pool"), so the registry is emptied whenever the app
is repointed, and the next publish connects afresh to whatever the app points at then.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from kombu import pools

from telehealth.celery import app


def forget_broker_connections() -> None:
    """Close every cached broker connection and drop the app's handles to them."""
    pools.reset()
    celery: Any = app  # the handles are private attributes
    celery._pool = None
    celery.amqp._producer_pool = None


@contextmanager
def celery_broker(url: str) -> Iterator[None]:
    """Publish through `url` (broker and result backend) inside the block."""
    conf: Any = app.conf  # celery-types declares these settings read-only; they are not
    saved = conf.broker_url, conf.result_backend
    forget_broker_connections()
    conf.broker_url = url
    conf.result_backend = url
    try:
        yield
    finally:
        forget_broker_connections()
        conf.broker_url, conf.result_backend = saved
