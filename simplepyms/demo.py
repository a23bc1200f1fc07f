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
from twisted.internet import defer, error, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint

from simplepyms.router import (
    READY_TIMEOUT,
    Crossbar,
    RouterConfig,
    check_free,
    signal_process,
    sleep,
)
from simplepyms.serve import on_shutdown, run_reactor

log = structlog.get_logger("simplepyms.demo")

CHILD_STOP_TIMEOUT = 8.0
#: How long children may take to end by themselves before SIGTERM.
GRACE = 3.0


class _Child(protocol.ProcessProtocol):
    def __init__(self, name: str) -> None:
        self.name = name
        self.ended: defer.Deferred[_Child] = defer.Deferred()
        self.code: int | None = None

    def processEnded(self, reason: Any) -> None:  # noqa: N802
        self.code = getattr(reason.value, "exitCode", None)
        self.ended.callback(self)


def run_demo(
    router: RouterConfig,
    listen: tuple[str, int],
    log_format: str = "console",
    log_level: str = "info",
) -> int:
    """Run the whole demo until Ctrl-C; return the exit status."""
    host, port = listen

    async def main(reactor: Any) -> None:
        # Else the demo would take whatever listens there for its Monitor.
        check_free(host, port, "--listen")
        crossbar = Crossbar(reactor, router)
        children: list[tuple[_Child, Any]] = []

        shutting_down = [False]

        async def stop_all() -> None:
            shutting_down[0] = True
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
            "SIMPLEPYMS_LOG_FORMAT": log_format,
            "SIMPLEPYMS_LOG_LEVEL": log_level,
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

        parts: list[defer.Deferred[Any]] = [
            defer.ensureDeferred(crossbar.until_failed()),
            *(child.ended for child, _ in children),
        ]
        failed = defer.DeferredList(
            parts,
            fireOnOneCallback=True,
            fireOnOneErrback=True,
            consumeErrors=True,
        )
        try:
            if not await _listening(reactor, host, port, failed):
                _complain(children)
                raise SystemExit(1)
            log.info(
                "demo_running",
                metrics_url=f"http://{host}:{port}/metrics",
                stop="press Ctrl-C",
            )
            await failed
        except defer.FirstError:
            pass  # crossbar died; said below, unless it was a Ctrl-C
        finally:
            failed.addErrback(lambda _: None)
        # A Ctrl-C reaches every part at once; whichever ends first must
        # not be taken for a failure.  crossbar ending cleanly is such a
        # Ctrl-C too, even when this process has not yet seen its own:
        # on a busy machine that can take longer than the parts do.
        await _all_or_timeout(reactor, [crossbar.ended], GRACE)
        if shutting_down[0] or crossbar.stopping:
            return
        _complain(children)
        raise SystemExit(1)

    return run_reactor(main, "simplepyms demo")


def _complain(children: list[tuple[_Child, Any]]) -> None:
    for child, _ in children:
        if child.ended.called:
            log.error(
                "demo_part_exited", part=child.name, exit_code=child.code
            )


async def _listening(
    reactor: Any, host: str, port: int, failed: defer.Deferred[Any]
) -> bool:
    """Wait until the Monitor accepts connections; False if a part died."""
    deadline = reactor.seconds() + READY_TIMEOUT
    while not failed.called and reactor.seconds() < deadline:
        endpoint = TCP4ClientEndpoint(reactor, host, port, timeout=1)
        try:
            connection: Any = await endpoint.connect(
                protocol.Factory.forProtocol(protocol.Protocol)
            )
        except error.ConnectError:
            await sleep(reactor, 0.1)
            continue
        connection.transport.loseConnection()
        return True
    return False


async def _all_or_timeout(
    reactor: Any, events: list[defer.Deferred[Any]], timeout: float
) -> None:
    """Wait until every one of *events* fired, or *timeout* passed.

    The events themselves are left alone: cancelling them on the
    timeout would make the waits that follow fail.
    """
    done: defer.Deferred[None] = defer.Deferred()

    def finish(_: object = None) -> None:
        if not done.called:
            done.callback(None)

    defer.DeferredList(list(events)).addBoth(finish)
    timer = reactor.callLater(timeout, finish)
    await done
    if timer.active():
        timer.cancel()
