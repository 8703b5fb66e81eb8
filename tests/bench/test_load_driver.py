"""The load benchmark's arithmetic and wiring (bench/load): percentiles, what a summary counts,
and the baseline views mounted by bench.settings only. No timing is asserted."""

import importlib

import pytest
from django.test import override_settings
from django.urls import Resolver404, resolve

from bench import baselines
from bench.load.stats import Sample, Summary, percentile, ratio


def test_percentile_is_the_nearest_rank() -> None:
    values = [float(n) for n in range(100, 0, -1)]  # unsorted on purpose
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile(values, 0.99) == 99.0
    assert percentile(values, 1.0) == 100.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 0.50) == 20.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 0.95) == 40.0
    assert percentile([7.0], 0.01) == 7.0


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_percentile_refuses_a_share_outside_zero_to_one(share: float) -> None:
    with pytest.raises(ValueError, match="is not in"):
        percentile([1.0], share)


def test_percentile_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="no values"):
        percentile([], 0.5)


def test_summary_counts_every_error_and_keeps_answered_latencies() -> None:
    sample = Sample()
    sample.record(elapsed_ms=10.0)
    sample.record(elapsed_ms=30.0)
    sample.record(elapsed_ms=20.0, error="409 slot_taken")
    sample.record(elapsed_ms=None, error="transport ConnectError")
    sample.record(elapsed_ms=40.0, error="409 slot_taken")

    summary = Summary.of(sample, seconds=2.0, ran_out="working set exhausted after 3.0 s")

    assert summary.requests == 5
    assert summary.errors == 3
    assert summary.error_kinds == {"409 slot_taken": 2, "transport ConnectError": 1}
    assert summary.throughput == 2.5
    assert (summary.p50_ms, summary.p95_ms, summary.p99_ms) == (20.0, 40.0, 40.0)
    assert summary.as_json()["ran_out"] == "working set exhausted after 3.0 s"


def test_summary_of_no_requests_has_no_latency_and_no_throughput() -> None:
    summary = Summary.of(Sample(), seconds=0.0)

    assert (summary.requests, summary.errors, summary.throughput) == (0, 0, 0.0)
    assert (summary.p50_ms, summary.p95_ms, summary.p99_ms) == (None, None, None)


def test_ratio_is_real_over_baseline_when_both_are_known() -> None:
    assert ratio(30.0, 120.0) == 0.25
    assert ratio(None, 120.0) is None
    assert ratio(30.0, None) is None
    assert ratio(30.0, 0.0) is None


def test_bench_settings_mount_the_baselines() -> None:
    bench_settings = importlib.import_module("bench.settings")
    assert bench_settings.ROOT_URLCONF == "bench.urls"
    with override_settings(ROOT_URLCONF="bench.urls"):
        assert resolve("/bench/baseline/slots/").func is baselines.slot_search
        assert resolve("/bench/baseline/fulfilments/pickup/").func is baselines.pickup
        assert resolve("/api/v1/slots/").url_name == "slot-list"


def test_the_platform_urlconf_does_not_mount_the_baselines() -> None:
    with pytest.raises(Resolver404):
        resolve("/bench/baseline/slots/", urlconf="telehealth.urls")
