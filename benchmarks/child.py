"""What the benchmarks' child processes share: a router session, stdin.

A child joins the router with the Monitor's transport settings (and the
serializer asked for, if any), says ``ready SERIALIZER`` on stdout once
joined, obeys one command a line on stdin, and ends on ``quit`` or at
the end of stdin.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import txaio

txaio.use_twisted()

from autobahn.twisted.component import Component  # noqa: E402
from twisted.internet import stdio  # noqa: E402
from twisted.protocols.basic import LineReceiver  # noqa: E402

from simplepyms.transport import transport  # noqa: E402

Say = Callable[[str], None]
#: Carry out one command's words; replies go through the Say given.
Obey = Callable[[list[str], Say], None]


class Commands(LineReceiver):
    """Read commands from stdin, one a line; ``quit`` ends the child."""

    delimiter = b"\n"

    def __init__(self, obey: Obey, quit_: Callable[[], None]) -> None:
        self._obey = obey
        self._quit = quit_

    def say(self, line: str) -> None:
        """Write one line to stdout."""
        if self.transport is not None:
            self.transport.write(line.encode() + self.delimiter)

    def lineReceived(self, line: bytes) -> None:  # noqa: N802
        words = line.decode().split()
        if words[:1] == ["quit"]:
            self._quit()
        elif words:
            self._obey(words, self.say)

    def connectionLost(self, reason: Any = None) -> None:  # noqa: N802
        self._quit()


def run_child(
    url: str,
    realm: str,
    serializer: str | None,
    obey: Obey,
    joined: Callable[[Any, Say], Awaitable[None] | None],
) -> None:
    """Join *realm* at *url*, call *joined*, obey stdin until quit."""
    from twisted.internet import reactor

    settings = transport(url)
    if serializer:
        settings["serializers"] = [serializer]
    component = Component(transports=[settings], realm=realm)

    def quit_() -> None:
        if reactor.running:
            reactor.stop()

    commands = Commands(obey, quit_)

    @component.on_join  # type: ignore[untyped-decorator]
    async def on_join(session: Any, details: Any) -> None:
        await txaio.as_future(joined, session, commands.say)
        commands.say(f"ready {details.serializer}")

    stdio.StandardIO(commands)  # type: ignore[no-untyped-call]
    component.start(reactor)
    reactor.run()
