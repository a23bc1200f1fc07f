"""The null subscriber for e2e_bench.py: it only counts heartbeats.

Run: ``null_subscriber.py URL REALM [SERIALIZER]``

A plain autobahn session, with the Monitor's transport settings, that
subscribes to ``py.ms.heartbeat`` and counts each event, nothing more.
It prints ``ready SERIALIZER`` once subscribed; each stdin line
``count`` is answered ``count N``.  ``quit`` (or the end of stdin)
leaves.
"""

from __future__ import annotations

import sys
from typing import Any

import txaio

txaio.use_twisted()

from autobahn.twisted.component import Component  # noqa: E402
from twisted.internet import stdio  # noqa: E402
from twisted.protocols.basic import LineReceiver  # noqa: E402

from simplepyms import protocol  # noqa: E402
from simplepyms.transport import transport  # noqa: E402


class Tally:
    """How many events arrived."""

    def __init__(self) -> None:
        self.events = 0

    def on_event(self, /, *args: Any, **kwargs: Any) -> None:
        """Count one event."""
        self.events += 1


class Commands(LineReceiver):
    """Answer ``count``; leave on ``quit``."""

    delimiter = b"\n"

    def __init__(self, tally: Tally, quit_: Any) -> None:
        self._tally = tally
        self._quit = quit_

    def say(self, line: str) -> None:
        """Write one line to stdout."""
        if self.transport is not None:
            self.transport.write(line.encode() + self.delimiter)

    def lineReceived(self, line: bytes) -> None:  # noqa: N802
        word = line.decode().strip()
        if word == "count":
            self.say(f"count {self._tally.events}")
        elif word == "quit":
            self._quit()

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
        self._quit()


def main() -> None:
    """Join the router, subscribe, and count until told to quit."""
    from twisted.internet import reactor

    url, realm = sys.argv[1:3]
    settings = transport(url)
    if len(sys.argv) > 3:
        settings["serializers"] = [sys.argv[3]]
    component = Component(transports=[settings], realm=realm)
    tally = Tally()

    def quit_() -> None:
        if reactor.running:
            reactor.stop()

    commands = Commands(tally, quit_)

    @component.on_join  # type: ignore[untyped-decorator]
    async def joined(session: Any, details: Any) -> None:
        await session.subscribe(tally.on_event, protocol.HEARTBEAT_TOPIC)
        commands.say(f"ready {details.serializer}")

    stdio.StandardIO(commands)  # type: ignore[no-untyped-call]
    component.start(reactor)
    reactor.run()


if __name__ == "__main__":
    main()
