"""The heartbeat wire format: building, parsing and refusing payloads."""

from __future__ import annotations

import math
from typing import Any

import pytest

from simplepyms import protocol
from simplepyms.protocol import (
    Goodbye,
    Heartbeat,
    InvalidHeartbeat,
    InvalidServiceName,
)

from .support import T0, payload


def reason_of(raw: object) -> str:
    """Return the reason parse_heartbeat gives for refusing *raw*."""
    with pytest.raises(InvalidHeartbeat) as caught:
        protocol.parse_heartbeat(raw)
    return caught.value.reason


def without(key: str) -> dict[str, Any]:
    """Return a valid payload lacking *key*."""
    raw = payload()
    del raw[key]
    return raw


class TestParseHeartbeat:
    """parse_heartbeat on payloads that are usable as a whole."""

    def test_good_payload(self) -> None:
        """A well-formed payload becomes a Heartbeat with every field."""
        raw = payload(metrics={"queue_depth": 3, "jobs_total": 7})

        expected = Heartbeat(
            service="adder",
            instance="a1",
            seq=1,
            started=T0 - 50.0,
            sent=T0,
            interval=5.0,
            metrics={"queue_depth": 3.0, "jobs_total": 7.0},
            rejected={},
        )
        assert expected == protocol.parse_heartbeat(raw)

    def test_build_round_trips(self) -> None:
        """build_heartbeat's output parses back to the same values."""
        raw = protocol.build_heartbeat(
            service="store-2",
            instance="f00d",
            seq=42,
            started=1.5,
            sent=99.25,
            interval=0.05,
            metrics={"ratio": 0.5, "writes_total": 12.0},
        )

        beat = protocol.parse_heartbeat(raw)

        assert ("store-2", "f00d", 42) == (
            beat.service,
            beat.instance,
            beat.seq,
        )
        assert (1.5, 99.25, 0.05) == (beat.started, beat.sent, beat.interval)
        assert {"ratio": 0.5, "writes_total": 12.0} == beat.metrics

    def test_build_sets_version(self) -> None:
        """build_heartbeat stamps the current protocol version."""
        assert protocol.VERSION == payload()["v"]

    @pytest.mark.parametrize("interval", [0.05, 3600.0, 3600])
    def test_interval_limits_are_inclusive(self, interval: float) -> None:
        """An interval at either end of the allowed range is accepted."""
        beat = protocol.parse_heartbeat(payload(interval=interval))

        assert float(interval) == beat.interval

    def test_seq_zero_accepted(self) -> None:
        """A sequence number of 0 is a non-negative integer."""
        assert 0 == protocol.parse_heartbeat(payload(seq=0)).seq

    def test_seq_past_64_bits_refused(self) -> None:
        """2**63 cannot be stored: refused as bad_field, 2**63 - 1 kept."""
        raw = payload()
        raw["seq"] = 2**63

        with pytest.raises(protocol.InvalidHeartbeat) as refused:
            protocol.parse_heartbeat(raw)
        assert "bad_field" == refused.value.reason
        assert (
            2**63 - 1 == protocol.parse_heartbeat(payload(seq=2**63 - 1)).seq
        )

    def test_exactly_max_metrics_accepted(self) -> None:
        """A heartbeat carrying exactly MAX_METRICS metrics is kept."""
        metrics = {f"m{i}": i for i in range(protocol.MAX_METRICS)}

        beat = protocol.parse_heartbeat(payload(metrics=metrics))

        assert protocol.MAX_METRICS == len(beat.metrics)


