"""Write the simplepyms Grafana dashboards as JSON.

The committed files in grafana/dashboards/ are the output of this script.
Run it after editing a panel, or with --check to fail when they differ:

    python grafana/build_dashboards.py          # rewrite the JSON files
    python grafana/build_dashboards.py --check  # exit 1 if out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

JSON = dict[str, Any]

OUTPUT_DIR = Path(__file__).resolve().parent / "dashboards"
SCHEMA_VERSION = 39
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
WIDTH = 24

FLEET_UID = "simplepyms-fleet"
SERVICE_UID = "simplepyms-service"
HOST_UID = "simplepyms-host"

# Matches what a service carries in its heartbeats, not what the Monitor
# or Prometheus' rule evaluation adds under the same service label.
CARRIED = '__name__!~"simplepyms_.*|ALERTS|ALERTS_FOR_STATE"'

STATE_COLOURS = {
    "up": "green",
    "late": "yellow",
    "down": "red",
    "stopped": "blue",
}
STATE_CODES = ["up", "late", "down", "stopped"]


def target(expr: str, legend: str = "", *, table: bool = False) -> JSON:
    """Return a Prometheus query; a table query is instant, others range."""
    return {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend,
        "format": "table" if table else "time_series",
        "instant": table,
        "range": not table,
    }


def panel(
    kind: str,
    title: str,
    size: tuple[int, int],
    targets: list[JSON],
    *,
    unit: str = "short",
    description: str = "",
    **extra: Any,
) -> JSON:
    """Return a panel of width and height size; layout() places it."""
    width, height = size
    for index, query in enumerate(targets):
        query["refId"] = chr(ord("A") + index)

    built: JSON = {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "gridPos": {"w": width, "h": height, "x": 0, "y": 0},
        "targets": targets,
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {},
    }
    built.update(extra)
    return built


def stat(
    title: str, expr: str, *, colour: str | None = None, **extra: Any
) -> JSON:
    """Return a 4-wide stat panel showing the last value of expr."""
    built = panel("stat", title, (4, 4), [target(expr)], **extra)
    built["options"] = {
        "reduceOptions": {
            "calcs": ["lastNotNull"],
            "fields": "",
            "values": False,
        },
        "colorMode": "background",
        "graphMode": "none",
        "textMode": "auto",
        "justifyMode": "center",
    }
    if colour is not None:
        built["fieldConfig"]["defaults"]["color"] = {
            "mode": "fixed",
            "fixedColor": colour,
        }
    return built


def thresholds(*steps: tuple[float | None, str]) -> JSON:
    """Return absolute thresholds from (lower bound, colour) steps."""
    return {
        "mode": "absolute",
        "steps": [
            {"value": value, "color": colour} for value, colour in steps
        ],
    }


def value_text(mapping: dict[str, tuple[str, str]]) -> list[JSON]:
    """Return a value mapping from raw value to (text, colour)."""
    options = {
        raw: {"text": text, "color": colour, "index": index}
        for index, (raw, (text, colour)) in enumerate(mapping.items())
    }
    return [{"type": "value", "options": options}]


def timeseries(
    title: str, targets: list[JSON], *, width: int = 12, **extra: Any
) -> JSON:
    """Return a time series panel, 8 high."""
    built = panel("timeseries", title, (width, 8), targets, **extra)
    built["options"] = {
        "legend": {
            "displayMode": "list",
            "placement": "bottom",
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return built


def instance_table(title: str, selector: str) -> JSON:
    """Return a table with one row per instance matching selector."""
    targets = [
        target(
            "max by (service, service_instance, state) "
            f"(simplepyms_service_state{{{selector}}} == 1)",
            table=True,
        ),
        target(
            "max by (service, service_instance) "
            f"(simplepyms_service_uptime_seconds{{{selector}}})",
            table=True,
        ),
        target(
            "max by (service, service_instance) "
            "(time() - simplepyms_service_last_seen_timestamp_seconds"
            f"{{{selector}}})",
            table=True,
        ),
        target(
            "max by (service, service_instance) "
            f"(simplepyms_service_heartbeat_interval_seconds{{{selector}}})",
            table=True,
        ),
    ]
    states = {name: (name, STATE_COLOURS[name]) for name in STATE_CODES}
    service_link = (
        f"/d/{SERVICE_UID}/simplepyms-service?var-service=${{__value.raw}}"
        "&${datasource:queryparam}"
    )
    built = panel(
        "table",
        title,
        (WIDTH, 9),
        targets,
        description="Down and stopped instances stay listed for the "
        "Monitor's retention period, 15 minutes by default.",
    )
    built["transformations"] = [
        {"id": "merge", "options": {}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {"Time": True, "Value #A": True},
                "indexByName": {
                    "service": 0,
                    "service_instance": 1,
                    "state": 2,
                    "Value #C": 3,
                    "Value #B": 4,
                    "Value #D": 5,
                },
                "renameByName": {
                    "service_instance": "instance",
                    "Value #B": "uptime",
                    "Value #C": "since last heartbeat",
                    "Value #D": "heartbeat interval",
                },
            },
        },
    ]
    built["options"] = {
        "showHeader": True,
        "sortBy": [{"displayName": "service", "desc": False}],
    }
    built["fieldConfig"]["overrides"] = [
        {
            "matcher": {"id": "byName", "options": "state"},
            "properties": [
                {"id": "mappings", "value": value_text(states)},
                {
                    "id": "custom.cellOptions",
                    "value": {"type": "color-background"},
                },
            ],
        },
        {
            "matcher": {"id": "byRegexp", "options": "Value #[BCD]"},
            "properties": [{"id": "unit", "value": "s"}],
        },
        {
            "matcher": {"id": "byName", "options": "service"},
            "properties": [
                {
                    "id": "links",
                    "value": [
                        {"title": "Service dashboard", "url": service_link}
                    ],
                }
            ],
        },
    ]
    return built


def layout(panels: list[JSON]) -> list[JSON]:
    """Place panels left to right, wrapping to a new row at full width."""
    x = y = row_height = 0
    for panel_id, item in enumerate(panels, start=1):
        grid = item["gridPos"]
        if x + grid["w"] > WIDTH:
            x, y, row_height = 0, y + row_height, 0

        grid["x"], grid["y"] = x, y
        x += grid["w"]
        row_height = max(row_height, grid["h"])
        item["id"] = panel_id
    return panels


def datasource_variable() -> JSON:
    """Return the variable every panel takes its data source from."""
    return {
        "name": "datasource",
        "label": "Data source",
        "type": "datasource",
        "query": "prometheus",
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 1,
        "regex": "",
    }


def query_variable(name: str, label: str, query: str) -> JSON:
    """Return a single-valued variable filled by a label_values() query."""
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "definition": query,
        "query": {"query": query, "refId": "StandardVariableQuery"},
        "current": {},
        "hide": 0,
        "includeAll": False,
        "multi": False,
        "options": [],
        "refresh": 2,
        "regex": "",
        "sort": 1,
    }


def dashboard(
    uid: str,
    title: str,
    panels: list[JSON],
    variables: list[JSON] | None = None,
) -> JSON:
    """Return a complete dashboard with a data source variable first."""
    return {
        "uid": uid,
        "title": title,
        "description": "simplepyms: WAMP services watched by heartbeats",
        "tags": ["simplepyms"],
        "editable": True,
        "schemaVersion": SCHEMA_VERSION,
        "version": 1,
        "refresh": "10s",
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "browser",
        "graphTooltip": 1,
        "annotations": {"list": []},
        "links": [
            {
                "type": "dashboards",
                "title": "simplepyms",
                "tags": ["simplepyms"],
                "asDropdown": False,
                "includeVars": False,
                "keepTime": True,
            }
        ],
        "templating": {"list": [datasource_variable(), *(variables or [])]},
        "panels": layout(panels),
    }


def state_count(state: str) -> JSON:
    """Return a stat panel counting instances in state.

    Late and down instances turn it their colour; up and stopped ones
    are shown in theirs whatever the count.
    """
    expr = (
        f'count(simplepyms_service_state{{state="{state}"}} == 1) or vector(0)'
    )
    if state in {"up", "stopped"}:
        return stat(f"Instances {state}", expr, colour=STATE_COLOURS[state])

    built = stat(f"Instances {state}", expr)
    built["fieldConfig"]["defaults"]["thresholds"] = thresholds(
        (None, "green"), (1, STATE_COLOURS[state])
    )
    return built


def yes_no(title: str, expr: str) -> JSON:
    """Return a stat panel that reads 1 as yes (green) and 0 as no."""
    built = stat(title, expr)
    built["fieldConfig"]["defaults"]["mappings"] = value_text(
        {"0": ("no", "red"), "1": ("yes", "green")}
    )
    return built


def fleet() -> JSON:
    """Return the dashboard of every service the Monitor sees."""
    panels = [
        *(state_count(state) for state in STATE_CODES),
        yes_no("Monitor scraped", 'min(up{job="simplepyms"})'),
        yes_no("Router connected", "min(simplepyms_monitor_router_connected)"),
        instance_table("Instances", 'service=~".+"'),
        timeseries(
            "Live instances per service",
            [
                target(
                    "max by (service) (simplepyms_service_instances)",
                    "{{service}}",
                )
            ],
        ),
        timeseries(
            "Restarts",
            [
                target(
                    "sum by (service) (increase("
                    "simplepyms_service_restarts_total[$__rate_interval]))",
                    "{{service}}",
                )
            ],
            fieldConfig={
                "defaults": {"unit": "short", "custom": {"drawStyle": "bars"}},
                "overrides": [],
            },
        ),
        timeseries(
            "Heartbeat rate",
            [
                target(
                    "sum by (service) (rate("
                    "simplepyms_service_heartbeats_total[$__rate_interval]))",
                    "accepted from {{service}}",
                ),
                target(
                    "sum(rate("
                    "simplepyms_heartbeats_received_total[$__rate_interval]))",
                    "received by the Monitor",
                ),
            ],
            unit="reqps",
            description="Accepted heartbeats per service against every "
            "message on the heartbeat topic, rejected ones included.",
        ),
        timeseries(
            "Rejected heartbeats by reason",
            [
                target(
                    "sum by (reason) (rate("
                    "simplepyms_heartbeats_rejected_total[$__rate_interval]))",
                    "{{reason}}",
                )
            ],
            unit="reqps",
        ),
        timeseries(
            "Dropped carried metrics by reason",
            [
                target(
                    "sum by (reason) (rate("
                    "simplepyms_metrics_rejected_total[$__rate_interval]))",
                    "{{reason}}",
                )
            ],
            width=WIDTH,
            unit="reqps",
            description="Single metrics dropped from otherwise valid "
            "heartbeats.",
        ),
    ]
    return dashboard(FLEET_UID, "simplepyms fleet", panels)


def state_code_expr(selector: str) -> str:
    """Return PromQL giving each instance its state's index in STATE_CODES."""
    terms = [
        f"sum by (service_instance) (simplepyms_service_state"
        f'{{{selector}, state="{state}"}}) * {code}'
        for code, state in enumerate(STATE_CODES)
    ]
    return "\n+ ".join(terms)


