"""The secure configuration, against a real crossbar: who may do what."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplepyms import protocol
from tests.integration.conftest import INTERVAL, REALM
from tests.integration.processes import (
    HERE,
    PYTHON,
    Process,
    free_port,
    instances,
    scrape,
    simplepyms,
    value,
    wait_until,
)

SERVICE = "vault"


class Secure:
    """A secure router, its credentials and a Monitor logged in to it."""

    def __init__(self, logs: Path, credentials: Path) -> None:
        self.logs = logs
        self.secrets: dict[str, str] = {
            authid: entry["secret"]
            for authid, entry in json.loads(credentials.read_text()).items()
        }
        self.port = free_port()
        self.url = f"ws://127.0.0.1:{self.port}/ws"
        self.router = Process(
            simplepyms(
                "router",
                "--port",
                str(self.port),
                "--credentials",
                str(credentials),
            ),
            logs,
            "secure-router",
        )
        self.router.wait_for("router_ready", timeout=90)
        self.metrics_port = free_port()
        self.monitor = Process(
            self.monitor_argv(self.metrics_port),
            logs,
            "secure-monitor",
            SIMPLEPYMS_SECRET_FILE=str(self.secret_file("monitor")),
        )
        self.monitor.wait_for("router_connected", authenticated=True)

    def monitor_argv(self, port: int) -> list[str]:
        """The command line of a Monitor on this router."""
        return simplepyms(
            "monitor",
            "--router-url",
            self.url,
            "--listen",
            f"127.0.0.1:{port}",
            "--state-file",
            "",
        )

    def secret_file(self, authid: str) -> Path:
        """Return a file holding *authid*'s secret, as an operator keeps it."""
        path = self.logs / f"{authid}.secret"
        path.write_text(self.secrets[authid] + "\n")
        path.chmod(0o600)
        return path

    def client(
        self, authid: str | None, secret: str | None, *argv: str
    ) -> tuple[int, object]:
        """Run wamp_client.py as *authid*; return its status and output."""
        env = {} if secret is None else {"SIMPLEPYMS_SECRET": secret}
        if authid is not None:
            env["SIMPLEPYMS_AUTHID"] = authid
        done = subprocess.run(
            [PYTHON, str(HERE / "wamp_client.py"), self.url, REALM, *argv],
            capture_output=True,
            text=True,
            timeout=30,
            env={**_base_env(), **env},
            check=False,
        )
        (self.logs / f"client-{secrets.token_hex(4)}.log").write_text(
            done.stdout + done.stderr
        )
        lines = done.stdout.strip().splitlines()
        return done.returncode, json.loads(lines[-1]) if lines else None

    def run(
        self, argv: list[str], secret_file: Path, **env: str
    ) -> subprocess.CompletedProcess[str]:
        """Run *argv* to its end with *secret_file* as its secret; log it."""
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=60,
            env={
                **_base_env(),
                "SIMPLEPYMS_SECRET_FILE": str(secret_file),
                **env,
            },
            check=False,
        )
        log = self.logs / f"command-{secrets.token_hex(4)}.log"
        log.write_text(done.stdout + done.stderr)
        return done

    def stop_command(self) -> list[str]:
        """``simplepyms stop vault`` on this router."""
        return simplepyms("stop", SERVICE, "--router-url", self.url)

    def as_(self, authid: str, *argv: str) -> object:
        """Run the client as *authid* with its right secret; return output."""
        status, output = self.client(authid, self.secrets[authid], *argv)
        assert 0 == status, output
        return output

    def service(self, name: str = SERVICE, **env: str) -> Process:
        """Start the toy service *name* with its secret from a file."""
        settings = {
            "SIMPLEPYMS_ROUTER_URL": self.url,
            "SIMPLEPYMS_REALM": REALM,
            "SIMPLEPYMS_HEARTBEAT_INTERVAL": INTERVAL,
            "SIMPLEPYMS_SECRET_FILE": str(self.secret_file(name)),
            **env,
        }
        process = Process(
            [PYTHON, str(HERE / "toy_service.py"), name],
            self.logs,
            f"{name}-{secrets.token_hex(4)}",
            **settings,
        )
        process.service = name
        return process

    def page(self) -> str:
        """The Monitor's /metrics."""
        return scrape(self.metrics_port)

    def stop(self) -> None:
        """Stop the Monitor and the router."""
        assert 0 == self.monitor.stop(), self.monitor.text()
        assert 0 == self.router.stop(timeout=20), self.router.text()


