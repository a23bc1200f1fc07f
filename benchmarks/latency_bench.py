"""Detection latency: from a killed or frozen service to ``up 0``.

Run: ``.venv/bin/python benchmarks/latency_bench.py [--rounds N]``

It starts a crossbar router and a Monitor on free loopback ports, then,
round after round, a real ``mk_component`` service
(``benchmarks/probe_service.py``) with a short heartbeat interval.  Once
the Monitor has the instance up, and after a random part of an interval
(so the moment falls anywhere between two heartbeats), the service is

- crashed: SIGKILL.  The router sees the connection close and publishes
  the service's testament; the Monitor takes it as down.
- hung: SIGSTOP.  The process keeps its session but says nothing; the
  Monitor calls it down after ``interval * timeout factor`` of silence.

The time is measured from the signal to the first ``/metrics`` that
says ``simplepyms_service_up 0`` for the instance, polled every
``--poll`` seconds.  A last round keeps one service frozen to see what
the router's WebSocket auto-ping does to its session, then resumes it.

Nothing here is a test: the figures depend on the machine.
"""

from __future__ import annotations

import argparse
import random
import signal
import statistics
import sys
import time

import psutil
from servers import (
    HERE,
    PYTHON,
    REALM,
    BenchError,
    Child,
    Children,
    MonitorProcess,
    Router,
    sample,
    start_monitor,
    start_router,
    wait_until,
)

SERVICE = "latency_probe"
UP = "simplepyms_service_up"
LAST_SEEN = "simplepyms_service_last_seen_timestamp_seconds"
#: The shipped router's auto-ping, in seconds (simplepyms/crossbar).
PING_INTERVAL = 10.0
PING_TIMEOUT = 5.0


class Probe:
    """Start probe services on one router and time the Monitor on them."""

    def __init__(
        self,
        children: Children,
        router: Router,
        monitor: MonitorProcess,
        options: argparse.Namespace,
    ) -> None:
        self._children = children
        self._router = router
        self._monitor = monitor
        self._options = options
        self._rounds = 0

    def start_service(self) -> tuple[Child, str]:
        """Start a probe service; return it once the Monitor has it up."""
        self._rounds += 1
        child = self._children.start(
            [PYTHON, str(HERE / "probe_service.py"), SERVICE],
            f"probe-{self._rounds}",
            env={
                "SIMPLEPYMS_ROUTER_URL": self._router.url,
                "SIMPLEPYMS_REALM": REALM,
                "SIMPLEPYMS_HEARTBEAT_INTERVAL": str(self._options.interval),
            },
        )
        instance = str(child.wait_for("service_joined")["service_instance"])
        wait_until(lambda: self.up(instance) == 1.0, timeout=15)
        # Anywhere between two heartbeats, not just after one.
        time.sleep(random.uniform(0, self._options.interval))  # noqa: S311
        return child, instance

    def up(self, instance: str) -> float | None:
        """The instance's ``simplepyms_service_up``, if it is exported."""
        return sample(self._monitor.scrape(), UP, service_instance=instance)

    def until(self, instance: str, value: float, limit: float) -> float:
        """Poll until the instance's up is *value*; return the time then.

        Raises:
            BenchError: if it is not so within *limit* seconds.
        """
        deadline = time.monotonic() + limit
        while True:
            if self.up(instance) == value:
                return time.monotonic()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{instance} not up {value:g} within {limit:g} s"
                )
            time.sleep(self._options.poll)

    def crash(self) -> float:
        """SIGKILL a service; return the seconds until it is down."""
        child, instance = self.start_service()
        killed = time.monotonic()
        child.signal(signal.SIGKILL)
        down = self.until(instance, 0.0, limit=self.timeout + 5)
        self._children.stop(child)
        return down - killed

    def hang(self) -> tuple[float, float]:
        """SIGSTOP a service; return seconds until down, from the stop
        and from its last heartbeat."""
        child, instance = self.start_service()
        stopped = time.monotonic()
        child.signal(signal.SIGSTOP)
        down = self.until(instance, 0.0, limit=self.timeout + 5)
        after_beat = self._silence(instance)
        child.signal(signal.SIGKILL)
        self._children.stop(child)
        return down - stopped, after_beat

    def frozen_session(self) -> str:
        """Keep one service frozen, watch its session, then resume it."""
        child, instance = self.start_service()
        stopped = time.monotonic()
        child.signal(signal.SIGSTOP)
        down = self.until(instance, 0.0, limit=self.timeout + 5) - stopped
        limit = PING_INTERVAL + PING_TIMEOUT + 5
        closed = self._router_closed(child, limit)
        if closed is None:
            story = f"the router kept the session open for {limit:g} s"
        else:
            story = (
                f"the router closed its connection {closed - stopped:.1f} s"
                " after the stop (auto-ping: every"
                f" {PING_INTERVAL:g} s, {PING_TIMEOUT:g} s to answer)"
            )
        resumed = time.monotonic()
        child.signal(signal.SIGCONT)
        back = self.until(instance, 1.0, limit=30) - resumed
        self._children.stop(child)
        return (
            f"frozen service: down after {down:.2f} s; {story}; after"
            f" SIGCONT the same instance was up again in {back:.2f} s"
        )

    @property
    def timeout(self) -> float:
        """Seconds of silence after which the Monitor says down."""
        return float(self._options.interval * self._options.timeout_factor)

    def _silence(self, instance: str) -> float:
        text = self._monitor.scrape()
        last = sample(text, LAST_SEEN, service_instance=instance)
        return time.time() - (last or 0.0)

    def _router_closed(self, child: Child, limit: float) -> float | None:
        """When the router closed the frozen service's connection."""
        port = self._router.port
        deadline = time.monotonic() + limit
        process = psutil.Process(child.pid)
        while time.monotonic() < deadline:
            states = {
                c.status
                for c in process.net_connections(kind="tcp")
                if c.raddr and c.raddr.port == port
            }
            if states != {psutil.CONN_ESTABLISHED}:
                return time.monotonic()
            time.sleep(0.1)
        return None


