"""The shipped Prometheus and Alertmanager files pass their own tools."""

import subprocess

import pytest

from .dashboards import REPO_ROOT

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
RULE_FILES = sorted(PROMETHEUS_DIR.glob("rules/*.yml"))
TEST_FILES = sorted(PROMETHEUS_DIR.glob("tests/*.test.yml"))
ALERTMANAGER_CONFIG = PROMETHEUS_DIR / "alertmanager.yml"


def run(*command: str) -> subprocess.CompletedProcess[str]:
    """Run command from the repository root and return its result."""
    return subprocess.run(
        command,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


class TestPromtool:
    """promtool on the rules, their unit tests and the example config."""

    def test_files_exist(self) -> None:
        """There are rule files and unit tests to check."""
        assert RULE_FILES
        assert TEST_FILES

    def test_check_rules(self, promtool: str) -> None:
        """promtool check rules accepts every rule file."""
        result = run(promtool, "check", "rules", *map(str, RULE_FILES))

        assert result.returncode == 0, result.stdout + result.stderr

    def test_unit_tests(self, promtool: str) -> None:
        """promtool test rules passes every alert unit test."""
        result = run(promtool, "test", "rules", *map(str, TEST_FILES))

        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize(
        "name", ["prometheus.yml", "prometheus-secure.yml"]
    )
    def test_check_config(self, promtool: str, name: str) -> None:
        """promtool check config accepts each scrape config and its rules."""
        config = PROMETHEUS_DIR / name

        result = run(promtool, "check", "config", str(config))

        assert result.returncode == 0, result.stdout + result.stderr


class TestAmtool:
    """amtool on the example Alertmanager configuration."""

    def test_check_config(self, amtool: str) -> None:
        """amtool check-config accepts alertmanager.yml."""
        result = run(amtool, "check-config", str(ALERTMANAGER_CONFIG))

        assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize(
        ("receiver", "labels"),
        [
            ("pages", ["alertname=SimplepymsServiceDown", "severity=page"]),
            (
                "tickets",
                ["alertname=SimplepymsServiceFlapping", "severity=ticket"],
            ),
            ("watchdog", ["alertname=Watchdog", "severity=none"]),
            ("tickets", ["alertname=SomethingElse"]),
        ],
    )
    def test_route(
        self, amtool: str, receiver: str, labels: list[str]
    ) -> None:
        """Alerts reach the receiver their severity asks for."""
        result = run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={ALERTMANAGER_CONFIG}",
            *labels,
        )

        assert (result.returncode, result.stdout.strip()) == (0, receiver)
