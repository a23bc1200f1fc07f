"""The command line as a person uses it: demo, bad input, missing router."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.integration.conftest import Router
from tests.integration.processes import (
    PYTHON,
    Process,
    free_port,
    instances,
    scrape,
    simplepyms,
    value,
    wait_until,
)


def _run(*argv: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def _start_demo(port: int, **env: str) -> subprocess.Popen[str]:
    """Start the demo with its Monitor on *port*, in a session of its own."""
    return subprocess.Popen(
        simplepyms(
            "demo", "--port", str(free_port()), "--listen", f"127.0.0.1:{port}"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
        env={**os.environ, **env},
    )


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port that something already listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield int(sock.getsockname()[1])


class TestDemo:
    def test_demo_serves_both_services_and_stops_cleanly_on_ctrl_c(
        self, tmp_path: Path
    ) -> None:
        """make demo's command: everything up, then Ctrl-C ends it all."""
        port = free_port()
        demo = _start_demo(port, SIMPLEPYMS_HEARTBEAT_INTERVAL="0.5")
        try:

            def both_up() -> bool:
                try:
                    text = scrape(port)
                except OSError:
                    return False
                return all(
                    list(instances(text, name).values()) == [1.0]
                    for name in ("adder", "host")
                )

            wait_until(both_up, timeout=90)
        finally:
            # A terminal's Ctrl-C signals the whole process group.
            os.killpg(demo.pid, signal.SIGINT)
            output, _ = demo.communicate(timeout=60)

        assert 0 == demo.returncode, output
        assert "Traceback" not in output
        assert "[error" not in output
        assert "[warning" not in output
        assert f"metrics_url=http://127.0.0.1:{port}/metrics" in output
        assert len(output.splitlines()) < 20, output

    def test_a_part_that_dies_ends_the_demo_with_its_name(self) -> None:
        """A killed service is not a Ctrl-C: the demo names it, exits 1."""
        port = free_port()
        demo = _start_demo(port)
        try:

            def adder() -> psutil.Process | None:
                try:
                    text = scrape(port)
                except OSError:
                    return None
                if list(instances(text, "adder").values()) != [1.0]:
                    return None
                for child in psutil.Process(demo.pid).children():
                    if "simplepyms.example" in child.cmdline():
                        return child
                return None

            wait_until(adder, timeout=90).kill()
            output, _ = demo.communicate(timeout=60)
        finally:
            if demo.poll() is None:
                os.killpg(demo.pid, signal.SIGINT)
                demo.communicate(timeout=60)

        assert 1 == demo.returncode, output
        assert "part=adder" in output
        assert "Traceback" not in output
        with pytest.raises(ProcessLookupError):
            os.killpg(demo.pid, 0)


