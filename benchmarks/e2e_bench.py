"""End to end through crossbar: the Monitor against a null subscriber.

Run: ``.venv/bin/python benchmarks/e2e_bench.py [--serializer NAME ...]``

It starts a crossbar router, a Monitor (``simplepyms monitor``), a null
subscriber (a plain autobahn session that only counts heartbeats) and
several publisher processes, all on free loopback ports.  Both
subscribers are on the router at once and get the same heartbeats: what
the machine's other users do to one, they do to the other, and no
subscriber runs while the other is idle.  The publishers offer a steady
rate for a few seconds; a subscriber *keeps up* at that rate if 99% of
what was published has reached it a quarter of a second (``--grace``)
after the publishers finish, and all of it within the drain time: its
backlog stayed small, and nothing was lost.  The rate climbs by a
factor until both fall behind, then narrows down on each one's highest
rate that keeps up.  From the CPU each process used at each step it
also fits what one heartbeat costs each of them.

The Monitor's count is ``simplepyms_heartbeats_received_total``, read
from ``/metrics`` (gzipped, as Prometheus fetches it) every
``--scrape-every`` seconds during each step.  Every heartbeat carries
ten metrics, and the fleet has ``--instances`` distinct instances.

Nothing here is a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from dataclasses import dataclass, field

import psutil
from servers import (
    HERE,
    PYTHON,
    REALM,
    SERIALIZERS,
    BenchError,
    Child,
    Children,
    MonitorProcess,
    Router,
    sample,
    start_monitor,
    start_router,
)

#: A subscriber keeps up if this share has arrived when publishing ends.
KEPT_UP = 0.99
#: Publishers that reach less than this share of the offered rate are
#: the bottleneck themselves.
PUBLISHERS_SATURATED = 0.95
RECEIVED = "simplepyms_heartbeats_received_total"
NULL = "null"
MONITOR = "monitor"


@dataclass
class Step:
    """What happened at one offered rate."""

    offered: float
    sent: int
    elapsed: float
    #: Arrived by the end of publishing, and after the drain, by subscriber.
    at_end: dict[str, int] = field(default_factory=dict)
    after_drain: dict[str, int] = field(default_factory=dict)
    #: CPU seconds used during the step, by role, and the step's length.
    cpu: dict[str, float] = field(default_factory=dict)
    window: float = 0.0

    @property
    def rate(self) -> float:
        """Heartbeats a second the publishers actually sent."""
        return self.sent / self.elapsed if self.elapsed else 0.0

    def kept_up(self, subscriber: str) -> bool:
        """Tell whether *subscriber* absorbed this step without lag."""
        return (
            self.at_end[subscriber] >= KEPT_UP * self.sent
            and self.after_drain[subscriber] == self.sent
        )

    def line(self) -> str:
        """One line for the step table."""
        shares = "  ".join(
            f"{name} {100 * self.at_end[name] / self.sent:5.1f}%"
            f"{'' if self.kept_up(name) else ' behind'}"
            for name in self.at_end
        )
        cpu = " ".join(
            f"{k} {max(0.0, v) / self.window:3.0%}"
            for k, v in self.cpu.items()
        )
        return (
            f"  offered {self.offered:>8,.0f}/s sent {self.rate:>8,.0f}/s"
            f"  {shares}  | cpu {cpu}"
        )


class Rig:
    """The router, the subscribers and the publishers of one run."""

    def __init__(
        self,
        router: Router,
        publishers: list[Child],
        null: Child | None,
        monitor: MonitorProcess | None,
        options: argparse.Namespace,
    ) -> None:
        self.router = router
        self.publishers = publishers
        self.null = null
        self.monitor = monitor
        self.options = options

    @property
    def subscribers(self) -> list[str]:
        """The names of the subscribers in this run."""
        names = [NULL] if self.null is not None else []
        return [*names, MONITOR] if self.monitor is not None else names

    def counts(self) -> dict[str, int]:
        """Read every subscriber's count, both requests in flight at once."""
        found: dict[str, int] = {}
        if self.null is not None:
            self.null.send("count")
        if self.monitor is not None:
            received = sample(self.monitor.scrape(), RECEIVED)
            found[MONITOR] = int(received or 0)
        if self.null is not None:
            found[NULL] = int(self.null.expect("count")[0])
        return found

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far, by role."""
        used = {
            "router": self.router.child.cpu_seconds(),
            "publishers": sum(p.cpu_seconds() for p in self.publishers),
        }
        if self.null is not None:
            used[NULL] = self.null.cpu_seconds()
        if self.monitor is not None:
            used[MONITOR] = self.monitor.child.cpu_seconds()
        busy = psutil.cpu_times()
        used["others"] = (
            busy.user + busy.system + busy.nice - sum(used.values())
        )
        return used

    def publish(self, rate: float, seconds: float) -> None:
        """Have the publishers offer *rate* heartbeats a second in all."""
        share = rate / len(self.publishers)
        for publisher in self.publishers:
            publisher.send(f"go {share:.3f} {seconds:.3f}")

    def finished(self, seconds: float) -> tuple[int, float]:
        """Wait for every publisher's report; return (sent, elapsed)."""
        sent, elapsed = 0, 0.0
        for publisher in self.publishers:
            count, took = publisher.expect("done", timeout=seconds + 30)
            sent += int(count)
            elapsed = max(elapsed, float(took))
        return sent, elapsed

    def step(self, rate: float) -> Step:
        """Offer *rate* for one step; measure what each subscriber got."""
        seconds = self.options.seconds
        before = self.counts()
        cpu_before = self.cpu()
        started = time.monotonic()
        self.publish(rate, seconds)

        # Scrape during the step, as Prometheus would.
        every = self.options.scrape_every
        next_read = started + every
        while next_read < started + seconds - every / 4:
            time.sleep(max(0.0, next_read - time.monotonic()))
            self.counts()
            next_read += every

        sent, elapsed = self.finished(seconds)
        time.sleep(self.options.grace)
        at_end = self.counts()
        ended = time.monotonic()
        cpu_after = self.cpu()
        result = Step(
            offered=rate,
            sent=sent,
            elapsed=elapsed,
            at_end={k: at_end[k] - before[k] for k in self.subscribers},
            cpu={k: cpu_after[k] - cpu_before[k] for k in cpu_after},
            window=ended - started,
        )
        result.after_drain = self.drain(before, sent)
        return result

    def drain(self, before: dict[str, int], sent: int) -> dict[str, int]:
        """Wait until every subscriber has all *sent*, or the drain ends."""
        deadline = time.monotonic() + self.options.drain
        while True:
            now = self.counts()
            arrived = {k: now[k] - before[k] for k in self.subscribers}
            if all(v >= sent for v in arrived.values()):
                return arrived
            if time.monotonic() > deadline:
                return arrived
            time.sleep(0.5)


