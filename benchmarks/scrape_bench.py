"""Scrape figures over HTTP: the Monitor, Pushgateway and plain gauges.

Run: ``.venv/bin/python benchmarks/scrape_bench.py [--instances N ...]``

Each server runs in a process of its own on a free loopback port and
holds the same series: *N* instances times 10 carried gauges, labelled
``service`` and ``service_instance``.

- the Monitor: its own ``/metrics`` page, fed heartbeats in process;
- plain gauges: prometheus-client ``Gauge`` objects, served by the same
  Twisted page (so the HTTP side and gzip are the same);
- Pushgateway (Debian's ``prometheus-pushgateway``, no persistence):
  one group per service, pushed over HTTP before the rounds begin;
- a second Pushgateway holding every per-instance series of the
  Monitor's page (its own 11 and the 10 carried), so that both pages
  hold the same samples.

A second Monitor holds the same fleet while it takes in 5,000
heartbeats a second, and the rounds are spaced so that every one of its
instances has beaten between two of its scrapes: nothing it kept from
the last scrape is of use.  Its heartbeats are fed on its reactor by a
timer that catches up with the target rate; the longest gap between
the timer's ticks is how long a heartbeat waited, that is, how long a
scrape stalled ingest.  It costs CPU all along, so the other three
figures are a little worse for it.

Every scrape is the request Prometheus makes: its Accept header and
``Accept-Encoding: gzip``, timed from sending the request to the last
byte of the body.  The four are scraped in turn, round after round,
and the figures are medians.

Nothing here is a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import http.client
import re
import shutil
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from series import METRICS, instance_of, plain_gauges, service_of

LOOPBACK = "127.0.0.1"
ROUNDS = 7
INGEST_RATE = 5_000
SERVICE_LABEL = re.compile(r'[{,]service="([^"]*)"')
#: What Prometheus 2.42 (Debian's) sends when it scrapes.
ACCEPT = (
    "application/openmetrics-text;version=1.0.0,"
    "application/openmetrics-text;version=0.0.1;q=0.75,"
    "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)
HEADERS = {
    "Accept": ACCEPT,
    "Accept-Encoding": "gzip",
    "User-Agent": "Prometheus/2.42.0",
    "X-Prometheus-Scrape-Timeout-Seconds": "10",
}
PUSHGATEWAY = "prometheus-pushgateway"


@dataclass
class Scrape:
    """One GET /metrics, as Prometheus would make it."""

    seconds: float
    wire_bytes: int
    text: str

    @property
    def samples(self) -> int:
        """How many sample lines the page holds."""
        return sum(
            1 for line in self.text.split("\n") if line and line[0] != "#"
        )

    def value(self, name: str) -> float:
        """The value of the one unlabelled sample *name*."""
        found = re.search(rf"^{name} (\S+)$", self.text, re.MULTILINE)
        if found is None:
            raise LookupError(f"no sample {name} in the page")
        return float(found.group(1))


def scrape(port: int) -> Scrape:
    """GET /metrics on *port* of the loopback address; time it."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    try:
        start = time.perf_counter()
        connection.request("GET", "/metrics", headers=HEADERS)
        response = connection.getresponse()
        body = response.read()
        seconds = time.perf_counter() - start
    finally:
        connection.close()
    if response.status != 200:
        raise RuntimeError(f"GET /metrics on port {port}: {response.status}")
    text = body
    if response.getheader("Content-Encoding") == "gzip":
        text = gzip.decompress(body)
    return Scrape(seconds, len(body), text.decode("utf-8"))


def free_port() -> int:
    """A loopback port nothing listens on just now."""
    with socket.socket() as probe:
        probe.bind((LOOPBACK, 0))
        port: int = probe.getsockname()[1]
        return port


@contextlib.contextmanager
def python_server(kind: str, instances: int, rate: int = 0) -> Iterator[int]:
    """Run ``--serve KIND`` in a child process; yield its port."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--serve",
        kind,
        "--instances",
        str(instances),
        "--rate",
        str(rate),
    ]
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline() if child.stdout else ""
        if not line.startswith("port "):
            raise RuntimeError(f"{kind} server did not start: {line!r}")
        yield int(line.split()[1])
    finally:
        child.terminate()
        child.wait(timeout=30)


@contextlib.contextmanager
def pushgateway(
    instances: int, bodies: dict[str, str] | None = None
) -> Iterator[int]:
    """Run Pushgateway on a free loopback port, push the series; yield it.

    *bodies* are the texts to push, by service; by default the carried
    gauges of *instances*.
    """
    binary = shutil.which(PUSHGATEWAY)
    if binary is None:
        raise SystemExit(
            f"{PUSHGATEWAY} is not installed: apt-get install -y {PUSHGATEWAY}"
        )
    port = free_port()
    child = subprocess.Popen(
        [
            binary,
            f"--web.listen-address={LOOPBACK}:{port}",
            "--persistence.file=",
            "--log.level=error",
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_ready(port)
        push(port, push_bodies(instances) if bodies is None else bodies)
        yield port
    finally:
        child.terminate()
        child.wait(timeout=30)


def wait_ready(port: int, timeout: float = 30.0) -> None:
    """Wait until Pushgateway on *port* answers /-/ready."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
            connection.request("GET", "/-/ready")
            if connection.getresponse().status == 200:
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.1)