class TestRejectHeartbeat:
    """parse_heartbeat refuses a heartbeat as a whole, with a reason."""

    @pytest.mark.parametrize(
        "raw", [None, [], ["v", 1], "heartbeat", 42, b"{}", ("a", 1)]
    )
    def test_not_a_dict(self, raw: object) -> None:
        """Anything but a dict is refused as not_a_dict."""
        assert "not_a_dict" == reason_of(raw)

    @pytest.mark.parametrize("key", protocol._REQUIRED)
    def test_missing_field(self, key: str) -> None:
        """A payload lacking any required field is refused."""
        assert "missing_field" == reason_of(without(key))

    def test_empty_dict_missing_field(self) -> None:
        """An empty dict lacks every field."""
        assert "missing_field" == reason_of({})

    def test_missing_field_detail_names_fields(self) -> None:
        """The detail of missing_field lists what is missing."""
        with pytest.raises(InvalidHeartbeat) as caught:
            protocol.parse_heartbeat(without("seq"))

        assert "'seq'" in caught.value.detail

    @pytest.mark.parametrize(
        ("key", "bad"),
        [
            ("service", "bad name"),
            ("service", ""),
            ("service", "-leading-dash"),
            ("service", "a" * (protocol.MAX_NAME_LENGTH + 1)),
            ("service", 7),
            ("service", None),
            ("instance", ""),
            ("instance", "i" * (protocol.MAX_INSTANCE_LENGTH + 1)),
            ("instance", 7),
            ("seq", True),
            ("seq", False),
            ("seq", -1),
            ("seq", 1.0),
            ("seq", "1"),
            ("started", math.nan),
            ("started", math.inf),
            ("started", -1.0),
            ("started", True),
            ("started", "now"),
            ("sent", math.nan),
            ("sent", -math.inf),
            ("sent", None),
            ("interval", 0.0),
            ("interval", 0.049),
            ("interval", 3600.5),
            ("interval", math.nan),
            ("interval", True),
            ("interval", "5"),
            ("metrics", []),
            ("metrics", None),
            ("metrics", "queue_depth=3"),
        ],
    )
    def test_bad_field(self, key: str, bad: object) -> None:
        """A field of the wrong type or out of range is refused."""
        raw = payload()
        raw[key] = bad

        assert "bad_field" == reason_of(raw)

    def test_bad_field_detail_names_field(self) -> None:
        """The detail of bad_field starts with the field's name."""
        with pytest.raises(InvalidHeartbeat) as caught:
            protocol.parse_heartbeat(payload(seq=-1))

        assert caught.value.detail.startswith("seq:")

    @pytest.mark.parametrize("version", [2, 0, "1", None, True, 1.5])
    def test_unsupported_version(self, version: object) -> None:
        """A version other than the integer 1 is refused."""
        raw = payload()
        raw["v"] = version

        assert "unsupported_version" == reason_of(raw)

    def test_too_many_metrics(self) -> None:
        """More than MAX_METRICS carried metrics are refused outright."""
        metrics = {f"m{i}": i for i in range(protocol.MAX_METRICS + 1)}

        assert "too_many_metrics" == reason_of(payload(metrics=metrics))

    def test_too_large(self) -> None:
        """Long names that add up past MAX_HEARTBEAT_BYTES are refused."""
        name = "m" * protocol.MAX_NAME_LENGTH
        each = len(name) + protocol.NUMBER_BYTES
        count = protocol.MAX_HEARTBEAT_BYTES // each + 1
        metrics = {f"{name[4:]}{i:04d}": 1 for i in range(count)}

        assert count <= protocol.MAX_METRICS
        assert "too_large" == reason_of(payload(metrics=metrics))

    def test_message_joins_reason_and_detail(self) -> None:
        """str() of InvalidHeartbeat reads 'reason: detail'."""
        error = InvalidHeartbeat("bad_field", "seq: negative")

        assert "bad_field: seq: negative" == str(error)

    def test_every_reason_is_listed(self) -> None:
        """Every reason raised in these tests is an exported label value."""
        assert {
            "not_a_dict",
            "missing_field",
            "bad_field",
            "unsupported_version",
            "too_many_metrics",
            "too_large",
        } == set(protocol.HEARTBEAT_REJECT_REASONS)

    def test_every_metric_reason_is_listed(self) -> None:
        """Every per-metric reason is an exported label value."""
        assert {
            "bad_name",
            "reserved_name",
            "unconventional_name",
            "not_a_number",
            "bad_counter",
        } == set(protocol.METRIC_REJECT_REASONS)

    @pytest.mark.parametrize("key", ["started", "sent", "interval"])
    def test_huge_int_timestamp_is_bad_field(self, key: str) -> None:
        """An integer too large for a float is refused as bad_field."""
        raw = payload()
        raw[key] = 10**400

        assert "bad_field" == reason_of(raw)


