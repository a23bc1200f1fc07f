"""The Prometheus collector that turns the fleet into metric families.

The families are built afresh on every scrape, so an instance the
Monitor forgets is gone from the next ``/metrics`` at once.  What is
kept from one scrape to the next is each instance's lines for the
values that change with its heartbeats, and those values; a line is
written again when its value changed, by :meth:`FleetCollector.refresh`
between scrapes or by the scrape itself.  Each family's text is also
kept deflated (see :mod:`simplepyms.exposition`) until one of its lines
changes.  The state, ``up``, uptime and which carried metrics are shown
are judged again at every scrape, because they change with time alone.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from prometheus_client.core import Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample

from simplepyms.exposition import (
    Kept,
    LineWriter,
    TextFamily,
    label_pairs,
    number,
)
from simplepyms.liveness import Fleet, Instance, State
from simplepyms.protocol import is_counter

PREFIX = "simplepyms_service_"
CARRIED_HELP = "Carried in heartbeats."


class _Fixed(NamedTuple):
    """A per-instance family whose value changes only with heartbeats."""

    name: str
    documentation: str
    kind: str

    @property
    def sample_name(self) -> str:
        """The name each sample line starts with."""
        return f"{self.name}_total" if self.kind == "counter" else self.name


#: The families written from :func:`_heartbeat_values`, in its order.
_FIXED = (
    _Fixed(
        f"{PREFIX}last_seen_timestamp_seconds",
        "When the Monitor last received a heartbeat from the instance.",
        "gauge",
    ),
    _Fixed(
        f"{PREFIX}start_time_seconds",
        "When the instance started, by the instance's own clock.",
        "gauge",
    ),
    _Fixed(
        f"{PREFIX}heartbeat_interval_seconds",
        "How often the instance says it heartbeats.",
        "gauge",
    ),
    _Fixed(
        f"{PREFIX}clock_skew_seconds",
        "Monitor receive time minus instance send time, last heartbeat.",
        "gauge",
    ),
    _Fixed(
        f"{PREFIX}heartbeats",
        "Heartbeats accepted from the instance.",
        "counter",
    ),
)


def _heartbeat_values(inst: Instance) -> tuple[float, ...]:
    """Return the values of the :data:`_FIXED` families for *inst*."""
    return (
        inst.last_seen,
        inst.started,
        inst.interval,
        inst.last_seen - inst.last_sent,
        inst.heartbeats,
    )


def _same(new: float, old: float | None) -> bool:
    """Whether *new* is written as *old* was: equal, and of the same sign."""
    if old is None or new != old:
        return False
    return new != 0 or math.copysign(1.0, new) == math.copysign(1.0, old)


#: The four state lines for each current state, as a format string.
_STATE_LINES = {
    current: "".join(
        f'{{0}}state{{{{{{1}},state="{each.value}"}}}}'
        f" {1.0 if each is current else 0.0}\n"
        for each in State
    )
    for current in State
}


@dataclass(slots=True)
class _Lines:
    """The text kept for one instance between scrapes."""

    inst: Instance
    pairs: str
    #: The values behind :attr:`fixed`, as written.
    values: tuple[float, ...] = ()
    #: The instance's metrics dict that the lines were written from.  A
    #: heartbeat replaces the dict rather than changing it, and every
    #: value behind the lines changes only with a heartbeat, so while
    #: this is the instance's dict every line is current; and the old
    #: dict still holds the values as written, so no copy is kept.
    source: dict[str, float] | None = None
    #: One line per :data:`_FIXED` family, in that order.
    fixed: tuple[str, ...] = ()
    #: The line of each carried metric, by name, as carried.
    carried: dict[str, str] = field(default_factory=dict)
    #: The state the last scrape judged.
    state: State | None = None

    @classmethod
    def of(cls, inst: Instance) -> _Lines:
        """Start the lines of *inst*: those that never change."""
        pairs = label_pairs(
            (("service", inst.service), ("service_instance", inst.instance))
        )
        return cls(inst=inst, pairs=pairs)

    @property
    def labels(self) -> dict[str, str]:
        """The instance's labels, for a sample."""
        return {
            "service": self.inst.service,
            "service_instance": self.inst.instance,
        }

    def refresh(self, stale: set[str]) -> None:
        """Write again each line whose value changed; name its family.

        Args:
            stale: where to add the name of each family one of whose
                lines was written again, or went away.
        """
        inst = self.inst
        pairs = self.pairs
        values = _heartbeat_values(inst)
        if values != self.values:
            before = self.values or (None,) * len(values)
            lines = list(self.fixed or ("",) * len(values))
            for index, (family, new, old) in enumerate(
                zip(_FIXED, values, before, strict=True)
            ):
                if not _same(new, old):
                    lines[index] = (
                        f"{family.sample_name}{{{pairs}}} {number(new)}\n"
                    )
                    stale.add(family.name)
            self.fixed = tuple(lines)
            self.values = values

        metrics = inst.metrics
        written = self.source or {}
        lines_by_name = self.carried
        carried = {}
        for name, new in metrics.items():
            # _same(), inlined: ten times a heartbeat for a usual service.
            old = written.get(name)
            line = lines_by_name.get(name)
            if line is None or new != old or (not new and not _same(new, old)):
                line = f"{name}{{{pairs}}} {number(new)}\n"
                stale.add(name)
            carried[name] = line
        if list(carried) != list(lines_by_name):
            # Names came, went or changed places: lay the families out
            # again, so that their order never depends on history.
            stale.update(lines_by_name.keys() - carried.keys())
            stale.add(_LAYOUT)
        self.source = metrics
        self.carried = carried

    # The up and state lines are written at each scrape, not kept: they
    # are cheap to write and would cost 750 bytes an instance to keep.
    def up_line(self, alive: bool) -> str:
        """Return the up line."""
        return f"{PREFIX}up{{{self.pairs}}} {'1.0' if alive else '0.0'}\n"

    def state_lines(self, current: State) -> str:
        """Return the four state lines with *current* at 1."""
        return _STATE_LINES[current].format(PREFIX, self.pairs)

    def uptime_line(self, uptime: float) -> str:
        """Return the uptime line: judged at each scrape, never kept."""
        return f"{PREFIX}uptime_seconds{{{self.pairs}}} {number(uptime)}\n"


