"""The gauges, counters and collect callable a service carries."""

from __future__ import annotations

import math
from collections.abc import Mapping

import pytest
from structlog.testing import capture_logs

from simplepyms.protocol import MAX_METRICS
from simplepyms.service_metrics import Counter, Gauge, ServiceMetrics


class TestGauge:
    """Gauge."""

    def test_starts_at_zero(self) -> None:
        """A new gauge reads 0."""
        assert 0.0 == Gauge().value

    def test_set(self) -> None:
        """set() replaces the value."""
        gauge = Gauge()
        gauge.set(7)

        assert 7.0 == gauge.value

    def test_set_makes_float(self) -> None:
        """set() stores a float."""
        gauge = Gauge()
        gauge.set(7)

        assert isinstance(gauge.value, float)

    def test_inc(self) -> None:
        """inc() adds one, or the amount given."""
        gauge = Gauge()
        gauge.inc()
        gauge.inc(2.5)

        assert 3.5 == gauge.value

    def test_dec(self) -> None:
        """dec() subtracts one, or the amount given, and may go below 0."""
        gauge = Gauge()
        gauge.dec()
        gauge.dec(2.5)

        assert -3.5 == gauge.value


class TestCounter:
    """Counter."""

    def test_starts_at_zero(self) -> None:
        """A new counter reads 0."""
        assert 0.0 == Counter().value

    def test_inc(self) -> None:
        """inc() adds one, or the amount given."""
        counter = Counter()
        counter.inc()
        counter.inc(4)

        assert 5.0 == counter.value

    def test_inc_zero(self) -> None:
        """inc(0) is allowed and changes nothing."""
        counter = Counter()
        counter.inc(0)

        assert 0.0 == counter.value

    def test_negative_raises(self) -> None:
        """A negative amount raises ValueError naming the amount."""
        with pytest.raises(ValueError, match=r"0 <= amount < inf, got -2\.5"):
            Counter().inc(-2.5)

    def test_negative_keeps_value(self) -> None:
        """A refused inc() leaves the value alone."""
        counter = Counter()
        counter.inc(3)

        with pytest.raises(ValueError, match="only goes up"):
            counter.inc(-1)

        assert 3.0 == counter.value


class TestNames:
    """Creating named metrics on ServiceMetrics."""

    def test_gauge_created_once(self) -> None:
        """Asking twice for a gauge returns the same one."""
        metrics = ServiceMetrics()

        assert metrics.gauge("queue_depth") is metrics.gauge("queue_depth")

    def test_counter_created_once(self) -> None:
        """Asking twice for a counter returns the same one."""
        metrics = ServiceMetrics()

        assert metrics.counter("jobs_total") is metrics.counter("jobs_total")

    def test_gauge_named_total(self) -> None:
        """A gauge name ending in _total is refused, naming it."""
        with pytest.raises(ValueError, match="'jobs_total'") as caught:
            ServiceMetrics().gauge("jobs_total")

        assert "must not end in '_total'" in str(caught.value)

    def test_counter_without_total(self) -> None:
        """A counter name not ending in _total is refused, naming it."""
        with pytest.raises(ValueError, match="'jobs'") as caught:
            ServiceMetrics().counter("jobs")

        assert "must end in '_total'" in str(caught.value)

    @pytest.mark.parametrize(
        "name",
        [
            "simplepyms_queue",
            "process_open_fds",
            "python_gc_objects",
            "__secret",
            "up",
        ],
    )
    def test_reserved_gauge(self, name: str) -> None:
        """A reserved gauge name is refused with a message naming it."""
        with pytest.raises(ValueError, match=f"must not start.*{name!r}"):
            ServiceMetrics().gauge(name)

    def test_reserved_counter(self) -> None:
        """A reserved counter name is refused with a message naming it."""
        with pytest.raises(ValueError, match="'simplepyms_jobs_total'"):
            ServiceMetrics().counter("simplepyms_jobs_total")

    @pytest.mark.parametrize(
        "name", ["bad name", "9lives", "Queue", "job:rate", "", "q" * 129]
    )
    def test_invalid_gauge(self, name: str) -> None:
        """An invalid gauge name is refused with a message naming it."""
        with pytest.raises(ValueError, match=r"must match") as caught:
            ServiceMetrics().gauge(name)

        assert repr(name) in str(caught.value)

    def test_invalid_counter(self) -> None:
        """An invalid counter name is refused with a message naming it."""
        with pytest.raises(ValueError, match=r"must match.*'bad name_total'"):
            ServiceMetrics().counter("bad name_total")

    @pytest.mark.parametrize(
        "name", ["latency_ms", "size_kilobytes", "queue_gauge", "rows_count"]
    )
    def test_unconventional_gauge(self, name: str) -> None:
        """A name promtool would object to is refused, naming it."""
        with pytest.raises(ValueError, match=f"base units.*{name!r}"):
            ServiceMetrics().gauge(name)

    def test_too_many(self) -> None:
        """Creating more than MAX_METRICS named metrics is refused."""
        metrics = ServiceMetrics()
        for i in range(MAX_METRICS):
            metrics.gauge(f"g{i}")

        with pytest.raises(ValueError, match=f"at most {MAX_METRICS}"):
            metrics.counter("one_more_total")

    def test_existing_name_past_limit(self) -> None:
        """At the limit, an existing metric can still be fetched."""
        metrics = ServiceMetrics()
        for i in range(MAX_METRICS):
            metrics.gauge(f"g{i}")

        assert metrics.gauge("g0") is metrics.gauge("g0")