class TestCarriedMetrics:
    """Bad carried metrics are dropped one by one and counted by reason."""

    @pytest.mark.parametrize(
        ("name", "number", "reason"),
        [
            ("bad name", 1, "bad_name"),
            ("1starts_with_digit", 1, "bad_name"),
            ("", 1, "bad_name"),
            ("dash-ed", 1, "bad_name"),
            ("job:rate", 1, "bad_name"),
            ("QueueDepth", 1, "bad_name"),
            ("_total", 1, "bad_name"),
            ("x" * (protocol.MAX_NAME_LENGTH + 1), 1, "bad_name"),
            ("simplepyms_x", 1, "reserved_name"),
            ("simplepyms_service_up", 1, "reserved_name"),
            ("process_resident_memory_bytes", 1, "reserved_name"),
            ("process_cpu_seconds_total", 1, "reserved_name"),
            ("python_info", 1, "reserved_name"),
            ("__hidden", 1, "reserved_name"),
            ("up", 1, "reserved_name"),
            ("scrape_duration_seconds", 1, "reserved_name"),
            ("latency_ms", 1, "unconventional_name"),
            ("latency_milliseconds", 1, "unconventional_name"),
            ("cache_kilobytes", 1, "unconventional_name"),
            ("uptime_minutes_total", 1, "unconventional_name"),
            ("queue_gauge", 1, "unconventional_name"),
            ("jobs_counter_total", 1, "unconventional_name"),
            ("requests_count", 1, "unconventional_name"),
            ("requests_sum", 1, "unconventional_name"),
            ("latency_bucket", 1, "unconventional_name"),
            ("text", "3", "not_a_number"),
            ("nothing", None, "not_a_number"),
            ("listed", [1], "not_a_number"),
            ("mapped", {"a": 1}, "not_a_number"),
            ("jobs_total", math.nan, "bad_counter"),
            ("jobs_total", math.inf, "bad_counter"),
            ("jobs_total", -math.inf, "bad_counter"),
        ],
    )
    def test_dropped_with_reason(
        self, name: str, number: object, reason: str
    ) -> None:
        """One bad metric is dropped, counted under its reason."""
        raw = payload(metrics={name: number, "kept": 2})

        beat = protocol.parse_heartbeat(raw)

        assert {reason: 1} == beat.rejected
        assert {"kept": 2.0} == beat.metrics

    def test_non_string_name(self) -> None:
        """A metric keyed by a non-string is dropped as bad_name."""
        beat = protocol.parse_heartbeat(payload(metrics={5: 1, "kept": 2}))

        assert {"bad_name": 1} == beat.rejected

    def test_counts_add_up_by_reason(self) -> None:
        """Several bad metrics are counted per reason; good ones stay."""
        metrics = {
            "queue_depth": 4,
            "bad name": 1,
            "9lives": 1,
            "simplepyms_x": 1,
            "up": 1,
            "size_kilobytes": 1,
            "text": "x",
            "nothing": None,
            "listed": [],
            "mapped": {},
            "a_total": math.nan,
            "b_total": math.inf,
            "jobs_total": 10,
        }

        beat = protocol.parse_heartbeat(payload(metrics=metrics))

        assert {
            "bad_name": 2,
            "reserved_name": 2,
            "unconventional_name": 1,
            "not_a_number": 4,
            "bad_counter": 2,
        } == beat.rejected
        assert {"queue_depth": 4.0, "jobs_total": 10.0} == beat.metrics

    def test_bools_are_zero_and_one(self) -> None:
        """Booleans are accepted as the numbers 1 and 0."""
        raw = payload(metrics={"ready": True, "draining": False})

        beat = protocol.parse_heartbeat(raw)

        assert {"ready": 1.0, "draining": 0.0} == beat.metrics

    @pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
    def test_gauge_may_be_non_finite(self, number: float) -> None:
        """A gauge may carry NaN or an infinity."""
        beat = protocol.parse_heartbeat(payload(metrics={"ratio": number}))

        assert {} == beat.rejected
        assert math.isnan(number) == math.isnan(beat.metrics["ratio"])
        if not math.isnan(number):
            assert number == beat.metrics["ratio"]

    def test_values_become_floats(self) -> None:
        """Integer values are kept as floats."""
        beat = protocol.parse_heartbeat(payload(metrics={"n": 3}))

        assert isinstance(beat.metrics["n"], float)

    @pytest.mark.parametrize(
        "name",
        [
            "queue_depth",
            "_private",
            "jobs_total",
            "request_duration_seconds",
            "host_memory_used_bytes",
            "temperature_celsius",
            "host_cpus",
            "m_total",
        ],
    )
    def test_conventional_names_kept(self, name: str) -> None:
        """Snake-case names with base units are carried as sent."""
        beat = protocol.parse_heartbeat(payload(metrics={name: 1}))

        assert {name: 1.0} == beat.metrics

    def test_negative_counter_dropped(self) -> None:
        """A counter below zero cannot have counted anything: dropped."""
        beat = protocol.parse_heartbeat(payload(metrics={"x_total": -1}))

        assert ({}, {"bad_counter": 1}) == (beat.metrics, beat.rejected)

    def test_huge_int_value_dropped(self) -> None:
        """A value too large for a float is dropped, not raised."""
        raw = payload(metrics={"huge": 10**400, "kept": 1})

        beat = protocol.parse_heartbeat(raw)

        assert {"kept": 1.0} == beat.metrics
        assert 1 == sum(beat.rejected.values())


