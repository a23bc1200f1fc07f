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

from child import Say, run_child

from simplepyms import protocol


class Tally:
    """How many events arrived."""

    def __init__(self) -> None:
        self.events = 0

    def on_event(self, /, *args: Any, **kwargs: Any) -> None:
        """Count one event."""
        self.events += 1


def main() -> None:
    """Join the router, subscribe, and count until told to quit."""
    tally = Tally()

    def obey(words: list[str], say: Say) -> None:
        if words == ["count"]:
            say(f"count {tally.events}")

    async def joined(session: Any, say: Say) -> None:
        await session.subscribe(tally.on_event, protocol.HEARTBEAT_TOPIC)

    url, realm = sys.argv[1:3]
    serializer = sys.argv[3] if len(sys.argv) > 3 else None
    run_child(url, realm, serializer, obey, joined)


if __name__ == "__main__":
    main()
