"""mk_component and the heartbeats a ServiceComponent builds."""

from __future__ import annotations

import pytest
from autobahn.twisted.component import Component
from twisted.internet import defer
from twisted.internet.task import Clock

from simplepyms import protocol
from simplepyms.microservice import (
    DEFAULT_INTERVAL,
    INTERVAL_VARIABLE,
    ServiceComponent,
    mk_component,
)

URL = "ws://127.0.0.1:1/ws"


@pytest.fixture(autouse=True)
def no_interval_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep the caller's SIMPLEPYMS_HEARTBEAT_INTERVAL out of the tests."""
    monkeypatch.delenv(INTERVAL_VARIABLE, raising=False)


class TestMkComponent:
    """mk_component's checks and result."""

    def test_returns_component(self) -> None:
        """The result is an autobahn Twisted Component."""
        component = mk_component("adder", URL, "realm1")

        assert isinstance(component, Component)
        assert isinstance(component, ServiceComponent)

    def test_keeps_name(self) -> None:
        """The component heartbeats under the name it was given."""
        assert "adder" == mk_component("adder", URL, "realm1").name

    @pytest.mark.parametrize("name", ["", "bad name", "-x", "a.b", "a" * 129])
    def test_bad_name(self, name: str) -> None:
        """An unusable service name raises a ValueError naming it."""
        with pytest.raises(ValueError, match="service name must be") as caught:
            mk_component(name, URL, "realm1")

        assert repr(name) in str(caught.value)

    def test_default_interval(self) -> None:
        """Without an interval or the variable, services beat every 5 s."""
        component = mk_component("adder", URL, "realm1")

        assert DEFAULT_INTERVAL == component.interval

    @pytest.mark.parametrize("interval", [0.05, 1, 3600.0])
    def test_interval(self, interval: float) -> None:
        """An interval inside the protocol's range is kept as a float."""
        component = mk_component("adder", URL, "realm1", interval=interval)

        assert float(interval) == component.interval

    @pytest.mark.parametrize(
        "interval", [0.0, 0.049, -1.0, 3600.5, float("nan"), float("inf")]
    )
    def test_bad_interval(self, interval: float) -> None:
        """An interval outside 0.05 to 3600 s raises a clear ValueError."""
        with pytest.raises(
            ValueError, match=r"interval must be 0\.05 to 3600\.0 seconds"
        ) as caught:
            mk_component("adder", URL, "realm1", interval=interval)

        assert repr(interval) in str(caught.value)

    def test_interval_from_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """SIMPLEPYMS_HEARTBEAT_INTERVAL sets the default interval."""
        monkeypatch.setenv(INTERVAL_VARIABLE, "2.5")

        assert 2.5 == mk_component("adder", URL, "realm1").interval

    def test_argument_beats_environment(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An explicit interval wins over the environment."""
        monkeypatch.setenv(INTERVAL_VARIABLE, "2.5")

        component = mk_component("adder", URL, "realm1", interval=7.0)

        assert 7.0 == component.interval

    @pytest.mark.parametrize("raw", ["0", "5000", "abc", "", "nan"])
    def test_bad_environment(
        self, monkeypatch: pytest.MonkeyPatch, raw: str
    ) -> None:
        """A bad SIMPLEPYMS_HEARTBEAT_INTERVAL raises, naming the variable."""
        monkeypatch.setenv(INTERVAL_VARIABLE, raw)

        with pytest.raises(
            ValueError, match=rf"{INTERVAL_VARIABLE} must be 0\.05 to 3600"
        ):
            mk_component("adder", URL, "realm1")

    @pytest.mark.parametrize("raw", ["abc", "5s"])
    def test_bad_environment_shows_value(
        self, monkeypatch: pytest.MonkeyPatch, raw: str
    ) -> None:
        """The error for an unparsable variable shows the text set."""
        monkeypatch.setenv(INTERVAL_VARIABLE, raw)

        with pytest.raises(ValueError, match=INTERVAL_VARIABLE) as caught:
            mk_component("adder", URL, "realm1")

        assert repr(raw) in str(caught.value)


class TestHeartbeat:
    """ServiceComponent.heartbeat()."""

    def test_passes_parse(self) -> None:
        """The payload is a heartbeat the Monitor accepts whole."""
        component = mk_component("adder", URL, "realm1", interval=2.0)

        beat = protocol.parse_heartbeat(component.heartbeat())

        assert ("adder", 2.0, {}) == (
            beat.service,
            beat.interval,
            beat.rejected,
        )

    def test_seq_increments(self) -> None:
        """Each heartbeat's seq is one more than the last."""
        component = mk_component("adder", URL, "realm1")

        seqs = [
            protocol.parse_heartbeat(component.heartbeat()).seq
            for _ in range(3)
        ]

        assert [1, 2, 3] == seqs

    def test_instance_fixed(self) -> None:
        """Every heartbeat of one component names the same instance."""
        component = mk_component("adder", URL, "realm1")

        instances = {component.heartbeat()["instance"] for _ in range(3)}

        assert {component.instance} == instances

    def test_started_fixed(self) -> None:
        """Every heartbeat of one component has the same start stamp."""
        component = mk_component("adder", URL, "realm1")

        starts = {component.heartbeat()["started"] for _ in range(3)}

        assert {component.started} == starts

    def test_instances_differ(self) -> None:
        """Two components get different instance ids."""
        first = mk_component("adder", URL, "realm1")
        second = mk_component("adder", URL, "realm1")

        assert first.instance != second.instance

    def test_instance_fits_protocol(self) -> None:
        """The instance id is within the protocol's length limit."""
        component = mk_component("adder", URL, "realm1")

        assert 0 < len(component.instance) <= protocol.MAX_INSTANCE_LENGTH

    def test_carries_named_metrics(self) -> None:
        """Named metrics set on component.metrics are carried."""
        component = mk_component("adder", URL, "realm1")
        component.metrics.counter("additions_total").inc(3)

        carried = protocol.parse_heartbeat(component.heartbeat()).metrics

        assert {"additions_total": 3.0} == carried

    def test_carries_collected_metrics(self) -> None:
        """The metrics callable's values are carried."""
        component = mk_component(
            "adder", URL, "realm1", metrics=lambda: {"queue_depth": 2}
        )

        carried = protocol.parse_heartbeat(component.heartbeat()).metrics

        assert {"queue_depth": 2.0} == carried


class TestHeartbeatSize:
    def test_an_oversized_heartbeat_still_beats_without_metrics(
        self,
    ) -> None:
        """Metrics that weigh too much are left out; the beat goes on."""
        name = "m" * 120
        heavy = {f"{name}{i:04d}": 1.0 for i in range(999)}
        component = mk_component(
            "heavy", "ws://127.0.0.1:1/ws", "realm1", metrics=lambda: heavy
        )

        payload = component.heartbeat()

        assert {} == payload["metrics"]
        assert "heavy" == protocol.parse_heartbeat(payload).service


class _Session:
    """Just enough of an autobahn session to count publications."""

    def __init__(self) -> None:
        self.published: list[str] = []

    def is_attached(self) -> bool:
        return True

    def publish(self, topic: str, *args: object, **kwargs: object) -> object:
        self.published.append(topic)
        return defer.succeed(None)


class TestDiscovery:
    def test_a_flood_of_discoveries_is_not_a_flood_of_heartbeats(
        self,
    ) -> None:
        """Answers to py.ms.discover come at most once a second, and come."""
        clock = Clock()
        component = mk_component(
            "asked", "ws://127.0.0.1:1/ws", "realm1", interval=30.0
        )
        session = _Session()
        component._reactor = clock
        component._session = session

        for _ in range(100):
            component._on_discover()
            clock.advance(0.001)

        assert 1 == len(session.published)
        clock.advance(1.0)
        assert 2 == len(session.published)
        clock.advance(10.0)
        assert 2 == len(session.published)