class TestSnapshot:
    """snapshot(): what one heartbeat carries."""

    def test_empty(self) -> None:
        """Without metrics, a snapshot is empty."""
        assert {} == ServiceMetrics().snapshot()

    def test_named_values(self) -> None:
        """The snapshot holds every named metric's current value."""
        metrics = ServiceMetrics()
        metrics.gauge("queue_depth").set(4)
        metrics.counter("jobs_total").inc(2)

        assert {"queue_depth": 4.0, "jobs_total": 2.0} == metrics.snapshot()

    def test_merges_collect(self) -> None:
        """The collect callable's values join the named ones."""
        metrics = ServiceMetrics(lambda: {"ratio": 0.5, "rows_total": 9})
        metrics.gauge("queue_depth").set(4)

        assert {
            "queue_depth": 4.0,
            "ratio": 0.5,
            "rows_total": 9.0,
        } == metrics.snapshot()

    def test_collect_called_each_time(self) -> None:
        """The collect callable runs at every snapshot."""
        calls: list[int] = []

        def collect() -> Mapping[str, float]:
            calls.append(1)
            return {"calls_total": len(calls)}

        metrics = ServiceMetrics(collect)
        metrics.snapshot()

        assert {"calls_total": 2.0} == metrics.snapshot()

    def test_collect_raises(self) -> None:
        """A collect callable that raises is left out, named ones stay."""

        def collect() -> Mapping[str, float]:
            raise RuntimeError("database away")

        metrics = ServiceMetrics(collect)
        metrics.gauge("queue_depth").set(4)

        assert {"queue_depth": 4.0} == metrics.snapshot()

    @pytest.mark.parametrize(
        "returned",
        [None, 42, "text", [1, 2], [("a", "b", "c")]],
    )
    def test_collect_not_a_mapping(self, returned: object) -> None:
        """A collect callable returning no mapping is left out."""
        metrics = ServiceMetrics(lambda: returned)  # type: ignore[arg-type,return-value]
        metrics.gauge("queue_depth").set(4)

        assert {"queue_depth": 4.0} == metrics.snapshot()

    def test_collect_bad_values_dropped(self) -> None:
        """Bad names and values from collect are dropped one by one."""
        returned = {
            "kept": 1,
            "bad name": 2,
            "up": 3,
            "latency_ms": 4,
            "text": "x",
            "nothing": None,
            "broken_total": math.nan,
            5: 6,
        }
        metrics = ServiceMetrics(lambda: returned)  # type: ignore[arg-type,return-value]
        metrics.gauge("queue_depth").set(4)

        assert {"queue_depth": 4.0, "kept": 1.0} == metrics.snapshot()

    def test_collect_failure_logged_once(self) -> None:
        """A failing collect callable logs one error, not one per beat."""

        def collect() -> Mapping[str, float]:
            raise RuntimeError("database away")

        metrics = ServiceMetrics(collect)

        with capture_logs() as logs:
            metrics.snapshot()
            metrics.snapshot()

        assert [("service_metric_dropped", "collect_failed")] == [
            (entry["event"], entry["reason"]) for entry in logs
        ]

    def test_collect_capped(self) -> None:
        """collect values beyond MAX_METRICS in all are left out."""
        returned = {f"c{i}": i for i in range(MAX_METRICS)}
        metrics = ServiceMetrics(lambda: returned)
        metrics.gauge("queue_depth").set(4)

        snapshot = metrics.snapshot()

        assert MAX_METRICS == len(snapshot)
        assert 4.0 == snapshot["queue_depth"]

    def test_collect_huge_int(self) -> None:
        """A collect value too large for a float is dropped."""
        metrics = ServiceMetrics(lambda: {"huge": 10**400})
        metrics.gauge("queue_depth").set(4)

        assert {"queue_depth": 4.0} == metrics.snapshot()