def cpu_cost(steps: list[Step], role: str, judge: str) -> str:
    """Fit CPU share against rate, over the steps *judge* kept up with.

    The slope is what one more heartbeat costs *role*; the intercept is
    what it spends anyway (scrapes, sweeps, state saves for the Monitor).
    Together they say what rate would fill one core.
    """
    kept = [s for s in steps if s.kept_up(judge)]
    rates = [s.rate for s in kept]
    if len(set(rates)) < 2:
        return "too few steps kept up with to fit a CPU cost"
    fit = statistics.linear_regression(
        rates, [s.cpu[role] / s.window for s in kept]
    )
    if fit.slope <= 0:
        return "no CPU cost that grows with the rate (too noisy)"
    fixed = max(0.0, fit.intercept)
    return (
        f"{1e6 * fit.slope:.0f} us of CPU a heartbeat plus {fixed:.0%} of a"
        f" core anyway; one whole core would absorb about"
        f" {(1 - fixed) / fit.slope:,.0f}/s (fit over {len(kept)} steps)"
    )


def highest(steps: list[Step], subscriber: str) -> tuple[float, float]:
    """Return (highest rate kept up, lowest rate above it fallen behind)."""
    kept = [s.rate for s in steps if s.kept_up(subscriber)]
    low = max(kept, default=0.0)
    behind = [s.rate for s in steps if not s.kept_up(subscriber)]
    high = min((r for r in behind if r > low), default=math.inf)
    return low, high