def figures(name: str, seconds: list[float], target: float) -> str:
    """One line: median and max of *seconds*, against *target*."""
    worst = max(seconds)
    verdict = "met" if worst <= target else "NOT met"
    return (
        f"{name}: median {statistics.median(seconds):.3f} s,"
        f" max {worst:.3f} s over {len(seconds)} rounds"
        f" (target at most {target:g} s: {verdict});"
        f" each: {', '.join(f'{s:.3f}' for s in seconds)}"
    )


def parse_options() -> argparse.Namespace:
    """Read the command line."""
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Every server listens on 127.0.0.1 and is stopped at the end.",
    )
    parser.add_argument(
        "--rounds", type=int, default=7, help="rounds of each kind"
    )
    parser.add_argument(
        "--interval",
        type=float,
        default=1.0,
        help="the services' heartbeat interval, seconds",
    )
    parser.add_argument(
        "--timeout-factor",
        type=float,
        default=3.0,
        help="the Monitor's --timeout-factor (its default is 3)",
    )
    parser.add_argument(
        "--poll", type=float, default=0.025, help="seconds between scrapes"
    )
    parser.add_argument(
        "--no-frozen-session",
        action="store_true",
        help="skip the round that watches a frozen service's session",
    )
    parser.add_argument(
        "--keep-logs",
        action="store_true",
        help="keep the children's logs (printed at the end)",
    )
    options = parser.parse_args()
    if options.rounds < 1:
        parser.error("--rounds must be at least 1")
    return options


def main() -> int:
    """Time crashes and hangs; print medians, maxima and verdicts."""
    options = parse_options()
    timeout = options.interval * options.timeout_factor
    print(
        f"heartbeat interval {options.interval:g} s, Monitor timeout"
        f" {timeout:g} s (interval x {options.timeout_factor:g}), polling"
        f" /metrics every {options.poll * 1000:.0f} ms",
        flush=True,
    )
    try:
        with Children(keep_logs=options.keep_logs) as children:
            router = start_router(children)
            monitor = start_monitor(
                children,
                router,
                "--timeout-factor",
                str(options.timeout_factor),
            )
            probe = Probe(children, router, monitor, options)
            crashes = []
            for _ in range(options.rounds):
                crashes.append(probe.crash())
                print(f"  crash: down after {crashes[-1]:.3f} s", flush=True)
            hangs, silences = [], []
            for _ in range(options.rounds):
                since_stop, since_beat = probe.hang()
                hangs.append(since_stop)
                silences.append(since_beat)
                print(
                    f"  hang: down after {since_stop:.3f} s"
                    f" ({since_beat:.3f} s after its last heartbeat)",
                    flush=True,
                )
            story = (
                None if options.no_frozen_session else probe.frozen_session()
            )
    except (BenchError, OSError) as problem:
        print(f"latency_bench: {problem}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(
            "latency_bench: interrupted; every server stopped", file=sys.stderr
        )
        return 130
    print()
    print(figures("crash (SIGKILL) to up 0", crashes, 1.0))
    print(figures("hang (SIGSTOP) to up 0", hangs, timeout + 1.0))
    print(
        figures(
            "hang, from the last heartbeat to up 0", silences, timeout + 1.0
        )
    )
    if story:
        print(story)
    return 0


if __name__ == "__main__":
    sys.exit(main())
