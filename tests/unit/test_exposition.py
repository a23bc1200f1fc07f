"""The hand-written exposition: exact text, kept lines, and the rest."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.utils import floatToGoString
from twisted.internet.task import Clock

from simplepyms.collector import FleetCollector
from simplepyms.exposition import TextFamily, label_value, number, render
from simplepyms.liveness import Fleet, Instance
from simplepyms.monitor import Monitor

from .support import T0, goodbye, payload

ONE_INSTANCE = """\
# HELP simplepyms_service_up 1 while the instance heartbeats in time.
# TYPE simplepyms_service_up gauge
simplepyms_service_up{service="adder",service_instance="a1"} 1.0
# HELP simplepyms_service_state 1 for the instance's current state, 0 for \
the others.
# TYPE simplepyms_service_state gauge
simplepyms_service_state{service="adder",service_instance="a1",state="up"} 1.0
simplepyms_service_state{service="adder",service_instance="a1",state="late"} \
0.0
simplepyms_service_state{service="adder",service_instance="a1",state="down"} \
0.0
simplepyms_service_state{service="adder",service_instance="a1",\
state="stopped"} 0.0
# HELP simplepyms_service_last_seen_timestamp_seconds When the Monitor last \
received a heartbeat from the instance.
# TYPE simplepyms_service_last_seen_timestamp_seconds gauge
simplepyms_service_last_seen_timestamp_seconds{service="adder",\
service_instance="a1"} 1000.0
# HELP simplepyms_service_uptime_seconds How long the instance has run.
# TYPE simplepyms_service_uptime_seconds gauge
simplepyms_service_uptime_seconds{service="adder",service_instance="a1"} \
52.5
# HELP simplepyms_service_start_time_seconds When the instance started, by \
the instance's own clock.
# TYPE simplepyms_service_start_time_seconds gauge
simplepyms_service_start_time_seconds{service="adder",service_instance="a1"} \
950.0
# HELP simplepyms_service_heartbeat_interval_seconds How often the instance \
says it heartbeats.
# TYPE simplepyms_service_heartbeat_interval_seconds gauge
simplepyms_service_heartbeat_interval_seconds{service="adder",\
service_instance="a1"} 5.0
# HELP simplepyms_service_clock_skew_seconds Monitor receive time minus \
instance send time, last heartbeat.
# TYPE simplepyms_service_clock_skew_seconds gauge
simplepyms_service_clock_skew_seconds{service="adder",service_instance="a1"} \
0.0
# HELP simplepyms_service_heartbeats_total Heartbeats accepted from the \
instance.
# TYPE simplepyms_service_heartbeats_total counter
simplepyms_service_heartbeats_total{service="adder",service_instance="a1"} \
1.0
# HELP simplepyms_service_instances Instances of the service that heartbeat \
in time.
# TYPE simplepyms_service_instances gauge
simplepyms_service_instances{service="adder"} 1.0
# HELP simplepyms_service_restarts_total Times an instance of the service \
was replaced by a new one.
# TYPE simplepyms_service_restarts_total counter
simplepyms_service_restarts_total{service="adder"} 0.0
# HELP queue_depth Carried in heartbeats.
# TYPE queue_depth gauge
queue_depth{service="adder",service_instance="a1"} 4.0
# HELP jobs_total Carried in heartbeats.
# TYPE jobs_total counter
jobs_total{service="adder",service_instance="a1"} 7.0
"""


def fleet_page(fleet: Fleet, clock: Clock) -> str:
    """Render a registry holding only a collector for *fleet*."""
    registry = CollectorRegistry()
    registry.register(FleetCollector(fleet, clock.seconds))
    return render(registry).decode("utf-8")


def tracked(service: str, instance: str) -> Instance:
    """Return an instance as a state file would restore it."""
    return Instance(
        service=service,
        instance=instance,
        interval=5.0,
        started=T0 - 50.0,
        last_seen=T0,
        last_sent=T0,
        seq=1,
        metrics={"ratio": 0.5},
        start_on_monitor=T0 - 50.0,
    )


def lines_with(text: str, needle: str) -> list[str]:
    """Return the sample lines of *text* that contain *needle*."""
    return [
        line
        for line in text.splitlines()
        if needle in line and not line.startswith("#")
    ]


class TestNumber:
    """number(): the sample value as prometheus_client writes it."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            (1.0, "1.0"),
            (0.25, "0.25"),
            (-0.0, "-0.0"),
            (math.inf, "+Inf"),
            (-math.inf, "-Inf"),
            (math.nan, "NaN"),
            (999_999.0, "999999.0"),
            (1_000_000.0, "1e+06"),
            (1_733_270_400.125, "1.733270400125e+09"),
            (-3e9, "-3000000000.0"),
            (1e16, "1e+16"),
            (7, "7.0"),
        ],
    )
    def test_examples(self, value: float, expected: str) -> None:
        """Exponents, infinities and NaN are written as Prometheus reads."""
        assert expected == number(value)

    @given(st.one_of(st.floats(), st.integers(-(10**20), 10**20)))
    def test_as_prometheus_client(self, value: float) -> None:
        """Every value is written as prometheus_client writes it."""
        assert floatToGoString(value) == number(value)


