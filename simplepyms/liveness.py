"""The liveness model: what the Monitor knows about each service instance.

Everything here is pure bookkeeping.  Time comes in as the ``now``
argument (Unix seconds on the Monitor's clock), so the model is tested
with plain numbers and the Monitor feeds it ``reactor.seconds()``.

An instance is *up* while its heartbeats arrive within
``interval * late_factor``, *late* after that, and *down* once it has been
silent for ``interval * timeout_factor`` or its session was lost.  It is
*stopped* after it said goodbye.  Down and stopped instances are kept for
``retention`` seconds, then forgotten.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass, field

from simplepyms.protocol import Goodbye, Heartbeat, is_counter

#: Why the model dropped a carried metric from an accepted heartbeat.
#: A counter went down without a restart: the old value is kept.
COUNTER_DECREASED = "counter_decreased"
#: Its service holds its budget of carried series already.
TOO_MANY_SERIES = "too_many_series"
DROP_REASONS = (COUNTER_DECREASED, TOO_MANY_SERIES)


class State(enum.Enum):
    """Where an instance stands, as exported in the ``state`` label."""

    UP = "up"
    LATE = "late"
    DOWN = "down"
    STOPPED = "stopped"

    @property
    def alive(self) -> bool:
        """Whether heartbeats are (still) arriving in time."""
        return self in (State.UP, State.LATE)


class Seen(enum.Enum):
    """What a heartbeat told the model."""

    NEW = "new"
    RESTARTED = "restarted"
    CURRENT = "current"
    STALE = "stale"
    ENDED = "ended"
    #: A new instance while the fleet already holds ``max_instances``,
    #: or its service ``max_instances_per_service``.
    REFUSED = "refused"


@dataclass(slots=True)
class Instance:
    """One process of one service, as the Monitor knows it."""

    service: str
    instance: str
    interval: float
    started: float
    last_seen: float
    last_sent: float
    seq: int
    metrics: dict[str, float]
    heartbeats: int = 1
    start_on_monitor: float = 0.0
    ended: State | None = None
    ended_at: float = 0.0
    replaced: bool = False
    reported: State = State.UP
    #: What silence is measured from: ``last_seen``, moved on by the time
    #: the Monitor spent cut off from the router.
    heard: float = 0.0
    #: The highest value of each carried counter since the process began.
    counters: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.heard:
            self.heard = self.last_seen

    @property
    def key(self) -> tuple[str, str]:
        """The pair of labels that names this instance."""
        return (self.service, self.instance)


@dataclass(frozen=True, slots=True)
class Transition:
    """An instance moved from one state to another."""

    instance: Instance
    old: State
    new: State


@dataclass(slots=True)
class Fleet:
    """Every instance the Monitor tracks, and how to judge them.

    Args:
        timeout_factor: silent for this many intervals means down.
        late_factor: silent for this many intervals means late.
        retention: seconds a down or stopped instance stays exported.
    """

    timeout_factor: float = 3.0
    late_factor: float = 1.5
    retention: float = 900.0
    restarts: dict[str, int] = field(default_factory=dict)
    #: Carried metrics the model dropped, by reason, since it began.
    dropped: dict[str, int] = field(default_factory=dict)
    #: Those dropped from the latest heartbeat alone.
    last_dropped: dict[str, int] = field(default_factory=dict)
    paused_at: float | None = None
    max_instances: int = 20_000
    #: So one service, or one stolen service credential, cannot fill
    #: the fleet and keep every other service's new instances out.
    max_instances_per_service: int = 1_000
    #: Carried series one service's tracked instances may hold in all; a
    #: heartbeat that would pass it is kept without its metrics.
    max_series_per_service: int = 20_000
    _instances: dict[tuple[str, str], Instance] = field(default_factory=dict)
    _by_service: dict[str, dict[str, Instance]] = field(default_factory=dict)
    _purged: dict[tuple[str, str], float] = field(default_factory=dict)
    _series: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 1.0 <= self.late_factor <= self.timeout_factor:
            raise ValueError(
                "late_factor must be at least 1 and at most timeout_factor"
                f" ({self.timeout_factor}), got {self.late_factor}"
            )

    def __len__(self) -> int:
        return len(self._instances)

    def __iter__(self) -> Iterator[Instance]:
        return iter(self._instances.values())

    def get(self, service: str, instance: str) -> Instance | None:
        """Return the instance so named, if it is tracked."""
        return self._instances.get((service, instance))

    @property
    def counters_decreased(self) -> int:
        """Counter values refused: they went down without a restart."""
        return self.dropped.get(COUNTER_DECREASED, 0)

    @property
    def series_dropped(self) -> int:
        """Carried metrics dropped: their service was over its budget."""
        return self.dropped.get(TOO_MANY_SERIES, 0)

    def heartbeat(self, beat: Heartbeat, now: float) -> Seen:
        """Record *beat*, received at *now*, and say what it meant.

        What it had to drop of the carried metrics is in
        :attr:`last_dropped` until the next heartbeat.
        """
        if self.last_dropped:
            self.last_dropped = {}  # a new dict only after a drop
        key = (beat.service, beat.instance)
        known = self._instances.get(key)
        if known is None:
            if key in self._purged:
                return Seen.ENDED
            if len(self._instances) >= self.max_instances or len(
                self._by_service.get(beat.service, ())
            ) >= (self.max_instances_per_service):
                return Seen.REFUSED
            return self._add(beat, now)
        if known.ended is State.STOPPED:
            return Seen.ENDED
        if beat.seq <= known.seq and beat.started == known.started:
            return Seen.STALE
        if known.ended is State.DOWN:
            # Its session died, but the process lived on and reconnected.
            known.ended = None

        seen = Seen.CURRENT
        metrics = self._within_budget(beat, len(known.metrics))
        if beat.started != known.started:
            seen = Seen.RESTARTED
            self._count_restart(beat.service)
            known.heartbeats = 0
            known.counters = {}
        self._keep_counters(known.counters, metrics)
        known.heartbeats += 1
        known.interval = beat.interval
        known.started = beat.started
        known.seq = beat.seq
        known.last_sent = beat.sent
        known.last_seen = known.heard = now
        known.start_on_monitor = now - (beat.sent - beat.started)
        self._series[beat.service] = (
            self._series.get(beat.service, 0)
            + len(metrics)
            - len(known.metrics)
        )
        known.metrics = metrics
        return seen

    def pause(self, now: float) -> None:
        """Stop judging silence: the Monitor cannot hear anyone just now.

        While the Monitor has no router session, no instance turns late
        or down: that it hears nothing says nothing about them.
        """
        if self.paused_at is None:
            self.paused_at = now

    def resume(self, now: float) -> None:
        """Judge silence again, not counting the pause until *now*.

        Instances heard from since the pause began keep their time.
        """
        if self.paused_at is None:
            return
        paused_at, self.paused_at = self.paused_at, None
        lost = max(0.0, now - paused_at)
        for inst in self._instances.values():
            if (
                inst.ended is None
                and inst.heard <= paused_at < inst.heard + self.timeout(inst)
            ):
                # Alive when the pause began; one already down stays so.
                inst.heard += lost

    def restore(self, inst: Instance) -> None:
        """Track *inst* as saved by an earlier run of the Monitor."""
        self._track(inst)

    def _keep_counters(
        self, highest: dict[str, float], new: dict[str, float]
    ) -> None:
        # Within one process a counter only goes up, even across beats
        # that left it out; a lower value is a bug in the sender, and
        # taking it would read as a reset.
        for name, value in new.items():
            if not is_counter(name):
                continue
            before = highest.get(name)
            if before is not None and value < before:
                new[name] = before
                self._drop(COUNTER_DECREASED, 1)
            else:
                highest[name] = value

    def goodbye(self, bye: Goodbye, now: float) -> Instance | None:
        """Mark the instance that said *bye* as stopped."""
        return self._end(bye.service, bye.instance, State.STOPPED, now)

    def lost(self, service: str, instance: str, now: float) -> Instance | None:
        """Mark an instance whose session the router saw die as down."""
        return self._end(service, instance, State.DOWN, now)

    def state(self, inst: Instance, now: float) -> State:
        """Judge *inst* at *now*."""
        return self.judge(inst, now)[0]

    def uptime(self, inst: Instance, now: float) -> float:
        """Seconds *inst* has run, as of *now* or as of when it ended.

        An instance counts as running until the Monitor judged it down
        or heard it stop, so uptime never goes backwards.
        """
        return self.judge(inst, now)[1]

    def judge(self, inst: Instance, now: float) -> tuple[State, float]:
        """Return :meth:`state` and :meth:`uptime` of *inst* at *now*.

        One call for both, since a scrape asks both of every instance.
        """
        start = inst.start_on_monitor
        if inst.ended is not None:
            return inst.ended, max(0.0, min(now, inst.ended_at) - start)

        heard = inst.heard
        timeout = inst.interval * self.timeout_factor
        ends = heard + timeout
        paused = self.paused_at
        judged = now
        if paused is not None:
            judged = min(now, paused)
            ends = max(paused, ends)
        uptime = max(0.0, min(now, ends) - start)

        silence = judged - heard
        if silence > timeout:
            return State.DOWN, uptime
        if silence > inst.interval * self.late_factor:
            return State.LATE, uptime
        return State.UP, uptime

    def timeout(self, inst: Instance) -> float:
        """Seconds of silence after which *inst* is down."""
        return inst.interval * self.timeout_factor

    def live(self, service: str, now: float) -> int:
        """Count the instances of *service* that are up or late."""
        return sum(
            1
            for inst in self._by_service.get(service, {}).values()
            if self.state(inst, now).alive
        )

    def sweep(self, now: float) -> list[Transition]:
        """Return what changed since the last sweep; forget the expired."""
        changes = []
        for inst in list(self._instances.values()):
            state = self.state(inst, now)
            if state is not inst.reported:
                changes.append(Transition(inst, inst.reported, state))
                inst.reported = state
            if not state.alive and now - self._ended_at(inst) > self.retention:
                self._forget(inst)
                self._purged[inst.key] = now
        for key, when in list(self._purged.items()):
            if now - when > self.retention:
                del self._purged[key]
        return changes

    def _add(self, beat: Heartbeat, now: float) -> Seen:
        inst = Instance(
            service=beat.service,
            instance=beat.instance,
            interval=beat.interval,
            started=beat.started,
            last_seen=now,
            last_sent=beat.sent,
            seq=beat.seq,
            metrics=self._within_budget(beat, 0),
            start_on_monitor=now - (beat.sent - beat.started),
        )
        self._keep_counters(inst.counters, inst.metrics)
        seen = Seen.NEW
        predecessor = self._unreplaced_end(beat.service, now)
        if predecessor is not None:
            predecessor.replaced = True
            self._count_restart(beat.service)
            seen = Seen.RESTARTED
        self._track(inst)
        return seen

    def _within_budget(self, beat: Heartbeat, held: int) -> dict[str, float]:
        """Return *beat*'s metrics, or none if they break the budget.

        *held* is how many the instance holds now, which its new ones
        replace.  Instances within the budget keep it; only the one
        that would pass it goes without.
        """
        total = self._series.get(beat.service, 0) - held + len(beat.metrics)
        if total > self.max_series_per_service:
            self._drop(TOO_MANY_SERIES, len(beat.metrics))
            return {}
        return dict(beat.metrics)

    def _drop(self, reason: str, count: int) -> None:
        for tally in (self.last_dropped, self.dropped):
            tally[reason] = tally.get(reason, 0) + count

    def _track(self, inst: Instance) -> None:
        self._instances[inst.key] = inst
        self._by_service.setdefault(inst.service, {})[inst.instance] = inst
        self._series[inst.service] = self._series.get(inst.service, 0) + len(
            inst.metrics
        )

    def _forget(self, inst: Instance) -> None:
        del self._instances[inst.key]
        self._series[inst.service] -= len(inst.metrics)
        siblings = self._by_service[inst.service]
        del siblings[inst.instance]
        if not siblings:
            del self._by_service[inst.service]
            del self._series[inst.service]

    def _unreplaced_end(self, service: str, now: float) -> Instance | None:
        for inst in self._by_service.get(service, {}).values():
            if not inst.replaced and not self.state(inst, now).alive:
                return inst
        return None

    def _count_restart(self, service: str) -> None:
        self.restarts[service] = self.restarts.get(service, 0) + 1

    def _end(
        self, service: str, instance: str, state: State, now: float
    ) -> Instance | None:
        inst = self._instances.get((service, instance))
        if inst is None or inst.ended is not None:
            return None
        if not self.state(inst, now).alive:
            # Already down by silence: keep the moment it went down.
            now = inst.heard + self.timeout(inst)
        inst.ended = state
        inst.ended_at = now
        return inst

    def _ended_at(self, inst: Instance) -> float:
        if inst.ended is not None:
            return inst.ended_at
        if self.paused_at is not None:
            return max(self.paused_at, inst.heard + self.timeout(inst))
        return inst.heard + self.timeout(inst)


def minimum_retention(
    *, alert_for: float, scrape_interval: float, evaluation_interval: float
) -> float:
    """Return the shortest retention that still lets a down alert fire.

    A down instance is kept for ``retention`` seconds from the moment it
    went down; Prometheus must scrape it, evaluate the rule and hold the
    condition for ``for:`` before the alert fires.
    """
    return alert_for + scrape_interval + evaluation_interval
