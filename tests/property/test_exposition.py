"""The page written by hand is what prometheus-client would write, always."""

from __future__ import annotations

from hypothesis import given, settings
from prometheus_client import generate_latest

from simplepyms.exposition import render

from . import profiles
from .support import rig
from .test_promtool import Fleet, fleets


class TestSameAsPrometheusClient:
    """render() against generate_latest() on hostile fleets."""

    @settings(max_examples=profiles.examples(100))
    @given(fleets(), fleets())
    def test_scrape_after_scrape(self, first: Fleet, then: Fleet) -> None:
        """Kept lines never make the page differ, scrape after scrape."""
        monitor_rig = rig()
        monitor = monitor_rig.monitor
        registry = monitor_rig.registry

        for fated, pause in (first, then):
            for beat, fate in fated:
                monitor.on_heartbeat(beat)
                bye = {
                    "service": beat["service"],
                    "instance": beat["instance"],
                }
                if fate == "goodbye":
                    monitor.on_goodbye(bye)
                elif fate == "lost":
                    monitor.on_lost(bye)
            monitor_rig.clock.advance(pause)
            monitor.sweep()

            assert generate_latest(registry) == render(registry)
