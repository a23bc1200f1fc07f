"""/metrics over TLS with basic auth: curl-like clients and Prometheus."""

from __future__ import annotations

import base64
import json
import ssl
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import bcrypt
import pytest
import yaml

from tests.integration.conftest import Router
from tests.integration.processes import (
    Process,
    free_port,
    simplepyms,
    wait_until,
)
from tests.integration.test_prometheus import SHIPPED, _binary, _ready
from tests.tls_files import Certificates, make_certificates

USER = "prometheus"
PASSWORD = "a-long-scrape-password"  # noqa: S105 - a test value


class Guarded:
    """A Monitor serving /metrics over TLS, behind basic auth."""

    def __init__(self, process: Process, port: int, certs: Certificates):
        self.process = process
        self.port = port
        self.certs = certs
        self.url = f"https://127.0.0.1:{port}/metrics"

    def status(self, user: str | None, password: str = "") -> int:
        """GET /metrics; return the HTTP status."""
        request = urllib.request.Request(self.url)
        if user is not None:
            token = base64.b64encode(f"{user}:{password}".encode()).decode()
            request.add_header("Authorization", f"Basic {token}")
        context = ssl.create_default_context(cafile=str(self.certs.ca))
        try:
            with urllib.request.urlopen(
                request, timeout=10, context=context
            ) as response:
                return int(response.status)
        except urllib.error.HTTPError as refused:
            return int(refused.code)


@pytest.fixture(scope="module")
def guarded(
    router: Router, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Guarded]:
    """A Monitor whose web config is the shipped example, made real."""
    folder = tmp_path_factory.mktemp("web-security")
    certs = make_certificates(folder)
    config = yaml.safe_load((SHIPPED / "web-config.example.yml").read_text())
    config["basic_auth_users"] = {
        USER: bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(10)).decode()
    }
    (folder / "web.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    process = Process(
        simplepyms(
            "monitor",
            "--router-url",
            router.url,
            "--listen",
            f"127.0.0.1:{port}",
            "--state-file",
            "",
            "--web-config",
            str(folder / "web.yml"),
        ),
        folder,
        "guarded-monitor",
    )
    started = process.wait_for("monitor_listening")
    assert started["metrics_url"].startswith("https://")
    assert started["basic_auth"] is True
    yield Guarded(process, port, certs)
    assert 0 == process.stop(), process.text()


class TestBasicAuthOverTLS:
    def test_no_credentials_is_401(self, guarded: Guarded) -> None:
        """A scrape without credentials is refused."""
        assert 401 == guarded.status(None)

    def test_wrong_credentials_are_401(self, guarded: Guarded) -> None:
        """The wrong password, or an unknown user, is refused."""
        assert 401 == guarded.status(USER, "not-the-password")
        assert 401 == guarded.status("nobody", PASSWORD)

    def test_right_credentials_are_200(self, guarded: Guarded) -> None:
        """The right user and password get the page."""
        assert 200 == guarded.status(USER, PASSWORD)

    def test_plain_http_gets_no_page(self, guarded: Guarded) -> None:
        """The port speaks TLS only: plain HTTP gets no metrics."""
        url = f"http://127.0.0.1:{guarded.port}/metrics"

        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            urllib.request.urlopen(url, timeout=5).read()

    def test_nothing_secret_in_the_log(self, guarded: Guarded) -> None:
        """Neither the password nor its hash reaches the Monitor's log."""
        guarded.status(USER, PASSWORD)
        guarded.status(USER, "not-the-password")

        assert PASSWORD not in guarded.process.text()
        assert "not-the-password" not in guarded.process.text()


def test_prometheus_scrapes_with_the_shipped_config(
    guarded: Guarded, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A real Prometheus, with prometheus-secure.yml's job, gets up 1."""
    folder = tmp_path_factory.mktemp("prometheus-secure")
    shipped = yaml.safe_load((SHIPPED / "prometheus-secure.yml").read_text())
    job = shipped["scrape_configs"][0]
    password_file = folder / "monitor.password"
    password_file.write_text(PASSWORD)
    job["scrape_interval"] = "1s"
    job["tls_config"]["ca_file"] = str(guarded.certs.ca)
    job["basic_auth"]["password_file"] = str(password_file)
    job["static_configs"] = [{"targets": [f"127.0.0.1:{guarded.port}"]}]
    config_file = folder / "prometheus.yml"
    config_file.write_text(
        yaml.safe_dump(
            {"global": {"scrape_interval": "1s"}, "scrape_configs": [job]}
        )
    )
    port = free_port()
    process = Process(
        [
            _binary("prometheus"),
            f"--config.file={config_file}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        folder,
        "prometheus-secure",
    )
    try:
        wait_until(lambda: _ready(port), timeout=60)
        query = "up{job='simplepyms'} == 1 and on() simplepyms_build_info"

        def scraped() -> bool:
            url = f"http://127.0.0.1:{port}/api/v1/query?" + (
                urllib.parse.urlencode({"query": query})
            )
            with urllib.request.urlopen(url, timeout=10) as response:
                return bool(json.loads(response.read())["data"]["result"])

        wait_until(scraped, timeout=30, every=0.5)
    finally:
        process.stop()


def test_a_bad_web_config_is_one_line(tmp_path: Path) -> None:
    """A key that does not match its certificate: one line, status 2."""
    certs = make_certificates(tmp_path)
    (tmp_path / "web.yml").write_text(
        yaml.safe_dump(
            {
                "tls_server_config": {
                    "cert_file": certs.cert.name,
                    "key_file": certs.other_key.name,
                }
            }
        )
    )
    done = subprocess.run(
        simplepyms(
            "monitor",
            "--listen",
            f"127.0.0.1:{free_port()}",
            "--state-file",
            "",
            "--web-config",
            str(tmp_path / "web.yml"),
        ),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )

    assert 2 == done.returncode
    assert 1 == len(done.stderr.strip().splitlines()), done.stderr
    assert "not the key of" in done.stderr
