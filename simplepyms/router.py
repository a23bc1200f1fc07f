"""Run crossbar, the WAMP router, with the configuration simplepyms ships.

Needs the ``router`` extra (``pip install 'simplepyms[router]'``).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
import tempfile
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import structlog
from autobahn.twisted.wamp import ApplicationSession
from autobahn.twisted.websocket import WampWebSocketClientFactory
from autobahn.wamp.types import ComponentConfig
from twisted.internet import defer, error, protocol
from twisted.internet.endpoints import TCP4ClientEndpoint

from simplepyms import principals
from simplepyms.errors import UsageError
from simplepyms.transport import REFUSALS

log = structlog.get_logger("simplepyms.router")

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 10.0
PROBE_EVERY = 0.25
#: crossbar's own "<time> [Controller  123]" in front of each line.
_CROSSBAR_PREFIX = re.compile(r"^\S+ \[[^\]]*\] ?")


@dataclass(frozen=True)
class RouterConfig:
    """Where the shipped router listens, and which realm it serves."""

    host: str = "127.0.0.1"
    port: int = 8080
    realm: str = "realm1"
    cbdir: Path | None = None
    #: With a credentials file the router runs the secure configuration:
    #: WAMP-CRA for everyone, and :mod:`simplepyms.policy` for roles.
    credentials: Path | None = None

    @property
    def secure(self) -> bool:
        """Whether the router authenticates every session."""
        return self.credentials is not None

    @property
    def url(self) -> str:
        """The WebSocket URL services and the Monitor connect to."""
        return f"ws://{self.host}:{self.port}/ws"


def shipped_config(config: RouterConfig) -> dict[str, Any]:
    """Return the shipped crossbar configuration, set to *config*."""
    name = "secure.json" if config.secure else "demo.json"
    text = resources.files("simplepyms.crossbar").joinpath(name)
    data: dict[str, Any] = json.loads(text.read_text())
    router = data["workers"][0]
    router["realms"][0]["name"] = config.realm
    for component in router.get("components", []):
        component["realm"] = config.realm
    endpoint = router["transports"][0]["endpoint"]
    endpoint["interface"] = config.host
    endpoint["port"] = config.port
    return data


def crossbar_command(executable: str, cbdir: Path) -> list[str]:
    """Return the command line that runs crossbar on *cbdir*/config.json.

    crossbar logs errors only, without colour: simplepyms tells the rest.
    """
    return [
        executable,
        "start",
        "--cbdir",
        str(cbdir),
        "--config",
        "config.json",
        "--loglevel",
        "error",
        "--color",
        "false",
    ]


def crossbar_executable() -> str:
    """Return the path of the ``crossbar`` command.

    Raises:
        UsageError: if crossbar is not installed.
    """
    here = str(Path(sys.executable).parent)
    found = shutil.which("crossbar", path=os.pathsep.join([here, os.defpath]))
    if found is None:
        raise UsageError(
            "crossbar is not installed; install the router extra:"
            " pip install 'simplepyms[router]'"
        )
    return found


class _Output(protocol.ProcessProtocol):
    """Relay crossbar's output as log events, and tell when it ends."""

    def __init__(self) -> None:
        self.ended: defer.Deferred[int | None] = defer.Deferred()
        #: Until crossbar is ready its output is kept, not logged: if it
        #: fails to start, one line of it explains why.
        self.relay = False
        self.kept: list[str] = []
        self._partial = b""

    def outReceived(self, data: bytes) -> None:  # noqa: N802
        self._relay(data)

    def errReceived(self, data: bytes) -> None:  # noqa: N802
        self._relay(data)

    def processEnded(self, reason: Any) -> None:  # noqa: N802
        code = getattr(reason.value, "exitCode", None)
        self.ended.callback(code)

    def _relay(self, data: bytes) -> None:
        *lines, self._partial = (self._partial + data).split(b"\n")
        for line in lines:
            text = _CROSSBAR_PREFIX.sub("", line.decode(errors="replace"))
            text = text.strip()
            if not text:
                continue
            if not self.relay:
                self.kept = [*self.kept[-99:], text]
                log.debug("crossbar_output", line=text)
            elif "SIGTERM" in text or "SIGINT" in text:
                # crossbar says so at every shutdown, whatever its level.
                log.debug("crossbar_output", line=text)
            else:
                log.warning("crossbar_output", line=text)

    def reason(self) -> str:
        """The line of kept output that best says why crossbar failed."""
        for line in self.kept:
            found = line.find("Couldn't listen")
            if found >= 0:
                return line[found:]
        return self.kept[-1] if self.kept else "nothing"


