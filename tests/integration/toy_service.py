"""A service for the end-to-end tests: ``toy_service.py NAME``.

It carries a gauge and a counter, and registers ``py.ms.<NAME>.work``,
which bumps the counter, and ``TOY_EXTRA_PROCEDURE`` if that is set.
"""

from __future__ import annotations

import os
import sys

from autobahn.twisted.component import run

from simplepyms.logs import configure
from simplepyms.microservice import mk_component

name = sys.argv[1]
component = mk_component(
    name, os.environ["SIMPLEPYMS_ROUTER_URL"], os.environ["SIMPLEPYMS_REALM"]
)
done = component.metrics.counter("toy_jobs_total")
component.metrics.gauge("toy_queue_depth").set(7)


@component.register(f"py.ms.{name}.work")  # type: ignore[untyped-decorator]
def work(count: int = 1) -> float:
    """Count *count* jobs done; return the new total."""
    done.inc(count)
    return done.value


extra = os.environ.get("TOY_EXTRA_PROCEDURE")
if extra:
    component.register(extra)(work)


if __name__ == "__main__":
    configure("json", "info")
    run(component, log_level=None)