def push_bodies(instances: int) -> dict[str, str]:
    """The text to push for each service: its instances' gauges."""
    members: dict[str, list[str]] = {}
    for index in range(instances):
        members.setdefault(service_of(index), []).append(instance_of(index))
    bodies = {}
    for service, ids in members.items():
        lines = []
        for m in range(METRICS):
            lines.append(f"# TYPE value_{m} gauge")
            lines.extend(
                f'value_{m}{{service_instance="{i}"}} {float(m)}' for i in ids
            )
        bodies[service] = "\n".join(lines) + "\n"
    return bodies


def page_bodies(text: str) -> dict[str, str]:
    """Split a Monitor page into one text per service: what to push.

    Only samples labelled ``service`` are kept, each family under its
    own TYPE line, so a Pushgateway holds the page's per-instance series.
    """
    bodies: dict[str, list[str]] = {}
    typed: dict[str, set[str]] = {}
    kind = ""
    for line in text.splitlines():
        if line.startswith("# TYPE "):
            kind = line
            continue
        found = SERVICE_LABEL.search(line)
        if line.startswith("#") or found is None:
            continue
        service = found.group(1)
        lines = bodies.setdefault(service, [])
        if kind not in typed.setdefault(service, set()):
            typed[service].add(kind)
            lines.append(kind)
        lines.append(line)
    return {service: "\n".join(b) + "\n" for service, b in bodies.items()}


