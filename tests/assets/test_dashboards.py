"""Structure of the Grafana dashboards and provisioning files."""

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from .dashboards import (
    REPO_ROOT,
    dashboard_queries,
    iter_panels,
    load_dashboards,
    substitute,
    variable_expr,
)

DASHBOARDS = load_dashboards()
DATASOURCE_UID = "${datasource}"
GRID_WIDTH = 24


each_dashboard = pytest.mark.parametrize(
    "board", list(DASHBOARDS.values()), ids=list(DASHBOARDS)
)


class TestGeneratedFiles:
    """The committed JSON is what grafana/build_dashboards.py writes."""

    def test_committed_json_is_current(self) -> None:
        """build_dashboards.py --check finds nothing to rewrite."""
        result = subprocess.run(
            [sys.executable, "grafana/build_dashboards.py", "--check"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

        assert (result.returncode, result.stderr) == (0, "")

    def test_uids(self) -> None:
        """Each dashboard has its own fixed uid."""
        uids = [board["uid"] for board in DASHBOARDS.values()]

        assert sorted(uids) == [
            "simplepyms-fleet",
            "simplepyms-host",
            "simplepyms-service",
        ]


class TestDashboard:
    """Rules every dashboard follows."""

    @each_dashboard
    def test_schema_version(self, board: dict[str, Any]) -> None:
        """The schema version is one current Grafana writes."""
        assert board["schemaVersion"] == 39

    @each_dashboard
    def test_datasource_variable(self, board: dict[str, Any]) -> None:
        """The first variable picks a Prometheus data source."""
        variable = board["templating"]["list"][0]

        assert (
            variable["name"],
            variable["type"],
            variable["query"],
        ) == ("datasource", "datasource", "prometheus")

    @each_dashboard
    def test_panels_use_datasource_variable(
        self, board: dict[str, Any]
    ) -> None:
        """Every panel and target takes its data source from the variable."""
        sources = [
            source["datasource"]["uid"]
            for panel in iter_panels(board)
            for source in [panel, *panel["targets"]]
        ]

        assert set(sources) == {DATASOURCE_UID}

    @each_dashboard
    def test_query_variables_use_datasource_variable(
        self, board: dict[str, Any]
    ) -> None:
        """Query variables take their data source from the variable too."""
        sources = [
            variable["datasource"]["uid"]
            for variable in board["templating"]["list"]
            if variable["type"] == "query"
        ]

        assert sources == [DATASOURCE_UID] * len(sources)

    @each_dashboard
    def test_panel_ids_unique(self, board: dict[str, Any]) -> None:
        """No two panels share an id."""
        ids = [panel["id"] for panel in iter_panels(board)]

        assert len(ids) == len(set(ids))

    @each_dashboard
    def test_every_target_has_expr(self, board: dict[str, Any]) -> None:
        """Each panel has targets, each with an expr and its own refId."""
        for panel in iter_panels(board):
            ref_ids = [target["refId"] for target in panel["targets"]]

            assert panel["targets"], panel["title"]
            assert all(target["expr"].strip() for target in panel["targets"])
            assert len(ref_ids) == len(set(ref_ids)), panel["title"]

    @each_dashboard
    def test_panels_do_not_overlap(self, board: dict[str, Any]) -> None:
        """Panels fit the 24-column grid and cover no cell twice."""
        cells: list[tuple[int, int]] = []
        for panel in iter_panels(board):
            grid = panel["gridPos"]

            assert grid["x"] + grid["w"] <= GRID_WIDTH, panel["title"]
            cells.extend(
                (x, y)
                for x in range(grid["x"], grid["x"] + grid["w"])
                for y in range(grid["y"], grid["y"] + grid["h"])
            )

        assert len(cells) == len(set(cells))


class TestDashboardQueries:
    """The queries handed to the end-to-end test."""

    def test_no_variable_left(self) -> None:
        """Every variable in every query is replaced."""
        left = [query for query in dashboard_queries() if "$" in query.expr]

        assert left == []

    def test_every_panel_target_included(self) -> None:
        """There is one query per target plus one per query variable."""
        expected = sum(
            len(panel["targets"])
            for board in DASHBOARDS.values()
            for panel in iter_panels(board)
        ) + sum(
            variable["type"] == "query"
            for board in DASHBOARDS.values()
            for variable in board["templating"]["list"]
        )

        assert len(dashboard_queries()) == expected

    def test_service_variable(self) -> None:
        """$service is replaced by the service asked for."""
        exprs = [
            query.expr
            for query in dashboard_queries(service="orders")
            if query.dashboard == "simplepyms-service"
        ]

        assert any('service="orders"' in expr for expr in exprs)
        assert not any('service="host"' in expr for expr in exprs)

    def test_variable_query_as_promql(self) -> None:
        """The service variable's values come from a group by query."""
        query = ("simplepyms-service", "variable service")

        assert [q.expr for q in dashboard_queries() if q[:2] == query] == [
            "group by (service) (simplepyms_service_up)"
        ]

    def test_every_query_parses(self, promtool: str, tmp_path: Path) -> None:
        """promtool accepts every query as a recording rule expression."""
        rules = [
            {"record": f"dashboard:query_{index}:expr", "expr": query.expr}
            for index, query in enumerate(dashboard_queries())
        ]
        path = tmp_path / "queries.rules.yml"
        path.write_text(
            yaml.safe_dump({"groups": [{"name": "q", "rules": rules}]})
        )

        result = subprocess.run(
            [promtool, "check", "rules", str(path)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )

        assert result.returncode == 0, result.stdout + result.stderr


class TestSubstitution:
    """Filling in Grafana variables."""

    @pytest.mark.parametrize(
        "expr",
        [
            "rate(x[$w])",
            "rate(x[${w}])",
            "rate(x[[[w]]])",
            "rate(x[${w:raw}])",
        ],
    )
    def test_forms(self, expr: str) -> None:
        """Each of Grafana's variable syntaxes is replaced."""
        assert substitute(expr, {"w": "1m"}) == "rate(x[1m])"

    def test_unknown_variable(self) -> None:
        """A variable without a value is an error naming it."""
        with pytest.raises(ValueError, match="'nope'"):
            substitute('up{a="$nope"}', {})

    def test_variable_query_shape(self) -> None:
        """Only label_values(selector, label) is understood."""
        with pytest.raises(ValueError, match="label_values"):
            variable_expr("query_result(up)")


class TestProvisioning:
    """The files Grafana reads at start-up."""

    def test_datasource(self) -> None:
        """The data source is a Prometheus on the loopback address."""
        path = REPO_ROOT / "grafana/provisioning/datasources/prometheus.yml"
        (source,) = yaml.safe_load(path.read_text())["datasources"]

        assert (
            source["type"],
            source["url"],
        ) == ("prometheus", "http://127.0.0.1:9090")

    def test_dashboard_provider(self) -> None:
        """The dashboards are loaded from files."""
        path = REPO_ROOT / "grafana/provisioning/dashboards/simplepyms.yml"
        (provider,) = yaml.safe_load(path.read_text())["providers"]

        assert provider["type"] == "file"
        assert provider["options"]["path"]
