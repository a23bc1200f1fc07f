"""The example service: ``py.ms.add``, as in the README.

Run it with ``python -m simplepyms.example``; ``--router-url`` and
``--realm`` (or ``SIMPLEPYMS_ROUTER_URL`` and ``SIMPLEPYMS_REALM``) say
where the router is.
"""

from __future__ import annotations

from collections.abc import Sequence

from autobahn.twisted.component import run

from simplepyms.cli import Parser, connection_options, logging_options
from simplepyms.logs import configure
from simplepyms.microservice import ServiceComponent, mk_component


def make_adder(url: str, realm: str) -> ServiceComponent:
    """Return the ``adder`` service, which answers ``py.ms.add``."""
    component = mk_component("adder", url, realm)
    additions = component.metrics.counter("additions_total")

    def add(a: float, b: float) -> float:
        additions.inc()
        return a + b

    component.register("py.ms.add")(add)
    return component


def main(argv: Sequence[str] | None = None) -> None:
    """Run the example service until it is stopped."""
    parser = Parser(
        prog="python -m simplepyms.example",
        description="The example service: py.ms.add.",
    )
    connection_options(parser)
    logging_options(parser)
    options = parser.parse_args(argv)
    configure(options.log_format, options.log_level)
    try:
        component = make_adder(options.router_url, options.realm)
    except ValueError as problem:
        parser.error(str(problem))
    # simplepyms.logs bridges autobahn's log; run() need not start its own.
    run(component, log_level=None)


if __name__ == "__main__":
    main()
