"""The long-running commands: the Monitor and the router, on one reactor."""

from __future__ import annotations

import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import structlog
from prometheus_client import (
    CollectorRegistry,
    GCCollector,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from twisted.internet import defer
from twisted.internet.error import CannotListenError
from twisted.python.failure import Failure
from twisted.web.server import Site

from simplepyms.errors import UsageError
from simplepyms.liveness import Fleet
from simplepyms.monitor import Monitor
from simplepyms.router import STOP_TIMEOUT, Crossbar, RouterConfig
from simplepyms.store import FleetStore, StoreError
from simplepyms.web import make_site

log = structlog.get_logger("simplepyms")

#: How long leaving the router may delay the end of the process.
LEAVE_TIMEOUT = 3.0

Main = Callable[[Any], Coroutine[Any, Any, None]]


def run_reactor(main: Main, prog: str = "simplepyms") -> int:
    """Run *main* on the global reactor until it ends or a signal comes.

    Returns the exit status: 0 after a signal or a clean end, 2 for a
    :class:`UsageError` (reported as one line starting with *prog*), 1
    for anything else.
    """
    from twisted.internet import reactor as _reactor

    reactor: Any = _reactor
    status = [0]

    def finished(result: object) -> None:
        if isinstance(result, Failure):
            status[0] = _report(result, prog)
        if reactor.running and not stopping[0]:
            reactor.stop()

    stopping = [False]

    def mark_stopping() -> None:
        stopping[0] = True

    reactor.addSystemEventTrigger("before", "shutdown", mark_stopping)
    reactor.callWhenRunning(
        lambda: defer.ensureDeferred(main(reactor)).addBoth(finished)
    )
    reactor.run()
    return status[0]


def _report(failure: Failure, prog: str) -> int:
    problem = failure.value
    if isinstance(problem, UsageError):
        sys.stderr.write(f"{prog}: error: {failure.value}\n")
        return 2
    if isinstance(problem, SystemExit):
        code = problem.code
        return code if isinstance(code, int) else 1
    log.error(
        "unexpected_failure",
        error=failure.getErrorMessage(),
        kind=failure.type.__name__ if failure.type else None,
    )
    return 1


def on_shutdown(
    reactor: Any, stop: Callable[[], Any], timeout: float = LEAVE_TIMEOUT
) -> None:
    """Run *stop* before the reactor shuts down, for at most *timeout*."""

    def bounded() -> defer.Deferred[Any]:
        d = defer.maybeDeferred(stop)
        d.addTimeout(timeout, reactor)
        return d.addErrback(lambda _: None)

    reactor.addSystemEventTrigger("before", "shutdown", bounded)


def serve_monitor(
    *,
    url: str,
    realm: str,
    host: str,
    port: int,
    timeout_factor: float,
    retention: float,
    max_instances: int,
    max_instances_per_service: int,
    max_series_per_service: int,
    state_file: Path | None,
    authentication: dict[str, Any] | None = None,
    web_config: Path | None = None,
) -> int:
    """Run the Monitor until SIGINT or SIGTERM; return the exit status."""

    async def main(reactor: Any) -> None:
        try:
            fleet = Fleet(
                timeout_factor=timeout_factor,
                retention=retention,
                max_instances=max_instances,
                max_instances_per_service=max_instances_per_service,
                max_series_per_service=max_series_per_service,
            )
        except ValueError as problem:
            raise UsageError(str(problem)) from problem
        # The _created series would double every counter for no reader.
        disable_created_metrics()  # type: ignore[no-untyped-call]
        registry = CollectorRegistry()
        ProcessCollector(registry=registry)
        PlatformCollector(registry=registry)
        GCCollector(registry=registry)
        try:
            store = None if state_file is None else FleetStore(state_file)
        except StoreError as problem:
            raise UsageError(str(problem)) from problem
        monitor = Monitor(
            fleet,
            reactor,
            registry,
            url=url,
            realm=realm,
            store=store,
            authentication=authentication,
        )

        site = make_site(registry)
        tls, guarded = _guard(site, web_config)
        try:
            if tls is None:
                listening = reactor.listenTCP(port, site, interface=host)
            else:
                listening = reactor.listenSSL(port, site, tls, interface=host)
        except CannotListenError as problem:
            raise UsageError(
                f"cannot listen on {host}:{port}: {problem.socketError}"
            ) from problem
        bound = listening.getHost()
        monitor.start()
        on_shutdown(reactor, monitor.stop)
        scheme = "http" if tls is None else "https"
        log.info(
            "monitor_listening",
            metrics_url=f"{scheme}://{_host(bound.host)}:{bound.port}/metrics",
            basic_auth=guarded,
            router_url=url,
            realm=realm,
        )
        await monitor.failed

    return run_reactor(main, "simplepyms monitor")


def serve_router(config: RouterConfig) -> int:
    """Run crossbar until SIGINT or SIGTERM; return the exit status."""

    async def main(reactor: Any) -> None:
        router = Crossbar(reactor, config)
        on_shutdown(
            reactor,
            lambda: defer.ensureDeferred(router.stop()),
            STOP_TIMEOUT + 2,
        )
        await router.start()
        await router.until_failed()

    return run_reactor(main, "simplepyms router")


def _guard(site: Site, path: Path | None) -> tuple[Any, bool]:
    """Apply the web config at *path* to *site*.

    Returns the TLS context factory (None for plain HTTP) and whether
    basic auth guards the pages.
    """
    if path is None:
        return None, False
    try:
        from simplepyms import web_auth, web_config
    except ImportError as missing:
        raise UsageError(
            f"--web-config needs {missing.name}: install the tls extra,"
            " pip install 'simplepyms[tls]'"
        ) from None
    try:
        config = web_config.load(path)
        tls = (
            None
            if config.tls is None
            else web_config.ServerContextFactory(config.tls)
        )
    except web_config.WebConfigError as problem:
        raise UsageError(str(problem)) from None
    if config.users:
        site.resource = web_auth.BasicAuthGuard(site.resource, config.users)
        if tls is None:
            log.warning(
                "basic_auth_without_tls",
                web_config=str(path),
                hint="passwords cross the network in clear text;"
                " add tls_server_config",
            )
    return tls, bool(config.users)


def _host(address: str) -> str:
    return f"[{address}]" if ":" in address else address
