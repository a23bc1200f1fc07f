"""Shape of the alert rules and of their promtool unit tests."""

from typing import Any

import pytest
import yaml

from .dashboards import REPO_ROOT, load_dashboards

PROMETHEUS_DIR = REPO_ROOT / "prometheus"
ALERTS = {
    rule["alert"]: rule
    for path in sorted(PROMETHEUS_DIR.glob("rules/*.yml"))
    for group in yaml.safe_load(path.read_text())["groups"]
    for rule in group["rules"]
    if "alert" in rule
}
# Alerts on one instance of a service, rather than on a whole service.
PER_INSTANCE = {"SimplepymsServiceDown", "SimplepymsServiceFlapping"}
PER_SERVICE = {"SimplepymsServiceRestartingOften"}


def alert_tests() -> list[dict[str, Any]]:
    """Return every alert_rule_test case of every unit test file."""
    return [
        case
        for path in sorted(PROMETHEUS_DIR.glob("tests/*.test.yml"))
        for test in yaml.safe_load(path.read_text())["tests"]
        for case in test.get("alert_rule_test", [])
    ]


each_alert = pytest.mark.parametrize("name", sorted(ALERTS))


class TestAlerts:
    """What every alert carries."""

    def test_names(self) -> None:
        """The rule files hold exactly the alerts this project ships."""
        assert set(ALERTS) == {
            "SimplepymsServiceDown",
            "SimplepymsServiceRestartingOften",
            "SimplepymsServiceFlapping",
            "SimplepymsHeartbeatsRejected",
            "SimplepymsMonitorDown",
            "SimplepymsMonitorAbsent",
            "SimplepymsMonitorRouterDisconnected",
            "Watchdog",
        }

    @each_alert
    def test_for(self, name: str) -> None:
        """Each alert states how long its condition must hold."""
        assert "for" in ALERTS[name]

    @each_alert
    def test_severity(self, name: str) -> None:
        """Each alert has a severity Alertmanager routes on."""
        assert ALERTS[name]["labels"]["severity"] in {"page", "ticket", "none"}

    @each_alert
    def test_summary_and_description(self, name: str) -> None:
        """Each alert explains itself in two annotations."""
        annotations = ALERTS[name]["annotations"]

        assert annotations["summary"].strip()
        assert annotations["description"].strip()

    @pytest.mark.parametrize("name", sorted(set(ALERTS) - {"Watchdog"}))
    def test_dashboard_link(self, name: str) -> None:
        """The dashboard annotation opens a shipped dashboard."""
        uids = {board["uid"] for board in load_dashboards().values()}
        link = ALERTS[name]["annotations"]["dashboard"]

        assert link.split("/")[2] in uids
        assert link.startswith("/d/")

    @pytest.mark.parametrize("name", sorted(PER_INSTANCE | PER_SERVICE))
    def test_names_service(self, name: str) -> None:
        """Service alerts name the service, and the instance if one."""
        annotations = ALERTS[name]["annotations"]
        text = annotations["summary"] + annotations["description"]

        assert "{{ $labels.service }}" in text
        if name in PER_INSTANCE:
            assert "{{ $labels.service_instance }}" in text


class TestUnitTests:
    """The promtool unit tests exercise every alert both ways."""

    @each_alert
    def test_fires(self, name: str) -> None:
        """Some case expects the alert to fire, labels and annotations."""
        firing = [
            alert
            for case in alert_tests()
            if case["alertname"] == name
            for alert in case["exp_alerts"]
        ]

        assert firing
        assert all(
            {"exp_labels", "exp_annotations"} <= set(alert) for alert in firing
        )

    @pytest.mark.parametrize("name", sorted(set(ALERTS) - {"Watchdog"}))
    def test_stays_silent(self, name: str) -> None:
        """Some case expects the alert not to fire."""
        silent = [
            case
            for case in alert_tests()
            if case["alertname"] == name and not case["exp_alerts"]
        ]

        assert silent


class TestAlertmanager:
    """The example Alertmanager configuration's inhibition."""

    def test_monitor_trouble_inhibits_service_down(self) -> None:
        """A disconnected or unscraped Monitor holds back ServiceDown."""
        config = yaml.safe_load(
            (PROMETHEUS_DIR / "alertmanager.yml").read_text()
        )
        (rule,) = config["inhibit_rules"]
        (source,) = rule["source_matchers"]

        assert 'alertname="SimplepymsServiceDown"' in rule["target_matchers"]
        assert "SimplepymsMonitorRouterDisconnected" in source
        assert "SimplepymsMonitorDown" in source
        assert rule["equal"] == ["job", "instance"]
