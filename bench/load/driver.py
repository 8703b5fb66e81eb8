"""The load driver: `concurrency` asyncio workers, each sending the next request of the working set
over one keep-alive HTTP connection (httpx) as soon as its previous one is answered, for
`warmup` seconds unrecorded and then `duration` seconds recorded.

A working set is an iterator of `Call`s; when it is exhausted the run stops early and says so.
Every answer that is not 2xx and every transport failure is an error, counted, never retried.
"""

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.load.stats import Sample, Summary

# A request that takes longer than this is a transport error (the server is stuck, not slow).
REQUEST_TIMEOUT_SECONDS = 60.0


@dataclass(frozen=True)
class Call:
    """One HTTP request of a working set."""

    method: str
    path: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes | None = None
    json: Any = None
    # Checks a 2xx answer further (e.g. a payment provider's "success" body); an error text
    # makes the request an error.
    check: Callable[[httpx.Response], str] | None = None

    def content(self) -> bytes | None:
        if self.json is not None:
            return json.dumps(self.json).encode()
        return self.body

    def all_headers(self) -> dict[str, str]:
        if self.json is not None:
            return {"Content-Type": "application/json", **self.headers}
        return self.headers


def _refusal(call: Call, response: httpx.Response) -> str:
    """Empty for a success; else the status and the platform's error code (`{"code": ...}`) or what
    the call's own check found wrong with a 2xx answer."""
    status = response.status_code
    if 200 <= status < 300:
        problem = call.check(response) if call.check else ""
        return f"{status} {problem}" if problem else ""
    try:
        body = response.json()
    except ValueError:
        body = None
    code = body.get("code", "") if isinstance(body, dict) else ""
    return f"{status} {code}".strip()


async def _drive(
    base_url: str,
    calls: Iterator[Call],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
) -> Summary:
    sample = Sample()
    loop = asyncio.get_running_loop()
    started = loop.time()
    recording_from = started + warmup
    deadline = recording_from + duration
    last_answer = recording_from
    ran_out = ""
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)

    async with httpx.AsyncClient(
        base_url=base_url, limits=limits, timeout=REQUEST_TIMEOUT_SECONDS
    ) as client:

        async def worker() -> None:
            nonlocal last_answer, ran_out
            while loop.time() < deadline:
                call = next(calls, None)
                if call is None:
                    if not ran_out:
                        ran_out = f"working set exhausted after {loop.time() - started:.1f} s"
                    return
                sent = time.perf_counter()
                sent_at = loop.time()
                elapsed_ms: float | None = None
                try:
                    response = await client.request(
                        call.method, call.path, headers=call.all_headers(), content=call.content()
                    )
                    elapsed_ms = (time.perf_counter() - sent) * 1000
                    error = _refusal(call, response)
                except httpx.HTTPError as exc:
                    error = f"transport {type(exc).__name__}"
                if sent_at >= recording_from:
                    sample.record(elapsed_ms=elapsed_ms, error=error)
                    last_answer = loop.time()

        await asyncio.gather(*(worker() for _ in range(concurrency)))

    return Summary.of(sample, seconds=max(last_answer - recording_from, 0.0), ran_out=ran_out)


def drive(
    base_url: str,
    calls: Iterator[Call],
    *,
    concurrency: int,
    warmup: float,
    duration: float,
) -> Summary:
    """Run the working set against the server and summarise what was recorded."""
    return asyncio.run(
        _drive(base_url, calls, concurrency=concurrency, warmup=warmup, duration=duration)
    )