def _base_env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "PYTHONPATH", "VIRTUAL_ENV"}
    return {k: v for k, v in os.environ.items() if k in keep}


@pytest.fixture(scope="module")
def secure_logs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every log this module's processes write: checked for secrets."""
    return tmp_path_factory.mktemp("secure-logs")


@pytest.fixture(scope="module")
def secure(
    secure_logs: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Secure]:
    """A secure router with principals, and a Monitor logged in."""
    folder = tmp_path_factory.mktemp("secure-config")
    credentials = folder / "credentials.json"
    credentials.write_text(
        json.dumps(
            {
                authid: {"role": role, "secret": secrets.token_urlsafe(24)}
                for authid, role in (
                    ("monitor", "monitor"),
                    ("admin", "admin"),
                    (SERVICE, "service"),
                    ("mallory", "service"),
                )
            }
        )
    )
    credentials.chmod(0o600)
    running = Secure(secure_logs, credentials)
    yield running
    running.stop()


@pytest.fixture
def vault(secure: Secure) -> Iterator[Process]:
    """The vault service, up on the Monitor's page."""
    process = secure.service()
    process.instance = process.wait_for("service_joined")["service_instance"]
    wait_until(lambda: instances(secure.page(), SERVICE).get(process.instance))
    yield process
    process.stop()


class TestLogin:
    def test_anonymous_is_refused(self, secure: Secure) -> None:
        """A session without credentials cannot join."""
        status, output = secure.client(None, None, "call", "py.ms.x", "[]")

        assert 3 == status
        assert isinstance(output, dict)
        assert output["error"] in (
            "wamp.error.no_auth_method",
            "wamp.error.not_authorized",
        )

    def test_a_wrong_secret_is_refused(self, secure: Secure) -> None:
        """The right authid with the wrong secret cannot join."""
        status, output = secure.client(
            "admin", "not-the-secret-at-all", "call", "py.ms.x", "[]"
        )

        assert 3 == status
        assert {"error": "wamp.error.not_authorized"} == output

    def test_a_service_with_a_wrong_secret_exits_with_one_line(
        self, secure: Secure
    ) -> None:
        """mk_component gives up at once: one error line, status 2."""
        wrong = secure.logs / "wrong.secret"
        wrong.write_text("this-is-not-the-vault-secret\n")
        process = secure.service(SIMPLEPYMS_SECRET_FILE=str(wrong))

        assert 2 == process.popen.wait(timeout=30)
        errors = [
            e
            for e in process.events()
            if e.get("level") in ("error", "warning")
        ]
        assert ["router_refused"] == [e["event"] for e in errors]
        assert "Traceback" not in process.text()

    def test_a_monitor_with_a_wrong_secret_exits_with_one_line(
        self, secure: Secure
    ) -> None:
        """The Monitor refused by the router says so and exits 2."""
        wrong = secure.logs / "wrong-monitor.secret"
        wrong.write_text("this-is-not-the-monitor-secret\n")
        done = secure.run(
            secure.monitor_argv(free_port()),
            wrong,
            SIMPLEPYMS_LOG_FORMAT="json",
        )

        assert 2 == done.returncode
        assert "refused the Monitor: wamp.error.not_authorized" in done.stderr
        assert "Traceback" not in done.stderr

    def test_an_unreadable_secret_file_is_one_line(
        self, secure: Secure, tmp_path: Path
    ) -> None:
        """A secret file that is not there: one line, status 2."""
        done = secure.run(secure.stop_command(), tmp_path / "missing")

        assert 2 == done.returncode
        assert 1 == len(done.stderr.strip().splitlines())
        assert "cannot read secret file" in done.stderr

    def test_stop_with_a_wrong_secret_is_one_line(
        self, secure: Secure, tmp_path: Path
    ) -> None:
        """The operator with a wrong secret hears that the router refused."""
        wrong = tmp_path / "wrong.secret"
        wrong.write_text("this-is-not-the-admin-secret\n")
        done = secure.run(secure.stop_command(), wrong)

        assert 2 == done.returncode
        assert [
            f"simplepyms stop: error: the router at {secure.url} refused the"
            " session: wamp.error.not_authorized (check --realm, --authid"
            " and the secret)"
        ] == done.stderr.strip().splitlines()

    def test_a_monitor_under_the_admin_identity_is_told(
        self, secure: Secure
    ) -> None:
        """A Monitor that may not hear heartbeats exits 2 and says why."""
        done = secure.run(
            [*secure.monitor_argv(free_port()), "--authid", "admin"],
            secure.secret_file("admin"),
        )

        assert 2 == done.returncode
        assert "does not let 'admin' hear heartbeats" in done.stderr
        assert "Traceback" not in done.stderr


