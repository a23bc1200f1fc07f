"""The ``simplepyms`` command: monitor, router, demo, stop and restart.

Every option can also be set by the environment variable named in
``--help``.  Bad arguments and bad configuration end in one line on
stderr and exit status 2; a runtime failure in one line and status 1.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn
from urllib.parse import urlsplit

from simplepyms import __version__
from simplepyms.errors import UsageError
from simplepyms.logs import FORMATS, LEVELS, configure

ROUTER_URL = "ws://127.0.0.1:8080/ws"
REALM = "realm1"
LISTEN = "127.0.0.1:9186"
#: One state file per listen address: two Monitors never share one.
STATE_FILE = "~/.local/state/simplepyms/monitor-{host}-{port}.sqlite"


class Parser(argparse.ArgumentParser):
    """An argument parser whose errors are a single line."""

    def error(self, message: str) -> NoReturn:
        """Print one line naming the problem, and exit with status 2."""
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def env_option(
    parser: argparse.ArgumentParser,
    flag: str,
    variable: str,
    default: str,
    text: str,
    **options: Any,
) -> None:
    """Add option *flag*, whose default comes from *variable*."""
    parser.add_argument(
        flag,
        default=os.environ.get(variable, default),
        help=f"{text} (env {variable}; default {default})",
        **options,
    )


def router_url(value: str) -> str:
    """Check a router URL given on the command line."""
    parts = urlsplit(value)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise argparse.ArgumentTypeError(
            f"router URL must look like ws://HOST:PORT/PATH, got {value!r}"
        )
    return value


def listen_address(value: str) -> tuple[str, int]:
    """Parse ``HOST:PORT`` (``[::1]:PORT`` for IPv6)."""
    host, _, port = value.rpartition(":")
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if (
        not host
        or any(c in host for c in "[] ")
        or (":" in host and not bracketed)
        or not port.isdigit()
        or not 0 <= int(port) <= 65535
    ):
        raise argparse.ArgumentTypeError(
            f"listen address must be HOST:PORT, got {value!r}"
        )
    return host, int(port)


def ip_address(value: str) -> str:
    """Check an IP address to listen on."""
    try:
        ipaddress.ip_address(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an IP address such as 127.0.0.1, got {value!r}"
        ) from None
    return value


def whole_number(value: str) -> int:
    """Parse a count of at least one."""
    if not value.isdigit() or int(value) < 1:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of at least 1, got {value!r}"
        )
    return int(value)


def port_number(value: str) -> int:
    """Parse a TCP port number."""
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise argparse.ArgumentTypeError(
            f"port must be a number from 1 to 65535, got {value!r}"
        )
    return int(value)


def positive(value: str) -> float:
    """Parse a positive number of seconds or a positive factor."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not number > 0 or number == float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a positive number, got {value!r}"
        )
    return number


def non_negative(value: str) -> float:
    """Parse a number of seconds that may be zero."""
    try:
        number = float(value)
    except ValueError:
        number = float("nan")
    if not 0 <= number < float("inf"):
        raise argparse.ArgumentTypeError(
            f"must be a number of seconds >= 0, got {value!r}"
        )
    return number


def connection_options(parser: argparse.ArgumentParser) -> None:
    """Add --router-url and --realm, with their variables."""
    env_option(
        parser,
        "--router-url",
        "SIMPLEPYMS_ROUTER_URL",
        ROUTER_URL,
        "WebSocket URL of the WAMP router",
        type=router_url,
    )
    env_option(
        parser,
        "--realm",
        "SIMPLEPYMS_REALM",
        REALM,
        "WAMP realm to join",
        type=realm_name,
    )


def one_of(*allowed: str) -> Callable[[str], str]:
    """Return a parser that takes only the *allowed* words.

    Unlike ``choices``, it also checks values that come from the
    environment.
    """

    def parse(value: str) -> str:
        if value not in allowed:
            raise argparse.ArgumentTypeError(
                f"must be one of {', '.join(allowed)}, got {value!r}"
            )
        return value

    return parse


def realm_name(value: str) -> str:
    """Check a WAMP realm name."""
    if not value or any(c.isspace() for c in value):
        raise argparse.ArgumentTypeError(
            f"realm must be a non-empty name without spaces, got {value!r}"
        )
    return value


