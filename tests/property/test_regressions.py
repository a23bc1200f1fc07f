"""Minimal examples of bugs the properties found, kept as regressions.

The property strategies steer around these inputs so that they can keep
finding new ones; these tests make sure the old ones stay fixed.
"""

from __future__ import annotations

from typing import Any

from simplepyms import protocol

from .support import Rig, rig, scrape


def beat(**overrides: Any) -> dict[str, Any]:
    """Return a valid heartbeat of service a, instance a1, with overrides."""
    fields: dict[str, Any] = {
        "service": "a",
        "instance": "a1",
        "seq": 1,
        "started": 1.0,
        "sent": 1.0,
        "interval": 5.0,
        "metrics": {},
    }
    fields.update(overrides)
    return protocol.build_heartbeat(**fields)


class TestRegressions:
    """Each test is one bug, reduced to the fewest events that show it."""

    def test_keyword_named_self(self) -> None:
        """An event whose kwargs include self is counted, not raised on."""
        monitor_rig = rig()

        monitor_rig.monitor.on_heartbeat(**{"self": 1})

        received = scrape(monitor_rig.registry).value(
            "simplepyms_heartbeats_received_total"
        )
        assert 1.0 == received

    def test_counter_decrease_after_gap(self) -> None:
        """A counter left out of one heartbeat still never goes down."""
        monitor_rig = rig()
        monitor = monitor_rig.monitor

        monitor.on_heartbeat(beat(seq=1, metrics={"jobs_total": 10}))
        monitor.on_heartbeat(beat(seq=2, metrics={}))
        monitor.on_heartbeat(beat(seq=3, metrics={"jobs_total": 5}))

        exported = scrape(monitor_rig.registry).value(
            "jobs_total", service="a", service_instance="a1"
        )
        assert 10.0 == exported

    def test_stall_moves_uptime_of_down_instance(self) -> None:
        """The uptime of an instance already down stays frozen over a stall."""
        monitor_rig = rig()
        monitor, clock = monitor_rig.monitor, monitor_rig.clock
        monitor.on_heartbeat(beat(sent=clock.seconds()))
        clock.advance(20.0)
        monitor.sweep()
        frozen = uptime(monitor_rig)

        clock.advance(10.0)
        monitor.sweep()

        assert frozen == uptime(monitor_rig)

    def test_heartbeat_after_lost_notice(self) -> None:
        """An instance that heartbeats after its lost notice stays up."""
        monitor_rig = rig()
        monitor, clock = monitor_rig.monitor, monitor_rig.clock
        monitor.on_heartbeat(beat(seq=1, sent=clock.seconds()))
        monitor.on_lost({"service": "a", "instance": "a1"})
        clock.advance(0.2)
        monitor.on_heartbeat(beat(seq=2, sent=clock.seconds()))

        clock.advance(1.0)

        assert {("a", "a1"): "up"} == scrape(monitor_rig.registry).states


def uptime(monitor_rig: Rig) -> float | None:
    """Return the uptime that /metrics shows for instance a1 of a."""
    return scrape(monitor_rig.registry).value(
        "simplepyms_service_uptime_seconds", service="a", service_instance="a1"
    )