class TestBadInput:
    @pytest.mark.parametrize(
        ("argv", "complaint"),
        [
            (["monitor", "--listen", "nowhere"], "listen address"),
            (["monitor", "--router-url", "http://x"], "router URL"),
            (["monitor", "--retention", "-5"], "positive number"),
            (["monitor", "--timeout-factor", "abc"], "positive number"),
            (["monitor", "--retention", "30"], "shorter than"),
            (
                ["monitor", "--state-file", "/dev/null/monitor.sqlite"],
                "cannot use state file",
            ),
            (["router", "--port", "70000"], "port must be"),
            (["stop"], "service"),
            (["stop", "bad.name"], "service name"),
            (["no-such-command"], "invalid choice"),
        ],
    )
    def test_bad_arguments_give_one_line_and_status_2(
        self, argv: list[str], complaint: str
    ) -> None:
        """A bad option is one line on stderr, status 2, no traceback."""
        done = _run(*simplepyms(*argv))

        assert 2 == done.returncode
        assert "" == done.stdout
        assert 1 == len(done.stderr.splitlines()), done.stderr
        assert complaint in done.stderr

    def test_bad_environment_variable_is_reported_like_an_option(
        self,
    ) -> None:
        """An option set by the environment is checked the same way."""
        done = subprocess.run(
            simplepyms("monitor"),
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
            env={**os.environ, "SIMPLEPYMS_LISTEN": "bad"},
        )

        assert 2 == done.returncode
        assert ["listen address"] == [
            word for word in ["listen address"] if word in done.stderr
        ]
        assert 1 == len(done.stderr.splitlines())

    def test_demo_on_a_busy_listen_port_says_so_in_one_line(
        self, busy_port: int
    ) -> None:
        """The demo does not take another server for its Monitor."""
        done = _run(
            *simplepyms(
                "demo",
                "--port",
                str(free_port()),
                "--listen",
                f"127.0.0.1:{busy_port}",
            )
        )

        assert 2 == done.returncode
        output = (done.stdout + done.stderr).strip().splitlines()
        assert 1 == len(output), output
        assert f"port {busy_port} on 127.0.0.1 is in use already" in output[0]
        assert "--listen" in output[0]

    def test_monitor_on_a_busy_port_says_so_in_one_line(
        self, busy_port: int
    ) -> None:
        """A taken listen port is one clear line and status 2."""
        done = _run(
            *simplepyms(
                "monitor",
                "--listen",
                f"127.0.0.1:{busy_port}",
                "--router-url",
                f"ws://127.0.0.1:{free_port()}/ws",
            )
        )

        assert 2 == done.returncode
        assert 1 == len(done.stderr.strip().splitlines()), done.stderr
        assert f"cannot listen on 127.0.0.1:{busy_port}" in done.stderr

    def test_router_with_a_bad_credentials_file_says_so_in_one_line(
        self, tmp_path: Path
    ) -> None:
        """The secure router checks its credentials before it starts."""
        broken = tmp_path / "credentials.json"
        broken.write_text('{"adder": {"role": "service", "secret": "short"}}')

        done = _run(
            *simplepyms(
                "router",
                "--port",
                str(free_port()),
                "--credentials",
                str(broken),
            )
        )

        assert 2 == done.returncode
        assert [
            f"simplepyms router: error: credentials file {broken}, entry"
            " 'adder': secret must be a string of at least 16 characters"
        ] == done.stderr.strip().splitlines()

    def test_router_on_a_busy_port_says_so_in_one_line(
        self, busy_port: int
    ) -> None:
        """crossbar failing to bind ends in one error line, not a hang."""
        done = _run(
            *simplepyms("router", "--port", str(busy_port)), timeout=120
        )

        assert 2 == done.returncode
        errors = [
            line
            for line in done.stderr.splitlines()
            if line.startswith("simplepyms router: error:")
        ]
        assert 1 == len(errors), done.stderr
        assert f"port {busy_port}" in errors[0]
        assert "in use already" in errors[0]
        assert "Traceback" not in done.stderr

    def test_stop_without_a_router_says_so_in_one_line(self) -> None:
        """stop with nobody listening is one line and a non-zero status."""
        url = f"ws://127.0.0.1:{free_port()}/ws"

        done = _run(*simplepyms("stop", "adder", "--router-url", url))

        assert 2 == done.returncode
        assert 1 == len(done.stderr.splitlines()), done.stderr
        assert f"cannot reach the router at {url}" in done.stderr

    def test_stop_of_an_unknown_service_names_the_reason(
        self, router: Router
    ) -> None:
        """Stopping a service nobody runs says that no instance runs."""
        done = _run(
            *simplepyms("stop", "nobody-here", "--router-url", router.url)
        )

        assert 2 == done.returncode
        assert "no instance of nobody-here is running" in done.stderr

    def test_host_exporter_rejects_a_missing_disk_path(self) -> None:
        """The host exporter checks --disk-path before it connects."""
        done = _run(
            PYTHON,
            "-m",
            "simplepyms.exporters.host",
            "--disk-path",
            "/no/such/dir",
        )

        assert 2 == done.returncode
        assert 1 == len(done.stderr.splitlines()), done.stderr
        assert "/no/such/dir" in done.stderr


class TestRouterAway:
    def test_monitor_without_router_serves_and_says_disconnected(
        self, tmp_path: Path
    ) -> None:
        """With no router the Monitor keeps serving, connected 0, retrying."""
        port = free_port()
        monitor = Process(
            simplepyms(
                "monitor",
                "--listen",
                f"127.0.0.1:{port}",
                "--router-url",
                f"ws://127.0.0.1:{free_port()}/ws",
            ),
            tmp_path,
            "lonely-monitor",
        )
        try:
            monitor.wait_for("monitor_listening")
            text = wait_until(lambda: scrape(port))
            assert 0 == value(text, "simplepyms_monitor_router_connected")
            monitor.wait_for("router_unreachable")
        finally:
            assert 0 == monitor.stop()
        unreachable = [
            e for e in monitor.events() if e["event"] == "router_unreachable"
        ]
        assert 1 == len(unreachable)
