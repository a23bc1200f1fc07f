"""Loopback servers for the benchmarks: started on free ports, stopped by PID.

Every child is started through :class:`Children`, which stops each one it
started, newest first, when its ``with`` block ends: normally, on an
error, on Ctrl-C, or on SIGTERM.  Children are also asked by the kernel
to end if this process dies without cleaning up.
"""

from __future__ import annotations

import contextlib
import ctypes
import gzip
import json
import os
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any

import psutil

PYTHON = sys.executable
HERE = Path(__file__).parent
LOOPBACK = "127.0.0.1"
REALM = "realm1"
#: Every serializer the shipped router offers.
SERIALIZERS = ("cbor", "msgpack", "json")
_PR_SET_PDEATHSIG = 1
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class BenchError(RuntimeError):
    """A server the benchmark needs did not start or answer."""


def free_port() -> int:
    """Return a TCP port on the loopback address that is free just now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def wait_until(
    check: Callable[[], Any], timeout: float, every: float = 0.05
) -> Any:
    """Poll *check* until it returns something truthy; return that.

    Raises:
        BenchError: if *check* is still falsy after *timeout* seconds.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise BenchError(f"not true within {timeout} s: {check}")
        time.sleep(every)


def _die_with_parent() -> None:
    # Linux only: the kernel sends SIGTERM when this process dies.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


