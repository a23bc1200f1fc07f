"""Checks of the monitoring assets in prometheus/ and grafana/."""
