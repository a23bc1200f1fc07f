"""The host exporter: CPU, memory, load, disk and network in heartbeats.

Run it as ``simplepyms-host-exporter`` or
``python -m simplepyms.exporters.host``.  It needs the ``host`` extra
(psutil, which reads the same figures on Linux, macOS and Windows).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from autobahn.twisted.component import run

from simplepyms.cli import (
    Parser,
    connection_options,
    env_option,
    logging_options,
    positive,
)
from simplepyms.logs import configure
from simplepyms.microservice import ServiceComponent, mk_component
from simplepyms.protocol import InvalidServiceName


class HostMetrics:
    """Read the host's figures, by the names they are exported under.

    Args:
        disk_path: the file system whose usage is reported.
    """

    def __init__(self, disk_path: str = "/") -> None:
        import psutil

        self._psutil = psutil
        self.disk_path = disk_path
        # The first reading of cpu_percent(None) is meaningless; take it
        # now so that the first heartbeat already carries a real ratio.
        psutil.cpu_percent(interval=None)

    def __call__(self) -> dict[str, float]:
        """Return the current figures."""
        psutil = self._psutil
        memory = psutil.virtual_memory()
        disk = psutil.disk_usage(self.disk_path)
        load1, load5, load15 = psutil.getloadavg()
        figures = {
            "host_cpu_usage_ratio": psutil.cpu_percent(interval=None) / 100,
            "host_cpus": float(psutil.cpu_count() or 0),
            "host_memory_total_bytes": float(memory.total),
            "host_memory_used_bytes": float(memory.used),
            "host_memory_available_bytes": float(memory.available),
            "host_load1": load1,
            "host_load5": load5,
            "host_load15": load15,
            "host_disk_total_bytes": float(disk.total),
            "host_disk_used_bytes": float(disk.used),
            "host_disk_usage_ratio": disk.used / disk.total
            if disk.total
            else 0,
            "host_boot_time_seconds": psutil.boot_time(),
        }
        network = psutil.net_io_counters()
        if network is not None:
            figures["host_network_received_bytes_total"] = float(
                network.bytes_recv
            )
            figures["host_network_transmitted_bytes_total"] = float(
                network.bytes_sent
            )
        return figures


def make_exporter(
    url: str,
    realm: str,
    *,
    name: str = "host",
    interval: float | None = None,
    disk_path: str = "/",
) -> ServiceComponent:
    """Return the host exporter's component."""
    return mk_component(
        name,
        url,
        realm,
        interval=interval,
        metrics=HostMetrics(disk_path),
    )


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="simplepyms-host-exporter",
        description="A service that carries host metrics in heartbeats.",
    )
    connection_options(parser)
    env_option(
        parser,
        "--name",
        "SIMPLEPYMS_SERVICE_NAME",
        "host",
        "service name",
    )
    env_option(
        parser,
        "--interval",
        "SIMPLEPYMS_HEARTBEAT_INTERVAL",
        "5",
        "seconds between heartbeats",
        type=positive,
    )
    env_option(
        parser,
        "--disk-path",
        "SIMPLEPYMS_DISK_PATH",
        "/",
        "file system whose usage is reported",
    )
    logging_options(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the host exporter until it is stopped."""
    parser = _parser()
    options = parser.parse_args(argv)
    configure(options.log_format, options.log_level)
    if not os.path.isdir(options.disk_path):
        parser.error(f"--disk-path {options.disk_path!r} is not a directory")
    try:
        component = make_exporter(
            options.router_url,
            options.realm,
            name=options.name,
            interval=options.interval,
            disk_path=options.disk_path,
        )
    except ImportError:
        sys.stderr.write(
            "simplepyms-host-exporter: error: psutil is missing; install"
            " the host extra: pip install 'simplepyms[host]'\n"
        )
        return 2
    except (InvalidServiceName, ValueError) as problem:
        parser.error(str(problem))
    run(component, log_level=None)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