class Child:
    """One child process; its stderr (and stdout, unless piped) in a log.

    Args:
        argv: the command line.
        log_dir: where ``NAME.log`` is written.
        name: names the log file and the child in messages.
        piped: talk to the child on stdin and stdout, one line at a time.
        env: variables added to this process's environment.
    """

    def __init__(
        self,
        argv: list[str],
        log_dir: Path,
        name: str,
        *,
        piped: bool = False,
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        environment = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "SIMPLEPYMS_LOG_FORMAT": "json",
            **(env or {}),
        }
        self.popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if piped else subprocess.DEVNULL,
            stdout=subprocess.PIPE if piped else self._log,
            stderr=self._log,
            env=environment,
            # Ctrl-C reaches only us; we stop the children in order.
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads yet
        )
        self._buffer = b""

    @property
    def pid(self) -> int:
        """The child's process id."""
        return self.popen.pid

    def alive(self) -> bool:
        """Tell whether the child still runs."""
        return self.popen.poll() is None

    def text(self) -> str:
        """Everything the child has logged so far."""
        return self.log_path.read_text(errors="replace")

    def wait_for(self, event: str, timeout: float = 60.0) -> dict[str, Any]:
        """Wait until the child logs the JSON event *event*; return it.

        Raises:
            BenchError: if the child exits first, or after *timeout*.
        """

        def logged() -> dict[str, Any] | None:
            for line in self.text().splitlines():
                with contextlib.suppress(ValueError):
                    found = json.loads(line)
                    if isinstance(found, dict) and found.get("event") == event:
                        return found
            if not self.alive():
                raise BenchError(
                    f"{self.name} exited ({self.popen.returncode}) before"
                    f" {event}; see {self.log_path}"
                )
            return None

        result: dict[str, Any] = wait_until(logged, timeout)
        return result

    def send(self, line: str) -> None:
        """Write one command line to the child's stdin."""
        stdin = self.popen.stdin
        if stdin is None:
            raise BenchError(f"{self.name} was not started piped")
        stdin.write(line.encode() + b"\n")
        stdin.flush()

    def expect(self, word: str, timeout: float = 30.0) -> list[str]:
        """Read the child's stdout until a line starting with *word*.

        Returns the words after *word* on that line.

        Raises:
            BenchError: if the child exits first, or after *timeout*.
        """
        stdout = self.popen.stdout
        if stdout is None:
            raise BenchError(f"{self.name} was not started piped")
        deadline = time.monotonic() + timeout
        while True:
            line, newline, rest = self._buffer.partition(b"\n")
            if newline:
                self._buffer = rest
                words = line.decode().split()
                if words and words[0] == word:
                    return words[1:]
                continue
            left = deadline - time.monotonic()
            readable, _, _ = select.select([stdout], [], [], max(0.0, left))
            if not readable:
                raise BenchError(
                    f"{self.name} said no {word!r} within {timeout} s;"
                    f" see {self.log_path}"
                )
            chunk = os.read(stdout.fileno(), 65536)
            if not chunk:
                raise BenchError(
                    f"{self.name} exited before {word!r}; see {self.log_path}"
                )
            self._buffer += chunk

    def cpu_seconds(self) -> float:
        """CPU time used so far by the child and all its descendants."""
        try:
            root = psutil.Process(self.pid)
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            return 0.0
        total = 0.0
        for process in tree:
            with contextlib.suppress(psutil.Error):
                times = process.cpu_times()
                total += times.user + times.system
        return total

    def signal(self, number: int) -> None:
        """Send signal *number* to the child, if it still runs."""
        if self.alive():
            self.popen.send_signal(number)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM the child (SIGKILL after *timeout*); return its status."""
        if self.alive():
            self.popen.send_signal(signal.SIGCONT)  # in case it was stopped
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        for stream in (self.popen.stdin, self.popen.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        self._log.close()
        return self.popen.returncode


class Children:
    """Start children, and stop every one of them at the end of a block.

    Args:
        keep_logs: keep the log folder afterwards (its path is printed).
    """

    def __init__(self, *, keep_logs: bool = False) -> None:
        self.log_dir = Path(tempfile.mkdtemp(prefix="simplepyms-bench-"))
        self._keep_logs = keep_logs
        self._started: list[Child] = []
        self._previous: Any = None

    def __enter__(self) -> Children:
        self._previous = signal.signal(signal.SIGTERM, _interrupt)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop_all()
        signal.signal(signal.SIGTERM, self._previous)
        if kind is not None or self._keep_logs:
            print(f"logs kept in {self.log_dir}")
        else:
            shutil.rmtree(self.log_dir, ignore_errors=True)

    def start(self, argv: list[str], name: str, **options: Any) -> Child:
        """Start a child; it is stopped when the block ends."""
        child = Child(argv, self.log_dir, self.fresh(name), **options)
        self._started.append(child)
        return child

    def fresh(self, name: str) -> str:
        """Return *name*, or *name-N*, that no log or folder has yet."""
        taken = {path.stem for path in self.log_dir.iterdir()}
        number = 1
        found = name
        while found in taken:
            number += 1
            found = f"{name}-{number}"
        return found

    def stop(self, child: Child) -> int:
        """Stop one child now; return its exit status."""
        if child in self._started:
            self._started.remove(child)
        return child.stop()

    def stop_all(self) -> None:
        """Stop every child still running, newest first."""
        while self._started:
            self._started.pop().stop()


def _interrupt(number: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


class Router:
    """A crossbar router on a free loopback port."""

    def __init__(self, child: Child, port: int, serializer: str) -> None:
        self.child = child
        self.port = port
        self.serializer = serializer
        self.url = f"ws://{LOOPBACK}:{port}/ws"


def start_router(children: Children, serializer: str = "default") -> Router:
    """Start the router; *serializer* narrows what it offers to that one.

    ``default`` runs ``simplepyms router``, which offers every serializer
    in :data:`SERIALIZERS`; any other name runs crossbar itself with the
    shipped configuration, offering only that serializer.
    """
    port = free_port()
    if serializer == "default":
        child = children.start(
            [PYTHON, "-m", "simplepyms", "router", "--port", str(port)],
            "router",
        )
        child.wait_for("router_ready", timeout=120)
        return Router(child, port, serializer)

    from simplepyms.router import (
        RouterConfig,
        crossbar_command,
        crossbar_executable,
        shipped_config,
    )

    config = shipped_config(RouterConfig(host=LOOPBACK, port=port))
    paths = config["workers"][0]["transports"][0]["paths"]
    paths["ws"]["serializers"] = [serializer]
    cbdir = children.log_dir / children.fresh("crossbar")
    cbdir.mkdir()
    (cbdir / "config.json").write_text(json.dumps(config, indent=2))
    child = children.start(
        crossbar_command(crossbar_executable(), cbdir),
        "router",
        env={"PYTHONWARNINGS": "ignore"},
    )
    wait_until(lambda: _accepts(port) or _exited(child), timeout=120)
    return Router(child, port, serializer)


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex((LOOPBACK, port)) == 0


def _exited(child: Child) -> bool:
    if not child.alive():
        raise BenchError(f"the router exited; see {child.log_path}")
    return False


class MonitorProcess:
    """A ``simplepyms monitor`` process and the port of its /metrics."""

    def __init__(self, child: Child, port: int) -> None:
        self.child = child
        self.port = port

    def scrape(self, timeout: float = 10.0) -> str:
        """Return /metrics, fetched gzipped as Prometheus fetches it."""
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{self.port}/metrics",
            headers={"Accept-Encoding": "gzip"},
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body: bytes = response.read()
            if response.headers.get("Content-Encoding") == "gzip":
                body = gzip.decompress(body)
        return body.decode()


def start_monitor(
    children: Children, router: Router, *extra: str
) -> MonitorProcess:
    """Start a Monitor on *router* and wait until it has joined."""
    port = free_port()
    name = children.fresh("monitor")
    child = children.start(
        [
            PYTHON,
            "-m",
            "simplepyms",
            "monitor",
            "--router-url",
            router.url,
            "--realm",
            REALM,
            "--listen",
            f"{LOOPBACK}:{port}",
            "--state-file",
            str(children.log_dir / f"{name}.sqlite"),
            *extra,
        ],
        name,
    )
    child.wait_for("router_connected", timeout=60)
    return MonitorProcess(child, port)


def sample(text: str, name: str, **labels: str) -> float | None:
    """Return the value of the first sample *name* that has *labels*.

    A plain scan of the exposition lines: parsing the whole text of a
    large fleet would cost the benchmark more than the Monitor spends.
    """
    for line in text.splitlines():
        if not line.startswith(name):
            continue
        rest = line[len(name) :]
        found: dict[str, str] = {}
        if rest.startswith("{"):
            inside, _, rest = rest[1:].partition("} ")
            found = dict(_LABEL.findall(inside))
        elif rest.startswith(" "):
            rest = rest[1:]
        else:
            continue
        if all(found.get(k) == v for k, v in labels.items()):
            return float(rest.split()[0])
    return None
