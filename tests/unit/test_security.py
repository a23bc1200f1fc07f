"""The secure deployment's pure parts: roles, credentials, spoof checks."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from autobahn.wamp.types import SessionDetails
from prometheus_client import CollectorRegistry
from structlog.testing import capture_logs
from twisted.internet import defer
from twisted.internet.task import Clock

from simplepyms import credentials, policy, principals, router_auth
from simplepyms.liveness import Fleet, State
from simplepyms.monitor import LOST_HOLD_SECONDS, Monitor
from simplepyms.sessions import SessionIndex

from .support import goodbye, payload, value

SECRET = "s3cret-s3cret-s3cret"  # noqa: S105 - a test value


class TestPolicy:
    @pytest.mark.parametrize(
        ("role", "authid", "uri", "action"),
        [
            ("service", "adder", "py.ms.heartbeat", "publish"),
            ("service", "adder", "py.ms.goodbye", "publish"),
            ("service", "adder", "py.ms.discover", "subscribe"),
            ("service", "adder", "py.ms.adder.stop", "register"),
            ("service", "adder", "py.ms.adder.add", "register"),
            ("service", "adder", "py.ms.clock.now", "call"),
            ("monitor", "monitor", "py.ms.heartbeat", "subscribe"),
            ("monitor", "monitor", "py.ms.goodbye", "subscribe"),
            ("monitor", "monitor", "wamp.session.on_leave", "subscribe"),
            ("monitor", "monitor", "py.ms.discover", "publish"),
            ("admin", "admin", "py.ms.adder.stop", "call"),
            ("admin", "admin", "py.ms.adder.restart", "call"),
            ("admin", "admin", "py.ms.adder.add", "call"),
        ],
    )
    def test_allowed(
        self, role: str, authid: str, uri: str, action: str
    ) -> None:
        """What each role needs is allowed and disclosed."""
        decision = policy.decide(role, authid, uri, action)

        assert (True, True) == (decision["allow"], decision["disclose"])

    def test_registrations_are_never_cached(self) -> None:
        """crossbar caches by role, not authid: a service's own name must
        not open py.ms.<name>.* to every other service."""
        assert not policy.decide(
            "service", "adder", "py.ms.adder.stop", "register"
        )["cache"]
        assert policy.decide("service", "adder", "py.ms.heartbeat", "publish")[
            "cache"
        ]

    @pytest.mark.parametrize(
        ("role", "authid", "uri", "action"),
        [
            # A service under another's name, or beyond its own rights.
            ("service", "mallory", "py.ms.adder.add", "register"),
            ("service", "mallory", "py.ms.adder.stop", "register"),
            ("service", "mallory", "py.ms.add", "register"),
            ("service", "mallory", "py.ms.adder.stop", "call"),
            ("service", "mallory", "py.ms.adder.restart", "call"),
            ("service", "mallory", "py.ms.mallory.stop", "call"),
            ("service", "mallory", "py.ms.heartbeat", "subscribe"),
            ("service", "mallory", "py.ms.discover", "publish"),
            ("service", "mallory", "py.ms.lost", "publish"),
            ("service", "mallory", "wamp.session.on_leave", "subscribe"),
            ("service", "mallory", "wamp.session.add_testament", "call"),
            ("service", "mallory", "py.ms.router.authorize", "call"),
            ("service", "router", "py.ms.router.authorize", "register"),
            ("service", "mallory", "com.example.x", "call"),
            # The Monitor only listens and asks for discoveries.
            ("monitor", "monitor", "py.ms.adder.stop", "call"),
            ("monitor", "monitor", "py.ms.heartbeat", "publish"),
            ("monitor", "monitor", "py.ms.monitor.x", "register"),
            # The operator calls; it neither listens nor publishes.
            ("admin", "admin", "py.ms.heartbeat", "subscribe"),
            ("admin", "admin", "py.ms.heartbeat", "publish"),
            ("admin", "admin", "py.ms.admin.x", "register"),
            ("admin", "admin", "py.ms.router.authorize", "call"),
            ("anonymous", "x", "py.ms.heartbeat", "publish"),
        ],
    )
    def test_refused(
        self, role: str, authid: str, uri: str, action: str
    ) -> None:
        """Anything else is refused and not disclosed."""
        decision = policy.decide(role, authid, uri, action)

        assert (False, False) == (decision["allow"], decision["disclose"])

    def test_the_authorizer_reads_crossbar_session_details(self) -> None:
        """The registered procedure decides from crossbar's details dict."""
        session = {"authid": "adder", "authrole": "service", "session": 7}

        assert router_auth.authorize(
            session, "py.ms.adder.add", "register", {}
        )["allow"]
        assert not router_auth.authorize(
            session, "py.ms.other.add", "register", {}
        )["allow"]