class TestGoodbye:
    """build_goodbye and parse_goodbye."""

    def test_round_trip(self) -> None:
        """A built goodbye parses back to the same Goodbye."""
        raw = protocol.build_goodbye(
            service="adder", instance="a1", reason="restart"
        )

        expected = Goodbye(service="adder", instance="a1", reason="restart")
        assert expected == protocol.parse_goodbye(raw)

    def test_reason_defaults_to_stop(self) -> None:
        """A goodbye without a reason reads as a stop."""
        bye = protocol.parse_goodbye({"service": "adder", "instance": "a1"})

        assert "stop" == bye.reason

    def test_non_string_reason_reads_as_stop(self) -> None:
        """A reason that is not a string reads as a stop."""
        raw = {"service": "adder", "instance": "a1", "reason": 3}

        assert "stop" == protocol.parse_goodbye(raw).reason

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            (None, "not_a_dict"),
            (["adder", "a1"], "not_a_dict"),
            ({}, "missing_field"),
            ({"service": "adder"}, "missing_field"),
            ({"instance": "a1"}, "missing_field"),
            ({"service": "bad name", "instance": "a1"}, "bad_field"),
            ({"service": "adder", "instance": ""}, "bad_field"),
            ({"service": "adder", "instance": 5}, "bad_field"),
        ],
    )
    def test_refused(self, raw: object, reason: str) -> None:
        """A malformed goodbye is refused with the matching reason."""
        with pytest.raises(InvalidHeartbeat) as caught:
            protocol.parse_goodbye(raw)

        assert reason == caught.value.reason


class TestServiceName:
    """check_service_name."""

    @pytest.mark.parametrize(
        "name", ["adder", "a", "_private", "store-2", "9", "A" * 128]
    )
    def test_accepted(self, name: str) -> None:
        """A usable name is returned unchanged."""
        assert name == protocol.check_service_name(name)

    @pytest.mark.parametrize(
        "name",
        ["", "-x", "has space", "dot.ted", "ümlaut", "a\n", "A" * 129, 5],
    )
    def test_refused(self, name: object) -> None:
        """An unusable name raises InvalidServiceName."""
        with pytest.raises(InvalidServiceName):
            protocol.check_service_name(name)

    def test_message_names_value(self) -> None:
        """The error message shows the refused value."""
        with pytest.raises(InvalidServiceName, match=r"got 'dot\.ted'"):
            protocol.check_service_name("dot.ted")

    def test_is_a_value_error(self) -> None:
        """InvalidServiceName can be caught as a ValueError."""
        assert issubclass(InvalidServiceName, ValueError)


class TestUris:
    """The URIs services register and the topics everyone uses."""

    def test_stop_uri(self) -> None:
        """The stop procedure lives under py.ms.<service>."""
        assert "py.ms.adder.stop" == protocol.stop_uri("adder")

    def test_restart_uri(self) -> None:
        """The restart procedure lives under py.ms.<service>."""
        assert "py.ms.adder.restart" == protocol.restart_uri("adder")

    @pytest.mark.parametrize(
        "topic",
        [
            protocol.HEARTBEAT_TOPIC,
            protocol.GOODBYE_TOPIC,
            protocol.DISCOVER_TOPIC,
            protocol.LOST_TOPIC,
        ],
    )
    def test_topics_under_prefix(self, topic: str) -> None:
        """Every topic lives under py.ms."""
        assert topic.startswith("py.ms.")

    @pytest.mark.parametrize(
        ("name", "counter"),
        [("jobs_total", True), ("queue_depth", False), ("total", False)],
    )
    def test_is_counter(self, name: str, counter: bool) -> None:
        """A name ending in _total is a counter, any other a gauge."""
        assert counter is protocol.is_counter(name)