class _Row(NamedTuple):
    """One instance as judged at one scrape."""

    lines: _Lines
    state: State
    uptime: float

    # Samples are read from the instance itself, never from kept text.
    @property
    def values(self) -> tuple[float, ...]:
        """The values of the :data:`_FIXED` families."""
        return _heartbeat_values(self.lines.inst)

    @property
    def metrics(self) -> dict[str, float]:
        """The carried metrics."""
        return self.lines.inst.metrics


#: Gives the family of that name somewhere to keep its text deflated.
_Keeper = Callable[[str], Kept]
#: In the stale names: an instance began or stopped carrying a metric,
#: or carries its metrics in another order.  No metric has this name.
_LAYOUT = ""
#: The lines of the live instances that carry each metric, in fleet order.
_Layout = dict[str, list[_Lines]]


class FleetCollector(Collector):
    """Collect the state of every tracked instance and what it carries.

    Args:
        fleet: the model to read.
        clock: returns the Monitor's time in Unix seconds.
    """

    def __init__(self, fleet: Fleet, clock: Callable[[], float]) -> None:
        self._fleet = fleet
        self._clock = clock
        #: By id() of the instance; each _Lines holds its instance, so
        #: no id is reused while its entry is kept.
        self._kept: dict[int, _Lines] = {}
        #: Each family's text, deflated, by family name, for as long as
        #: none of its lines changes.
        self._deflated: dict[str, Kept] = {}
        #: The families with a line written again since the last scrape.
        self._stale: set[str] = set()
        #: Which instances show which carried metrics, while that holds.
        self._layout: _Layout | None = None

    def describe(self) -> list[Metric]:
        """Describe nothing, so registering does not call collect()."""
        return []

    def refresh(self) -> None:
        """Write again the lines of every instance that beat since.

        Called between scrapes, it spreads the writing over time, so a
        scrape finds little left to write.
        """
        stale = self._stale
        for lines in self._kept.values():
            if lines.inst.metrics is not lines.source:
                lines.refresh(stale)

    def collect(self) -> Iterator[Metric]:
        """Yield the families for the fleet as it is now."""
        rows, live = self._judge(self._clock())
        keep = self._keep

        yield TextFamily(
            f"{PREFIX}up",
            "1 while the instance heartbeats in time.",
            "gauge",
            lambda: [row.lines.up_line(row.state.alive) for row in rows],
            lambda: [
                _sample(f"{PREFIX}up", row, 1.0 if row.state.alive else 0.0)
                for row in rows
            ],
            kept=keep(f"{PREFIX}up"),
        )
        yield TextFamily(
            f"{PREFIX}state",
            "1 for the instance's current state, 0 for the others.",
            "gauge",
            lambda: [row.lines.state_lines(row.state) for row in rows],
            lambda: _state_samples(rows),
            kept=keep(f"{PREFIX}state"),
        )
        yield _fixed(0, rows, keep)
        # Uptime changes with time alone: never kept.
        yield TextFamily(
            f"{PREFIX}uptime_seconds",
            "How long the instance has run.",
            "gauge",
            lambda: [row.lines.uptime_line(row.uptime) for row in rows],
            lambda: [
                _sample(f"{PREFIX}uptime_seconds", row, row.uptime)
                for row in rows
            ],
        )
        for index in range(1, len(_FIXED)):
            yield _fixed(index, rows, keep)
        yield from self._services(live)
        if self._layout is None:
            self._layout = _layout(rows)
        for name, holders in self._layout.items():
            yield _carried_family(name, _column(holders, name), rows, keep)

    def _keep(self, name: str) -> Kept:
        kept = self._deflated.get(name)
        if kept is None:
            kept = self._deflated[name] = Kept()
        return kept

    def _judge(self, now: float) -> tuple[list[_Row], dict[str, int]]:
        """Judge every instance at *now*; keep lines for those tracked.

        Returns:
            a row per instance, and how many are alive in each service.
        """
        fleet = self._fleet
        kept = self._kept
        stale = self._stale
        rows = []
        live: dict[str, int] = {}
        added = False
        judged = False
        alive_changed = False
        judge = fleet.judge
        for inst in fleet:
            lines = kept.get(id(inst))
            if lines is None:
                lines = _Lines.of(inst)
                added = True
            if inst.metrics is not lines.source:
                lines.refresh(stale)
            state, uptime = judge(inst, now)
            if state is not lines.state:
                judged = True
                if lines.state is None or state.alive != lines.state.alive:
                    alive_changed = True
                lines.state = state
            rows.append(_Row(lines, state, uptime))
            live[inst.service] = live.get(inst.service, 0) + state.alive

        moved = added or len(rows) != len(kept)
        if moved:
            # Whatever the fleet forgot is forgotten here too.
            self._kept = {id(row.lines.inst): row.lines for row in rows}
        if moved or alive_changed or _LAYOUT in stale:
            self._layout = None
        self._forget_deflated(moved=moved or alive_changed, judged=judged)
        return rows, live

    def _forget_deflated(self, *, moved: bool, judged: bool) -> None:
        """Drop the deflated text of every family that changed.

        Args:
            moved: whether the instances shown in the carried families,
                or their order, changed; every family changed then.
            judged: whether any instance's state changed.
        """
        deflated = self._deflated
        stale = self._stale
        if moved:
            deflated.clear()
        else:
            for name in stale:
                deflated.pop(name, None)
            if judged:
                deflated.pop(f"{PREFIX}state", None)
        stale.clear()

    def _services(self, live: dict[str, int]) -> Iterator[TextFamily]:
        services = sorted(live.items())
        restarts = self._fleet.restarts

        counts = [(name, float(count)) for name, count in services]
        yield _per_service(
            f"{PREFIX}instances",
            "Instances of the service that heartbeat in time.",
            "gauge",
            counts,
        )
        replaced = [
            (name, float(restarts.get(name, 0))) for name, _ in services
        ]
        yield _per_service(
            f"{PREFIX}restarts",
            "Times an instance of the service was replaced by a new one.",
            "counter",
            replaced,
        )