class TestRoles:
    def test_a_refused_registration_is_logged_at_once(
        self, secure: Secure
    ) -> None:
        """py.ms.add is not under vault's name: register_failed, still up."""
        process = secure.service(TOY_EXTRA_PROCEDURE="py.ms.add")
        try:
            failed = process.wait_for("register_failed")
            joined = process.wait_for("service_joined")

            assert ("py.ms.add", "wamp.error.not_authorized") == (
                failed["procedure"],
                failed["error"],
            )
            wait_until(
                lambda: instances(secure.page(), SERVICE).get(
                    joined["service_instance"]
                )
            )
        finally:
            process.stop()

    def test_a_service_cannot_register_under_another_name(
        self, secure: Secure, vault: Process
    ) -> None:
        """mallory may not offer py.ms.vault.* nor py.ms.vault.stop."""
        for uri in ("py.ms.vault.steal", protocol.stop_uri(SERVICE)):
            assert {"error": "wamp.error.not_authorized"} == secure.as_(
                "mallory", "register", uri, "[]"
            )
        assert "ok" == secure.as_(
            "mallory", "register", "py.ms.mallory.work", "[]"
        )

    def test_a_service_cannot_stop_another(
        self, secure: Secure, vault: Process
    ) -> None:
        """mallory's call of py.ms.vault.stop is refused; vault runs on."""
        for uri in (protocol.stop_uri(SERVICE), protocol.restart_uri(SERVICE)):
            assert {"error": "wamp.error.not_authorized"} == secure.as_(
                "mallory", "call", uri, "[]"
            )

        assert vault.popen.poll() is None
        assert 1 == instances(secure.page(), SERVICE)[vault.instance]

    def test_stop_as_a_service_names_the_rule(
        self, secure: Secure, vault: Process
    ) -> None:
        """``simplepyms stop`` with a service's secret says only admins may."""
        done = secure.run(
            [*secure.stop_command(), "--authid", "mallory"],
            secure.secret_file("mallory"),
        )

        assert 2 == done.returncode
        assert "only the admin role may" in done.stderr
        assert vault.popen.poll() is None

    def test_a_service_may_call_another_services_procedure(
        self, secure: Secure, vault: Process
    ) -> None:
        """Services still talk to each other."""
        assert 3 == secure.as_("mallory", "call", "py.ms.vault.work", "[3]")

    def test_only_the_monitor_hears_heartbeats(self, secure: Secure) -> None:
        """Neither a service nor the admin may hear heartbeats, goodbyes
        or crossbar's session events, which the Monitor reads."""
        for authid in ("mallory", "admin"):
            for topic in (
                protocol.HEARTBEAT_TOPIC,
                protocol.GOODBYE_TOPIC,
                "wamp.session.on_leave",
            ):
                assert {"error": "wamp.error.not_authorized"} == secure.as_(
                    authid, "subscribe", topic, "[]"
                )

    def test_the_admin_stops_a_service(
        self, secure: Secure, vault: Process
    ) -> None:
        """``simplepyms stop`` as admin works; the service exits 0."""
        done = secure.run(secure.stop_command(), secure.secret_file("admin"))

        assert 0 == done.returncode, done.stderr
        assert "ok" == json.loads(done.stdout)["stop"]
        assert 0 == vault.popen.wait(timeout=15)
        wait_until(
            lambda: value(
                secure.page(),
                "simplepyms_service_state",
                service=SERVICE,
                service_instance=vault.instance,
                state="stopped",
            )
        )