def write(path: Path, data: object) -> Path:
    """Write *data* as JSON to *path*; return the path."""
    path.write_text(json.dumps(data))
    return path


class TestPrincipals:
    def test_a_good_file_loads(self, tmp_path: Path) -> None:
        """Each entry becomes a principal with its role."""
        path = write(
            tmp_path / "c.json",
            {
                "adder": {"role": "service", "secret": SECRET},
                "monitor": {"role": "monitor", "secret": SECRET},
            },
        )

        loaded = principals.load(path)

        assert {"adder": "service", "monitor": "monitor"} == {
            authid: p.role for authid, p in loaded.items()
        }

    @pytest.mark.parametrize(
        ("data", "complaint"),
        [
            ([], "must hold a JSON object"),
            ({}, "must hold a JSON object"),
            ({"a": "x"}, "entry 'a': must be an object"),
            ({"a": {"role": "root", "secret": SECRET}}, "role must be one"),
            ({"a": {"role": SECRET, "secret": "admin"}}, "role must be one"),
            ({"a": {"role": "service", "secret": "short"}}, "at least 16"),
            ({"a": {"role": "service"}}, "at least 16"),
            (
                {"a b": {"role": "service", "secret": SECRET}},
                "entry 'a b'",
            ),
            (
                {"router": {"role": "service", "secret": SECRET}},
                "reserved",
            ),
            (
                {"a": {"role": "service", "secret": SECRET, "x": 1}},
                "unknown keys ['x']",
            ),
        ],
    )
    def test_a_bad_entry_is_named(
        self, tmp_path: Path, data: object, complaint: str
    ) -> None:
        """A broken file says where and why, and shows no secret."""
        path = write(tmp_path / "c.json", data)

        with pytest.raises(principals.CredentialsError) as raised:
            principals.load(path)

        assert complaint in str(raised.value)
        assert str(path) in str(raised.value)
        assert SECRET not in str(raised.value)

    def test_a_name_given_twice_is_refused(self, tmp_path: Path) -> None:
        """Two entries for one authid: an error, not the last one wins."""
        path = tmp_path / "c.json"
        entry = json.dumps({"role": "service", "secret": SECRET})
        path.write_text(f'{{"a": {entry}, "a": {entry}}}')

        with pytest.raises(principals.CredentialsError, match="'a' twice"):
            principals.load(path)

    def test_deep_nesting_is_one_error(self, tmp_path: Path) -> None:
        """A pathologically nested file is refused, not a RecursionError."""
        path = tmp_path / "c.json"
        path.write_text("[" * 100_000 + "]" * 100_000)

        with pytest.raises(principals.CredentialsError, match="nested"):
            principals.load(path)

    def test_unreadable_and_malformed_files(self, tmp_path: Path) -> None:
        """A missing file and a non-JSON file each get one clear line."""
        broken = tmp_path / "broken.json"
        broken.write_text("{not json")

        with pytest.raises(principals.CredentialsError, match="cannot read"):
            principals.load(tmp_path / "missing.json")
        with pytest.raises(principals.CredentialsError, match="not valid"):
            principals.load(broken)

    def test_the_repr_hides_the_secret(self) -> None:
        """A principal printed or logged by accident shows no secret."""
        principal = principals.Principal("adder", "service", SECRET)

        assert SECRET not in repr(principal)