def service() -> JSON:
    """Return the dashboard of one service's instances and metrics."""
    selector = 'service="$service"'
    states = {
        str(code): (state, STATE_COLOURS[state])
        for code, state in enumerate(STATE_CODES)
    }
    panels = [
        stat(
            "Live instances",
            f"max(simplepyms_service_instances{{{selector}}})",
        ),
        stat(
            "Restarts in range",
            f"sum(increase(simplepyms_service_restarts_total{{{selector}}}"
            "[$__range]))",
        ),
        stat(
            "Heartbeat interval",
            "max(simplepyms_service_heartbeat_interval_seconds"
            f"{{{selector}}})",
            unit="s",
        ),
        stat(
            "Heartbeats accepted",
            f"sum(rate(simplepyms_service_heartbeats_total{{{selector}}}"
            "[$__rate_interval]))",
            unit="reqps",
        ),
        instance_table("Instances", selector),
        panel(
            "state-timeline",
            "State",
            (WIDTH, 6),
            [target(state_code_expr(selector), "{{service_instance}}")],
            fieldConfig={
                "defaults": {
                    "unit": "short",
                    "mappings": value_text(states),
                },
                "overrides": [],
            },
            options={
                "showValue": "never",
                "mergeValues": True,
                "rowHeight": 0.8,
                "legend": {"showLegend": False},
            },
        ),
        timeseries(
            "Time since last heartbeat",
            [
                target(
                    "time() - simplepyms_service_last_seen_timestamp_seconds"
                    f"{{{selector}}}",
                    "{{service_instance}}",
                ),
                target(
                    "3 * max(simplepyms_service_heartbeat_interval_seconds"
                    f"{{{selector}}})",
                    "down after",
                ),
            ],
            unit="s",
            description="An instance is down once this passes three "
            "heartbeat intervals.",
        ),
        timeseries(
            "Uptime",
            [
                target(
                    f"simplepyms_service_uptime_seconds{{{selector}}}",
                    "{{service_instance}}",
                )
            ],
            unit="s",
        ),
        timeseries(
            "Carried gauges",
            [
                target(
                    f'{{{selector}, {CARRIED}, __name__!~".+_total"}}',
                    "{{__name__}} {{service_instance}}",
                )
            ],
            width=WIDTH,
            description="Every metric the service sends in its "
            "heartbeats, counters left out.",
        ),
        carried_table(selector),
    ]
    variables = [
        query_variable(
            "service",
            "Service",
            "label_values(simplepyms_service_up, service)",
        )
    ]
    return dashboard(SERVICE_UID, "simplepyms service", panels, variables)


