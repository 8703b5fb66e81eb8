"""The baseline task for bench/notifications_throughput.py: as close to nothing as a task can be
while still telling the bench it ran (one Redis INCR)."""

from functools import cache

import redis
from django.conf import settings

from core.tasks import project_task


@cache
def _redis() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL)


@project_task(name="bench.noop", ignore_result=True)
def noop(counter_key: str) -> None:
    _redis().incr(counter_key)