class TestLabelValue:
    """label_value(): escaping inside the quotes."""

    @pytest.mark.parametrize(
        ("value", "expected"),
        [
            ("plain", "plain"),
            ('say "hi"', 'say \\"hi\\"'),
            ("back\\slash", "back\\\\slash"),
            ("new\nline", "new\\nline"),
            ('\\"\n', '\\\\\\"\\n'),
            ("ünïcode ✓", "ünïcode ✓"),
        ],
    )
    def test_escapes(self, value: str, expected: str) -> None:
        """Backslash, double quote and line feed are escaped; no more."""
        assert expected == label_value(value)

    def test_escaped_labels_in_the_page(self, clock: Clock) -> None:
        """Awkward service and instance names are escaped in every line."""
        fleet = Fleet()
        fleet.restore(tracked('say "hi"\\', "new\nline"))

        text = fleet_page(fleet, clock)

        wanted = (
            'ratio{service="say \\"hi\\"\\\\",service_instance="new\\nline"}'
        )
        assert [f"{wanted} 0.5"] == lines_with(text, "ratio{")


class TestFleetText:
    """What FleetCollector's text says, scrape after scrape."""

    def test_exact_text_for_one_instance(
        self, monitor: Monitor, clock: Clock
    ) -> None:
        """One instance's page is exactly the expected text."""
        carried = {"queue_depth": 4, "jobs_total": 7}
        monitor.on_heartbeat(payload(metrics=carried))
        clock.advance(2.5)

        assert ONE_INSTANCE == fleet_page(monitor.fleet, clock)

    def test_empty_fleet_has_headers_only(self, clock: Clock) -> None:
        """With no instance, each fixed family is a HELP and a TYPE line."""
        text = fleet_page(Fleet(), clock)

        assert [] == [line for line in text.splitlines() if line[0] != "#"]
        assert 20 == len(text.splitlines())

    def test_same_as_generate_latest(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """render() writes what generate_latest() writes, byte for byte."""
        monitor.on_heartbeat(payload(instance="a1", metrics={"ratio": 0.5}))
        monitor.on_heartbeat(payload(instance="a2", metrics={"n_total": 2}))
        monitor.on_goodbye(goodbye(instance="a2"))
        render(registry)
        clock.advance(3.0)
        monitor.on_heartbeat(payload(instance="a1", seq=2, metrics={}))

        assert generate_latest(registry) == render(registry)

    def test_changed_value_shows_at_next_scrape(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A value carried in a new heartbeat replaces the kept line."""
        monitor.on_heartbeat(payload(seq=1, metrics={"queue_depth": 4}))
        render(registry)
        monitor.on_heartbeat(payload(seq=2, metrics={"queue_depth": 9}))

        text = render(registry).decode("utf-8")

        assert ['queue_depth{service="adder",service_instance="a1"} 9.0'] == (
            lines_with(text, "queue_depth{")
        )

    def test_next_heartbeat_shows_at_next_scrape(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """The heartbeat count and receipt time move on after a scrape."""
        monitor.on_heartbeat(payload(seq=1))
        render(registry)
        clock.advance(2.0)
        monitor.on_heartbeat(payload(seq=2, sent=T0 + 2.0))

        text = render(registry).decode("utf-8")

        beats = lines_with(text, "heartbeats_total{")
        seen = lines_with(text, "last_seen_timestamp_seconds{")
        assert [" 2.0", " 1002.0"] == [beats[0][-4:], seen[0][-7:]]

    def test_sign_of_zero_shows(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A value that goes from 0.0 to -0.0 is written again."""
        monitor.on_heartbeat(payload(seq=1, metrics={"offset_seconds": 0.0}))
        render(registry)
        monitor.on_heartbeat(payload(seq=2, metrics={"offset_seconds": -0.0}))

        text = render(registry).decode("utf-8")

        assert lines_with(text, "offset_seconds{")[0].endswith(" -0.0")

    def test_uptime_moves_without_heartbeats(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Uptime is judged at each scrape, not kept from the last one."""
        monitor.on_heartbeat(payload(started=T0 - 50.0, sent=T0))
        render(registry)
        clock.advance(4.0)

        text = render(registry).decode("utf-8")

        assert lines_with(text, "uptime_seconds{")[0].endswith(" 54.0")

    def test_state_moves_without_heartbeats(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """A silent instance is down at the next scrape, its metrics gone."""
        monitor.on_heartbeat(payload(interval=5.0, metrics={"ratio": 1}))
        render(registry)
        clock.advance(16.0)

        text = render(registry).decode("utf-8")

        assert [] == lines_with(text, "ratio{")
        assert lines_with(text, 'state="down"')[0].endswith(" 1.0")
        assert lines_with(text, "simplepyms_service_up{")[0].endswith(" 0.0")

    def test_forgotten_instance_disappears_at_once(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """The scrape after a purge names the instance nowhere."""
        monitor.on_heartbeat(payload(instance="a1", metrics={"ratio": 1}))
        monitor.on_heartbeat(payload(instance="a2", metrics={"ratio": 1}))
        monitor.on_goodbye(goodbye(instance="a1"))
        render(registry)
        clock.advance(901.0)
        monitor.on_heartbeat(payload(instance="a2", seq=2))
        monitor.sweep()

        text = render(registry).decode("utf-8")

        assert [] == lines_with(text, '"a1"')
        assert [] != lines_with(text, '"a2"')

    def test_restored_instance_replaces_kept_lines(self, clock: Clock) -> None:
        """A new Instance under a known name is written from scratch."""
        fleet = Fleet()
        registry = CollectorRegistry()
        registry.register(FleetCollector(fleet, clock.seconds))
        fleet.restore(tracked("adder", "a1"))
        render(registry)
        again = tracked("adder", "a1")
        again.metrics = {"ratio": 0.75}
        fleet.restore(again)

        text = render(registry).decode("utf-8")

        assert lines_with(text, "ratio{")[0].endswith(" 0.75")

    def test_other_families_still_appear(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """The registry's other families are written beside the fleet's."""
        monitor.on_heartbeat(payload())
        monitor.on_heartbeat({"not": "a heartbeat"})

        text = render(registry).decode("utf-8")

        assert ["simplepyms_heartbeats_received_total 2.0"] == lines_with(
            text, "simplepyms_heartbeats_received_total "
        )
        assert "simplepyms_build_info{" in text
        assert "simplepyms_service_up{" in text


class TestTextFamily:
    """TextFamily read as an ordinary family."""

    def test_samples_match_the_text(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A reader of samples sees what the text says."""
        monitor.on_heartbeat(payload(metrics={"jobs_total": 7}))

        jobs = [
            family
            for family in registry.collect()
            if isinstance(family, TextFamily) and family.name == "jobs"
        ]

        assert ["jobs_total"] == [sample.name for sample in jobs[0].samples]
        assert [7.0] == [sample.value for sample in jobs[0].samples]

    def test_plain_families_are_formatted_as_usual(self) -> None:
        """A registry without text families renders as generate_latest."""
        registry = CollectorRegistry()
        Counter("things", "Things seen.", ["kind"], registry=registry).labels(
            'a "b"'
        ).inc(3)

        assert generate_latest(registry) == render(registry)