class TestSpoofing:
    def test_a_heartbeat_under_another_name_is_rejected(
        self, secure: Secure, vault: Process
    ) -> None:
        """mallory's forged vault heartbeat is counted and changes nothing."""
        before = value(
            secure.page(),
            "simplepyms_heartbeats_rejected_total",
            reason="spoofed",
        )
        forged = protocol.build_heartbeat(
            service=SERVICE,
            instance="forged1",
            seq=1,
            started=time.time(),
            sent=time.time(),
            interval=float(INTERVAL),
            metrics={"toy_queue_depth": 999.0},
        )

        assert "ok" == secure.as_(
            "mallory",
            "publish",
            protocol.HEARTBEAT_TOPIC,
            json.dumps([forged]),
        )

        page = wait_until(
            lambda: (
                (text := secure.page())
                and (before or 0)
                < (
                    value(
                        text,
                        "simplepyms_heartbeats_rejected_total",
                        reason="spoofed",
                    )
                    or 0
                )
                and text
            )
        )
        assert "forged1" not in instances(page, SERVICE)
        assert 1 == instances(page, SERVICE)[vault.instance]
        assert 7 == value(page, "toy_queue_depth", service=SERVICE)

    def test_a_forged_goodbye_does_not_stop_the_service(
        self, secure: Secure, vault: Process
    ) -> None:
        """mallory's goodbye for vault's instance is refused as spoofed."""
        bye = protocol.build_goodbye(
            service=SERVICE, instance=vault.instance, reason="stop"
        )

        assert "ok" == secure.as_(
            "mallory", "publish", protocol.GOODBYE_TOPIC, json.dumps([bye])
        )

        wait_until(
            lambda: value(
                secure.page(),
                "simplepyms_goodbyes_rejected_total",
                reason="spoofed",
            )
        )
        assert 1 == instances(secure.page(), SERVICE)[vault.instance]


class TestEndToEnd:
    def test_a_killed_service_is_down_within_a_second(
        self, secure: Secure, vault: Process
    ) -> None:
        """crossbar's session meta event reaches the Monitor at once."""
        assert 7 == value(secure.page(), "toy_queue_depth", service=SERVICE)

        vault.signal(signal.SIGKILL)
        killed = time.monotonic()
        wait_until(
            lambda: instances(secure.page(), SERVICE).get(vault.instance) == 0,
            timeout=5,
            every=0.02,
        )

        assert time.monotonic() - killed < 1.0


def test_no_secret_reaches_a_log(secure: Secure, secure_logs: Path) -> None:
    """Not one secret appears in what any process of this module wrote."""
    secure.monitor.stop()
    texts = {
        path.name: path.read_text(errors="replace")
        for path in secure_logs.glob("*.log")
    }
    assert len(texts) > 5

    leaked = [
        (name, authid)
        for name, text in texts.items()
        for authid, secret in secure.secrets.items()
        if secret in text
    ]
    assert [] == leaked
