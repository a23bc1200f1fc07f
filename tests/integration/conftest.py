"""Fixtures that start a real crossbar router, Monitor and services."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.processes import (
    HERE,
    PYTHON,
    Process,
    free_port,
    simplepyms,
)

#: Short enough that a silent instance is down in 1.5 s.
INTERVAL = "0.5"
REALM = "realm1"

_names = itertools.count(1)


class Router:
    """The crossbar router the suite shares."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.port = port
        self.url = f"ws://127.0.0.1:{port}/ws"


class Monitor:
    """A Monitor process and the port its /metrics is on."""

    def __init__(self, process: Process, port: int) -> None:
        self.process = process
        self.port = port


@pytest.fixture(scope="session")
def log_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for every child process's log."""
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def router(log_dir: Path) -> Iterator[Router]:
    """A crossbar router started with ``simplepyms router``."""
    port = free_port()
    process = Process(
        simplepyms("router", "--port", str(port)), log_dir, "router"
    )
    process.wait_for("router_ready", timeout=90)
    yield Router(process, port)
    assert process.stop(timeout=20) == 0, process.text()


def run_monitor(
    router: Router,
    log_dir: Path,
    name: str,
    port: int | None = None,
    state_file: Path | None = None,
) -> Monitor:
    """Start a Monitor and wait until it has joined the router."""
    port = port or free_port()
    process = Process(
        simplepyms(
            "monitor",
            "--router-url",
            router.url,
            "--listen",
            f"127.0.0.1:{port}",
            "--state-file",
            str(state_file or log_dir / f"{name}.sqlite"),
        ),
        log_dir,
        name,
    )
    process.wait_for("router_connected")
    return Monitor(process, port)


@pytest.fixture(scope="session")
def monitor(router: Router, log_dir: Path) -> Iterator[Monitor]:
    """A Monitor that the suite shares."""
    running = run_monitor(router, log_dir, "monitor")
    yield running
    assert running.process.stop() == 0, running.process.text()


@pytest.fixture
def start_monitor(
    router: Router, log_dir: Path
) -> Iterator[Callable[..., Monitor]]:
    """Start a Monitor of the test's own; stopped at the end."""
    started: list[Monitor] = []

    def start(
        port: int | None = None, state_file: Path | None = None
    ) -> Monitor:
        running = run_monitor(
            router, log_dir, f"monitor-{next(_names)}", port, state_file
        )
        started.append(running)
        return running

    yield start
    for running in started:
        running.process.stop()


@pytest.fixture
def start_service(
    router: Router, log_dir: Path
) -> Iterator[Callable[..., Process]]:
    """Start services; every one still running is stopped at the end.

    ``start_service()`` runs the toy service under a fresh name;
    ``start_service(argv=[...], name=...)`` runs any command.
    """
    started: list[Process] = []

    def start(
        argv: list[str] | None = None,
        name: str | None = None,
        interval: str = INTERVAL,
    ) -> Process:
        name = name or f"toy{next(_names)}"
        command = argv or [PYTHON, str(HERE / "toy_service.py"), name]
        process = Process(
            command,
            log_dir,
            f"{name}-{next(_names)}",
            SIMPLEPYMS_ROUTER_URL=router.url,
            SIMPLEPYMS_REALM=REALM,
            SIMPLEPYMS_HEARTBEAT_INTERVAL=interval,
        )
        process.service = name
        process.instance = process.wait_for("service_joined")[
            "service_instance"
        ]
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()
