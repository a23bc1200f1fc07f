"""Limits and guards: what misuse and floods cannot do."""

from __future__ import annotations

import math

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock

from simplepyms.liveness import Fleet, Seen, State
from simplepyms.microservice import mk_component
from simplepyms.monitor import STALL_SECONDS, Monitor
from simplepyms.service_metrics import Counter, Gauge

from .support import T0, beat, payload, value


class TestFleetSize:
    def test_a_full_fleet_refuses_new_instances(self) -> None:
        """Past max_instances a new instance is refused, known ones kept."""
        fleet = Fleet(max_instances=2)
        fleet.heartbeat(beat(instance="a1"), T0)
        fleet.heartbeat(beat(instance="a2"), T0)

        assert Seen.REFUSED == fleet.heartbeat(beat(instance="a3"), T0)
        assert Seen.CURRENT == fleet.heartbeat(beat(instance="a1", seq=2), T0)
        assert 2 == len(fleet)

    def test_one_service_cannot_fill_the_fleet(self) -> None:
        """Past max_instances_per_service only that service is refused."""
        fleet = Fleet(max_instances=10, max_instances_per_service=2)
        fleet.heartbeat(beat(instance="a1"), T0)
        fleet.heartbeat(beat(instance="a2"), T0)

        assert Seen.REFUSED == fleet.heartbeat(beat(instance="a3"), T0)
        assert Seen.NEW == fleet.heartbeat(
            beat(service="clock", instance="c1"), T0
        )

    def test_a_service_over_its_series_budget_loses_metrics_not_life(
        self,
    ) -> None:
        """Past max_series_per_service a new instance is tracked bare."""
        fleet = Fleet(max_series_per_service=3)
        two = {"a_total": 1.0, "b": 2.0}
        fleet.heartbeat(beat(instance="a1", metrics=two), T0)

        assert Seen.NEW == fleet.heartbeat(
            beat(instance="a2", metrics=two), T0
        )
        a2 = fleet.get("adder", "a2")
        assert a2 is not None
        assert ({}, 2) == (a2.metrics, fleet.series_dropped)
        assert 2 == fleet.live("adder", T0)

    def test_the_budget_is_per_service_and_freed_by_forgetting(self) -> None:
        """Another service is not held back; a purged instance frees room."""
        fleet = Fleet(max_series_per_service=2, retention=10)
        two = {"a": 1.0, "b": 2.0}
        fleet.heartbeat(beat(instance="a1", metrics=two), T0)
        fleet.heartbeat(beat(service="clock", instance="c1", metrics=two), T0)
        fleet.lost("adder", "a1", T0 + 1)
        fleet.sweep(T0 + 12)
        fleet.heartbeat(beat(instance="a2", metrics=two), T0 + 12)

        clock = fleet.get("clock", "c1")
        a2 = fleet.get("adder", "a2")
        assert clock is not None
        assert a2 is not None
        assert (two, two, 0) == (
            clock.metrics,
            a2.metrics,
            fleet.series_dropped,
        )

    def test_an_instance_within_budget_may_change_its_metrics(self) -> None:
        """Its new heartbeat replaces its series: they count once."""
        fleet = Fleet(max_series_per_service=2)
        fleet.heartbeat(beat(instance="a1", metrics={"a": 1.0, "b": 2.0}), T0)
        fleet.heartbeat(
            beat(instance="a1", seq=2, metrics={"a": 3.0, "c": 4.0}), T0 + 5
        )

        a1 = fleet.get("adder", "a1")
        assert a1 is not None
        assert {"a": 3.0, "c": 4.0} == a1.metrics

    def test_monitor_counts_dropped_series(
        self, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Metrics dropped for the budget show as too_many_series."""
        monitor = Monitor(
            Fleet(max_series_per_service=1),
            clock,
            registry,
            url="ws://127.0.0.1:1/ws",
            realm="realm1",
        )
        monitor.on_heartbeat(payload(instance="a1", metrics={"x": 1.0}))
        monitor.on_heartbeat(payload(instance="a2", metrics={"x": 1.0}))

        assert 1 == value(
            registry,
            "simplepyms_metrics_rejected_total",
            reason="too_many_series",
        )

    def test_purging_makes_room_again(self) -> None:
        """Once an ended instance is forgotten, a new one fits."""
        fleet = Fleet(max_instances=1, retention=10)
        fleet.heartbeat(beat(instance="a1"), T0)
        fleet.lost("adder", "a1", T0 + 1)
        fleet.sweep(T0 + 12)

        assert Seen.NEW == fleet.heartbeat(beat(instance="a2"), T0 + 12)
        assert 1 == fleet.live("adder", T0 + 12)

    def test_monitor_counts_refused_instances(
        self, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A refused instance shows as too_many_instances."""
        monitor = Monitor(
            Fleet(max_instances=1),
            clock,
            registry,
            url="ws://127.0.0.1:1/ws",
            realm="realm1",
        )
        monitor.on_heartbeat(payload(instance="a1"))
        monitor.on_heartbeat(payload(instance="a2"))

        assert 1 == value(
            registry,
            "simplepyms_heartbeats_rejected_total",
            reason="too_many_instances",
        )


class TestStall:
    def test_a_stalled_monitor_does_not_blame_the_services(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A sweep long overdue means the Monitor, not they, was stuck."""
        monitor.sweep()
        monitor.on_heartbeat(payload())
        clock.advance(60)

        monitor.sweep()

        inst = monitor.fleet.get("adder", "a1")
        assert inst is not None
        assert State.UP == monitor.fleet.state(inst, clock.seconds())

    def test_an_ordinary_sweep_still_judges(
        self, monitor: Monitor, clock: Clock
    ) -> None:
        """Sweeps on time let silence count as usual."""
        monitor.on_heartbeat(payload())
        for _ in range(20):
            clock.advance(STALL_SECONDS / 2)
            monitor.sweep()

        inst = monitor.fleet.get("adder", "a1")
        assert inst is not None
        assert State.DOWN == monitor.fleet.state(inst, clock.seconds())


class TestServiceMetricMisuse:
    @pytest.mark.parametrize("amount", [math.inf, math.nan, -1.0])
    def test_counter_refuses_steps_that_are_not_finite_and_positive(
        self, amount: float
    ) -> None:
        """inc(inf), inc(nan) and inc(-1) raise; the value stays."""
        counter = Counter()

        with pytest.raises(ValueError, match="0 <= amount < inf"):
            counter.inc(amount)
        assert 0 == counter.value

    def test_values_cannot_be_assigned(self) -> None:
        """value is read-only: a counter cannot be set back by hand."""
        counter = Counter()

        with pytest.raises(AttributeError):
            counter.value = 3  # type: ignore[misc]

    def test_gauge_refuses_text(self) -> None:
        """A gauge takes numbers only, and says what it got."""
        with pytest.raises(TypeError, match="got 'x'"):
            Gauge().set("x")  # type: ignore[arg-type]


class TestMkComponentArguments:
    def test_interval_as_text_is_a_value_error(self) -> None:
        """interval='5' is refused like any other bad interval."""
        with pytest.raises(ValueError, match="interval must be"):
            mk_component("a", "ws://127.0.0.1:1/ws", "realm1", interval="5")  # type: ignore[arg-type]

    def test_realm_is_required(self) -> None:
        """A missing realm is refused at once, not at connect time."""
        with pytest.raises(ValueError, match="realm must be"):
            mk_component("a", "ws://127.0.0.1:1/ws", None)  # type: ignore[arg-type]
