"""A heartbeat publisher for e2e_bench.py, steered on stdin.

Run: ``heartbeat_publisher.py URL REALM FIRST COUNT [SERIALIZER]``

It joins the router as one session and speaks for the instances
``FIRST`` to ``FIRST + COUNT - 1``, each heartbeat built with
:func:`simplepyms.protocol.build_heartbeat` and carrying ten metrics.
It prints ``ready SERIALIZER`` once joined.  Each stdin line
``go RATE SECONDS`` publishes RATE heartbeats a second, round-robin over
its instances, for SECONDS, then prints ``done SENT ELAPSED``.
``quit`` (or the end of stdin) leaves.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from child import Say, run_child
from twisted.internet.task import LoopingCall

from simplepyms import protocol

#: Ten metrics a real service might carry: five counters, five gauges.
COUNTERS = (
    "requests_total",
    "errors_total",
    "cache_hits_total",
    "cache_misses_total",
    "processed_bytes_total",
)
GAUGES = (
    "queue_depth",
    "in_flight_requests",
    "open_connections",
    "worker_threads",
    "last_batch_duration_seconds",
)
SERVICES = 20
INTERVAL = 1.0
TICK = 0.005
#: Never more than this many publishes in one tick, to stay responsive.
BURST = 2_000


def instance_id(number: int) -> str:
    """The instance id the benchmark gives instance *number*."""
    return f"bench-{number:06d}"


def metrics(seq: int, number: int) -> dict[str, float]:
    """Ten plausible values for heartbeat *seq* of instance *number*."""
    values = {name: float(seq * (k + 1)) for k, name in enumerate(COUNTERS)}
    values["queue_depth"] = float((seq + number) % 50)
    values["in_flight_requests"] = float(seq % 7)
    values["open_connections"] = float(number % 13)
    values["worker_threads"] = 8.0
    values["last_batch_duration_seconds"] = 0.001 * (seq % 100)
    return values


class Publisher:
    """Publish heartbeats for a block of instances at a steady rate."""

    def __init__(self, reactor: Any, first: int, count: int) -> None:
        self._reactor = reactor
        self._numbers = list(range(first, first + count))
        self._seq = dict.fromkeys(self._numbers, 0)
        self._next = 0
        self._started = time.time()
        self.session: Any = None
        self._loop: LoopingCall | None = None
        self._rate = 0.0
        self._until = 0.0
        self._begun = 0.0
        self._sent = 0
        self.reply: Any = None

    def go(self, rate: float, seconds: float) -> None:
        """Start publishing *rate* heartbeats a second for *seconds*."""
        self._rate = rate
        self._sent = 0
        self._begun = self._reactor.seconds()
        self._until = self._begun + seconds
        self._loop = LoopingCall(self._tick)
        self._loop.clock = self._reactor
        self._loop.start(TICK, now=True)

    def _tick(self) -> None:
        now = min(self._reactor.seconds(), self._until)
        due = int(self._rate * (now - self._begun)) - self._sent
        for _ in range(min(due, BURST)):
            self._publish_one()
        if now >= self._until and self._loop is not None:
            self._loop.stop()
            elapsed = self._reactor.seconds() - self._begun
            self.reply(f"done {self._sent} {elapsed:.4f}")

    def _publish_one(self) -> None:
        number = self._numbers[self._next]
        self._next = (self._next + 1) % len(self._numbers)
        seq = self._seq[number] = self._seq[number] + 1
        beat = protocol.build_heartbeat(
            service=f"bench{number % SERVICES:02d}",
            instance=instance_id(number),
            seq=seq,
            started=self._started,
            sent=time.time(),
            interval=INTERVAL,
            metrics=metrics(seq, number),
        )
        self.session.publish(protocol.HEARTBEAT_TOPIC, beat)
        self._sent += 1


def main() -> None:
    """Join the router and obey stdin until told to quit."""
    from twisted.internet import reactor

    url, realm, first, count = sys.argv[1:5]
    serializer = sys.argv[5] if len(sys.argv) > 5 else None
    publisher = Publisher(reactor, int(first), int(count))

    def obey(words: list[str], say: Say) -> None:
        if words[0] == "go":
            publisher.go(float(words[1]), float(words[2]))

    def joined(session: Any, say: Say) -> None:
        publisher.session = session
        publisher.reply = say

    run_child(url, realm, serializer, obey, joined)


if __name__ == "__main__":
    main()
