"""Real processes for the end-to-end tests: started, watched, stopped."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

PYTHON = sys.executable
HERE = Path(__file__).parent


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that nothing listens on just now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], Any], timeout: float = 15.0, every: float = 0.05
) -> Any:
    """Poll *check* until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not true within {timeout} s: {check}")
        time.sleep(every)


class Process:
    """A child process whose JSON log lines land in a file."""

    def __init__(
        self, argv: list[str], log_dir: Path, name: str, **env: str
    ) -> None:
        self.name = name
        self.service = name
        self.instance = ""
        self.log_path = log_dir / f"{name}.log"
        environment = {
            **os.environ,
            "SIMPLEPYMS_LOG_FORMAT": "json",
            "PYTHONUNBUFFERED": "1",
            **env,
        }
        self._log_file = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            argv,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=environment,
        )

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def text(self) -> str:
        """Everything the child has written so far."""
        return self.log_path.read_text(errors="replace")

    def events(self) -> list[dict[str, Any]]:
        """The child's structlog events, in order."""
        found = []
        for line in self.text().splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "event" in event:
                found.append(event)
        return found

    def wait_for(
        self, event: str, timeout: float = 30.0, **fields: Any
    ) -> dict[str, Any]:
        """Wait until the child logs *event* with *fields*; return it."""

        def logged() -> dict[str, Any] | None:
            for each in self.events():
                if each["event"] == event and all(
                    each.get(k) == v for k, v in fields.items()
                ):
                    return each
            if self.popen.poll() is not None:
                raise AssertionError(
                    f"{self.name} exited ({self.popen.returncode}) before"
                    f" {event}:\n{self.text()}"
                )
            return None

        result: dict[str, Any] = wait_until(logged, timeout)
        return result

    def signal(self, number: int) -> None:
        """Send signal *number* to the child."""
        self.popen.send_signal(number)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM the child (SIGKILL after *timeout*); return its status."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self._log_file.close()
        return self.popen.returncode


def simplepyms(*args: str) -> list[str]:
    """The command line that runs ``simplepyms ARGS``."""
    return [PYTHON, "-m", "simplepyms", *args]


def scrape(port: int) -> str:
    """Return the Monitor's /metrics text."""
    url = f"http://127.0.0.1:{port}/metrics"
    with urllib.request.urlopen(url, timeout=5) as response:
        return str(response.read().decode())


def samples(text: str) -> Iterator[tuple[str, dict[str, str], float]]:
    """Yield (name, labels, value) for every sample in *text*."""
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            yield sample.name, sample.labels, sample.value


def value(text: str, name: str, **labels: str) -> float | None:
    """Return the value of the one sample *name* with *labels*, if any."""
    for sample_name, sample_labels, number in samples(text):
        if sample_name == name and all(
            sample_labels.get(k) == v for k, v in labels.items()
        ):
            return number
    return None


def instances(text: str, service: str) -> dict[str, float]:
    """Map each instance of *service* to its simplepyms_service_up."""
    return {
        labels["service_instance"]: number
        for name, labels, number in samples(text)
        if name == "simplepyms_service_up" and labels["service"] == service
    }
