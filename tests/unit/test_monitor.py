"""The Monitor's handlers, its own counters and what it logs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs
from twisted.internet import defer
from twisted.internet.task import Clock

from simplepyms import __version__, protocol
from simplepyms.liveness import Fleet, State
from simplepyms.monitor import (
    IGNORE_REASONS,
    LOST_HOLD_SECONDS,
    REJECT_LOG_SECONDS,
    Monitor,
)
from simplepyms.store import FleetStore

from .support import T0, goodbye, payload, value


def rejected(registry: CollectorRegistry, reason: str) -> float | None:
    """Return simplepyms_heartbeats_rejected_total for *reason*."""
    return value(
        registry, "simplepyms_heartbeats_rejected_total", reason=reason
    )


def without(key: str) -> dict[str, Any]:
    """Return a valid payload lacking *key*."""
    raw = payload()
    del raw[key]
    return raw


def with_field(key: str, bad: object) -> dict[str, Any]:
    """Return a valid payload whose *key* is *bad*."""
    raw = payload()
    raw[key] = bad
    return raw


def fleet_instance(fleet: Fleet) -> Any:
    """Return the adder a1 instance, which must be tracked."""
    inst = fleet.get("adder", "a1")
    assert inst is not None
    return inst


MALFORMED = [
    pytest.param("heartbeat", id="str"),
    pytest.param([1, 2, 3], id="list"),
    pytest.param(None, id="none"),
    pytest.param(3.5, id="float"),
    pytest.param({}, id="empty"),
    pytest.param({"v": 1}, id="only-version"),
    pytest.param(without("instance"), id="no-instance"),
    pytest.param(with_field("v", 99), id="version"),
    pytest.param(with_field("metrics", [("a", 1)]), id="metrics-list"),
    pytest.param(with_field("seq", True), id="bool-seq"),
    pytest.param(with_field("service", {"a": 1}), id="service-dict"),
    pytest.param(with_field("interval", -5), id="negative-interval"),
    pytest.param(
        with_field("metrics", {"q": [], "r": {}, 1: 2}), id="bad-metrics"
    ),
    pytest.param(
        with_field("started", 10**400),
        id="huge-started",
    ),
    pytest.param(
        with_field("metrics", {"huge": 10**400}),
        id="huge-metric",
    ),
]


class TestOwnCounters:
    """The Monitor's counters about what it received."""

    @pytest.mark.parametrize(
        ("family", "reasons"),
        [
            (
                "simplepyms_heartbeats_rejected_total",
                protocol.HEARTBEAT_REJECT_REASONS,
            ),
            (
                "simplepyms_metrics_rejected_total",
                protocol.METRIC_REJECT_REASONS,
            ),
            ("simplepyms_heartbeats_ignored_total", IGNORE_REASONS),
        ],
    )
    def test_reasons_start_at_zero(
        self,
        monitor: Monitor,
        registry: CollectorRegistry,
        family: str,
        reasons: tuple[str, ...],
    ) -> None:
        """Every reason is exported at 0 before anything arrives."""
        found = {
            reason: value(registry, family, reason=reason)
            for reason in reasons
        }

        assert dict.fromkeys(reasons, 0.0) == found

    def test_received_counts_every_message(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """heartbeats_received counts good, bad and repeated messages."""
        monitor.on_heartbeat(payload(seq=1))
        monitor.on_heartbeat(payload(seq=1))
        monitor.on_heartbeat("not a heartbeat")

        received = value(registry, "simplepyms_heartbeats_received_total")
        assert 3.0 == received

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("heartbeat", "not_a_dict"),
            (without("seq"), "missing_field"),
            (with_field("seq", -1), "bad_field"),
            (with_field("v", 2), "unsupported_version"),
            (
                with_field(
                    "metrics",
                    {f"m{i}": i for i in range(protocol.MAX_METRICS + 1)},
                ),
                "too_many_metrics",
            ),
        ],
    )
    def test_rejected_by_reason(
        self,
        monitor: Monitor,
        registry: CollectorRegistry,
        raw: object,
        reason: str,
    ) -> None:
        """A refused heartbeat counts once under its reason."""
        monitor.on_heartbeat(raw)

        assert 1.0 == rejected(registry, reason)

    def test_rejected_leaves_other_reasons(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A refused heartbeat counts under no other reason."""
        monitor.on_heartbeat(with_field("seq", -1))

        others = [
            rejected(registry, reason)
            for reason in protocol.HEARTBEAT_REJECT_REASONS
            if reason != "bad_field"
        ]
        assert [0.0] * (len(protocol.HEARTBEAT_REJECT_REASONS) - 1) == others

    def test_rejected_heartbeat_not_tracked(
        self, monitor: Monitor, fleet: Fleet
    ) -> None:
        """A refused heartbeat adds no instance."""
        monitor.on_heartbeat(with_field("seq", -1))

        assert 0 == len(fleet)

    def test_metrics_rejected_by_count(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """metrics_rejected adds every dropped metric under its reason."""
        bad = {"Bad": 1, "also bad": 2, "up": 3, "ok": "x", "n": None}
        monitor.on_heartbeat(payload(metrics=bad))

        found = {
            reason: value(
                registry, "simplepyms_metrics_rejected_total", reason=reason
            )
            for reason in protocol.METRIC_REJECT_REASONS
        }
        assert {
            "bad_name": 2.0,
            "reserved_name": 1.0,
            "unconventional_name": 0.0,
            "not_a_number": 2.0,
            "bad_counter": 0.0,
        } == found

    def test_metrics_rejected_accumulate(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """Dropped metrics add up across heartbeats."""
        monitor.on_heartbeat(payload(seq=1, metrics={"x_total": float("nan")}))
        monitor.on_heartbeat(payload(seq=2, metrics={"x_total": float("inf")}))

        dropped = value(
            registry,
            "simplepyms_metrics_rejected_total",
            reason="bad_counter",
        )
        assert 2.0 == dropped

    def test_ignored_stale(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A repeated heartbeat counts as ignored, reason stale."""
        monitor.on_heartbeat(payload(seq=2))
        monitor.on_heartbeat(payload(seq=2))
        monitor.on_heartbeat(payload(seq=1))

        ignored = value(
            registry, "simplepyms_heartbeats_ignored_total", reason="stale"
        )
        assert 2.0 == ignored

    def test_ignored_ended(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """A heartbeat after a goodbye counts as ignored, reason ended."""
        monitor.on_heartbeat(payload(seq=1))
        monitor.on_goodbye(goodbye())
        monitor.on_heartbeat(payload(seq=2))

        ignored = value(
            registry, "simplepyms_heartbeats_ignored_total", reason="ended"
        )
        assert 1.0 == ignored

    def test_goodbyes_received(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """goodbyes_received counts goodbyes, lost notices and bad ones."""
        monitor.on_goodbye(goodbye())
        monitor.on_lost(goodbye(instance="a2"))
        monitor.on_goodbye("nonsense")

        count = value(registry, "simplepyms_goodbyes_received_total")
        assert 3.0 == count

    def test_router_not_connected(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """Before start(), the Monitor reports no router session."""
        connected = value(registry, "simplepyms_monitor_router_connected")

        assert 0.0 == connected

    def test_build_info(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """build_info carries the version, with value 1."""
        info = value(registry, "simplepyms_build_info", version=__version__)

        assert 1.0 == info


class TestRobustness:
    """Malformed messages are counted, never raised."""

    @pytest.mark.parametrize("raw", MALFORMED)
    def test_heartbeat_never_raises(
        self, monitor: Monitor, registry: CollectorRegistry, raw: object
    ) -> None:
        """A malformed heartbeat leaves other services in /metrics."""
        monitor.on_heartbeat(payload(service="store", instance="s1"))

        monitor.on_heartbeat(raw)

        up = value(
            registry,
            "simplepyms_service_up",
            service="store",
            service_instance="s1",
        )
        assert 1.0 == up

    def test_no_arguments(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """An event with no payload is refused as not_a_dict."""
        monitor.on_heartbeat()

        assert 1.0 == rejected(registry, "not_a_dict")

    def test_several_arguments(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """An event with several positional arguments is not_a_dict."""
        monitor.on_heartbeat(payload(), payload())

        assert 1.0 == rejected(registry, "not_a_dict")

    def test_keyword_payload(self, monitor: Monitor, fleet: Fleet) -> None:
        """A heartbeat sent as WAMP keyword arguments is accepted."""
        monitor.on_heartbeat(**payload())

        assert fleet.get("adder", "a1") is not None

    @pytest.mark.parametrize(
        "raw",
        [
            None,
            "bye",
            [],
            {},
            {"service": "adder"},
            {"service": 1, "instance": "a"},
        ],
    )
    def test_goodbye_never_raises(
        self, monitor: Monitor, fleet: Fleet, raw: object
    ) -> None:
        """A malformed goodbye or lost notice changes nothing."""
        monitor.on_heartbeat(payload())

        monitor.on_goodbye(raw)
        monitor.on_lost(raw)

        assert State.UP is fleet.state(fleet_instance(fleet), T0)

    def test_goodbye_unknown_instance(
        self, monitor: Monitor, fleet: Fleet
    ) -> None:
        """A goodbye from an instance never seen tracks nothing."""
        monitor.on_goodbye(goodbye(instance="ghost"))

        assert 0 == len(fleet)


class TestHandlers:
    """Goodbyes, lost notices and sweeps reach the fleet."""

    def test_goodbye_stops(
        self, monitor: Monitor, fleet: Fleet, clock: Clock
    ) -> None:
        """on_goodbye marks the instance stopped."""
        monitor.on_heartbeat(payload())
        monitor.on_goodbye(goodbye())

        assert State.STOPPED is fleet.state(
            fleet_instance(fleet), clock.seconds()
        )

    def test_lost_is_down(
        self, monitor: Monitor, fleet: Fleet, clock: Clock
    ) -> None:
        """on_lost marks the instance down within a moment."""
        monitor.on_heartbeat(payload())
        monitor.on_lost(goodbye())
        clock.advance(LOST_HOLD_SECONDS)

        assert State.DOWN is fleet.state(
            fleet_instance(fleet), clock.seconds()
        )

    def test_lost_then_router_gone_is_not_down(
        self, monitor: Monitor, fleet: Fleet, clock: Clock
    ) -> None:
        """Testaments a closing router sends before it drops us are void."""
        monitor.on_heartbeat(payload())
        monitor.on_lost(goodbye())
        monitor._on_disconnect(None, was_clean=True)
        clock.advance(LOST_HOLD_SECONDS)

        assert State.UP is fleet.state(fleet_instance(fleet), clock.seconds())

    def test_end_time_is_clock(
        self, monitor: Monitor, fleet: Fleet, clock: Clock
    ) -> None:
        """A goodbye is dated by the Monitor's clock."""
        monitor.on_heartbeat(payload())
        clock.advance(2.0)
        monitor.on_goodbye(goodbye())

        assert clock.seconds() == fleet_instance(fleet).ended_at

    def test_sweep_purges(
        self, monitor: Monitor, fleet: Fleet, clock: Clock
    ) -> None:
        """sweep() forgets instances past the retention, by the Clock."""
        monitor.on_heartbeat(payload())
        monitor.on_goodbye(goodbye())
        clock.advance(900.5)

        monitor.sweep()

        assert 0 == len(fleet)

    def test_not_started_schedules_nothing(
        self, monitor: Monitor, clock: Clock
    ) -> None:
        """Building a Monitor schedules no call on its clock."""
        assert [] == clock.getDelayedCalls()


class TestLogging:
    """Lifecycle events are logged once, refusals at most once a minute."""

    def test_new_instance_logged(self, monitor: Monitor) -> None:
        """The first heartbeat of an instance logs instance_new."""
        with capture_logs() as logs:
            monitor.on_heartbeat(payload())

        assert ["instance_new"] == [entry["event"] for entry in logs]

    def test_current_heartbeat_silent(self, monitor: Monitor) -> None:
        """A routine heartbeat logs nothing."""
        monitor.on_heartbeat(payload(seq=1))

        with capture_logs() as logs:
            monitor.on_heartbeat(payload(seq=2))

        assert [] == logs

    def test_restart_logged(self, monitor: Monitor) -> None:
        """A replacement instance logs instance_restarted."""
        monitor.on_heartbeat(payload(instance="a1"))
        monitor.on_goodbye(goodbye(instance="a1"))

        with capture_logs() as logs:
            monitor.on_heartbeat(payload(instance="a2"))

        assert ["instance_restarted"] == [entry["event"] for entry in logs]

    def test_down_logged_once(self, monitor: Monitor, clock: Clock) -> None:
        """Going down logs one warning, however often sweep() runs."""
        monitor.on_heartbeat(payload())
        clock.advance(16.0)

        with capture_logs() as logs:
            monitor.sweep()
            monitor.sweep()

        assert [("instance_down", "warning")] == [
            (entry["event"], entry["log_level"]) for entry in logs
        ]

    def test_goodbye_logged(self, monitor: Monitor) -> None:
        """A goodbye logs instance_stopped at info, naming the instance."""
        monitor.on_heartbeat(payload())

        with capture_logs() as logs:
            monitor.on_goodbye(goodbye())

        assert [
            {
                "event": "instance_stopped",
                "log_level": "info",
                "service": "adder",
                "service_instance": "a1",
                "was": "up",
            }
        ] == logs

    def test_rejection_rate_limited(self, monitor: Monitor) -> None:
        """Repeated refusals for one reason log one warning a minute."""
        with capture_logs() as logs:
            for _ in range(5):
                monitor.on_heartbeat("nonsense")

        assert 1 == len(logs)

    def test_rejection_reports_suppressed(
        self, monitor: Monitor, clock: Clock
    ) -> None:
        """The next warning for a reason says how many were held back."""
        for _ in range(5):
            monitor.on_heartbeat("nonsense")
        clock.advance(REJECT_LOG_SECONDS)

        with capture_logs() as logs:
            monitor.on_heartbeat("nonsense")

        assert [4] == [entry["suppressed"] for entry in logs]

    def test_rejection_detail_bounded(self, monitor: Monitor) -> None:
        """A long refused value is cut short in the log line."""
        with capture_logs() as logs:
            monitor.on_heartbeat(with_field("service", "x" * 5000))

        assert len(logs[0]["detail"]) <= 200


class TestStopping:
    """Monitor.stop(): what the state file holds afterwards."""

    def test_goodbyes_while_leaving_are_saved(
        self, fleet: Fleet, clock: Clock, tmp_path: Path
    ) -> None:
        """A goodbye that comes while the session leaves is in the file.

        One Ctrl-C stops the services and the Monitor together, so their
        goodbyes arrive after stop() began; a restarted Monitor must not
        take those instances for dead.
        """
        path = tmp_path / "state.sqlite"
        monitor = Monitor(
            fleet,
            reactor=clock,
            registry=CollectorRegistry(),
            url="ws://127.0.0.1:1/ws",
            realm="realm1",
            store=FleetStore(path),
        )
        monitor.on_heartbeat(payload())
        leaving: defer.Deferred[None] = defer.Deferred()
        monitor.component.stop = lambda: leaving  # the router's side

        monitor.stop()
        monitor.on_goodbye(goodbye())
        leaving.callback(None)

        restored = Fleet()
        FleetStore(path).load(restored)
        (inst,) = list(restored)
        assert State.STOPPED == restored.state(inst, clock.seconds())