def logging_options(parser: argparse.ArgumentParser) -> None:
    """Add --log-format and --log-level, with their variables."""
    env_option(
        parser,
        "--log-format",
        "SIMPLEPYMS_LOG_FORMAT",
        "console",
        f"log as key=value text or as JSON lines: {' or '.join(FORMATS)}",
        type=one_of(*FORMATS),
    )
    env_option(
        parser,
        "--log-level",
        "SIMPLEPYMS_LOG_LEVEL",
        "info",
        f"lowest level logged: {', '.join(LEVELS)}",
        type=one_of(*LEVELS),
    )


def build_parser() -> argparse.ArgumentParser:
    """Return the parser for every subcommand."""
    parser = Parser(
        prog="simplepyms",
        description="WAMP microservices that heartbeat, and their Monitor.",
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=Parser
    )

    monitor = commands.add_parser(
        "monitor", help="track services and serve Prometheus metrics"
    )
    connection_options(monitor)
    env_option(
        monitor,
        "--listen",
        "SIMPLEPYMS_LISTEN",
        LISTEN,
        "HOST:PORT to serve /metrics on",
        type=listen_address,
    )
    env_option(
        monitor,
        "--timeout-factor",
        "SIMPLEPYMS_TIMEOUT_FACTOR",
        "3",
        "an instance silent for this many intervals is down",
        type=positive,
    )
    env_option(
        monitor,
        "--retention",
        "SIMPLEPYMS_RETENTION",
        "900",
        "seconds a down or stopped instance stays on /metrics",
        type=positive,
    )
    env_option(
        monitor,
        "--state-file",
        "SIMPLEPYMS_STATE_FILE",
        STATE_FILE,
        "SQLite file that keeps the fleet across restarts ('' for none;"
        " {host} and {port} stand for the listen address)",
    )
    env_option(
        monitor,
        "--max-instances",
        "SIMPLEPYMS_MAX_INSTANCES",
        "20000",
        "most instances tracked at once; more are refused",
        type=whole_number,
    )
    env_option(
        monitor,
        "--max-instances-per-service",
        "SIMPLEPYMS_MAX_INSTANCES_PER_SERVICE",
        "1000",
        "most instances of one service tracked at once",
        type=whole_number,
    )
    env_option(
        monitor,
        "--max-series-per-service",
        "SIMPLEPYMS_MAX_SERIES_PER_SERVICE",
        "20000",
        "most carried series one service's instances hold in all; a"
        " heartbeat past it is kept without its metrics",
        type=whole_number,
    )
    for flag, variable, default, text in (
        ("--alert-for", "SIMPLEPYMS_ALERT_FOR", "60", "the down alert's for:"),
        (
            "--scrape-interval",
            "SIMPLEPYMS_SCRAPE_INTERVAL",
            "5",
            "how often Prometheus scrapes the Monitor",
        ),
        (
            "--evaluation-interval",
            "SIMPLEPYMS_EVALUATION_INTERVAL",
            "15",
            "how often Prometheus evaluates the rules",
        ),
    ):
        env_option(
            monitor,
            flag,
            variable,
            default,
            f"seconds: {text}; retention must cover it",
            type=non_negative,
        )
    env_option(
        monitor,
        "--web-config",
        "SIMPLEPYMS_WEB_CONFIG",
        "",
        "YAML file in the shape of Prometheus' exporter web config:"
        " tls_server_config and basic_auth_users (empty: plain HTTP)",
    )
    credential_options(monitor, "monitor")
    logging_options(monitor)

    router = commands.add_parser(
        "router", help="run crossbar with the shipped configuration"
    )
    _router_options(router)
    env_option(
        router,
        "--credentials",
        "SIMPLEPYMS_CREDENTIALS",
        "",
        "JSON file of principals: with it, run the secure configuration"
        " (WAMP-CRA for all, roles service, monitor and admin)",
    )
    logging_options(router)

    demo = commands.add_parser(
        "demo",
        help="run router, Monitor, host exporter and example service",
    )
    _router_options(demo)
    env_option(
        demo,
        "--listen",
        "SIMPLEPYMS_LISTEN",
        LISTEN,
        "HOST:PORT for the Monitor's /metrics",
        type=listen_address,
    )
    logging_options(demo)

    for name, verb in (("stop", "stop"), ("restart", "restart")):
        control = commands.add_parser(
            name, help=f"ask one instance of a service to {verb}"
        )
        control.add_argument("service", help="the service's name")
        connection_options(control)
        credential_options(control, "admin")
        logging_options(control)
    return parser