class TestAuthenticator:
    def test_known_authid_gets_its_secret_and_role(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """crossbar gets the secret to check the signature with."""
        path = write(
            tmp_path / "c.json",
            {"adder": {"role": "service", "secret": SECRET}},
        )
        monkeypatch.setenv(principals.CREDENTIALS_VARIABLE, str(path))
        authenticate = router_auth.create_authenticator({}, None)

        assert {"secret": SECRET, "role": "service"} == authenticate(
            "realm1", "adder", {}
        )

    def test_unknown_authid_gets_a_secret_nobody_knows(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An unknown authid fails like a wrong secret: no name probing."""
        path = write(
            tmp_path / "c.json",
            {"adder": {"role": "service", "secret": SECRET}},
        )
        monkeypatch.setenv(principals.CREDENTIALS_VARIABLE, str(path))
        authenticate = router_auth.create_authenticator({}, None)

        first = authenticate("realm1", "mallory", {})
        second = authenticate("realm1", "mallory", {})

        assert SECRET not in (first["secret"], second["secret"])
        assert first["secret"] != second["secret"]

    def test_a_broken_file_tells_the_client_nothing(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The client learns no path, entry or value from a broken file."""
        path = write(
            tmp_path / "c.json", {"adder": {"role": SECRET, "secret": "x"}}
        )
        monkeypatch.setenv(principals.CREDENTIALS_VARIABLE, str(path))
        authenticate = router_auth.create_authenticator({}, None)

        with pytest.raises(Exception, match="cannot check credentials") as e:
            authenticate("realm1", "adder", {})
        assert str(path) not in str(e.value)
        assert SECRET not in str(e.value)

    def test_the_file_is_read_at_each_login(
        self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A principal added to the file can log in without a restart."""
        path = write(
            tmp_path / "c.json",
            {"adder": {"role": "service", "secret": SECRET}},
        )
        monkeypatch.setenv(principals.CREDENTIALS_VARIABLE, str(path))
        authenticate = router_auth.create_authenticator({}, None)
        write(path, {"clock": {"role": "service", "secret": SECRET}})

        assert "service" == authenticate("realm1", "clock", {})["role"]


class TestFindSecret:
    def test_nothing_means_anonymous(self) -> None:
        """With no argument and no variable there is no secret."""
        assert credentials.find_secret(environ={}) is None

    def test_the_argument_comes_first(self) -> None:
        """An explicit secret wins over the environment."""
        env = {credentials.SECRET_VARIABLE: "from-env"}

        assert "given" == credentials.find_secret("given", environ=env)

    def test_a_file_beats_the_variable(self, tmp_path: Path) -> None:
        """SIMPLEPYMS_SECRET_FILE is read before SIMPLEPYMS_SECRET."""
        path = tmp_path / "secret"
        path.write_text("from-file\n")
        env = {
            credentials.SECRET_FILE_VARIABLE: str(path),
            credentials.SECRET_VARIABLE: "from-env",
        }

        assert "from-file" == credentials.find_secret(environ=env)

    def test_the_variable_alone(self) -> None:
        """SIMPLEPYMS_SECRET is used when no file is named."""
        env = {credentials.SECRET_VARIABLE: "from-env"}

        assert "from-env" == credentials.find_secret(environ=env)

    @pytest.mark.parametrize(
        ("kwargs", "complaint"),
        [
            ({"secret": "a", "secret_file": "b"}, "not both"),
            ({"secret": "  "}, "secret is empty"),
            ({"secret_file": "/nonexistent/secret"}, "cannot read secret"),
        ],
    )
    def test_bad_secrets(self, kwargs: dict[str, Any], complaint: str) -> None:
        """Each unusable secret is one clear ValueError."""
        with pytest.raises(ValueError, match=complaint):
            credentials.find_secret(environ={}, **kwargs)

    def test_an_empty_file_is_refused(self, tmp_path: Path) -> None:
        """A file holding only a newline is no secret."""
        path = tmp_path / "secret"
        path.write_text("\n")

        with pytest.raises(ValueError, match="is empty"):
            credentials.find_secret(secret_file=path, environ={})


class TestSessionIndex:
    def test_a_session_that_left_names_its_instances(self) -> None:
        """Every instance heard on the session is returned once."""
        index = SessionIndex()
        index.heard(1, ("adder", "a1"))
        index.heard(1, ("adder", "a2"))
        index.heard(2, ("clock", "c1"))

        assert [("adder", "a1"), ("adder", "a2")] == index.left(1)
        assert [] == index.left(1)
        assert 1 == len(index)

    def test_an_instance_that_moved_session_is_not_lost_with_the_old(
        self,
    ) -> None:
        """After a reconnect, the old session's end is not the instance's."""
        index = SessionIndex()
        index.heard(1, ("adder", "a1"))
        index.heard(2, ("adder", "a1"))

        assert [] == index.left(1)
        assert [("adder", "a1")] == index.left(2)


def published_by(authid: str | None, session: int = 11) -> Any:
    """Return what autobahn's EventDetails tell of the publisher."""
    return SimpleNamespace(publisher=session, publisher_authid=authid)


class _Session:
    def __init__(self) -> None:
        self.topics: list[str] = []

    def subscribe(self, handler: object, topic: str, **_: object) -> Any:
        self.topics.append(topic)
        return defer.succeed(None)

    def publish(self, *args: object) -> None:
        return None


def join(monitor: Monitor, authmethod: str) -> _Session:
    """Join *monitor* to a fake session, authenticated by *authmethod*."""
    session = _Session()
    details = SessionDetails(
        realm="realm1", authid="monitor", authmethod=authmethod
    )
    defer.ensureDeferred(monitor._on_join(session, details))
    return session


def up(registry: CollectorRegistry, instance: str = "a1") -> float | None:
    """Return simplepyms_service_up for adder/*instance*."""
    return value(
        registry,
        "simplepyms_service_up",
        service="adder",
        service_instance=instance,
    )


class TestSpoofing:
    def test_a_heartbeat_under_another_name_is_refused(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """mallory's heartbeat as adder is counted as spoofed, not tracked."""
        join(monitor, "wampcra")

        with capture_logs() as logs:
            monitor.on_heartbeat(payload(), details=published_by("mallory"))

        assert up(registry) is None
        assert 1 == value(
            registry,
            "simplepyms_heartbeats_rejected_total",
            reason="spoofed",
        )
        assert ["spoofed"] == [e.get("reason") for e in logs]
        assert "mallory" in logs[0]["detail"]

    def test_an_undisclosed_publisher_is_refused(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """With authentication on, a heartbeat of unknown origin is spoofed."""
        join(monitor, "wampcra")

        monitor.on_heartbeat(payload())

        assert up(registry) is None

    def test_the_true_publisher_is_tracked(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """adder's own heartbeat is accepted."""
        join(monitor, "wampcra")

        monitor.on_heartbeat(payload(), details=published_by("adder"))

        assert 1 == up(registry)

    def test_a_spoofed_goodbye_changes_nothing(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """mallory cannot stop adder on the Monitor's page."""
        join(monitor, "wampcra")
        monitor.on_heartbeat(payload(), details=published_by("adder"))

        monitor.on_goodbye(goodbye(), details=published_by("mallory"))

        assert 1 == up(registry)
        assert 1 == value(
            registry, "simplepyms_goodbyes_rejected_total", reason="spoofed"
        )

    def test_anonymous_routers_are_not_checked(
        self, monitor: Monitor, registry: CollectorRegistry
    ) -> None:
        """On the demo router, nobody's identity is known: all count."""
        join(monitor, "anonymous")

        monitor.on_heartbeat(payload())

        assert 1 == up(registry)

    def test_secure_monitor_listens_for_session_ends_not_testaments(
        self, monitor: Monitor
    ) -> None:
        """Authenticated, it hears wamp.session.on_leave instead of lost."""
        secure = join(monitor, "wampcra").topics

        assert "wamp.session.on_leave" in secure
        assert "py.ms.lost" not in secure


class TestSessionLeft:
    def test_a_dead_session_downs_its_instance(
        self,
        monitor: Monitor,
        fleet: Fleet,
        clock: Clock,
        registry: CollectorRegistry,
    ) -> None:
        """The router's on_leave for adder's session is a crash."""
        join(monitor, "wampcra")
        monitor.on_heartbeat(payload(), details=published_by("adder", 11))

        monitor.on_session_left(11)
        clock.advance(LOST_HOLD_SECONDS)

        inst = fleet.get("adder", "a1")
        assert inst is not None
        assert State.DOWN is fleet.state(inst, clock.seconds())
        assert 0 == up(registry)

    def test_another_session_ending_changes_nothing(
        self, monitor: Monitor, clock: Clock, registry: CollectorRegistry
    ) -> None:
        """Only the session adder heartbeat on counts for adder."""
        join(monitor, "wampcra")
        monitor.on_heartbeat(payload(), details=published_by("adder", 11))

        monitor.on_session_left(12)
        monitor.on_session_left("11")
        clock.advance(LOST_HOLD_SECONDS)

        assert 1 == up(registry)