def _fixed(index: int, rows: list[_Row], keep: _Keeper) -> TextFamily:
    fixed = _FIXED[index]
    return TextFamily(
        fixed.name,
        fixed.documentation,
        fixed.kind,
        lambda: [row.lines.fixed[index] for row in rows],
        lambda: [
            _sample(fixed.sample_name, row, row.values[index]) for row in rows
        ],
        kept=keep(fixed.name),
    )


def _sample(name: str, row: _Row, value: float) -> Sample:
    return Sample(name, row.lines.labels, value)


def _state_samples(rows: list[_Row]) -> list[Sample]:
    return [
        Sample(
            f"{PREFIX}state",
            {**row.lines.labels, "state": each.value},
            1.0 if each is row.state else 0.0,
        )
        for row in rows
        for each in State
    ]


def _per_service(
    name: str, documentation: str, kind: str, values: list[tuple[str, float]]
) -> TextFamily:
    sample_name = f"{name}_total" if kind == "counter" else name
    pairs = [
        (service, label_pairs([("service", service)])) for service, _ in values
    ]
    lines = [
        f"{sample_name}{{{text}}} {number(value)}\n"
        for (_, text), (_, value) in zip(pairs, values, strict=True)
    ]
    return TextFamily(
        name,
        documentation,
        kind,
        _given(lines),
        lambda: [
            Sample(sample_name, {"service": service}, value)
            for service, value in values
        ],
    )


def _layout(rows: list[_Row]) -> _Layout:
    """Say which live instances carry each metric, names in first order."""
    layout: _Layout = {}
    for row in rows:
        if not row.state.alive:
            continue
        lines = row.lines
        for name in lines.carried:
            holders = layout.get(name)
            if holders is None:
                layout[name] = holders = []
            holders.append(lines)
    return layout


def _given(lines: list[str]) -> LineWriter:
    """Return what gives *lines*, written already."""
    return lambda: lines


def _column(holders: list[_Lines], name: str) -> LineWriter:
    """Return what writes the *name* line of each of *holders*."""
    return lambda: [lines.carried[name] for lines in holders]


def _carried_family(
    name: str, lines: LineWriter, rows: list[_Row], keep: _Keeper
) -> TextFamily:
    counter = is_counter(name)
    return TextFamily(
        name.removesuffix("_total") if counter else name,
        CARRIED_HELP,
        "counter" if counter else "gauge",
        lines,
        lambda: [
            _sample(name, row, row.metrics[name])
            for row in rows
            if row.state.alive and name in row.metrics
        ],
        kept=keep(name),
    )
