"""``simplepyms demo``: router, Monitor and two services on one machine.

The router runs under this process; the Monitor, the host exporter and
the example service run as child processes that share this terminal.
Ctrl-C (or SIGTERM) stops them all, children first.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import structlog
from twisted.internet import defer, protocol

from simplepyms.router import Crossbar, RouterConfig, signal_process
from simplepyms.serve import on_shutdown, run_reactor

log = structlog.get_logger("simplepyms.demo")

CHILD_STOP_TIMEOUT = 8.0
#: How long children may take to end by themselves before SIGTERM.
GRACE = 3.0


class _Child(protocol.ProcessProtocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self.ended: defer.Deferred[None] = defer.Deferred()

    def processEnded(self, reason: Any) -> None:  # noqa: N802
        self.ended.callback(None)


def run_demo(router: RouterConfig, listen: tuple[str, int]) -> int:
    """Run the whole demo until Ctrl-C; return the exit status."""
    host, port = listen

    async def main(reactor: Any) -> None:
        crossbar = Crossbar(reactor, router)
        children: list[tuple[_Child, Any]] = []

        async def stop_all() -> None:
            # A Ctrl-C reached the children too; a second signal while
            # they stop would only make Twisted complain.
            await _all_or_timeout(
                reactor, [c.ended for c, _ in children], GRACE
            )
            for child, process in children:
                if not child.ended.called:
                    signal_process(process, signal.SIGTERM)
            for child, process in children:
                killer = reactor.callLater(
                    CHILD_STOP_TIMEOUT, signal_process, process, signal.SIGKILL
                )
                await child.ended
                if killer.active():
                    killer.cancel()
            await crossbar.stop()

        on_shutdown(
            reactor,
            lambda: defer.ensureDeferred(stop_all()),
            GRACE + CHILD_STOP_TIMEOUT + 12,
        )
        await crossbar.start()
        if crossbar.stopping:
            return

        env = {
            **os.environ,
            "SIMPLEPYMS_ROUTER_URL": router.url,
            "SIMPLEPYMS_REALM": router.realm,
            "SIMPLEPYMS_LISTEN": f"{host}:{port}",
        }
        python = sys.executable
        commands = {
            "monitor": [python, "-m", "simplepyms", "monitor"],
            "host": [python, "-m", "simplepyms.exporters.host"],
            "adder": [python, "-m", "simplepyms.example"],
        }
        for name, argv in commands.items():
            child = _Child(name)
            process = reactor.spawnProcess(
                child, python, argv, env=env, childFDs={0: "w", 1: 1, 2: 2}
            )
            children.append((child, process))
        log.info(
            "demo_running",
            metrics_url=f"http://{host}:{port}/metrics",
            stop="press Ctrl-C",
        )
        await crossbar.until_failed()

    return run_reactor(main)


async def _all_or_timeout(
    reactor: Any, events: list[defer.Deferred[None]], timeout: float
) -> None:
    """Wait until every one of *events* fired, or *timeout* passed."""
    everything = defer.DeferredList(list(events))
    everything.addTimeout(timeout, reactor)
    try:
        await everything
    except defer.TimeoutError:
        return
