"""Random histories of a few services keep the fleet's invariants.

A state machine sends heartbeats (new, repeated, older, from a restarted
process), goodbyes, lost sessions and garbage for two services of two
instances each, moves the clock across the late, down and retention
thresholds, sweeps, and reads ``/metrics`` back after every step.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

import pytest
from hypothesis import event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from prometheus_client import generate_latest

from simplepyms import protocol

from . import profiles
from . import strategies as s
from .support import (
    ALIVE,
    PER_INSTANCE,
    STATES,
    Key,
    Scrape,
    render,
    rig,
    run_promtool,
    same,
    scrape,
)

SERVICES: Final = ("alpha", "beta")
INSTANCES: Final = ("i1", "i2")
KEYS: Final = tuple((svc, inst) for svc in SERVICES for inst in INSTANCES)
INTERVALS: Final = (0.05, 1.0, 5.0)
LONGEST: Final = max(INTERVALS)
GAUGE: Final = "queue_depth"
COUNTER: Final = "jobs_done_total"
#: Pauses that cross the late (x1.5) and down (x3) thresholds.
PAUSES: Final = (0.01, 0.1, 0.16, 1.0, 2.0, 3.01, 5.0, 10.0, 15.01, 60.0)

#: The Monitor may hold a lost-session notice this long before it counts.
LOST_NOTICE_SECONDS: Final = 1.0
#: How often the running Monitor sweeps; a longer gap reads as a stall.
TICK: Final = 1.0
#: Shrinking a failing history can take Hypothesis minutes; let it finish.
SHRINK_TIMEOUT_SECONDS: Final = 600

gauge_values = st.one_of(
    st.floats(), st.integers(min_value=-(2**60), max_value=2**60)
)
counter_values = st.one_of(
    st.integers(0, 20),
    st.floats(min_value=0, max_value=1e15),
    st.integers(0, 2**53),
)
#: Half the steps go to one instance, so that its history gets long.
keys = st.one_of(st.just(KEYS[0]), st.sampled_from(KEYS))
carry_choices = st.sampled_from(((), (GAUGE,), (COUNTER,), (GAUGE, COUNTER)))


@dataclass(frozen=True)
class Sent:
    """The last heartbeat the Monitor accepted from one instance."""

    started: float
    seq: int


class FleetMachine(RuleBasedStateMachine):
    """Drive one Monitor and check what /metrics says after each step."""

    def __init__(self) -> None:
        super().__init__()
        self.rig = rig()
        self.page = scrape(self.rig.registry)
        self.previous = self.page
        self.accepted: dict[Key, Sent] = {}
        self.processes: dict[Key, float] = dict.fromkeys(KEYS, 1.0)
        self.restarts: dict[str, float] = {}
        self.counters: dict[tuple[Key, float], float] = {}
        #: A scrape a rule already took after its action, to reuse.
        self.fresh: Scrape | None = None
        #: Whether the Monitor stalled since the last scrape.
        self.stalled = False
        #: When the Monitor's once-a-second sweep is next due.
        self.next_sweep = self.rig.clock.seconds() + TICK

    # ---- rules -----------------------------------------------------------

    @rule(
        key=keys,
        kind=st.sampled_from(("next", "repeat", "older", "restart")),
        interval=st.sampled_from(INTERVALS),
        carry=carry_choices,
        gauge=gauge_values,
        counter=counter_values,
        skew=st.sampled_from((0.0, -3.0, 86_400.0)),
    )
    def heartbeat(
        self,
        *,
        key: Key,
        kind: str,
        interval: float,
        carry: tuple[str, ...],
        gauge: float,
        counter: float,
        skew: float,
    ) -> None:
        """Send a heartbeat; check it was taken or ignored as it should be."""
        before = self.page
        known = self.accepted.get(key)
        if kind == "restart":
            self.processes[key] += 1000.0
        last = known.seq if known is not None else 0
        sent = Sent(
            started=self.processes[key],
            seq=max(
                0,
                {"next": last + 1, "repeat": last, "older": last - 1}.get(
                    kind, 1
                ),
            ),
        )
        metrics = {GAUGE: gauge, COUNTER: counter}
        carried = {name: metrics[name] for name in carry}

        self.rig.monitor.on_heartbeat(
            protocol.build_heartbeat(
                service=key[0],
                instance=key[1],
                seq=sent.seq,
                started=sent.started,
                sent=self.rig.clock.seconds() + skew,
                interval=interval,
                metrics=carried,
            )
        )

        after = self.fresh = scrape(self.rig.registry)
        outcome = self._expected(key, known, sent)
        event(f"heartbeat: {outcome}")
        ignored = (
            _grew(before, after, "stale"),
            _grew(before, after, "ended"),
        )
        if outcome in ("stale", "stopped"):
            assert (outcome == "stale", outcome == "stopped") == ignored
            assert _same_series(
                before.of_instance(key), after.of_instance(key)
            )
        elif ignored == (False, True):
            # Purged a moment ago: its heartbeats are ignored for a while.
            assert "new" == outcome
            assert key not in after.states
        else:
            assert (False, False) == ignored
            self._check_taken(before, after, key, known, sent, carried)
            self.accepted[key] = sent

    def _expected(self, key: Key, known: Sent | None, sent: Sent) -> str:
        """Say what the Monitor should make of *sent* from *key*."""
        state = self.page.states.get(key)
        if state is None or known is None:
            return "new"
        if state == "stopped":
            return "stopped"
        if known.started == sent.started and sent.seq <= known.seq:
            return "stale"
        return f"taken when {state}"

    def _check_taken(  # noqa: PLR0917 - the facts of one heartbeat
        self,
        before: Scrape,
        after: Scrape,
        key: Key,
        known: Sent | None,
        sent: Sent,
        carried: dict[str, float],
    ) -> None:
        """A taken heartbeat makes its instance up, carrying what it sent."""
        assert "up" == after.states.get(key)
        got = after.carried.get(key, {})
        if GAUGE in carried:
            assert same(float(carried[GAUGE]), got.get(GAUGE))
        if COUNTER in carried:
            assert COUNTER in got
            assert float(carried[COUNTER]) <= got[COUNTER]

        if known is None:
            return
        restarts = "simplepyms_service_restarts_total"
        grew = after.by_service(restarts).get(key[0], 0.0) - (
            before.by_service(restarts).get(key[0], 0.0)
        )
        assert (1.0 if known.started != sent.started else 0.0) == grew

    @rule(key=keys)
    def goodbye(self, key: Key) -> None:
        """Say goodbye; an instance that was alive is then stopped."""
        before = self.page.states.get(key)

        self.rig.monitor.on_goodbye(
            protocol.build_goodbye(
                service=key[0], instance=key[1], reason="stop"
            )
        )

        self.fresh = scrape(self.rig.registry)
        after = self.fresh.states.get(key)
        if before in ALIVE:
            assert "stopped" == after
        else:
            assert after in (None, "stopped", "down")

    @rule(key=keys)
    def lost(self, key: Key) -> None:
        """Report a lost session; an instance alive then is soon down."""
        before = self.page.states.get(key)

        self.rig.monitor.on_lost({"service": key[0], "instance": key[1]})
        self.run_for(LOST_NOTICE_SECONDS)

        self.fresh = scrape(self.rig.registry)
        after = self.fresh.states.get(key)
        if before in ALIVE:
            assert "down" == after
        else:
            assert after in (None, before, "down")

    @rule(pause=st.one_of(st.sampled_from(PAUSES), st.floats(0, 100)))
    def advance(self, pause: float) -> None:
        """Let time pass while the Monitor runs."""
        self.run_for(pause)

    @rule(
        interval=st.sampled_from(INTERVALS),
        factor=st.sampled_from((1.0, 1.5, 1.6, 2.0, 3.0, 3.1)),
    )
    def wait_intervals(self, interval: float, factor: float) -> None:
        """Let a number of intervals pass, up to or past a threshold."""
        self.run_for(interval * factor)

    @rule(pause=st.sampled_from((3.5, 20.0, 1000.0)))
    def stall(self, pause: float) -> None:
        """Stop the Monitor's process for a while, then sweep once."""
        self.rig.clock.advance(pause)
        self.rig.monitor.sweep()
        self.next_sweep = self.rig.clock.seconds() + TICK
        self.stalled = True

    def run_for(self, seconds: float) -> None:
        """Advance the clock, sweeping every second as the Monitor does."""
        clock, monitor = self.rig.clock, self.rig.monitor
        end = clock.seconds() + seconds
        while self.next_sweep <= end:
            clock.advance(self.next_sweep - clock.seconds())
            monitor.sweep()
            self.next_sweep += TICK
        clock.advance(end - clock.seconds())

    @rule()
    def sweep(self) -> None:
        """Sweep, as the Monitor does every second."""
        self.rig.monitor.sweep()

    @rule()
    def refresh(self) -> None:
        """Write the lines of instances that beat, as between scrapes."""
        self.rig.monitor.collector.refresh()

    @rule(
        topic=st.sampled_from(("heartbeat", "goodbye", "lost")),
        payload=s.wire_values,
    )
    def garbage(self, topic: str, payload: Any) -> None:
        """Send something that is no heartbeat or goodbye at all."""
        getattr(self.rig.monitor, f"on_{topic}")(payload)

    @precondition(lambda self: bool(self.page.states))
    @rule()
    def expire(self) -> None:
        """Past retention and the longest timeout, a sweep forgets all."""
        event("expire")
        fleet = self.rig.fleet
        self.run_for(fleet.retention + fleet.timeout_factor * LONGEST + 1.0)

        self.rig.monitor.sweep()

        page = self.fresh = scrape(self.rig.registry)
        left = [
            sample for sample in page.samples if "service" in sample.labels
        ]
        assert [] == left

    # ---- invariants ------------------------------------------------------

    @invariant()
    def holds(self) -> None:
        """Read /metrics back, then check every invariant on it."""
        self.read_back()
        self.one_state_each()
        self.same_instances_everywhere()
        self.up_iff_alive()
        self.carried_only_while_alive()
        self.instances_count_alive()
        self.restarts_never_decrease()
        self.stopped_is_final()
        self.carried_counter_never_decreases()
        self.uptime_frozen_once_ended()
        self.gzipped_is_the_page()
        self.stalled = False

    def read_back(self) -> None:
        """Scrape after every step; forget what /metrics forgot."""
        page = self.fresh or scrape(self.rig.registry)
        self.fresh = None
        for state in page.states.values():
            event(f"state seen: {state}")
        for key in list(self.accepted):
            if key not in page.states:
                del self.accepted[key]
        for counted in list(self.counters):
            if counted[0] not in page.states:
                del self.counters[counted]
        self.previous, self.page = self.page, page

    def one_state_each(self) -> None:
        """Every instance has the four state series, exactly one of them 1."""
        series: dict[Key, dict[str, float]] = {}
        for sample in self.page.samples:
            if sample.name == "simplepyms_service_state":
                key = (
                    sample.labels["service"],
                    sample.labels["service_instance"],
                )
                series.setdefault(key, {})[sample.labels["state"]] = (
                    sample.value
                )
        for values in series.values():
            assert set(STATES) == set(values)
            assert [1.0] == [v for v in values.values() if v != 0.0]
            assert {0.0, 1.0} >= set(values.values())
        assert set(series) == set(self.page.states)

    def same_instances_everywhere(self) -> None:
        """Every per-instance family names the same instances."""
        instances = set(self.page.states)
        for name in PER_INSTANCE:
            assert instances == set(self.page.by_key(name)), name

    def up_iff_alive(self) -> None:
        """up is 1 exactly while the state is up or late."""
        up = self.page.by_key("simplepyms_service_up")
        for key, state in self.page.states.items():
            assert (1.0 if state in ALIVE else 0.0) == up[key]

    def carried_only_while_alive(self) -> None:
        """Carried metrics are exported only for up and late instances."""
        for key in self.page.carried:
            assert self.page.states.get(key) in ALIVE

    def instances_count_alive(self) -> None:
        """service_instances counts each service's up and late instances."""
        counted = self.page.by_service("simplepyms_service_instances")
        expected: dict[str, float] = {}
        for (service, _), state in self.page.states.items():
            expected[service] = expected.get(service, 0.0) + (state in ALIVE)
        assert expected == counted

    def restarts_never_decrease(self) -> None:
        """service_restarts_total never goes down for a service."""
        now = self.page.by_service("simplepyms_service_restarts_total")
        for service, value in now.items():
            assert value >= self.restarts.get(service, 0.0)
            self.restarts[service] = value

    def gzipped_is_the_page(self) -> None:
        """The gzipped page, kept parts and all, inflates to the page."""
        registry = self.rig.registry

        gzipped = render(registry, gzip=True)

        assert generate_latest(registry).decode("utf-8") == gzipped

    def stopped_is_final(self) -> None:
        """An instance seen stopped stays stopped until it is forgotten."""
        before = self.previous.states
        for key, state in self.page.states.items():
            if before.get(key) == "stopped":
                assert "stopped" == state

    def carried_counter_never_decreases(self) -> None:
        """A carried counter never goes down within one process.

        A heartbeat that leaves the counter out starts the comparison
        afresh: the Monitor forgets the value then (see test_bugs.py).
        """
        started = self.page.by_key("simplepyms_service_start_time_seconds")
        for key, state in self.page.states.items():
            values = self.page.carried.get(key, {})
            process = (key, started[key])
            if state in ALIVE and COUNTER not in values:
                self.counters.pop(process, None)
            if COUNTER not in values:
                continue
            assert values[COUNTER] >= self.counters.get(process, 0.0)
            self.counters[process] = values[COUNTER]

    def uptime_frozen_once_ended(self) -> None:
        """An instance that stays down or stopped keeps its uptime.

        Not checked across a stall: the Monitor then moves the uptime of
        instances that were down already (see test_bugs.py).
        """
        if self.stalled:
            return
        name = "simplepyms_service_uptime_seconds"
        before, now = self.previous.by_key(name), self.page.by_key(name)
        for key, state in self.page.states.items():
            was = self.previous.states.get(key)
            if was is not None and not {was, state} & ALIVE:
                assert before[key] == now[key], (key, was, state)