def search(rig: Rig, start: float) -> list[Step]:
    """Climb to where every subscriber falls behind, then narrow down."""
    options = rig.options
    steps: list[Step] = []
    rate = start
    while rate <= options.max_rate:
        step = rig.step(rate)
        steps.append(step)
        print(step.line(), flush=True)
        if step.rate < PUBLISHERS_SATURATED * step.offered:
            print(
                "  the publishers cannot send faster: the figure is theirs",
                flush=True,
            )
            break
        if all(not step.kept_up(name) for name in rig.subscribers):
            break
        rate *= options.factor

    for _ in range(options.narrowing):
        bounds = {name: highest(steps, name) for name in rig.subscribers}
        open_ = {
            name: high / max(low, 1.0)
            for name, (low, high) in bounds.items()
            if high < math.inf
        }
        if not open_:
            break
        widest = max(open_, key=lambda name: open_[name])
        if open_[widest] <= options.precision:
            break
        low, high = bounds[widest]
        rate = math.sqrt(low * high) if low else high / options.factor
        step = rig.step(rate)
        steps.append(step)
        print(step.line(), flush=True)
    return steps


def warm_up(rig: Rig) -> None:
    """Give every instance a heartbeat, so the Monitor knows the fleet."""
    rate = 2_000.0
    seconds = max(1.0, rig.options.instances / rate)
    before = rig.counts()
    rig.publish(rate, seconds)
    sent, _ = rig.finished(seconds)
    rig.drain(before, sent)


def build_rig(
    children: Children, serializer: str, options: argparse.Namespace
) -> Rig:
    """Start the router, the subscribers and the publishers."""
    router = start_router(children, serializer)
    explicit = [] if serializer == "default" else [serializer]

    null = None
    if options.subscribers in ("both", NULL):
        null = children.start(
            [
                PYTHON,
                str(HERE / "null_subscriber.py"),
                router.url,
                REALM,
                *explicit,
            ],
            "null",
            piped=True,
        )
        negotiated = null.expect("ready", timeout=60)[0]
        print(f"  null subscriber joined with {negotiated}", flush=True)

    monitor = None
    # autobahn's websocket Component offers cbor and json only.
    if options.subscribers in ("both", MONITOR):
        if serializer in ("default", "cbor", "json"):
            monitor = start_monitor(children, router)
        else:
            print(
                f"  the Monitor cannot use {serializer} (it offers cbor"
                " and json): null subscriber only",
                flush=True,
            )

    publishers = []
    count = options.publishers
    block = math.ceil(options.instances / count)
    for number in range(count):
        first = number * block
        size = min(block, options.instances - first)
        publisher = children.start(
            [
                PYTHON,
                str(HERE / "heartbeat_publisher.py"),
                router.url,
                REALM,
                str(first),
                str(size),
                *explicit,
            ],
            f"publisher-{number}",
            piped=True,
        )
        publishers.append(publisher)
    for publisher in publishers:
        publisher.expect("ready", timeout=60)
    return Rig(router, publishers, null, monitor, options)


def report_monitor(rig: Rig) -> None:
    """Say whether the Monitor refused or ignored any heartbeat."""
    if rig.monitor is None:
        return
    text = rig.monitor.scrape()
    refused = {
        name: sample(text, name) or 0.0
        for name in (
            "simplepyms_heartbeats_rejected_total",
            "simplepyms_heartbeats_ignored_total",
            "simplepyms_metrics_rejected_total",
        )
    }
    tracked = sample(text, "simplepyms_service_instances") is not None
    print(
        f"  Monitor: tracked instances exported: {tracked};"
        + "".join(f" {k.split('_', 1)[1]} {v:g};" for k, v in refused.items())
    )


def measure(
    children: Children, serializer: str, options: argparse.Namespace
) -> dict[str, list[float]]:
    """Run every round for one serializer; return each round's figures."""
    print(f"serializer {serializer}:", flush=True)
    rig = build_rig(children, serializer, options)
    warm_up(rig)
    figures: dict[str, list[float]] = {name: [] for name in rig.subscribers}
    every: list[Step] = []
    start = options.start
    for round_ in range(1, options.rounds + 1):
        print(f" round {round_}", flush=True)
        steps = search(rig, start)
        for name in rig.subscribers:
            figures[name].append(highest(steps, name)[0])
        every.extend(steps)
        # Later rounds start just below where this one ended.
        kept = [v[-1] for v in figures.values() if v[-1] > 0]
        if kept:
            start = max(options.start, min(kept) / options.factor**2)
        print(
            "  kept up to: "
            + ", ".join(f"{k} {v[-1]:,.0f}/s" for k, v in figures.items()),
            flush=True,
        )
    report_monitor(rig)
    children.stop_all()
    for role in ("router", *rig.subscribers):
        print(f"  {role}: {cpu_cost(every, role, rig.subscribers[0])}")
    return figures