class Crossbar:
    """One crossbar process, started and stopped on a reactor.

    Args:
        reactor: the reactor to spawn and time with.
        config: where it listens and which realm it serves.
    """

    def __init__(self, reactor: Any, config: RouterConfig) -> None:
        self._reactor = reactor
        self.config = config
        self._output = _Output()
        self._process: Any = None
        self._tempdir: str | None = None
        self.stopping = False

    @property
    def ended(self) -> defer.Deferred[int | None]:
        """Fires with crossbar's exit code when the process ends."""
        return self._output.ended

    async def start(self) -> None:
        """Start crossbar and return once it accepts sessions.

        Raises:
            UsageError: if crossbar is missing, exits, or never gets ready.
        """
        executable = crossbar_executable()
        env = {**os.environ, "PYTHONWARNINGS": "ignore"}
        if self.config.credentials is not None:
            # Checked here, so a bad file is one line now rather than a
            # refusal at every login later.
            try:
                principals.load(self.config.credentials)
            except principals.CredentialsError as problem:
                raise UsageError(str(problem)) from None
            where = str(self.config.credentials.resolve())
            env[principals.CREDENTIALS_VARIABLE] = where
        # Else the readiness probe could join whatever router already
        # listens there, and call it ours.
        check_free(self.config.host, self.config.port)
        cbdir = self._cbdir()
        (cbdir / "config.json").write_text(
            json.dumps(shipped_config(self.config), indent=2)
        )
        args = crossbar_command(executable, cbdir)
        self._process = self._reactor.spawnProcess(
            self._output, executable, args, env=env
        )
        await self._wait_ready()
        self._output.relay = True
        if self.stopping:
            return
        log.info("router_ready", url=self.config.url, realm=self.config.realm)

    async def until_failed(self) -> None:
        """Return when crossbar has ended; raise if it failed.

        A clean exit (status 0) is a shutdown someone asked for: a
        Ctrl-C in the terminal reaches crossbar as well as this process.

        Raises:
            SystemExit: with status 1 if crossbar died.
        """
        code = await self.ended
        if self.stopping:
            return
        if code != 0:
            log.error("router_exited", exit_code=code)
            raise SystemExit(1)
        self.stopping = True
        log.info("router_stopped")

    async def stop(self) -> None:
        """Stop crossbar gracefully, or kill it after a grace period."""
        self.stopping = True
        # A Ctrl-C reached crossbar too; what it says about a second
        # signal while it stops is nobody's business.
        self._output.relay = False
        if self._process is not None and not self.ended.called:
            self._signal(signal.SIGTERM)
            killer = self._reactor.callLater(
                STOP_TIMEOUT, self._signal, signal.SIGKILL
            )
            await self.ended
            if killer.active():
                killer.cancel()
            log.info("router_stopped")
        if self._tempdir is not None:
            shutil.rmtree(self._tempdir, ignore_errors=True)
            self._tempdir = None

    def _signal(self, number: int) -> None:
        signal_process(self._process, number)

    def _cbdir(self) -> Path:
        if self.config.cbdir is not None:
            self.config.cbdir.mkdir(parents=True, exist_ok=True)
            return self.config.cbdir
        self._tempdir = tempfile.mkdtemp(prefix="simplepyms-router-")
        return Path(self._tempdir)

    async def _wait_ready(self) -> None:
        deadline = self._reactor.seconds() + READY_TIMEOUT
        while not await probe(self._reactor, self.config):
            if self.stopping:
                return
            if self.ended.called:
                raise UsageError(
                    "crossbar exited before it was ready; is port"
                    f" {self.config.port} on {self.config.host} free?"
                    f" (crossbar said: {self._output.reason()[:200]})"
                )
            if self._reactor.seconds() > deadline:
                await self.stop()
                raise UsageError(
                    f"crossbar was not ready after {READY_TIMEOUT:.0f} s"
                )
            await sleep(self._reactor, PROBE_EVERY)


#: A refusal that shows the realm is up and only wants credentials.
_ANSWERED = REFUSALS - {"wamp.error.no_such_realm"}


class _ProbeSession(ApplicationSession):  # type: ignore[misc]
    def onJoin(self, details: Any) -> None:  # noqa: N802
        self.config.extra.callback(True)
        self.leave()

    def onLeave(self, details: Any) -> None:  # noqa: N802
        # A secure router refuses the anonymous probe; by then it has
        # its realm, authorizer and transport up, which is all we ask.
        ready = self.config.extra
        if not ready.called and details.reason in _ANSWERED:
            ready.callback(True)
        super().onLeave(details)


async def probe(reactor: Any, config: RouterConfig) -> bool:
    """Tell whether the router at *config* answers a session on its realm.

    Joining counts, and so does a refusal for want of credentials.
    """
    joined: defer.Deferred[bool] = defer.Deferred()
    factory = WampWebSocketClientFactory(
        lambda: _ProbeSession(ComponentConfig(config.realm, extra=joined)),
        url=config.url,
    )
    endpoint = TCP4ClientEndpoint(reactor, config.host, config.port, timeout=2)
    try:
        connection: Any = await endpoint.connect(factory)
    except (error.ConnectError, error.TimeoutError):
        return False
    joined.addTimeout(2.0, reactor, onTimeoutCancel=lambda *_: False)
    result = await joined
    if not result:
        connection.transport.abortConnection()
    return result


def check_free(host: str, port: int, option: str = "--port") -> None:
    """Raise :class:`UsageError` if something listens on *host*:*port*.

    *option* is the command-line option that chooses another port.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe_socket:
        probe_socket.settimeout(1.0)
        if probe_socket.connect_ex((host, port)) == 0:
            raise UsageError(
                f"port {port} on {host} is in use already; stop what"
                f" listens there or choose another {option}"
            )


def signal_process(process: Any, number: int) -> None:
    """Send signal *number* to a spawned process that may have ended."""
    with contextlib.suppress(error.ProcessExitedAlready):
        process.signalProcess(number)


def sleep(reactor: Any, seconds: float) -> defer.Deferred[None]:
    d: defer.Deferred[None] = defer.Deferred()
    reactor.callLater(seconds, d.callback, None)
    return d
