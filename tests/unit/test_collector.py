"""The families FleetCollector builds, read back from the exposition."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, ProcessCollector
from twisted.internet.task import Clock

from simplepyms.liveness import Fleet, State
from simplepyms.monitor import LOST_HOLD_SECONDS, Monitor

from .support import T0, exposition, goodbye, payload, samples, types, value

STATES = [state.value for state in State]


def labels(instance: str = "a1", service: str = "adder") -> dict[str, str]:
    """Return the labels of one instance's series."""
    return {"service": service, "service_instance": instance}


def states(
    registry: CollectorRegistry, instance: str = "a1"
) -> dict[str, float]:
    """Return the state series of one instance, by state label."""
    return {
        sample.labels["state"]: sample.value
        for sample in samples(registry)
        if sample.name == "simplepyms_service_state"
        and sample.labels["service_instance"] == instance
    }


class TestUp:
    """simplepyms_service_up."""

    def test_up_after_heartbeat(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """An instance that just beat has up 1."""
        monitor.on_heartbeat(payload())

        assert 1.0 == value(registry, "simplepyms_service_up", **labels())

    def test_up_while_late(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A late instance still has up 1."""
        monitor.on_heartbeat(payload(interval=5.0))
        clock.advance(10.0)

        assert 1.0 == value(registry, "simplepyms_service_up", **labels())

    def test_zero_when_down(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A silent instance keeps an up series, at 0."""
        monitor.on_heartbeat(payload(interval=5.0))
        clock.advance(15.5)

        assert 0.0 == value(registry, "simplepyms_service_up", **labels())

    def test_zero_when_stopped(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """An instance that said goodbye has up 0."""
        monitor.on_heartbeat(payload())
        monitor.on_goodbye(goodbye())

        assert 0.0 == value(registry, "simplepyms_service_up", **labels())

    def test_nothing_before_heartbeats(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """With no instance tracked, there is no up series at all."""
        names = {sample.name for sample in samples(registry)}

        assert "simplepyms_service_up" not in names


class TestState:
    """simplepyms_service_state: one series per state, one of them 1."""

    @pytest.mark.parametrize(
        ("advance", "expected"),
        [(0.0, "up"), (10.0, "late"), (16.0, "down")],
    )
    def test_by_silence(
        self,
        monitor: Monitor,
        clock: Clock,
        registry: CollectorRegistry,
        advance: float,
        expected: str,
    ) -> None:
        """Exactly the current state's series is 1."""
        monitor.on_heartbeat(payload(interval=5.0))
        clock.advance(advance)

        wanted = {state: float(state == expected) for state in STATES}
        assert wanted == states(registry)

    def test_stopped(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """After a goodbye, only the stopped series is 1."""
        monitor.on_heartbeat(payload())
        monitor.on_goodbye(goodbye())

        wanted = {state: float(state == "stopped") for state in STATES}
        assert wanted == states(registry)

    def test_down_when_lost(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """After a lost-session notice, only the down series is 1."""
        monitor.on_heartbeat(payload())
        monitor.on_lost(goodbye())
        clock.advance(LOST_HOLD_SECONDS)

        wanted = {state: float(state == "down") for state in STATES}
        assert wanted == states(registry)


class TestInstanceFamilies:
    """The per-instance gauges and counter beside up and state."""

    def test_last_seen_is_clock_at_receipt(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """last_seen_timestamp_seconds is the Clock time of receipt."""
        clock.advance(234.5)
        monitor.on_heartbeat(payload(sent=5.0, started=1.0))
        clock.advance(3.0)

        seen = value(
            registry,
            "simplepyms_service_last_seen_timestamp_seconds",
            **labels(),
        )
        assert T0 + 234.5 == seen

    def test_uptime(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """uptime_seconds grows with the Monitor's clock."""
        monitor.on_heartbeat(payload(started=T0 - 50.0, sent=T0))
        clock.advance(4.0)

        uptime = value(
            registry, "simplepyms_service_uptime_seconds", **labels()
        )
        assert 54.0 == uptime

    def test_start_time(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """start_time_seconds is the instance's own start stamp."""
        monitor.on_heartbeat(payload(started=123.25))

        start = value(
            registry, "simplepyms_service_start_time_seconds", **labels()
        )
        assert 123.25 == start

    def test_interval(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """heartbeat_interval_seconds is the announced interval."""
        monitor.on_heartbeat(payload(interval=2.5))

        interval = value(
            registry,
            "simplepyms_service_heartbeat_interval_seconds",
            **labels(),
        )
        assert 2.5 == interval

    def test_clock_skew(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """clock_skew_seconds is receive time minus sent time."""
        monitor.on_heartbeat(payload(sent=T0 - 2.0, started=T0 - 60.0))

        skew = value(
            registry, "simplepyms_service_clock_skew_seconds", **labels()
        )
        assert 2.0 == skew

    def test_heartbeats_counted(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """service_heartbeats_total counts accepted heartbeats only."""
        for seq in (1, 2, 3, 3):
            monitor.on_heartbeat(payload(seq=seq))

        beats = value(
            registry, "simplepyms_service_heartbeats_total", **labels()
        )
        assert 3.0 == beats

    def test_heartbeats_is_counter(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """service_heartbeats is exported as a counter."""
        monitor.on_heartbeat(payload())

        assert "counter" == types(registry)["simplepyms_service_heartbeats"]


class TestCarried:
    """Metrics carried in heartbeats, exported per instance."""

    def test_gauge_type(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A carried name without _total is exported as a gauge."""
        monitor.on_heartbeat(payload(metrics={"queue_depth": 4}))

        assert "gauge" == types(registry)["queue_depth"]

    def test_gauge_value(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A carried gauge has the instance's labels and its value."""
        monitor.on_heartbeat(payload(metrics={"queue_depth": 4}))

        assert 4.0 == value(registry, "queue_depth", **labels())

    def test_counter_type(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A carried name ending in _total is exported as a counter."""
        monitor.on_heartbeat(payload(metrics={"jobs_total": 7}))

        assert "counter" == types(registry)["jobs"]

    def test_counter_value(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A carried counter keeps its name, labels and value."""
        monitor.on_heartbeat(payload(metrics={"jobs_total": 7}))

        assert 7.0 == value(registry, "jobs_total", **labels())

    def test_latest_value_wins(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A newer heartbeat replaces the carried values."""
        monitor.on_heartbeat(payload(seq=1, metrics={"queue_depth": 4}))
        monitor.on_heartbeat(payload(seq=2, metrics={"queue_depth": 9}))

        assert 9.0 == value(registry, "queue_depth", **labels())

    def test_dropped_metric_disappears(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A metric no longer carried is no longer exported."""
        monitor.on_heartbeat(payload(seq=1, metrics={"queue_depth": 4}))
        monitor.on_heartbeat(payload(seq=2, metrics={}))

        assert value(registry, "queue_depth", **labels()) is None

    def test_instances_share_family(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """Two instances carrying one name make one family, two series."""
        monitor.on_heartbeat(payload(instance="a1", metrics={"ratio": 0.25}))
        monitor.on_heartbeat(payload(instance="a2", metrics={"ratio": 0.75}))

        found = {
            sample.labels["service_instance"]: sample.value
            for sample in samples(registry)
            if sample.name == "ratio"
        }
        assert {"a1": 0.25, "a2": 0.75} == found

    def test_kept_while_late(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A late instance's carried metrics are still exported."""
        monitor.on_heartbeat(payload(metrics={"queue_depth": 4}))
        clock.advance(10.0)

        assert 4.0 == value(registry, "queue_depth", **labels())

    def test_gone_when_down(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A down instance's carried metrics are no longer exported."""
        monitor.on_heartbeat(payload(metrics={"queue_depth": 4}))
        clock.advance(16.0)

        assert value(registry, "queue_depth", **labels()) is None

    def test_up_zero_stays_when_down(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """With its carried metrics gone, a down instance keeps up 0."""
        monitor.on_heartbeat(payload(metrics={"queue_depth": 4}))
        clock.advance(16.0)

        assert 0.0 == value(registry, "simplepyms_service_up", **labels())

    def test_gone_when_stopped(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A stopped instance's carried metrics are no longer exported."""
        monitor.on_heartbeat(payload(metrics={"jobs_total": 4}))
        monitor.on_goodbye(goodbye())

        assert value(registry, "jobs_total", **labels()) is None

    @pytest.mark.parametrize("name", ["_total", "process_cpu_seconds_total"])
    def test_bad_name_cannot_break_scrape(
        self, monitor: Monitor, registry: CollectorRegistry, name: str
    ) -> None:
        """A refused carried name leaves the rest of /metrics whole."""
        monitor.on_heartbeat(payload(metrics={name: 1, "queue_depth": 2}))

        assert 2.0 == value(registry, "queue_depth", **labels())

    def test_no_clash_with_process_collector(
        self, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Carried process_* names cannot repeat the Monitor's families."""
        ProcessCollector(registry=registry)
        monitor = Monitor(
            Fleet(),
            reactor=clock,
            registry=registry,
            url="ws://127.0.0.1:1/ws",
            realm="realm1",
        )
        carried = {"process_resident_memory_bytes": 5.0}
        monitor.on_heartbeat(payload(metrics=carried))

        lines = exposition(registry).splitlines()
        help_lines = [line for line in lines if line.startswith("# HELP ")]
        assert len(set(help_lines)) == len(help_lines)


class TestPurge:
    """What the Monitor forgets disappears from /metrics."""

    def test_every_series_gone(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """After retention, no series names the purged instance."""
        monitor.on_heartbeat(payload(instance="a1", metrics={"ratio": 1}))
        monitor.on_heartbeat(payload(instance="a2", metrics={"ratio": 1}))
        monitor.on_goodbye(goodbye(instance="a1"))
        clock.advance(901.0)
        monitor.on_heartbeat(payload(instance="a2", seq=2))
        monitor.sweep()

        left = [
            sample
            for sample in samples(registry)
            if sample.labels.get("service_instance") == "a1"
        ]
        assert [] == left

    def test_kept_until_retention(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Until the retention has passed, a stopped instance is exported."""
        monitor.on_heartbeat(payload())
        monitor.on_goodbye(goodbye())
        clock.advance(900.0)
        monitor.sweep()

        assert 0.0 == value(registry, "simplepyms_service_up", **labels())

    def test_service_families_gone(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """With its last instance purged, a service has no series left."""
        monitor.on_heartbeat(payload())
        monitor.on_goodbye(goodbye())
        clock.advance(901.0)
        monitor.sweep()

        left = [
            sample
            for sample in samples(registry)
            if sample.labels.get("service") == "adder"
        ]
        assert [] == left


class TestServiceFamilies:
    """The per-service families."""

    def test_instances_counts_live(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """service_instances counts the instances up or late."""
        monitor.on_heartbeat(payload(instance="a1"))
        clock.advance(10.0)
        monitor.on_heartbeat(payload(instance="a2"))
        monitor.on_heartbeat(payload(instance="a3"))
        monitor.on_goodbye(goodbye(instance="a3"))

        count = value(
            registry, "simplepyms_service_instances", service="adder"
        )
        assert 2.0 == count

    def test_instances_zero_when_all_down(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A service whose instances are all down counts 0 instances."""
        monitor.on_heartbeat(payload())
        clock.advance(16.0)

        count = value(
            registry, "simplepyms_service_instances", service="adder"
        )
        assert 0.0 == count

    def test_instances_per_service(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """Each service has its own instance count."""
        monitor.on_heartbeat(payload(service="adder", instance="a1"))
        monitor.on_heartbeat(payload(service="store", instance="s1"))
        monitor.on_heartbeat(payload(service="store", instance="s2"))

        count = value(
            registry, "simplepyms_service_instances", service="store"
        )
        assert 2.0 == count

    def test_restarts_start_at_zero(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A service never restarted exports restarts_total 0."""
        monitor.on_heartbeat(payload())

        restarts = value(
            registry, "simplepyms_service_restarts_total", service="adder"
        )
        assert 0.0 == restarts

    def test_restart_counted(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A new instance after a goodbye counts one restart."""
        monitor.on_heartbeat(payload(instance="a1"))
        monitor.on_goodbye(goodbye(instance="a1"))
        monitor.on_heartbeat(payload(instance="a2"))

        restarts = value(
            registry, "simplepyms_service_restarts_total", service="adder"
        )
        assert 1.0 == restarts

    def test_restarts_is_counter(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """service_restarts is exported as a counter."""
        monitor.on_heartbeat(payload())

        assert "counter" == types(registry)["simplepyms_service_restarts"]


class TestLabels:
    """Label names and values in the exposition."""

    @pytest.mark.parametrize(
        "instance",
        ['say "hi"', "back\\slash", "new\nline", '\\"\n', "ünïcode ✓"],
    )
    def test_awkward_instance_is_refused_and_the_page_parses(
        self, monitor: Monitor, registry: CollectorRegistry, instance: str
    ) -> None:
        """An instance id with quotes, backslashes or newlines is refused."""
        monitor.on_heartbeat(payload(instance="a1"))
        monitor.on_heartbeat(payload(instance=instance))

        assert (
            value(registry, "simplepyms_service_up", **labels(instance))
            is None
        )
        assert 1.0 == value(registry, "simplepyms_service_up", **labels("a1"))
        assert 1.0 == value(
            registry,
            "simplepyms_heartbeats_rejected_total",
            reason="bad_field",
        )

    def test_no_job_or_instance_label(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """No series anywhere has a label named job or instance."""
        monitor.on_heartbeat(payload(instance="a1", metrics={"ratio": 1}))
        monitor.on_heartbeat(payload(service="store", instance="s1"))
        monitor.on_goodbye(goodbye(service="store", instance="s1"))
        monitor.on_heartbeat({"not": "a heartbeat"})

        names = {name for s in samples(registry) for name in s.labels}
        assert set() == names & {"job", "instance"}

    @pytest.mark.parametrize(
        "family",
        [
            "simplepyms_service_up",
            "simplepyms_service_last_seen_timestamp_seconds",
            "simplepyms_service_uptime_seconds",
            "simplepyms_service_start_time_seconds",
            "simplepyms_service_heartbeat_interval_seconds",
            "simplepyms_service_clock_skew_seconds",
            "simplepyms_service_heartbeats_total",
            "queue_depth",
        ],
    )
    def test_instance_labels(
        self, monitor: Monitor, registry: CollectorRegistry, family: str
    ) -> None:
        """Per-instance series carry exactly service and service_instance."""
        monitor.on_heartbeat(payload(metrics={"queue_depth": 1}))

        found = [s.labels for s in samples(registry) if s.name == family]
        assert [labels()] == found
