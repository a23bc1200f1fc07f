"""Read the shipped Grafana dashboards and the PromQL they run.

dashboard_queries() gives every query with Grafana's variables filled in,
so that a test can send each one to a real Prometheus::

    for query in dashboard_queries(service="host"):
        result = prometheus_query(query.expr)
"""

import json
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

REPO_ROOT = Path(__file__).resolve().parents[2]
DASHBOARD_DIR = REPO_ROOT / "grafana" / "dashboards"

#: What Grafana puts for its own variables over a short time range, with
#: the data source's scrape interval set to 5 s.
BUILTIN_VALUES = {
    "__rate_interval": "1m",
    "__interval": "15s",
    "__range": "5m",
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")
_LABEL_VALUES = re.compile(
    r"label_values\(\s*(?P<selector>.+?)\s*,\s*(?P<label>\w+)\s*\)"
)


class DashboardQuery(NamedTuple):
    """One PromQL query of a dashboard, ready to send to Prometheus."""

    dashboard: str
    """The dashboard's uid."""

    panel: str
    """The panel's title, or ``variable NAME`` for a template variable."""

    expr: str
    """The query with every variable replaced."""


def load_dashboards() -> dict[str, dict[str, Any]]:
    """Return every dashboard in grafana/dashboards/ by file name."""
    return {
        path.name: json.loads(path.read_text())
        for path in sorted(DASHBOARD_DIR.glob("*.json"))
    }


def iter_panels(board: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """Yield every panel of board, including those inside rows."""
    for panel in board.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def substitute(expr: str, values: Mapping[str, str]) -> str:
    """Return expr with $name, ${name} and [[name]] replaced from values.

    Raises:
        ValueError: expr uses a variable that values lacks.
    """

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise ValueError(
                f"query uses variable {name!r}, which has no value; "
                f"known are {sorted(values)}: {expr!r}"
            )
        return values[name]

    return _VARIABLE.sub(replace, expr)


def variable_expr(query: str) -> str:
    """Return PromQL giving a label_values() variable's values as series.

    Raises:
        ValueError: query is not label_values(selector, label).
    """
    match = _LABEL_VALUES.fullmatch(query.strip())
    if match is None:
        raise ValueError(
            "variable query must be label_values(selector, label), "
            f"got {query!r}"
        )
    return f"group by ({match['label']}) ({match['selector']})"


def dashboard_queries(service: str = "host") -> list[DashboardQuery]:
    """Return every query of every dashboard, variables filled in.

    Panel targets come first, then each query variable as the PromQL
    that lists its values.  $service becomes service; Grafana's own
    variables take the values in BUILTIN_VALUES.  With the host exporter
    running, service="host" makes every query return data.
    """
    values = {**BUILTIN_VALUES, "service": service}
    queries: list[DashboardQuery] = []
    for board in load_dashboards().values():
        uid = board["uid"]
        for panel in iter_panels(board):
            queries.extend(
                DashboardQuery(
                    uid, panel["title"], substitute(t["expr"], values)
                )
                for t in panel.get("targets", [])
            )

        for variable in board["templating"]["list"]:
            if variable["type"] != "query":
                continue

            query = variable["query"]
            text = query["query"] if isinstance(query, dict) else query
            queries.append(
                DashboardQuery(
                    uid,
                    f"variable {variable['name']}",
                    substitute(variable_expr(text), values),
                )
            )
    return queries
