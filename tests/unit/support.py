"""Builders for heartbeat payloads and readers for the exposition."""

from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from simplepyms import protocol

#: Where the Monitor's Clock stands when a test begins.
T0 = 1000.0


def payload(**overrides: Any) -> dict[str, Any]:
    """Return a valid heartbeat payload with *overrides* applied."""
    fields: dict[str, Any] = {
        "service": "adder",
        "instance": "a1",
        "seq": 1,
        "started": T0 - 50.0,
        "sent": T0,
        "interval": 5.0,
        "metrics": {},
    }
    fields.update(overrides)
    return protocol.build_heartbeat(**fields)


def beat(**overrides: Any) -> protocol.Heartbeat:
    """Return a parsed heartbeat built from :func:`payload`."""
    return protocol.parse_heartbeat(payload(**overrides))


def goodbye(service: str = "adder", instance: str = "a1") -> dict[str, Any]:
    """Return a valid goodbye payload."""
    return protocol.build_goodbye(
        service=service, instance=instance, reason="stop"
    )


def exposition(registry: CollectorRegistry) -> str:
    """Return what ``/metrics`` would serve for *registry*."""
    return generate_latest(registry).decode("utf-8")


def samples(registry: CollectorRegistry) -> list[Sample]:
    """Return every sample of *registry*, parsed back from the text."""
    return [
        sample
        for family in text_string_to_metric_families(exposition(registry))
        for sample in family.samples
    ]


def value(
    registry: CollectorRegistry, name: str, **labels: str
) -> float | None:
    """Return the one sample called *name* with exactly *labels*, if any."""
    found = [
        sample.value
        for sample in samples(registry)
        if sample.name == name and sample.labels == labels
    ]
    assert len(found) <= 1, f"{len(found)} samples {name}{labels}"
    return found[0] if found else None


def types(registry: CollectorRegistry) -> dict[str, str]:
    """Return the type of every family, by family name as parsed."""
    return {
        family.name: family.type
        for family in text_string_to_metric_families(exposition(registry))
    }
