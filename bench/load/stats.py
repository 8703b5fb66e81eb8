"""What one side of a scenario measured: requests, errors, throughput and latency percentiles."""

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile: the smallest value with at least `share` of the values at or
    below it (share in (0, 1]). p50 of 1..100 is 50, p99 is 99, p100 is 100."""
    if not values:
        raise ValueError("no values")
    if not 0 < share <= 1:
        raise ValueError(f"share {share} is not in (0, 1]")
    ordered = sorted(values)
    rank = math.ceil(round(share * len(ordered), 9))
    return ordered[max(rank, 1) - 1]


@dataclass
class Sample:
    """The outcome of requests as they complete, after the warm-up."""

    latencies_ms: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    requests: int = 0

    def record(self, *, elapsed_ms: float | None, error: str = "") -> None:
        """One request. `error`: "" for a success, else what went wrong (a non-2xx status and the
        platform's error code, a refused 2xx answer, a transport failure). `elapsed_ms` None: no
        answer came (a transport failure); latency is kept for every answered request."""
        self.requests += 1
        if elapsed_ms is not None:
            self.latencies_ms.append(elapsed_ms)
        if error:
            self.errors[error] += 1


@dataclass(frozen=True)
class Summary:
    requests: int
    errors: int
    seconds: float
    throughput: float
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    error_kinds: dict[str, int]
    ran_out: str  # "" or why the working set ended the run early

    @classmethod
    def of(cls, sample: Sample, *, seconds: float, ran_out: str = "") -> "Summary":
        latencies = sample.latencies_ms
        return cls(
            requests=sample.requests,
            errors=sum(sample.errors.values()),
            seconds=seconds,
            throughput=sample.requests / seconds if seconds > 0 else 0.0,
            p50_ms=percentile(latencies, 0.50) if latencies else None,
            p95_ms=percentile(latencies, 0.95) if latencies else None,
            p99_ms=percentile(latencies, 0.99) if latencies else None,
            error_kinds=dict(sample.errors.most_common()),
            ran_out=ran_out,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "seconds": round(self.seconds, 3),
            "throughput_rps": round(self.throughput, 2),
            "p50_ms": _rounded(self.p50_ms),
            "p95_ms": _rounded(self.p95_ms),
            "p99_ms": _rounded(self.p99_ms),
            "error_kinds": self.error_kinds,
            "ran_out": self.ran_out,
        }


def ratio(real: float | None, baseline: float | None) -> float | None:
    """real / baseline, or None when either is missing or the baseline is zero."""
    if real is None or not baseline:
        return None
    return real / baseline


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 2)