def summary(serializer: str, figures: dict[str, list[float]]) -> str:
    """One paragraph of medians and the ratio for *serializer*."""
    medians = {k: statistics.median(v) for k, v in figures.items()}
    lines = [
        f"{serializer:>8}: {name} subscriber keeps up with"
        f" {value:>8,.0f} heartbeats/s (rounds: "
        + ", ".join(f"{r:,.0f}" for r in figures[name])
        + ")"
        for name, value in medians.items()
    ]
    if NULL in figures and MONITOR in figures:
        ratios = [
            m / n if n else 0.0
            for m, n in zip(figures[MONITOR], figures[NULL], strict=True)
        ]
        lines.append(
            f"{serializer:>8}: ratio Monitor / null subscriber"
            f" {statistics.median(ratios):.2f} (median of"
            f" {', '.join(f'{r:.2f}' for r in ratios)})"
        )
    return "\n".join(lines)


def parse_options() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Every server listens on 127.0.0.1 and is stopped at the end.",
    )
    parser.add_argument(
        "--serializer",
        nargs="+",
        default=["default"],
        choices=["default", *SERIALIZERS],
        help="what the router offers: default (all three, each client"
        " picks; autobahn picks cbor) or only the one named;"
        " default: default",
    )
    parser.add_argument(
        "--subscribers",
        default="both",
        choices=["both", NULL, MONITOR],
        help="which subscribers are on the router; default: %(default)s",
    )
    parser.add_argument(
        "--publishers", type=int, default=3, help="publisher processes"
    )
    parser.add_argument(
        "--instances",
        type=int,
        default=1_000,
        help="distinct instances, shared among the publishers",
    )
    parser.add_argument(
        "--seconds", type=float, default=6.0, help="length of one step"
    )
    parser.add_argument(
        "--grace",
        type=float,
        default=0.25,
        help="seconds after the step ends at which 99%% must have arrived",
    )
    parser.add_argument(
        "--drain",
        type=float,
        default=20.0,
        help="seconds a step's stragglers may take to arrive",
    )
    parser.add_argument(
        "--scrape-every",
        type=float,
        default=2.5,
        help="seconds between reads of the counts during a step",
    )
    parser.add_argument(
        "--start", type=float, default=2_000.0, help="first rate offered"
    )
    parser.add_argument(
        "--factor", type=float, default=1.5, help="rate climbs by this"
    )
    parser.add_argument(
        "--max-rate", type=float, default=200_000.0, help="stop climbing here"
    )
    parser.add_argument(
        "--precision",
        type=float,
        default=1.08,
        help="narrow down until the bounds are this close",
    )
    parser.add_argument(
        "--narrowing", type=int, default=6, help="most narrowing steps"
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="searches, for the medians"
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the children's logs (printed at the end)",
    )
    options = parser.parse_args()
    if options.publishers < 1 or options.instances < options.publishers:
        parser.error("need at least one publisher and one instance each")
    if options.factor <= 1 or options.precision <= 1:
        parser.error("--factor and --precision must be above 1")
    return options


def main() -> int:
    """Measure every serializer asked for; print figures and ratios."""
    options = parse_options()
    print(
        f"{options.publishers} publishers, {options.instances} instances,"
        f" 10 metrics a heartbeat, {options.seconds:g} s steps,"
        f" subscribers: {options.subscribers}",
        flush=True,
    )
    results = {}
    try:
        with Children(keep_logs=options.keep_logs) as children:
            for serializer in options.serializer:
                results[serializer] = measure(children, serializer, options)
    except (BenchError, OSError) as problem:
        print(f"e2e_bench: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("e2e_bench: interrupted; every server stopped", file=sys.stderr)
        return 130
    print()
    for serializer, figures in results.items():
        print(summary(serializer, figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
