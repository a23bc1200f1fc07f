"""The service latency_bench.py kills and freezes: ``probe_service.py NAME``.

A real :func:`~simplepyms.microservice.mk_component` service with one
carried gauge and nothing else to do.  The router URL, realm and
heartbeat interval come from ``SIMPLEPYMS_ROUTER_URL``,
``SIMPLEPYMS_REALM`` and ``SIMPLEPYMS_HEARTBEAT_INTERVAL``.
"""

from __future__ import annotations

import os
import sys

from autobahn.twisted.component import run

from simplepyms.logs import configure
from simplepyms.microservice import mk_component


def main() -> None:
    """Run the service until it is stopped, killed or frozen."""
    configure("json", "info")
    component = mk_component(
        sys.argv[1],
        os.environ["SIMPLEPYMS_ROUTER_URL"],
        os.environ["SIMPLEPYMS_REALM"],
    )
    component.metrics.gauge("probe_queue_depth").set(1)
    run(component, log_level=None)


if __name__ == "__main__":
    main()
