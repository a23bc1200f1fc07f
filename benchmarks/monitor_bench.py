"""Ingest and scrape figures for the Monitor, in process, side by side.

Run: ``.venv/bin/python benchmarks/monitor_bench.py [--instances N ...]``

For each fleet size it prints, as medians of several rounds:

- ingest: heartbeats per second through ``Monitor.on_heartbeat``
  (validate, update the fleet, count), against the rate at which
  autobahn's JSON serializer only decodes the same messages; and the
  rate with the lines written too, as the Monitor's refresh does
  between scrapes, which is all the work a heartbeat costs;
- scrape: seconds to render ``/metrics`` gzipped, as Prometheus gets
  it: after every instance heartbeated, with the lines written by the
  scrape or between scrapes, and with nothing changed; the text page,
  and plain prometheus-client gauges holding the same series;
- memory: bytes per tracked instance, from tracemalloc, after a gzipped
  scrape (the kept lines and deflated parts included).

Nothing here is a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
from collections.abc import Callable

import txaio

txaio.use_twisted()

from autobahn.wamp.message import Publish  # noqa: E402
from autobahn.wamp.serializer import JsonSerializer  # noqa: E402
from prometheus_client import CollectorRegistry, generate_latest  # noqa: E402
from series import METRICS, instance_of, plain_gauges, service_of  # noqa: E402
from twisted.internet.task import Clock  # noqa: E402

from simplepyms import protocol  # noqa: E402
from simplepyms.exposition import render, render_gzip  # noqa: E402
from simplepyms.liveness import Fleet  # noqa: E402
from simplepyms.logs import configure  # noqa: E402
from simplepyms.monitor import Monitor  # noqa: E402

ROUNDS = 5


def heartbeats(instances: int, seq: int) -> list[dict[str, object]]:
    """One heartbeat per instance, each carrying METRICS gauges."""
    return [
        protocol.build_heartbeat(
            service=service_of(i),
            instance=instance_of(i),
            seq=seq,
            started=1_000.0,
            sent=1_000.0 + seq,
            interval=5.0,
            metrics={f"value_{m}": float(m * seq) for m in range(METRICS)},
        )
        for i in range(instances)
    ]


def median_seconds(work: Callable[[], object]) -> float:
    """The median wall time of ROUNDS runs of *work*."""
    times = []
    for _ in range(ROUNDS):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def fresh_monitor(instances: int) -> Monitor:
    """A Monitor on a fake clock, never connected."""
    return Monitor(
        Fleet(max_instances=instances + 1),
        Clock(),
        CollectorRegistry(),
        url="ws://127.0.0.1:1/ws",
        realm="realm1",
    )


def ingest(instances: int) -> None:
    """Print heartbeats per second, and the decode-only baseline."""
    monitor = fresh_monitor(instances)
    rounds = iter(range(1, 1_000))

    def feed() -> None:
        for beat in heartbeats(instances, next(rounds)):
            monitor.on_heartbeat(beat)

    feed()  # the instances exist from now on: measure updates
    batches = [heartbeats(instances, 100 + r) for r in range(ROUNDS)]
    batch = iter(batches)

    def update() -> None:
        for beat in next(batch):
            monitor.on_heartbeat(beat)

    ours = instances / median_seconds(update)
    # Lines are kept for the instances a scrape has seen.
    render_gzip(monitor.registry)
    batches = [heartbeats(instances, 200 + r) for r in range(ROUNDS)]
    batch = iter(batches)

    def update_and_write() -> None:
        for beat in next(batch):
            monitor.on_heartbeat(beat)
        monitor.collector.refresh()

    written = instances / median_seconds(update_and_write)

    serializer = JsonSerializer()
    wire = [
        serializer.serialize(Publish(1, protocol.HEARTBEAT_TOPIC, args=[b]))[0]
        for b in heartbeats(instances, 1)
    ]

    def decode() -> None:
        for message in wire:
            serializer.unserialize(message)

    baseline = instances / median_seconds(decode)
    print(
        f"ingest {instances:>6} instances: {ours:>9,.0f} heartbeats/s;"
        f" JSON decode only {baseline:>9,.0f}/s; ratio {ours / baseline:.2f};"
        f" with the lines written {written:>9,.0f}/s"
    )


def scrape(instances: int) -> None:
    """Print /metrics render times and size, and the plain-client baseline."""
    monitor = fresh_monitor(instances)
    for beat in heartbeats(instances, 1):
        monitor.on_heartbeat(beat)
    registry = monitor.registry
    size = len(render(registry))
    rounds = iter(range(2, 1_000))

    def changed(refresh: bool) -> float:
        for beat in heartbeats(instances, next(rounds)):
            monitor.on_heartbeat(beat)
        if refresh:
            monitor.collector.refresh()
        start = time.perf_counter()
        render_gzip(registry)
        return time.perf_counter() - start

    render_gzip(registry)
    cold = statistics.median(changed(False) for _ in range(ROUNDS))
    written = statistics.median(changed(True) for _ in range(ROUNDS))
    warm = median_seconds(lambda: render_gzip(registry))
    text = median_seconds(lambda: render(registry))

    plain = CollectorRegistry()
    plain_gauges(plain, instances)
    baseline = median_seconds(lambda: generate_latest(plain))
    print(
        f"scrape {instances:>6} instances, gzipped: {cold * 1000:>6.1f} ms"
        f" all changed, {written * 1000:>6.1f} ms all changed with the lines"
        f" written between scrapes, {warm * 1000:>6.1f} ms none changed;"
        f" text {text * 1000:>6.1f} ms, {size / 1e6:5.2f} MB;"
        f" plain gauges (carried only, text) {baseline * 1000:>6.1f} ms"
    )


def memory(instances: int) -> None:
    """Print the bytes held per instance: the fleet, and the kept lines."""
    beats = heartbeats(instances, 1)
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    monitor = fresh_monitor(instances)
    for beat in beats:
        monitor.on_heartbeat(beat)
    fed = tracemalloc.take_snapshot()
    render_gzip(monitor.registry)
    scraped = tracemalloc.take_snapshot()
    tracemalloc.stop()

    def used(snapshot: tracemalloc.Snapshot) -> float:
        diff = snapshot.compare_to(before, "filename")
        return sum(s.size_diff for s in diff) / instances

    print(
        f"memory {instances:>6} instances: {used(fed):>8,.0f} bytes"
        f" per instance with {METRICS} metrics;"
        f" {used(scraped):>7,.0f} with the lines and parts kept after a"
        " gzipped scrape"
    )


def main() -> None:
    """Run every benchmark for every fleet size asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instances", type=int, nargs="+", default=[1_000, 10_000]
    )
    sizes = parser.parse_args().instances
    configure("console", "error")  # one event per new instance otherwise
    for size in sizes:
        ingest(size)
    for size in sizes:
        scrape(size)
    for size in sizes:
        memory(size)


if __name__ == "__main__":
    main()
