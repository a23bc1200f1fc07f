"""The Monitor: a WAMP component that feeds heartbeats to the fleet model.

It subscribes to heartbeats, goodbyes and lost-session testaments, keeps
:class:`~simplepyms.liveness.Fleet` up to date, counts what it refused,
and logs every change of an instance's state once.
"""

from __future__ import annotations

from typing import Any

import structlog
from autobahn.twisted.component import Component
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import SubscribeOptions
from prometheus_client import CollectorRegistry, Counter, Gauge
from twisted.internet import defer
from twisted.internet.interfaces import IReactorTime
from twisted.internet.task import LoopingCall

from simplepyms import __version__, policy, protocol
from simplepyms.collector import FleetCollector
from simplepyms.errors import UsageError
from simplepyms.liveness import DROP_REASONS, Fleet, Seen, State
from simplepyms.sessions import SessionIndex
from simplepyms.store import FleetStore, StoreError
from simplepyms.throttle import Throttle
from simplepyms.transport import (
    REFUSAL_HINT,
    REFUSALS,
    told_on_leave,
    transport,
)

log = structlog.get_logger("simplepyms.monitor")

#: A refused heartbeat is logged at most this often per reason.
REJECT_LOG_SECONDS = 60.0
SWEEP_SECONDS = 1.0
#: How long a lost-session notice waits before it counts.
LOST_HOLD_SECONDS = 0.3
#: A sweep this late means the Monitor itself was stalled.
STALL_SECONDS = 3 * SWEEP_SECONDS
SAVE_SECONDS = 5.0
#: How often the lines of instances that beat are written, between
#: scrapes: often enough that a scrape finds little left to write, in
#: slices short enough not to hold up heartbeats.
REFRESH_SECONDS = 0.1
#: How long live services have to answer a discovery before silence counts.
DISCOVERY_GRACE = 1.0
IGNORE_REASONS = ("stale", "ended")
#: A new instance refused: the fleet, or its service, is full already.
FLEET_FULL = "too_many_instances"
#: Sent under a service name that is not the publisher's own identity.
SPOOFED = "spoofed"
_EVENTS = {Seen.NEW: "instance_new", Seen.RESTARTED: "instance_restarted"}
_TRANSITIONS = {
    State.UP: "instance_up",
    State.LATE: "instance_late",
    State.DOWN: "instance_down",
    State.STOPPED: "instance_stopped",
}


