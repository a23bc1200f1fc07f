"""promtool check metrics has nothing to say about /metrics, ever.

promtool costs a process per example, so these properties run fewer
examples than the others, and each example packs many instances.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from simplepyms import protocol

from . import profiles
from . import strategies as s
from .support import deliver, rig, run_promtool, scrape

#: What happens to an instance after its first heartbeat: it heartbeats
#: again after the pause, says goodbye, loses its session, or falls silent.
FATES = ("live", "goodbye", "lost", "silent")
#: Pauses that leave the fast instances late or down and the slow ones up.
PAUSES = (0.0, 1.0, 20.0, 4000.0, 11_000.0)

Fleet = tuple[list[tuple[dict[str, Any], str]], float]


@st.composite
def fleets(draw: st.DrawFn) -> Fleet:
    """Draw valid heartbeats with adversarial metrics, fates and a pause."""
    beats = draw(st.lists(s.valid_heartbeats(), min_size=1, max_size=10))
    fated = [(beat, draw(st.sampled_from(FATES))) for beat in beats]
    return (fated, draw(st.sampled_from(PAUSES)))


class TestPromtool:
    """promtool check metrics on expositions built from hostile input."""

    @settings(max_examples=profiles.examples(60))
    @given(fleets())
    def test_adversarial_names_pass(self, promtool: str, fleet: Fleet) -> None:
        """Whatever names services carry, promtool prints nothing."""
        monitor_rig = rig()
        monitor = monitor_rig.monitor
        fated, pause = fleet

        for beat, _ in fated:
            monitor.on_heartbeat(beat)
        for beat, fate in fated:
            bye = {"service": beat["service"], "instance": beat["instance"]}
            if fate == "goodbye":
                monitor.on_goodbye(bye)
            elif fate == "lost":
                monitor.on_lost(bye)
        monitor_rig.clock.advance(pause)
        for beat, fate in fated:
            if fate == "live":
                monitor.on_heartbeat({**beat, "seq": beat["seq"] + 1})
        monitor.sweep()

        text = scrape(monitor_rig.registry).text
        assert ("", "", 0) == run_promtool(promtool, text)

    @settings(max_examples=profiles.examples(30))
    @given(
        st.lists(s.metric_names, min_size=100, max_size=400, unique=True),
        st.floats(),
    )
    def test_names_pass_in_bulk(
        self, promtool: str, names: list[str], value: float
    ) -> None:
        """Hundreds of candidate names in one heartbeat: promtool is quiet."""
        monitor_rig = rig()
        payload = protocol.build_heartbeat(
            service="bulk",
            instance="b1",
            seq=1,
            started=1.0,
            sent=1.0,
            interval=5.0,
            metrics=dict.fromkeys(names, value),
        )

        monitor_rig.monitor.on_heartbeat(payload)

        text = scrape(monitor_rig.registry).text
        assert ("", "", 0) == run_promtool(promtool, text)

    @settings(max_examples=profiles.examples(40))
    @given(st.lists(s.events, min_size=1, max_size=12))
    def test_any_events_pass(
        self, promtool: str, sequence: list[tuple[str, Any]]
    ) -> None:
        """After random events on every topic, promtool prints nothing."""
        monitor_rig = rig()

        for kind, argument in sequence:
            deliver(monitor_rig, kind, argument)

        text = scrape(monitor_rig.registry).text
        assert ("", "", 0) == run_promtool(promtool, text)
