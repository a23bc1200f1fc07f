"""A Monitor on a fake clock, and a scrape that checks the exposition."""

from __future__ import annotations

import collections
import math
import re
import subprocess
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from gzip import decompress
from typing import Any, Final

from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from twisted.internet.task import Clock
from twisted.web.resource import getChildForRequest
from twisted.web.test.requesthelper import DummyRequest

from simplepyms.liveness import Fleet
from simplepyms.monitor import Monitor
from simplepyms.web import make_site

#: Where the Monitor's clock stands when an example begins.
T0: Final = 1_000_000.0
#: Nothing listens here, and the Monitor is never started anyway.
URL: Final = "ws://127.0.0.1:1/ws"

METRIC_NAME: Final = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
LABEL_NAME: Final = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
#: Prometheus attaches these at scrape time; an exporter must not.
SCRAPE_LABELS: Final = frozenset({"job", "instance"})
STATES: Final = ("up", "late", "down", "stopped")
ALIVE: Final = frozenset({"up", "late"})
#: The families with one series per instance, and no other label.
PER_INSTANCE: Final = (
    "simplepyms_service_up",
    "simplepyms_service_last_seen_timestamp_seconds",
    "simplepyms_service_uptime_seconds",
    "simplepyms_service_start_time_seconds",
    "simplepyms_service_heartbeat_interval_seconds",
    "simplepyms_service_clock_skew_seconds",
    "simplepyms_service_heartbeats_total",
)

Key = tuple[str, str]


@dataclass
class Rig:
    """A never-started Monitor with its own clock, registry and fleet."""

    clock: Clock
    registry: CollectorRegistry
    fleet: Fleet
    monitor: Monitor


def rig() -> Rig:
    """Return a fresh Monitor whose clock stands at :data:`T0`."""
    clock = Clock()
    clock.advance(T0)
    registry = CollectorRegistry()
    fleet = Fleet()
    monitor = Monitor(fleet, clock, registry, url=URL, realm="realm1")
    return Rig(clock=clock, registry=registry, fleet=fleet, monitor=monitor)


@dataclass
class Scrape:
    """One rendering of ``/metrics``, parsed, with the fleet read back."""

    text: str
    samples: list[Sample]
    states: dict[Key, str] = field(default_factory=dict)
    carried: dict[Key, dict[str, float]] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float | None:
        """Return the one sample *name* with exactly *labels*, if any."""
        found = [
            sample.value
            for sample in self.samples
            if sample.name == name and sample.labels == labels
        ]
        assert len(found) <= 1, f"{len(found)} series {name}{labels}"
        return found[0] if found else None

    def by_key(self, name: str) -> dict[Key, float]:
        """Return the per-instance family *name*, by (service, instance)."""
        return {
            instance_key(sample.labels): sample.value
            for sample in self.samples
            if sample.name == name
        }

    def by_service(self, name: str) -> dict[str, float]:
        """Return the per-service family *name*, by service."""
        return {
            sample.labels["service"]: sample.value
            for sample in self.samples
            if sample.name == name
        }

    def of_instance(self, key: Key) -> dict[tuple[str, str], float]:
        """Return every series that names *key*, by name and state label."""
        return {
            (sample.name, sample.labels.get("state", "")): sample.value
            for sample in self.samples
            if "service_instance" in sample.labels
            and instance_key(sample.labels) == key
        }


def deliver(monitor_rig: Rig, kind: str, argument: Any) -> None:
    """Feed one event to the Monitor, as the router or the reactor would."""
    monitor = monitor_rig.monitor
    if kind == "advance":
        monitor_rig.clock.advance(argument)
    elif kind == "sweep":
        monitor.sweep()
    else:
        args, kwargs = argument
        handler = getattr(monitor, f"on_{kind}")
        handler(*args, **kwargs)


def instance_key(labels: Mapping[str, str]) -> Key:
    """Return the (service, service_instance) pair of a label set."""
    return (labels["service"], labels["service_instance"])


def render(registry: CollectorRegistry, *, gzip: bool = False) -> str:
    """GET /metrics on the Monitor's site; check the status; return text."""
    request = DummyRequest([b"metrics"])
    if gzip:
        request.requestHeaders.setRawHeaders(b"accept-encoding", [b"gzip"])
    resource = getChildForRequest(  # type: ignore[no-untyped-call]
        make_site(registry).resource, request
    )

    body = resource.render(request)

    # DummyRequest leaves responseCode None until someone sets it, and an
    # unset code goes out as 200.
    assert request.responseCode in (None, 200)
    assert isinstance(body, bytes)
    if gzip:
        return decompress(body).decode("utf-8")
    return body.decode("utf-8")


def scrape(registry: CollectorRegistry) -> Scrape:
    """Render ``/metrics``, check the format rules, and read it back."""
    text = render(registry)
    samples = check_exposition(text)

    result = Scrape(text=text, samples=samples)
    for sample in samples:
        if sample.name == "simplepyms_service_state" and sample.value == 1:
            result.states[instance_key(sample.labels)] = sample.labels["state"]
        elif not sample.name.startswith("simplepyms_") and (
            "service_instance" in sample.labels
        ):
            key = instance_key(sample.labels)
            result.carried.setdefault(key, {})[sample.name] = sample.value
    return result


def check_exposition(text: str) -> list[Sample]:
    """Assert the text-format rules on *text*; return its samples."""
    # Only a line feed ends a line: splitlines() would also split at the
    # separators a label value may hold unescaped, such as U+2028.
    lines = text.split("\n")
    for kind in ("HELP", "TYPE"):
        declared = [
            line.split(" ", 3)[2]
            for line in lines
            if line.startswith(f"# {kind} ")
        ]
        twice = _repeated(declared)
        assert not twice, f"# {kind} repeated for {twice}"

    samples = [
        sample
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]
    sample_lines = [line for line in lines if line and line[0] != "#"]
    assert len(sample_lines) == len(samples), "a sample line misparsed"

    for sample in samples:
        assert METRIC_NAME.fullmatch(sample.name), sample.name
        for label in sample.labels:
            assert LABEL_NAME.fullmatch(label), (sample.name, label)
        assert not SCRAPE_LABELS & sample.labels.keys(), sample

    series = [
        (sample.name, frozenset(sample.labels.items())) for sample in samples
    ]
    twice = _repeated(series)
    assert not twice, f"series repeated: {twice}"
    return samples


def _repeated(items: Sequence[Hashable]) -> list[Hashable]:
    return [
        item for item, count in collections.Counter(items).items() if count > 1
    ]


def run_promtool(promtool: str, text: str) -> tuple[str, str, int]:
    """Return promtool check metrics' stdout, stderr and status for *text*."""
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=text,
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    return (result.stdout, result.stderr, result.returncode)


def same(expected: float, actual: float | None) -> bool:
    """Tell whether a parsed sample equals *expected*, NaN included."""
    if actual is None:
        return False
    if math.isnan(expected):
        return math.isnan(actual)
    return expected == actual
