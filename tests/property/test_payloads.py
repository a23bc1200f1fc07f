"""Whatever arrives on the Monitor's topics, /metrics stays well-formed."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from simplepyms import protocol

from . import strategies as s
from .support import T0, deliver, render, rig, same, scrape

Call = tuple[tuple[Any, ...], dict[str, Any]]

GOOD = (s.GOOD_SERVICE, "g1")
GOOD_INTERVAL = 5.0


def good_beat(seq: int, now: float) -> dict[str, Any]:
    """Return the good service's heartbeat number *seq*, sent at *now*."""
    return protocol.build_heartbeat(
        service=GOOD[0],
        instance=GOOD[1],
        seq=seq,
        started=T0 - 100.0,
        sent=now,
        interval=GOOD_INTERVAL,
        metrics={"good_queue_depth": seq % 7, "good_jobs_total": seq * 2},
    )


class TestAnyEvent:
    """Random events on every topic, with time passing and sweeps."""

    @given(st.lists(s.events, max_size=12))
    def test_metrics_stay_well_formed(
        self, sequence: list[tuple[str, Any]]
    ) -> None:
        """No event raises, and every scrape follows the format rules."""
        monitor_rig = rig()

        for kind, argument in sequence:
            deliver(monitor_rig, kind, argument)
            scrape(monitor_rig.registry)

    @given(st.lists(s.calls(), max_size=8))
    def test_every_heartbeat_counted(self, sequence: list[Call]) -> None:
        """heartbeats_received_total counts every heartbeat-topic event."""
        monitor_rig = rig()

        for args, kwargs in sequence:
            monitor_rig.monitor.on_heartbeat(*args, **kwargs)

        received = scrape(monitor_rig.registry).value(
            "simplepyms_heartbeats_received_total"
        )
        assert float(len(sequence)) == received

    @given(st.lists(s.calls(s.goodbye_payloads), max_size=8))
    def test_every_goodbye_counted(self, sequence: list[Call]) -> None:
        """goodbyes_received_total counts every goodbye and lost event."""
        monitor_rig = rig()

        for number, (args, kwargs) in enumerate(sequence):
            handler = (
                monitor_rig.monitor.on_lost
                if number % 2
                else monitor_rig.monitor.on_goodbye
            )
            handler(*args, **kwargs)

        goodbyes = scrape(monitor_rig.registry).value(
            "simplepyms_goodbyes_received_total"
        )
        assert float(len(sequence)) == goodbyes

    @given(st.lists(s.near_valid_heartbeats(), min_size=1, max_size=6))
    def test_near_misses_keep_metrics_well_formed(
        self, sequence: list[dict[Any, Any]]
    ) -> None:
        """Heartbeats wrong in one field leave a well-formed exposition."""
        monitor_rig = rig()

        for payload in sequence:
            monitor_rig.monitor.on_heartbeat(payload)

        scrape(monitor_rig.registry)


class TestPage:
    """The /metrics resource itself."""

    @given(st.lists(s.events, max_size=8))
    def test_gzip_is_the_same_page(
        self, sequence: list[tuple[str, Any]]
    ) -> None:
        """A scraper that accepts gzip gets the same text, compressed."""
        monitor_rig = rig()

        for kind, argument in sequence:
            deliver(monitor_rig, kind, argument)

        plain = render(monitor_rig.registry)
        assert plain == render(monitor_rig.registry, gzip=True)


class TestGoodService:
    """A service that heartbeats correctly is unaffected by the garbage."""

    @given(
        st.lists(
            st.tuples(
                st.floats(min_value=0, max_value=GOOD_INTERVAL),
                st.one_of(s.garbage, st.tuples(st.just("sweep"), st.none())),
            ).filter(lambda step: not _names_good(step[1])),
            min_size=1,
            max_size=12,
        )
    )
    def test_stays_up_with_its_metrics(
        self, steps: list[tuple[float, tuple[str, Any]]]
    ) -> None:
        """The good instance is up and exports what it last carried."""
        monitor_rig = rig()

        for seq, (pause, (kind, argument)) in enumerate(steps, start=1):
            monitor_rig.clock.advance(pause)
            now = monitor_rig.clock.seconds()
            monitor_rig.monitor.on_heartbeat(good_beat(seq, now))
            deliver(monitor_rig, kind, argument)

            page = scrape(monitor_rig.registry)
            service = GOOD[0]
            expected = {
                "good_queue_depth": float(seq % 7),
                "good_jobs_total": float(seq * 2),
            }
            assert "up" == page.states.get(GOOD)
            assert 1.0 == page.value(
                "simplepyms_service_up",
                service=service,
                service_instance=GOOD[1],
            )
            assert expected == page.carried.get(GOOD)
            assert 1.0 == page.value(
                "simplepyms_service_instances", service=service
            )
            assert float(seq) == page.value(
                "simplepyms_service_heartbeats_total",
                service=service,
                service_instance=GOOD[1],
            )


class TestCarriedMetrics:
    """Valid heartbeats whose carried metrics are adversarial."""

    @given(s.valid_heartbeats())
    def test_exported_as_sent(self, payload: dict[str, Any]) -> None:
        """Every carried series exported is a sent name with its value."""
        monitor_rig = rig()

        monitor_rig.monitor.on_heartbeat(payload)

        page = scrape(monitor_rig.registry)
        key = (payload["service"], payload["instance"])
        sent = payload["metrics"]
        for name, value in page.carried.get(key, {}).items():
            assert name in sent
            assert same(float(sent[name]), value), (name, sent[name], value)

    @given(st.lists(s.valid_heartbeats(), min_size=1, max_size=8))
    def test_many_instances_keep_metrics_well_formed(
        self, sequence: list[dict[str, Any]]
    ) -> None:
        """Many instances carrying clashing names leave one family each."""
        monitor_rig = rig()

        for payload in sequence:
            monitor_rig.monitor.on_heartbeat(payload)

        scrape(monitor_rig.registry)


def _names_good(event: tuple[str, Any]) -> bool:
    kind, argument = event
    return kind != "sweep" and s.names_good(*argument)