def push(port: int, bodies: dict[str, str]) -> None:
    """PUT one group per service, holding the text given for it."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=120)
    try:
        for service, body in bodies.items():
            connection.request(
                "PUT",
                f"/metrics/job/bench/service/{service}",
                body=body,
                headers={"Content-Type": "text/plain; version=0.0.4"},
            )
            response = connection.getresponse()
            answer = response.read()
            if response.status not in (200, 202):
                raise RuntimeError(
                    f"push {service}: {response.status} {answer!r}"
                )
    finally:
        connection.close()


def compare(instances: int) -> None:
    """Scrape the five side by side; print medians and ratios."""
    with (
        python_server("monitor", instances) as monitor,
        python_server("monitor", instances, INGEST_RATE) as ingesting,
        python_server("plain", instances) as plain,
        pushgateway(instances) as gateway,
        pushgateway(instances, page_bodies(scrape(monitor).text)) as full,
    ):
        ports = {
            "monitor": monitor,
            "ingesting": ingesting,
            "plain": plain,
            "pushgateway": gateway,
            "pushgateway-all": full,
        }
        pages: dict[str, list[Scrape]] = {name: [] for name in ports}
        # Warm up: the Monitor writes every line once.
        warm = {name: scrape(port) for name, port in ports.items()}
        # Every instance of the ingesting Monitor beats between its scrapes.
        pause = instances / INGEST_RATE
        for turn in range(ROUNDS + 1):
            began = time.monotonic()
            names = list(ports)
            names = names[turn % len(names) :] + names[: turn % len(names)]
            for name in names:
                pages[name].append(scrape(ports[name]))
            time.sleep(max(0.0, pause - (time.monotonic() - began)))

    medians = {
        name: statistics.median(page.seconds for page in got[-ROUNDS:])
        for name, got in pages.items()
    }
    for name, got in pages.items():
        page = got[-1]
        print(
            f"http {instances:>6} instances {name:<15}:"
            f" {medians[name] * 1000:>7.1f} ms,"
            f" {page.wire_bytes / 1e6:5.2f} MB gzipped,"
            f" {len(page.text) / 1e6:6.2f} MB text,"
            f" {page.samples:>7,} samples"
        )
    gateway_median = medians["pushgateway"]
    full_median = medians["pushgateway-all"]
    print(
        f"http {instances:>6} instances ratios     :"
        f" Monitor/Pushgateway {medians['monitor'] / gateway_median:.2f}"
        f" idle, {medians['ingesting'] / gateway_median:.2f} ingesting;"
        f" against Pushgateway with the same samples"
        f" {medians['monitor'] / full_median:.2f} idle,"
        f" {medians['ingesting'] / full_median:.2f} ingesting;"
        f" Monitor/plain {medians['monitor'] / medians['plain']:.2f}"
    )
    report_ingest(instances, warm["ingesting"], pages["ingesting"])


def report_ingest(instances: int, warm: Scrape, pages: list[Scrape]) -> None:
    """Print the ingest rate and stalls the ingesting Monitor reported.

    Each scrape reports the longest wait since the one before.  The
    first round's covers the warm-up scrape, the first after start,
    which writes and deflates every line; it is printed apart.
    """
    received = "simplepyms_heartbeats_received_total"
    clock = "bench_ingest_clock_seconds"
    first, final = pages[0], pages[-1]
    rate = (final.value(received) - first.value(received)) / (
        final.value(clock) - first.value(clock)
    )
    gap = "bench_ingest_max_gap_seconds"
    quiet = warm.value(gap)
    during = [page.value(gap) for page in pages[1:]]
    print(
        f"ingest {instances:>6} instances while scraped:"
        f" {rate:,.0f} heartbeats/s of {INGEST_RATE:,} asked;"
        f" longest wait {max(during) * 1000:.0f} ms"
        f" (median {statistics.median(during) * 1000:.0f} ms;"
        f" {pages[0].value(gap) * 1000:.0f} ms around the first scrape"
        f" after start; {quiet * 1000:.0f} ms before any scrape)"
    )


def serve(kind: str, instances: int, rate: int) -> None:
    """Serve one registry on a free loopback port until terminated."""
    from prometheus_client import CollectorRegistry
    from twisted.internet import reactor as _reactor

    from simplepyms.logs import configure
    from simplepyms.web import make_site

    reactor: Any = _reactor
    configure("console", "error")
    registry = CollectorRegistry()
    if kind == "monitor":
        feed_monitor(reactor, registry, instances, rate)
    else:
        plain_gauges(registry, instances)
    listening = reactor.listenTCP(0, make_site(registry), interface=LOOPBACK)
    sys.stdout.write(f"port {listening.getHost().port}\n")
    sys.stdout.flush()
    reactor.run()


def feed_monitor(
    reactor: Any, registry: Any, instances: int, rate: int
) -> None:
    """Fill a Monitor with *instances*; feed *rate* heartbeats/s after."""
    from prometheus_client import Gauge
    from twisted.internet.task import LoopingCall

    from simplepyms import protocol
    from simplepyms.liveness import Fleet
    from simplepyms.monitor import REFRESH_SECONDS, Monitor

    monitor = Monitor(
        Fleet(max_instances=instances + 1),
        reactor,
        registry,
        url="ws://127.0.0.1:1/ws",
        realm="realm1",
    )
    interval = instances / rate if rate else protocol.MAX_INTERVAL
    started = reactor.seconds() - 100.0

    def beat(index: int, seq: int) -> None:
        monitor.on_heartbeat(
            protocol.build_heartbeat(
                service=service_of(index),
                instance=instance_of(index),
                seq=seq,
                started=started,
                sent=reactor.seconds(),
                interval=interval,
                metrics={f"value_{m}": float(m + seq) for m in range(METRICS)},
            )
        )

    for index in range(instances):
        beat(index, 1)
    # As Monitor.start() would, without a router to connect to.
    LoopingCall(monitor.collector.refresh).start(REFRESH_SECONDS, now=False)
    if not rate:
        return

    fed = [0]
    begun = reactor.seconds()
    last_tick = [begun]
    longest = [0.0]

    def tick() -> None:
        now = reactor.seconds()
        longest[0] = max(longest[0], now - last_tick[0])
        last_tick[0] = now
        due = int((now - begun) * rate)
        while fed[0] < due:
            count = fed[0]
            beat(count % instances, 2 + count // instances)
            fed[0] = count + 1

    def longest_gap() -> float:
        # Read once per scrape: the longest gap since the last scrape.
        gap, longest[0] = longest[0], 0.0
        return gap

    Gauge(
        "bench_ingest_max_gap_seconds",
        "Longest wait between ingest ticks since the last scrape.",
        registry=registry,
    ).set_function(longest_gap)
    Gauge(
        "bench_ingest_clock_seconds",
        "The Monitor's clock when the page was written.",
        registry=registry,
    ).set_function(reactor.seconds)
    LoopingCall(tick).start(0.005)


def main() -> None:
    """Run the side-by-side rounds for every fleet size asked for."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--instances", type=int, nargs="+", default=[1_000, 10_000]
    )
    parser.add_argument("--serve", choices=["monitor", "plain"])
    parser.add_argument("--rate", type=int, default=0)
    options = parser.parse_args()
    if options.serve:
        serve(options.serve, options.instances[0], options.rate)
        return
    for size in options.instances:
        compare(size)


if __name__ == "__main__":
    main()