class Monitor:
    """Track every service instance that heartbeats on one realm.

    Args:
        fleet: the liveness model to keep up to date.
        reactor: the reactor to time and connect with.
        registry: where the Monitor's families are registered.
        url: the router's WebSocket URL.
        realm: the realm to join.
        store: where to keep the fleet across restarts, if anywhere.
        authentication: autobahn's ``authentication`` setting, for a
            secure router.  Once the router has authenticated the
            Monitor, every heartbeat, goodbye and lost notice must come
            from the service it names, by the identity the router
            discloses; any other is refused as ``spoofed``.
    """

    def __init__(
        self,
        fleet: Fleet,
        reactor: Any,
        registry: CollectorRegistry,
        *,
        url: str,
        realm: str,
        store: FleetStore | None = None,
        authentication: dict[str, Any] | None = None,
    ) -> None:
        self.fleet = fleet
        self.registry = registry
        self._store = store
        self._clock = IReactorTime(reactor)
        self._reactor = reactor
        self._url = url
        self._rejects = _ReasonLog(self._clock.seconds, REJECT_LOG_SECONDS)
        self._connected = False
        self._stopping = False
        self._last_sweep: float | None = None
        #: Counts sessions that ended, to tell a held notice is stale.
        self._sessions = 0
        self._joined_at: float | None = None
        self._session: Any = None
        #: Set on join: whether the router vouches for each publisher.
        self._authenticated = False
        self._heard_on = SessionIndex()

        #: Writes the fleet's families; :meth:`FleetCollector.refresh`
        #: runs every REFRESH_SECONDS once started.
        self.collector = FleetCollector(fleet, self._clock.seconds)
        registry.register(self.collector)
        self.received = Counter(
            "simplepyms_heartbeats_received",
            "Messages received on the heartbeat topic.",
            registry=registry,
        )
        self.rejected = Counter(
            "simplepyms_heartbeats_rejected",
            "Heartbeats refused as a whole, by reason.",
            ["reason"],
            registry=registry,
        )
        self.ignored = Counter(
            "simplepyms_heartbeats_ignored",
            "Valid heartbeats ignored: repeated, or from an ended instance.",
            ["reason"],
            registry=registry,
        )
        self.metrics_rejected = Counter(
            "simplepyms_metrics_rejected",
            "Carried metrics dropped from accepted heartbeats, by reason.",
            ["reason"],
            registry=registry,
        )
        self.goodbyes = Counter(
            "simplepyms_goodbyes_received",
            "Goodbyes and lost-session notices received.",
            registry=registry,
        )
        self.goodbyes_rejected = Counter(
            "simplepyms_goodbyes_rejected",
            "Goodbyes and lost-session notices refused, by reason.",
            ["reason"],
            registry=registry,
        )
        self.goodbyes_rejected.labels(SPOOFED)
        self.router_connected = Gauge(
            "simplepyms_monitor_router_connected",
            "1 while the Monitor has a session on the router.",
            registry=registry,
        )
        build = Gauge(
            "simplepyms_build_info",
            "The simplepyms version the Monitor runs.",
            ["version"],
            registry=registry,
        )
        build.labels(__version__).set(1)
        for reason in (
            *protocol.HEARTBEAT_REJECT_REASONS,
            FLEET_FULL,
            SPOOFED,
        ):
            self.rejected.labels(reason)
        for reason in (*protocol.METRIC_REJECT_REASONS, *DROP_REASONS):
            self.metrics_rejected.labels(reason)
        for reason in IGNORE_REASONS:
            self.ignored.labels(reason)

        self.component = Component(
            transports=[transport(url)],
            realm=realm,
            authentication=authentication or {},
        )
        self.component.on_join(self._on_join)
        self.component.on_disconnect(self._on_disconnect)
        self.component.on_connectfailure(self._on_connect_failure)
        self.component.on_leave(self._on_leave)
        #: Fails if the router refuses the Monitor for good.
        self.failed: defer.Deferred[None] = defer.Deferred()
        self.save_failures = Counter(
            "simplepyms_state_save_failures",
            "Times the Monitor could not write its state file.",
            registry=registry,
        )
        self._sweeper = LoopingCall(self.sweep)
        self._sweeper.clock = self._clock
        self._saver = LoopingCall(self.save)
        self._saver.clock = self._clock
        self._refresher = LoopingCall(self.collector.refresh)
        self._refresher.clock = self._clock

    def start(self) -> None:
        """Connect to the router (retrying for ever) and start sweeping."""
        if self._store is not None:
            restored = self._store.load(self.fleet)
            log.info(
                "state_loaded", path=str(self._store.path), instances=restored
            )
            self._saver.start(SAVE_SECONDS, now=False)
        # Until the first session nobody can be heard: judge no one.
        self.fleet.pause(self._clock.seconds())
        self._sweeper.start(SWEEP_SECONDS, now=False)
        self._refresher.start(REFRESH_SECONDS, now=False)
        self.component.start(self._reactor)

    def save(self) -> None:
        """Write the fleet to the state file, if there is one."""
        if self._store is None:
            return
        try:
            self._store.save(self.fleet)
        except StoreError as problem:
            self.save_failures.inc()
            if self._rejects.due("state_save_failed"):
                log.warning("state_save_failed", error=str(problem))

    def stop(self) -> Any:
        """Leave the router; returns when the session has left."""
        self._stopping = True
        for loop in (self._sweeper, self._saver, self._refresher):
            if loop.running:
                loop.stop()
        self.save()
        leaving = defer.maybeDeferred(self.component.stop)
        # One Ctrl-C reaches the services too, and their goodbyes arrive
        # while the session leaves: write the fleet again once it has.
        return leaving.addBoth(self._save_after)

    def _save_after(self, result: object) -> object:
        self.save()
        return result

    def on_heartbeat(
        self, /, *args: Any, details: Any = None, **kwargs: Any
    ) -> None:
        """Take one message from the heartbeat topic.

        ``details`` are autobahn's ``EventDetails``, which name the
        publisher when the router discloses it.
        """
        self.received.inc()
        now = self._clock.seconds()
        try:
            beat = protocol.parse_heartbeat(_payload(args, kwargs))
        except protocol.InvalidHeartbeat as error:
            self.rejected.labels(error.reason).inc()
            self._rejects.warn(error.reason, error.detail)
            return
        except Exception as error:  # noqa: BLE001 - keep serving the rest
            # Validation should have named it; count it all the same.
            self.rejected.labels("bad_field").inc()
            self._rejects.warn("unexpected", type(error).__name__)
            return
        if self._spoofed(beat.service, details):
            self.rejected.labels(SPOOFED).inc()
            self._rejects.warn(SPOOFED, _claim(beat.service, details))
            return

        seen = self.fleet.heartbeat(beat, now)
        # Dropped by validation, then by the model: one count each way.
        for dropped in (beat.rejected, self.fleet.last_dropped):
            for reason, count in dropped.items():
                self.metrics_rejected.labels(reason).inc(count)
                self._rejects.warn(f"metric_{reason}", beat.service)
        publisher = getattr(details, "publisher", None)
        if (
            self._authenticated
            and publisher is not None
            and seen is not Seen.REFUSED
        ):
            self._heard_on.heard(publisher, (beat.service, beat.instance))
        if seen is Seen.REFUSED:
            self.rejected.labels(FLEET_FULL).inc()
            self._rejects.warn(FLEET_FULL, f"{beat.service}/{beat.instance}")
        elif seen is Seen.STALE or seen is Seen.ENDED:
            self.ignored.labels(seen.value).inc()
        elif seen is not Seen.CURRENT:
            log.info(
                _EVENTS[seen],
                service=beat.service,
                service_instance=beat.instance,
                interval=beat.interval,
            )

    def on_goodbye(
        self, /, *args: Any, details: Any = None, **kwargs: Any
    ) -> None:
        """Take a goodbye: the instance stopped on purpose."""
        self._end(args, kwargs, details, lost=False)

    def on_lost(
        self, /, *args: Any, details: Any = None, **kwargs: Any
    ) -> None:
        """Take a testament: the router saw the instance's session die."""
        self._end(args, kwargs, details, lost=True)

    def on_session_left(self, session: object, *args: Any) -> None:
        """Take crossbar's meta event: a session ended.

        Used instead of testaments when the router authenticates: the
        router publishes it, so no service can forge it.
        """
        if not isinstance(session, int):
            return
        now = self._clock.seconds()
        for service, instance in self._heard_on.left(session):
            self._hold_lost(service, instance, now)

    def sweep(self) -> None:
        """Log the state changes since the last sweep; forget the expired.

        If the sweep comes much later than due, this process was stalled
        (stopped, swapped out, or busy) and heard nothing meanwhile; the
        stall is not held against the services.
        """
        now = self._clock.seconds()
        last, self._last_sweep = self._last_sweep, now
        if last is not None and now - last > STALL_SECONDS:
            self.fleet.pause(last)
            self.fleet.resume(now)
            log.warning("monitor_stalled", seconds=round(now - last, 3))
        for change in self.fleet.sweep(now):
            inst = change.instance
            level = log.warning if change.new is State.DOWN else log.info
            level(
                _TRANSITIONS[change.new],
                service=inst.service,
                service_instance=inst.instance,
                was=change.old.value,
            )

    def _spoofed(self, service: str, details: Any) -> bool:
        if not self._authenticated:
            return False
        return getattr(details, "publisher_authid", None) != service

    def _end(
        self, args: Any, kwargs: Any, details: Any, *, lost: bool
    ) -> None:
        self.goodbyes.inc()
        try:
            bye = protocol.parse_goodbye(_payload(args, kwargs))
        except protocol.InvalidHeartbeat as error:
            self.goodbyes_rejected.labels(error.reason).inc()
            self._rejects.warn(f"goodbye_{error.reason}", error.detail)
            return
        if self._spoofed(bye.service, details):
            self.goodbyes_rejected.labels(SPOOFED).inc()
            self._rejects.warn(
                f"goodbye_{SPOOFED}", _claim(bye.service, details)
            )
            return
        now = self._clock.seconds()
        if lost:
            self._hold_lost(bye.service, bye.instance, now)
        else:
            self.fleet.goodbye(bye, now)
            self.sweep()

    def _hold_lost(self, service: str, instance: str, when: float) -> None:
        # A router that shuts down tells of the sessions it closes
        # before it closes ours: hold each notice a moment, and drop it
        # if our own session ends meanwhile.
        self._clock.callLater(
            LOST_HOLD_SECONDS,
            self._lost,
            service,
            instance,
            when,
            self._sessions,
        )

    def _lost(
        self, service: str, instance: str, when: float, session: int
    ) -> None:
        if session != self._sessions:
            return
        inst = self.fleet.get(service, instance)
        if inst is not None and inst.last_seen > when:
            return  # it reconnected and spoke since: alive after all
        self.fleet.lost(service, instance, when)
        self.sweep()

    async def _on_join(self, session: Any, details: Any) -> None:
        try:
            await self._subscribe(session, details)
        except ApplicationError as refused:
            if not self.failed.called:
                self.failed.errback(
                    UsageError(
                        f"the router at {self._url} does not let"
                        f" {details.authid!r} hear heartbeats:"
                        f" {refused.error} (is --authid the monitor's?)"
                    )
                )
            return
        self._connected = True
        # Judge silence again once live services had a moment to answer
        # the discovery below, but without counting that moment.
        self._joined_at = self._clock.seconds()
        self._clock.callLater(DISCOVERY_GRACE, self._resume, self._sessions)
        self.router_connected.set(1)
        # An anonymous session's authid is a random token: not worth a key.
        who = {"authid": details.authid} if self._authenticated else {}
        log.info(
            "router_connected",
            url=self._url,
            realm=details.realm,
            authenticated=self._authenticated,
            **who,
        )
        # Ask every live service for a heartbeat now rather than in one
        # interval, so a Monitor that (re)joins is current at once.
        session.publish(protocol.DISCOVER_TOPIC)

    async def _subscribe(self, session: Any, details: Any) -> None:
        self._session = session
        self._authenticated = details.authmethod not in (None, "anonymous")
        told = SubscribeOptions(details=True)
        await session.subscribe(
            self.on_heartbeat, protocol.HEARTBEAT_TOPIC, options=told
        )
        await session.subscribe(
            self.on_goodbye, protocol.GOODBYE_TOPIC, options=told
        )
        if self._authenticated:
            # Testaments cannot be checked there (crossbar cannot
            # authorize a dead session's publication); the router's own
            # word on each ended session can.
            await session.subscribe(
                self.on_session_left, policy.SESSION_LEFT_TOPIC
            )
        else:
            await session.subscribe(
                self.on_lost, protocol.LOST_TOPIC, options=told
            )

    def _on_leave(self, session: Any, details: Any) -> None:
        reason = getattr(details, "reason", None)
        if reason in REFUSALS and not self.failed.called:
            self.failed.errback(
                UsageError(
                    f"the router at {self._url} refused the Monitor:"
                    f" {reason} ({REFUSAL_HINT})"
                )
            )

    def _resume(self, session: int) -> None:
        if session == self._sessions and self._joined_at is not None:
            self.fleet.resume(self._joined_at)
            self._joined_at = None

    def _on_disconnect(self, session: Any, was_clean: bool) -> None:
        self._sessions += 1
        self.router_connected.set(0)
        if self._joined_at is not None:
            # Lost again within the grace: close the last pause first,
            # so what was heard since the join is not judged as old.
            self.fleet.resume(self._joined_at)
            self._joined_at = None
        self.fleet.pause(self._clock.seconds())
        self._session = None
        self._heard_on.clear()
        if self._connected and self._stopping:
            log.info("router_left", url=self._url)
        elif self._connected:
            log.warning("router_disconnected", url=self._url, clean=was_clean)
        self._connected = False

    def _on_connect_failure(self, component: Any, error: Exception) -> None:
        if told_on_leave(error):
            return  # told as router_disconnected, or fatal in _on_leave
        if self._rejects.due("router_unreachable"):
            log.warning("router_unreachable", url=self._url, error=str(error))


def _claim(service: str, details: Any) -> str:
    publisher = getattr(details, "publisher_authid", None)
    return f"claims {service!r}, sent by {publisher!r}"


def _payload(args: Any, kwargs: Any) -> object:
    if len(args) == 1 and not kwargs:
        return args[0]
    if not args and kwargs:
        return dict(kwargs)
    return list(args)


class _ReasonLog(Throttle):
    """Log a refusal per reason at most once a :data:`REJECT_LOG_SECONDS`."""

    def warn(self, reason: str, detail: str) -> None:
        if self.due(reason):
            log.warning(
                "heartbeat_rejected",
                reason=reason,
                detail=detail[:200],
                suppressed=self.suppressed(reason),
            )