def _router_options(parser: argparse.ArgumentParser) -> None:
    env_option(
        parser,
        "--host",
        "SIMPLEPYMS_ROUTER_HOST",
        "127.0.0.1",
        "IP address the router listens on",
        type=ip_address,
    )
    env_option(
        parser,
        "--port",
        "SIMPLEPYMS_ROUTER_PORT",
        "8080",
        "port the router listens on",
        type=port_number,
    )
    env_option(
        parser,
        "--realm",
        "SIMPLEPYMS_REALM",
        REALM,
        "realm it serves",
        type=realm_name,
    )
    env_option(
        parser,
        "--cbdir",
        "SIMPLEPYMS_ROUTER_DIR",
        "",
        "crossbar node directory (empty: a temporary one)",
    )


def credential_options(parser: argparse.ArgumentParser, authid: str) -> None:
    """Add --authid and --secret-file, for a secure router.

    There is no --secret: a command line is visible to every user of
    the machine.  ``SIMPLEPYMS_SECRET`` is read when no file is named.
    """
    env_option(
        parser,
        "--authid",
        "SIMPLEPYMS_AUTHID",
        authid,
        "identity to authenticate as, on a secure router",
        type=realm_name,
    )
    env_option(
        parser,
        "--secret-file",
        "SIMPLEPYMS_SECRET_FILE",
        "",
        "file holding the WAMP-CRA secret (empty: SIMPLEPYMS_SECRET if"
        " set, else join anonymously)",
    )


def authentication(options: argparse.Namespace) -> dict[str, Any] | None:
    """Return autobahn's authentication setting from the parsed options.

    Raises:
        UsageError: if the secret cannot be had.
    """
    from simplepyms import credentials

    try:
        secret = credentials.find_secret(
            secret_file=options.secret_file or None
        )
    except ValueError as problem:
        raise UsageError(str(problem)) from None
    if secret is None:
        return None
    return credentials.wampcra(options.authid, secret)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``simplepyms`` command; return its exit status."""
    options = build_parser().parse_args(argv)
    configure(options.log_format, options.log_level)
    runners: dict[str, Callable[[argparse.Namespace], int]] = {
        "monitor": _monitor,
        "router": _router,
        "demo": _demo,
        "stop": _control,
        "restart": _control,
    }
    try:
        return runners[options.command](options)
    except UsageError as problem:
        sys.stderr.write(f"simplepyms {options.command}: error: {problem}\n")
        return 2


def _monitor(options: argparse.Namespace) -> int:
    from simplepyms.liveness import minimum_retention
    from simplepyms.serve import serve_monitor

    host, port = options.listen
    shortest = minimum_retention(
        alert_for=options.alert_for,
        scrape_interval=options.scrape_interval,
        evaluation_interval=options.evaluation_interval,
    )
    if options.retention < shortest:
        raise UsageError(
            f"--retention {options.retention:g} s is shorter than --alert-for"
            f" + --scrape-interval + --evaluation-interval = {shortest:g} s:"
            " a dead instance would vanish before its down alert fires"
        )
    state_file = options.state_file.replace("{host}", host).replace(
        "{port}", str(port)
    )
    return serve_monitor(
        url=options.router_url,
        realm=options.realm,
        host=host,
        port=port,
        timeout_factor=options.timeout_factor,
        retention=options.retention,
        max_instances=options.max_instances,
        max_instances_per_service=options.max_instances_per_service,
        max_series_per_service=options.max_series_per_service,
        state_file=Path(state_file).expanduser() if state_file else None,
        authentication=authentication(options),
        web_config=Path(options.web_config) if options.web_config else None,
    )


def _router_config(options: argparse.Namespace) -> Any:
    from simplepyms.router import RouterConfig

    credentials = getattr(options, "credentials", "")
    return RouterConfig(
        host=options.host,
        port=options.port,
        realm=options.realm,
        cbdir=Path(options.cbdir) if options.cbdir else None,
        credentials=Path(credentials) if credentials else None,
    )


def _router(options: argparse.Namespace) -> int:
    from simplepyms.serve import serve_router

    return serve_router(_router_config(options))


def _demo(options: argparse.Namespace) -> int:
    from simplepyms.demo import run_demo

    return run_demo(
        _router_config(options),
        options.listen,
        options.log_format,
        options.log_level,
    )


def _control(options: argparse.Namespace) -> int:
    from simplepyms.control import call_control

    return call_control(
        options.router_url,
        options.realm,
        options.service,
        options.command,
        authentication(options),
    )