def carried_table(selector: str) -> JSON:
    """Return a table of the latest value of every carried metric."""
    built = panel(
        "table",
        "Carried metrics, latest values",
        (WIDTH, 9),
        [target(f"{{{selector}, {CARRIED}}}", table=True)],
    )
    built["transformations"] = [
        {
            "id": "organize",
            "options": {
                "excludeByName": {
                    "Time": True,
                    "job": True,
                    "instance": True,
                    "service": True,
                },
                "renameByName": {
                    "__name__": "metric",
                    "service_instance": "instance",
                    "Value": "value",
                },
            },
        }
    ]
    built["options"] = {
        "showHeader": True,
        "sortBy": [{"displayName": "metric", "desc": False}],
    }
    return built


def host() -> JSON:
    """Return the dashboard of the metrics the host exporter carries."""
    legend = "{{service_instance}}"

    def rate(name: str) -> str:
        return f"rate({name}[$__rate_interval])"

    panels = [
        timeseries(
            "CPU usage",
            [target("host_cpu_usage_ratio", legend)],
            unit="percentunit",
        ),
        timeseries(
            "Load average",
            [
                target("host_load1", f"1m {legend}"),
                target("host_load5", f"5m {legend}"),
                target("host_load15", f"15m {legend}"),
            ],
        ),
        timeseries(
            "Memory",
            [
                target("host_memory_used_bytes", f"used {legend}"),
                target("host_memory_available_bytes", f"available {legend}"),
                target("host_memory_total_bytes", f"total {legend}"),
            ],
            unit="bytes",
        ),
        timeseries(
            "Disk usage",
            [target("host_disk_usage_ratio", legend)],
            unit="percentunit",
            description="host_disk_used_bytes of host_disk_total_bytes.",
        ),
        timeseries(
            "Network",
            [
                target(
                    rate("host_network_received_bytes_total"),
                    f"received {legend}",
                ),
                target(
                    rate("host_network_transmitted_bytes_total"),
                    f"transmitted {legend}",
                ),
            ],
            width=WIDTH,
            unit="Bps",
        ),
        timeseries(
            "Disk space",
            [
                target("host_disk_used_bytes", f"used {legend}"),
                target("host_disk_total_bytes", f"total {legend}"),
            ],
            width=WIDTH,
            unit="bytes",
        ),
    ]
    return dashboard(HOST_UID, "simplepyms host", panels)


def render() -> dict[str, str]:
    """Return each dashboard's file name and JSON text."""
    built = {
        "fleet.json": fleet(),
        "service.json": service(),
        "host.json": host(),
    }
    return {
        name: json.dumps(board, indent=2, sort_keys=True) + "\n"
        for name, board in built.items()
    }


def main(argv: list[str] | None = None) -> int:
    """Write the dashboards, or with --check report any that differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="write nothing; exit 1 if a committed file is out of date",
    )
    args = parser.parse_args(argv)

    stale = []
    for name, text in render().items():
        path = OUTPUT_DIR / name
        current = path.read_text() if path.exists() else None
        if current == text:
            continue

        stale.append(path)
        if not args.check:
            path.write_text(text)

    if args.check and stale:
        names = ", ".join(str(path) for path in stale)
        sys.stderr.write(
            f"dashboards out of date: {names}; "
            "run python grafana/build_dashboards.py\n"
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
