"""The Prometheus collector that turns the fleet into metric families.

The families are built afresh on every scrape, so an instance the
Monitor forgets is gone from the next ``/metrics`` at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from simplepyms.liveness import Fleet, State
from simplepyms.protocol import is_counter

LABELS = ["service", "service_instance"]


class FleetCollector(Collector):
    """Collect the state of every tracked instance and what it carries.

    Args:
        fleet: the model to read.
        clock: returns the Monitor's time in Unix seconds.
    """

    def __init__(self, fleet: Fleet, clock: Callable[[], float]) -> None:
        self._fleet = fleet
        self._clock = clock

    def describe(self) -> list[Metric]:
        """Describe nothing, so registering does not call collect()."""
        return []

    def collect(self) -> Iterator[Metric]:
        """Yield the families for the fleet as it is now."""
        now = self._clock()
        fleet = self._fleet

        up = _gauge("up", "1 while the instance heartbeats in time.")
        state = GaugeMetricFamily(
            "simplepyms_service_state",
            "1 for the instance's current state, 0 for the others.",
            labels=[*LABELS, "state"],
        )
        last_seen = _gauge(
            "last_seen_timestamp_seconds",
            "When the Monitor last received a heartbeat from the instance.",
        )
        uptime = _gauge("uptime_seconds", "How long the instance has run.")
        start = _gauge(
            "start_time_seconds",
            "When the instance started, by the instance's own clock.",
        )
        interval = _gauge(
            "heartbeat_interval_seconds",
            "How often the instance says it heartbeats.",
        )
        skew = _gauge(
            "clock_skew_seconds",
            "Monitor receive time minus instance send time, last heartbeat.",
        )
        beats = CounterMetricFamily(
            "simplepyms_service_heartbeats",
            "Heartbeats accepted from the instance.",
            labels=LABELS,
        )
        carried: dict[str, GaugeMetricFamily | CounterMetricFamily] = {}
        live: dict[str, int] = {}

        for inst in fleet:
            labels = [inst.service, inst.instance]
            current = fleet.state(inst, now)
            live[inst.service] = live.get(inst.service, 0) + current.alive
            up.add_metric(labels, 1.0 if current.alive else 0.0)
            for each in State:
                state.add_metric(
                    [*labels, each.value], 1.0 if each is current else 0.0
                )
            last_seen.add_metric(labels, inst.last_seen)
            uptime.add_metric(labels, fleet.uptime(inst, now))
            start.add_metric(labels, inst.started)
            interval.add_metric(labels, inst.interval)
            skew.add_metric(labels, inst.last_seen - inst.last_sent)
            beats.add_metric(labels, inst.heartbeats)
            if current.alive:
                _carry(carried, labels, inst.metrics)

        instances = GaugeMetricFamily(
            "simplepyms_service_instances",
            "Instances of the service that heartbeat in time.",
            labels=["service"],
        )
        restarts = CounterMetricFamily(
            "simplepyms_service_restarts",
            "Times an instance of the service was replaced by a new one.",
            labels=["service"],
        )
        for service, count in sorted(live.items()):
            instances.add_metric([service], count)
            restarts.add_metric([service], fleet.restarts.get(service, 0))

        yield from (up, state, last_seen, uptime, start, interval, skew)
        yield from (beats, instances, restarts)
        yield from carried.values()


def _gauge(suffix: str, documentation: str) -> GaugeMetricFamily:
    return GaugeMetricFamily(
        f"simplepyms_service_{suffix}", documentation, labels=LABELS
    )


def _carry(
    families: dict[str, GaugeMetricFamily | CounterMetricFamily],
    labels: list[str],
    metrics: dict[str, float],
) -> None:
    for name, value in metrics.items():
        family = families.get(name)
        if family is None:
            kind = (
                CounterMetricFamily if is_counter(name) else GaugeMetricFamily
            )
            family = kind(name, "Carried in heartbeats.", labels=LABELS)
            families[name] = family
        family.add_metric(labels, value)
