"""The example service: ``py.ms.add``, as in the README.

Run it with ``python -m simplepyms.example``; ``SIMPLEPYMS_ROUTER_URL``
and ``SIMPLEPYMS_REALM`` say where the router is.
"""

from __future__ import annotations

import os

from autobahn.twisted.component import run

from simplepyms.logs import configure
from simplepyms.microservice import mk_component

component = mk_component(
    "adder",
    os.environ.get("SIMPLEPYMS_ROUTER_URL", "ws://127.0.0.1:8080/ws"),
    os.environ.get("SIMPLEPYMS_REALM", "realm1"),
)
additions = component.metrics.counter("additions_total")


@component.register("py.ms.add")  # type: ignore[untyped-decorator]
def add(a: float, b: float) -> float:
    """Return the sum of *a* and *b*."""
    additions.inc()
    return a + b


def main() -> None:
    """Run the example service until it is stopped."""
    configure(
        os.environ.get("SIMPLEPYMS_LOG_FORMAT", "console"),
        os.environ.get("SIMPLEPYMS_LOG_LEVEL", "info"),
    )
    # simplepyms.logs bridges autobahn's log; run() need not start its own.
    run(component, log_level=None)


if __name__ == "__main__":
    main()
