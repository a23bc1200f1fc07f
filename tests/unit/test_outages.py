"""Silence while cut off from the router, and counters that go down."""

from __future__ import annotations

from autobahn.wamp.types import SessionDetails
from prometheus_client import CollectorRegistry
from twisted.internet import defer
from twisted.internet.task import Clock

from simplepyms.liveness import Fleet, State, minimum_retention
from simplepyms.monitor import DISCOVERY_GRACE, Monitor

from .support import T0, beat, payload, value


def _judged(fleet: Fleet, now: float, instance: str = "a1") -> State:
    inst = fleet.get("adder", instance)
    assert inst is not None
    return fleet.state(inst, now)


class TestPause:
    """Fleet.pause and Fleet.resume."""

    def test_no_one_goes_down_while_paused(self, fleet: Fleet) -> None:
        """Silence during a pause is not held against anyone."""
        fleet.heartbeat(beat(), T0)
        fleet.pause(T0 + 1)

        assert State.UP == _judged(fleet, T0 + 1000)

    def test_silence_counts_again_after_resume_without_the_pause(
        self, fleet: Fleet
    ) -> None:
        """After resume, silence is measured as if the pause never was."""
        fleet.heartbeat(beat(), T0)
        fleet.pause(T0 + 5)
        fleet.resume(T0 + 105)

        assert State.UP == _judged(fleet, T0 + 105 + 2.5)
        assert State.LATE == _judged(fleet, T0 + 105 + 2.6)
        assert State.DOWN == _judged(fleet, T0 + 105 + 10.1)

    def test_heard_during_pause_keeps_its_time(self, fleet: Fleet) -> None:
        """An instance heard during the pause is not given extra time."""
        fleet.heartbeat(beat(), T0)
        fleet.pause(T0 + 1)
        fleet.heartbeat(beat(seq=2), T0 + 50)
        fleet.resume(T0 + 100)

        assert State.DOWN == _judged(fleet, T0 + 100)

    def test_a_dead_instance_is_down_after_resume(self, fleet: Fleet) -> None:
        """One silent long before the pause is down when judging resumes."""
        fleet.heartbeat(beat(), T0)
        fleet.pause(T0 + 100)
        fleet.resume(T0 + 101)

        assert State.DOWN == _judged(fleet, T0 + 101)


class TestMonitorPause:
    """The Monitor pauses the fleet while it has no router session."""

    def test_unconnected_monitor_judges_no_one(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Without a session every known instance stays as it was."""
        monitor.on_heartbeat(payload())
        monitor._on_disconnect(None, was_clean=False)
        clock.advance(600)

        assert 1 == value(
            registry,
            "simplepyms_service_up",
            service="adder",
            service_instance="a1",
        )

    def test_judging_resumes_a_grace_after_joining(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """After rejoining, live services have a moment to answer."""
        monitor.fleet.heartbeat(beat(), T0)
        monitor._on_disconnect(None, was_clean=False)
        clock.advance(100)
        _join(monitor)
        clock.advance(DISCOVERY_GRACE)

        assert 1 == _up(registry)
        clock.advance(15)
        assert 0 == _up(registry)

    def test_heard_in_a_short_session_is_not_judged_old(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Joined, heard, cut off within the grace: the beat still counts."""
        monitor.fleet.pause(clock.seconds())
        _join(monitor)
        clock.advance(0.2)
        monitor.on_heartbeat(payload())
        clock.advance(0.5)
        monitor._on_disconnect(None, was_clean=False)
        clock.advance(20)
        _join(monitor)
        clock.advance(DISCOVERY_GRACE)

        assert 1 == _up(registry)


class _Session:
    def subscribe(self, *args: object, **options: object) -> object:
        return defer.succeed(None)

    def publish(self, *args: object) -> None:
        return None


def _join(monitor: Monitor) -> None:
    details = SessionDetails(realm="realm1", authmethod="anonymous")
    defer.ensureDeferred(monitor._on_join(_Session(), details))


def _up(registry: CollectorRegistry) -> float | None:
    return value(
        registry,
        "simplepyms_service_up",
        service="adder",
        service_instance="a1",
    )


class TestCounters:
    """A counter only goes down when its instance restarted."""

    def test_lower_value_without_restart_keeps_the_old(
        self, fleet: Fleet
    ) -> None:
        """jobs_total 5 then 3 from the same process stays 5, counted."""
        fleet.heartbeat(beat(metrics={"jobs_total": 5}), T0)
        fleet.heartbeat(beat(seq=2, metrics={"jobs_total": 3}), T0 + 5)

        inst = fleet.get("adder", "a1")
        assert inst is not None
        assert 5 == inst.metrics["jobs_total"]
        assert 1 == fleet.counters_decreased

    def test_lower_value_after_restart_is_a_reset(self, fleet: Fleet) -> None:
        """A new start time means the counter began again from zero."""
        fleet.heartbeat(beat(metrics={"jobs_total": 5}), T0)
        fleet.heartbeat(
            beat(seq=2, started=T0 + 1, metrics={"jobs_total": 3}), T0 + 5
        )

        inst = fleet.get("adder", "a1")
        assert inst is not None
        assert 3 == inst.metrics["jobs_total"]
        assert 0 == fleet.counters_decreased

    def test_gauges_may_go_down(self, fleet: Fleet) -> None:
        """Only counters are held; a gauge takes the new value."""
        fleet.heartbeat(beat(metrics={"depth": 5}), T0)
        fleet.heartbeat(beat(seq=2, metrics={"depth": 3}), T0 + 5)

        inst = fleet.get("adder", "a1")
        assert inst is not None
        assert 3 == inst.metrics["depth"]

    def test_monitor_counts_the_refused_value(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """The refusal shows as metrics_rejected{reason=counter_decreased}."""
        monitor.on_heartbeat(payload(metrics={"jobs_total": 5}))
        monitor.on_heartbeat(payload(seq=2, metrics={"jobs_total": 3}))

        assert 1 == value(
            registry,
            "simplepyms_metrics_rejected_total",
            reason="counter_decreased",
        )
        assert 5 == value(
            registry, "jobs_total", service="adder", service_instance="a1"
        )


class TestMinimumRetention:
    def test_covers_for_scrape_and_evaluation(self) -> None:
        """The shipped defaults need 80 s of retention at least."""
        assert 80 == minimum_retention(
            alert_for=60, scrape_interval=5, evaluation_interval=15
        )
