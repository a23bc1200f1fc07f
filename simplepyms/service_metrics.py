"""The metrics a service carries in its heartbeats.

A service author either creates named gauges and counters on
``component.metrics`` and updates them as work happens, or hands
``mk_component`` a callable that returns a ``{name: number}`` dict at
each heartbeat, or both.  A name that ends in ``_total`` is a counter;
any other name is a gauge.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import structlog

from simplepyms.protocol import (
    MAX_METRICS,
    check_metric,
    check_metric_name,
    is_counter,
)

log = structlog.get_logger("simplepyms.service")

Collect = Callable[[], Mapping[str, float]]

_RULES = {
    "bad_name": "metric names must match [a-z_][a-z0-9_]* and be at most"
    " 128 characters",
    "reserved_name": "metric names must not start with simplepyms_,"
    " process_, python_, scrape_ or __, nor be up",
    "unconventional_name": "metric names must use base units (seconds,"
    " bytes, ...), no abbreviated units (ms, kb, ...) or type words"
    " (gauge, counter, ...), and must not end in _count, _sum or _bucket",
}


class Gauge:
    """A value that goes up and down."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0.0

    @property
    def value(self) -> float:
        """The gauge's current value."""
        return self._value

    def set(self, value: float) -> None:
        """Set the gauge to *value*.

        Raises:
            TypeError: if *value* is not a number.
        """
        self._value = _number(value)

    def inc(self, amount: float = 1.0) -> None:
        """Add *amount* to the gauge."""
        self._value += _number(amount)

    def dec(self, amount: float = 1.0) -> None:
        """Subtract *amount* from the gauge."""
        self._value -= _number(amount)


class Counter:
    """A value that only goes up, for the life of the process."""

    __slots__ = ("_value",)

    def __init__(self) -> None:
        self._value = 0.0

    @property
    def value(self) -> float:
        """The counter's current value."""
        return self._value

    def inc(self, amount: float = 1.0) -> None:
        """Add *amount*, which must be finite and not negative.

        Raises:
            ValueError: if *amount* is negative, NaN or infinite.
        """
        amount = _number(amount)
        if not 0 <= amount < math.inf:
            raise ValueError(
                "a counter only goes up by finite steps: inc() takes"
                f" 0 <= amount < inf, got {amount}"
            )
        self._value += amount


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"a metric value must be a number, got {value!r}")
    return float(value)


class ServiceMetrics:
    """The named gauges and counters of one service, plus a callable.

    Args:
        collect: called at every heartbeat; returns more metrics.
    """

    def __init__(self, collect: Collect | None = None) -> None:
        self._collect = collect
        self._gauges: dict[str, Gauge] = {}
        self._counters: dict[str, Counter] = {}
        self._complained: set[str] = set()

    def gauge(self, name: str) -> Gauge:
        """Return the gauge called *name*, creating it the first time.

        Raises:
            ValueError: if *name* is not a valid gauge name.
        """
        if is_counter(name):
            raise ValueError(
                f"gauge names must not end in '_total' (that marks a"
                f" counter), got {name!r}"
            )
        self._check_new(name, self._gauges)
        return self._gauges.setdefault(name, Gauge())

    def counter(self, name: str) -> Counter:
        """Return the counter called *name*, creating it the first time.

        Raises:
            ValueError: if *name* is not a valid counter name.
        """
        if not is_counter(name):
            raise ValueError(
                f"counter names must end in '_total', got {name!r}"
            )
        self._check_new(name, self._counters)
        return self._counters.setdefault(name, Counter())

    def snapshot(self) -> dict[str, float]:
        """Return every metric's current value, for one heartbeat.

        A failing or misbehaving ``collect`` callable is logged once per
        kind of fault and left out; the named metrics are always sent.
        """
        values = {name: g.value for name, g in self._gauges.items()}
        values.update((name, c.value) for name, c in self._counters.items())
        if self._collect is not None:
            room = MAX_METRICS - len(values)
            collected = self._collected(self._collect, room)
            # A named metric wins over a collected one of the same name,
            # so a named counter never appears to go down.
            values = {**collected, **values}
        return values

    def _collected(self, collect: Collect, room: int) -> dict[str, float]:
        try:
            raw = dict(collect())
        except Exception as error:  # noqa: BLE001 - the author's code
            self._complain("collect_failed", error=repr(error))
            return {}

        good: dict[str, float] = {}
        for name, value in raw.items():
            number = check_metric(name, value)
            if isinstance(number, str):
                self._complain(number, metric=repr(name), value=repr(value))
                continue
            good[name] = number
        if len(good) > room:
            self._complain("too_many_metrics", limit=MAX_METRICS)
            good = dict(list(good.items())[:room])
        return good

    def _check_new(self, name: str, existing: Mapping[str, object]) -> None:
        if name in existing:
            return
        reason = check_metric_name(name)
        if reason is not None:
            raise ValueError(f"{_RULES[reason]}, got {name!r}")
        if len(self._gauges) + len(self._counters) >= MAX_METRICS:
            raise ValueError(
                f"a heartbeat carries at most {MAX_METRICS} metrics;"
                f" cannot add {name!r}"
            )

    def _complain(self, reason: str, **context: object) -> None:
        if reason in self._complained:
            return
        self._complained.add(reason)
        log.error("service_metric_dropped", reason=reason, **context)
