"""The series the in-process and HTTP benchmarks hold, named alike.

*N* instances of :data:`SERVICES` services, each carrying
:data:`METRICS` gauges ``value_0`` to ``value_9``, and the same series as
plain prometheus-client gauges, the baseline both benchmarks print.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Gauge

METRICS = 10
SERVICES = 50


def service_of(index: int) -> str:
    """The service of instance number *index*."""
    return f"svc{index % SERVICES}"


def instance_of(index: int) -> str:
    """The id of instance number *index*."""
    return f"i{index:08x}"


def plain_gauges(registry: CollectorRegistry, instances: int) -> None:
    """Register the carried series of *instances* as plain gauges."""
    gauges = [
        Gauge(
            f"value_{m}",
            "A value.",
            ["service", "service_instance"],
            registry=registry,
        )
        for m in range(METRICS)
    ]
    for index in range(instances):
        for m, gauge in enumerate(gauges):
            gauge.labels(service_of(index), instance_of(index)).set(m)
