"""The service side: a WAMP component that heartbeats, stops and restarts.

::

    from simplepyms.microservice import mk_component
    from autobahn.twisted.component import run

    component = mk_component("adder", "ws://127.0.0.1:8080/ws", "realm1")

    @component.register("py.ms.add")
    def add(a, b):
        return a + b

    run(component)
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
from typing import Any

import structlog
from autobahn.twisted.component import Component
from autobahn.wamp.types import PublishOptions, RegisterOptions
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from simplepyms import credentials, protocol
from simplepyms.service_metrics import Collect, ServiceMetrics
from simplepyms.transport import (
    REFUSALS,
    RETRY_DELAY_MAX,
    told_on_leave,
    transport,
)

log = structlog.get_logger("simplepyms.service")

DEFAULT_INTERVAL = 5.0
INTERVAL_VARIABLE = "SIMPLEPYMS_HEARTBEAT_INTERVAL"
#: The shortest time between two answers to py.ms.discover.
DISCOVER_GAP = 1.0
#: How long a goodbye may take before the service leaves regardless.
FAREWELL_TIMEOUT = 3.0
#: The exit status of a process whose service the router refused.
REFUSED_STATUS = 2
_REGISTER_HINTS = {
    "wamp.error.not_authorized": (
        "on the secure router a service registers under py.ms.<its name>. only"
    ),
    "wamp.error.procedure_already_exists": (
        "another session holds it: another instance, or another service"
    ),
}

Session = Any  # autobahn's ApplicationSession, which ships no types


class ServiceComponent(Component):  # type: ignore[misc]
    """An autobahn ``Component`` with heartbeats, stop and restart.

    Build one with :func:`mk_component`.  ``metrics`` holds the values
    carried in every heartbeat; ``instance`` names this process.
    """

    def __init__(
        self,
        name: str,
        url: str,
        realm: str,
        *,
        interval: float,
        metrics: ServiceMetrics,
        **component_options: Any,
    ) -> None:
        # Back within one interval of the router's return, so within the
        # Monitor's timeout; never slower than every RETRY_DELAY_MAX.
        retry = min(RETRY_DELAY_MAX, interval)
        super().__init__(
            transports=[transport(url, retry)],
            realm=realm,
            **component_options,
        )
        self.name = name
        self.instance = secrets.token_hex(8)
        self.interval = interval
        self.metrics = metrics
        self.started = time.time()
        self._seq = 0
        self._session: Session | None = None
        self._loop: LoopingCall | None = None
        self._reactor: Any = None
        self._ending: defer.Deferred[None] | None = None
        self._restart = False
        self._publish_failing = False
        self._unreachable = False
        self._too_large = False
        self._last_beat = float("-inf")
        self._pending_answer: Any = None
        self._testament = False

        self.on("start", self._on_start)
        self.on_join(self._on_join)
        self.on_leave(self._on_leave)
        self.on_disconnect(self._on_disconnect)
        self.on_connectfailure(self._on_connect_failure)

    @property
    def _log(self) -> Any:
        # Bound when used, not when built: the component is often built
        # at import time, before the entry point configures structlog.
        return log.bind(service=self.name, service_instance=self.instance)

    def register(
        self, uri: str, options: RegisterOptions | None = None, **more: Any
    ) -> Any:
        """Register the decorated function as *uri* at every join.

        As autobahn's ``Component.register``, except that a refusal is
        one ``register_failed`` error in the log at once, rather than an
        unhandled error when the process ends.
        """

        def decorator(fn: Any) -> Any:
            def registration(session: Session, details: Any) -> Any:
                done = session.register(
                    fn, procedure=uri, options=options, **more
                )
                return done.addErrback(self._register_failed, uri)

            self.on("join", registration)
            return fn

        return decorator

    def _register_failed(self, failure: Any, uri: str) -> None:
        error = getattr(failure.value, "error", None)
        self._log.error(
            "register_failed",
            procedure=uri,
            error=error or failure.getErrorMessage(),
            hint=_REGISTER_HINTS.get(str(error), ""),
        )

    def heartbeat(self) -> dict[str, Any]:
        """Return the next heartbeat payload, advancing ``seq``.

        Carried metrics that would make it heavier than the protocol
        allows are left out (and logged once): liveness comes first.
        """
        self._seq += 1
        payload = protocol.build_heartbeat(
            service=self.name,
            instance=self.instance,
            seq=self._seq,
            started=self.started,
            sent=time.time(),
            interval=self.interval,
            metrics=self.metrics.snapshot(),
        )
        size = len(json.dumps(payload))
        if size > protocol.MAX_HEARTBEAT_BYTES:
            if not self._too_large:
                self._too_large = True
                self._log.error(
                    "heartbeat_too_large",
                    size=size,
                    limit=protocol.MAX_HEARTBEAT_BYTES,
                    hint="carry fewer or shorter-named metrics",
                )
            payload["metrics"] = {}
        return payload

    def shutdown(self, reason: str = "stop") -> defer.Deferred[None]:
        """Say goodbye and leave the router; idempotent.

        ``reason`` is ``"stop"``, ``"restart"`` (the process re-executes
        itself once it has left) or ``"signal"``.
        """
        if self._ending is None:
            if reason == "restart":
                self._restart = True
                self._reactor.addSystemEventTrigger(
                    "after", "shutdown", self._reexec
                )
            self._ending = defer.ensureDeferred(self._farewell(reason))
        return self._ending

    def _on_start(self, reactor: Any, component: Component) -> None:
        self._reactor = reactor
        reactor.addSystemEventTrigger(
            "before", "shutdown", self._on_reactor_shutdown
        )

    def _on_reactor_shutdown(self) -> defer.Deferred[None] | None:
        if self._session is None:
            return None
        return self.shutdown("signal")

    @defer.inlineCallbacks
    def _on_join(self, session: Session, details: Any) -> Any:
        self._session = session
        self._unreachable = False
        self._testament = False
        shared = RegisterOptions(invoke="roundrobin")
        for handler, uri in (
            (self._on_stop, protocol.stop_uri(self.name)),
            (self._on_restart, protocol.restart_uri(self.name)),
        ):
            done = session.register(handler, uri, options=shared)
            yield done.addErrback(self._register_failed, uri)
        yield session.subscribe(self._on_discover, protocol.DISCOVER_TOPIC)
        if details.authmethod in (None, "anonymous"):
            # A router that authenticates tells the Monitor of ended
            # sessions itself (see simplepyms.policy).
            yield defer.ensureDeferred(self._add_testament(session))

        self._loop = LoopingCall(self._beat)
        self._loop.clock = IReactorTime(self._reactor)
        self._loop.start(self.interval, now=True)
        self._log.info("service_joined", realm=details.realm)

    def _on_leave(self, session: Session, details: Any) -> None:
        self._stop_beating()
        self._session = None
        reason = getattr(details, "reason", None)
        if reason in REFUSALS and self._ending is None:
            self._refused(reason, getattr(details, "message", None))

    def _refused(self, reason: str, message: str | None) -> None:
        # Retrying cannot fix a wrong realm or secret, and a process
        # that lingers looks alive to its supervisor: say so and end.
        self._log.error(
            "router_refused",
            reason=reason,
            detail=(message or "")[:200],
            hint="check the realm, and the secret for this service name",
        )
        self._ending = defer.succeed(None)
        self._reactor.addSystemEventTrigger(
            "after", "shutdown", _exit, REFUSED_STATUS
        )
        self.stop()

    def _on_disconnect(self, session: Session, was_clean: bool) -> None:
        self._stop_beating()
        self._session = None
        if self._restart:
            self._reexec()

    def _on_connect_failure(self, component: Any, error: Exception) -> None:
        if told_on_leave(error):
            return  # the session's end says it, or _refused does
        if not self._unreachable:
            self._unreachable = True
            self._log.warning("router_unreachable", error=str(error))

    def _on_stop(self, /, *args: Any, **kwargs: Any) -> dict[str, str]:
        return self._answer("stop")

    def _on_restart(self, /, *args: Any, **kwargs: Any) -> dict[str, str]:
        return self._answer("restart")

    def _answer(self, reason: str) -> dict[str, str]:
        # Stop beating at once, but leave only after the caller has its
        # result: a session that leaves first cancels the call.
        self._stop_beating()
        self._reactor.callLater(0, self.shutdown, reason)
        return {"service": self.name, "instance": self.instance, reason: "ok"}

    def _on_discover(self, /, *args: Any, **kwargs: Any) -> None:
        # Anyone may ask: answers come at most once a second (or twice an
        # interval), so a flood of discoveries is not one of heartbeats;
        # one asked too soon gets the next answer, a moment later.
        if self._pending_answer is not None and self._pending_answer.active():
            return
        gap = min(self.interval / 2, DISCOVER_GAP)
        wait = self._last_beat + gap - self._reactor.seconds()
        if wait <= 0:
            self._beat()
        else:
            self._pending_answer = self._reactor.callLater(wait, self._beat)

    def _beat(self) -> None:
        session = self._session
        if session is None or not session.is_attached():
            return
        self._last_beat = self._reactor.seconds()
        try:
            sent = session.publish(
                protocol.HEARTBEAT_TOPIC,
                self.heartbeat(),
                options=PublishOptions(acknowledge=True),
            )
        except Exception as error:  # noqa: BLE001 - the transport went away
            self._publish_failed(error)
            return
        sent.addCallbacks(self._publish_worked, self._publish_failed)

    def _publish_worked(self, _: object) -> None:
        if self._publish_failing:
            self._publish_failing = False
            self._log.info("heartbeat_publish_recovered")

    def _publish_failed(self, error: Any) -> None:
        if not self._publish_failing:
            self._publish_failing = True
            self._log.warning("heartbeat_publish_failed", error=str(error))

    def _stop_beating(self) -> None:
        if self._loop is not None and self._loop.running:
            self._loop.stop()
        self._loop = None

    async def _add_testament(self, session: Session) -> None:
        # The router publishes this for us if our session dies, which
        # tells the Monitor at once instead of after the timeout.
        lost = protocol.build_goodbye(
            service=self.name, instance=self.instance, reason="lost"
        )
        try:
            await session.call(
                "wamp.session.add_testament", protocol.LOST_TOPIC, [lost], {}
            )
            self._testament = True
        except Exception as error:  # noqa: BLE001 - an optional feature
            self._log.info("testament_unavailable", error=str(error))

    async def _farewell(self, reason: str) -> None:
        self._stop_beating()
        session = self._session
        if session is None or not session.is_attached():
            self.stop()
            return

        bye = protocol.build_goodbye(
            service=self.name, instance=self.instance, reason=reason
        )
        # Without this the router would publish our testament as we
        # leave, and a graceful stop would look like a crash.
        if self._testament:
            with contextlib.suppress(Exception):
                await _within(
                    self._reactor,
                    session.call("wamp.session.flush_testaments"),
                )
        try:
            await _within(
                self._reactor,
                session.publish(
                    protocol.GOODBYE_TOPIC,
                    bye,
                    options=PublishOptions(acknowledge=True),
                ),
            )
        except Exception as error:  # noqa: BLE001 - leave regardless
            self._log.warning("goodbye_failed", error=str(error))
        self._log.info("service_leaving", reason=reason)
        await defer.maybeDeferred(self.stop)

    def _reexec(self) -> None:
        argv = [sys.executable, *sys.orig_argv[1:]]
        self._log.info("service_restarting", argv=argv)
        sys.stdout.flush()
        sys.stderr.flush()
        os.execv(sys.executable, argv)  # noqa: S606 - our own command line


def _exit(status: int) -> None:
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status)


def _within(reactor: Any, result: Any) -> defer.Deferred[Any]:
    d: defer.Deferred[Any] = defer.maybeDeferred(lambda: result)
    return d.addTimeout(FAREWELL_TIMEOUT, reactor)


def mk_component(
    name: str,
    url: str,
    realm: str,
    *,
    interval: float | None = None,
    metrics: Collect | None = None,
    secret: str | None = None,
    secret_file: str | os.PathLike[str] | None = None,
    **component_options: Any,
) -> ServiceComponent:
    """Return a component that heartbeats as service *name*.

    Args:
        name: the service name: letters, digits, ``_`` and ``-``.
        url: the router's WebSocket URL, such as ``ws://127.0.0.1:8080/ws``.
        realm: the WAMP realm to join.
        interval: seconds between heartbeats; by default the value of
            ``SIMPLEPYMS_HEARTBEAT_INTERVAL``, else 5.
        metrics: called at every heartbeat; returns a ``{name: number}``
            dict of values to carry (names ending in ``_total`` are
            counters).
        secret: the WAMP-CRA secret of *name* on a secure router; by
            default read from *secret_file*, ``SIMPLEPYMS_SECRET_FILE``
            or ``SIMPLEPYMS_SECRET`` (see :mod:`simplepyms.credentials`).
            Without any, the service joins anonymously.
        secret_file: a file that holds the secret.
        component_options: passed on to autobahn's ``Component``; an
            ``authentication`` given here replaces the secret.

    A service the router refuses for good (no such realm, a wrong or
    missing secret) logs ``router_refused`` and its process exits with
    status 2 instead of retrying.

    Raises:
        ValueError: if *name*, *interval* or the secret is not usable.
    """
    protocol.check_service_name(name)
    if not isinstance(realm, str) or not realm:
        raise ValueError(f"realm must be a non-empty string, got {realm!r}")
    seconds = _interval(interval)
    if "authentication" not in component_options:
        found = credentials.find_secret(secret, secret_file)
        if found is not None:
            component_options["authentication"] = credentials.wampcra(
                name, found
            )
    return ServiceComponent(
        name,
        url,
        realm,
        interval=seconds,
        metrics=ServiceMetrics(metrics),
        **component_options,
    )


def _interval(interval: float | None) -> float:
    source = "interval"
    if interval is None:
        raw = os.environ.get(INTERVAL_VARIABLE)
        if raw is None:
            return DEFAULT_INTERVAL
        source = INTERVAL_VARIABLE
        try:
            interval = float(raw)
        except ValueError:
            interval = float("nan")
        shown: object = raw
    else:
        shown = interval
    if (
        isinstance(interval, bool)
        or not isinstance(interval, int | float)
        or not protocol.MIN_INTERVAL <= interval <= protocol.MAX_INTERVAL
    ):
        raise ValueError(
            f"{source} must be {protocol.MIN_INTERVAL} to"
            f" {protocol.MAX_INTERVAL} seconds, got {shown!r}"
        )
    return float(interval)


__all__ = ["ServiceComponent", "mk_component"]
