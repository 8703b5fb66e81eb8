"""Video tests: a channel layer of the test's own (in-memory, or Redis for `redis` tests)."""

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.browser.server import release_audit_log_for_flush


@pytest.fixture(autouse=True)
def channel_layer(request: pytest.FixtureRequest, settings: Any) -> None:
    if request.node.get_closest_marker("redis"):
        settings.CHANNEL_LAYERS = {
            "default": {
                "BACKEND": "channels_redis.core.RedisChannelLayer",
                "CONFIG": {
                    "hosts": [settings.REDIS_URL],
                    "prefix": f"tests-video-{uuid.uuid4().hex[:12]}",
                },
            }
        }
    else:
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}


@pytest.fixture
def socket_db(transactional_db: None) -> Iterator[None]:
    """The database for socket tests. Channels runs the consumer's queries through
    `database_sync_to_async`, which closes stale connections around each call; inside a test's
    wrapping transaction that would close the connection under the test, so socket tests
    commit (and leave the tables emptied, on SQLite too)."""
    yield
    release_audit_log_for_flush()
