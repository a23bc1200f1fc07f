"""The shipped rules, Alertmanager config and dashboards, on real servers.

A real Prometheus scrapes a real Monitor every second and evaluates the
shipped rules every second; a real Alertmanager with the shipped config
posts to a webhook this module serves.  Only durations are shortened:
each rule's ``for:`` to 2 s and the group waits to 1 s, so a page
arrives in seconds instead of minutes.  promtool's unit tests in
prometheus/tests/ hold the real timings.
"""

from __future__ import annotations

import json
import re
import shutil
import signal
import threading
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.assets.dashboards import dashboard_queries
from tests.integration.conftest import Monitor, Router, run_monitor
from tests.integration.processes import (
    PYTHON,
    Process,
    free_port,
    wait_until,
)

REPO = Path(__file__).resolve().parents[2]
SHIPPED = REPO / "prometheus"

StartService = Callable[..., Process]


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing; make test installs it from Debian")
    return path


class Webhook:
    """An Alertmanager webhook receiver on loopback that keeps every post."""

    def __init__(self) -> None:
        self.posts: list[dict[str, Any]] = []
        received = self.posts

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers["Content-Length"])
                received.append(json.loads(self.rfile.read(length)))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                """Keep the test output quiet."""

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/"
        self._thread = threading.Thread(
            target=self._server.serve_forever, daemon=True
        )
        self._thread.start()

    def alerts(self) -> list[dict[str, Any]]:
        """Every alert in every notification received so far."""
        return [alert for post in self.posts for alert in post["alerts"]]

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def _query(port: int, expr: str) -> dict[str, Any]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode(
        {"query": expr}
    )
    with urllib.request.urlopen(url, timeout=10) as response:
        answer: dict[str, Any] = json.loads(response.read())
    return answer


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(
            f"http://127.0.0.1:{port}/-/ready", timeout=2
        ) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _short_rules(target: Path) -> Path:
    text = (SHIPPED / "rules" / "simplepyms.rules.yml").read_text()
    short = re.sub(r"(?m)^(\s+)for: \S+$", r"\1for: 2s", text)
    path = target / "rules.yml"
    path.write_text(short)
    return path


def _alertmanager_config(target: Path, webhook: Webhook) -> Path:
    config = yaml.safe_load((SHIPPED / "alertmanager.yml").read_text())
    for receiver in config["receivers"]:
        for hook in receiver.get("webhook_configs", []):
            hook["url"] = webhook.url

    def shorten(route: dict[str, Any]) -> None:
        route["group_wait"] = "1s"
        route["group_interval"] = "1s"
        for child in route.get("routes", []):
            shorten(child)

    shorten(config["route"])
    path = target / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    """The receiver every shipped webhook points at, for this module."""
    receiver = Webhook()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def watched(router: Router, log_dir: Path) -> Iterator[Monitor]:
    """A Monitor of this module's own, so no earlier test's dead pages."""
    running = run_monitor(router, log_dir, "monitor-prometheus")
    yield running
    running.process.stop()


@pytest.fixture(scope="module")
def alertmanager(
    tmp_path_factory: pytest.TempPathFactory, webhook: Webhook
) -> Iterator[int]:
    """A real Alertmanager with the shipped config; returns its port."""
    folder = tmp_path_factory.mktemp("alertmanager")
    port = free_port()
    process = Process(
        [
            _binary("prometheus-alertmanager"),
            f"--config.file={_alertmanager_config(folder, webhook)}",
            f"--storage.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        folder,
        "alertmanager",
    )
    wait_until(lambda: _ready(port), timeout=30)
    yield port
    process.stop()


@pytest.fixture(scope="module")
def prometheus(
    tmp_path_factory: pytest.TempPathFactory,
    watched: Monitor,
    alertmanager: int,
) -> Iterator[int]:
    """A real Prometheus scraping the Monitor each second; its port."""
    folder = tmp_path_factory.mktemp("prometheus")
    shipped = yaml.safe_load((SHIPPED / "prometheus.yml").read_text())
    job = shipped["scrape_configs"][0]
    job["scrape_interval"] = "1s"
    job["static_configs"] = [{"targets": [f"127.0.0.1:{watched.port}"]}]
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(_short_rules(folder))],
        "alerting": {
            "alertmanagers": [
                {
                    "static_configs": [
                        {"targets": [f"127.0.0.1:{alertmanager}"]}
                    ]
                }
            ]
        },
        "scrape_configs": [job],
    }
    (folder / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = Process(
        [
            _binary("prometheus"),
            f"--config.file={folder / 'prometheus.yml'}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        folder,
        "prometheus",
    )
    wait_until(lambda: _ready(port), timeout=60)
    yield port
    process.stop()


def _up_in_prometheus(port: int, service: str) -> bool:
    expr = f'simplepyms_service_up{{job="simplepyms", service="{service}"}}'
    result = _query(port, expr)["data"]["result"]
    return any(series["value"][1] == "1" for series in result)


class TestDashboards:
    def test_every_dashboard_query_returns_data(
        self,
        prometheus: int,
        watched: Monitor,
        start_service: StartService,
    ) -> None:
        """Each panel and variable query parses and finds series."""
        start_service([PYTHON, "-m", "simplepyms.exporters.host"], name="host")
        start_service([PYTHON, "-m", "simplepyms.example"], name="adder")
        wait_until(lambda: _up_in_prometheus(prometheus, "host"), timeout=20)
        # rate() and increase() want two samples inside their window.
        samples = "count_over_time(simplepyms_monitor_router_connected[1m])"
        wait_until(
            lambda: (
                float(
                    _query(prometheus, samples)["data"]["result"][0]["value"][
                        1
                    ]
                )
                >= 3
            ),
            timeout=20,
        )

        empty = []
        for query in dashboard_queries(service="host"):
            answer = _query(prometheus, query.expr)
            assert "success" == answer["status"], query
            if not answer["data"]["result"]:
                empty.append(query)

        assert [] == empty


class TestAlerts:
    def test_a_killed_service_pages_and_a_stopped_one_does_not(
        self,
        prometheus: int,
        alertmanager: int,
        webhook: Webhook,
        watched: Monitor,
        start_service: StartService,
    ) -> None:
        """SIGKILL reaches the webhook as a page; a graceful stop never."""
        killed = start_service()
        stopped = start_service()
        for service in (killed, stopped):
            wait_until(
                lambda s=service: _up_in_prometheus(prometheus, s.service),
                timeout=20,
            )

        assert 0 == stopped.stop()
        killed.signal(signal.SIGKILL)

        def paged() -> list[dict[str, Any]]:
            return [
                alert
                for alert in webhook.alerts()
                if alert["labels"]["alertname"] == "SimplepymsServiceDown"
                and alert["labels"]["service"] == killed.service
                and alert["status"] == "firing"
            ]

        page = wait_until(paged, timeout=45)[0]
        labels = page["labels"]
        assert {
            "alertname": "SimplepymsServiceDown",
            "service": killed.service,
            "service_instance": killed.instance,
            "severity": "page",
            "job": "simplepyms",
        } == {
            k: labels.get(k)
            for k in (
                "alertname",
                "service",
                "service_instance",
                "severity",
                "job",
            )
        }
        assert killed.service in page["annotations"]["summary"]
        assert [] == [
            alert
            for alert in webhook.alerts()
            if alert["labels"].get("service") == stopped.service
        ]
        receivers = {
            post["receiver"]
            for post in webhook.posts
            if any(
                a["labels"]["alertname"] == "SimplepymsServiceDown"
                for a in post["alerts"]
            )
        }
        assert {"pages"} == receivers