class PromtoolMachine(FleetMachine):
    """The same histories, with promtool run on every scrape."""

    promtool: str = ""

    @invariant()
    def holds(self) -> None:
        """Check the invariants, then run promtool on the same scrape."""
        super().holds()
        assert ("", "", 0) == run_promtool(self.promtool, self.page.text)


def _grew(before: Scrape, after: Scrape, reason: str) -> bool:
    name = "simplepyms_heartbeats_ignored_total"
    return after.value(name, reason=reason) != before.value(
        name, reason=reason
    )


def _same_series(
    before: dict[tuple[str, str], float], after: dict[tuple[str, str], float]
) -> bool:
    return before.keys() == after.keys() and all(
        same(value, after[key]) for key, value in before.items()
    )


class TestSequences:
    """Random histories for two services of two instances each."""

    @pytest.mark.timeout(SHRINK_TIMEOUT_SECONDS)
    def test_invariants_hold(self) -> None:
        """After every step of any history, the fleet's invariants hold."""
        run_state_machine_as_test(
            FleetMachine,
            settings=settings(
                max_examples=profiles.examples(100), stateful_step_count=50
            ),
        )

    @pytest.mark.slow
    @pytest.mark.timeout(SHRINK_TIMEOUT_SECONDS)
    def test_promtool_after_every_step(self, promtool: str) -> None:
        """promtool accepts /metrics after every step of long histories."""
        PromtoolMachine.promtool = promtool

        # A promtool process per step: 200 histories of 50 steps take
        # about five minutes, so this count stays fixed under "long".
        run_state_machine_as_test(
            PromtoolMachine,
            settings=settings(max_examples=200, stateful_step_count=50),
        )
