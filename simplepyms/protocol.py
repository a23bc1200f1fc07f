"""The heartbeat wire format: URIs, payload fields, limits and validation.

Both sides use this module: a service builds its heartbeats with
:func:`build_heartbeat`, and the Monitor accepts them with
:func:`parse_heartbeat`.  ``docs/protocol.md`` describes the same rules
for people.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from simplepyms import naming

VERSION: Final = 1

PREFIX: Final = "py.ms"
HEARTBEAT_TOPIC: Final = f"{PREFIX}.heartbeat"
GOODBYE_TOPIC: Final = f"{PREFIX}.goodbye"
DISCOVER_TOPIC: Final = f"{PREFIX}.discover"
#: Published by the router, from a testament, when a session dies.
LOST_TOPIC: Final = f"{PREFIX}.lost"

MAX_METRICS: Final = 1000
#: The most a heartbeat may weigh, as JSON; the Monitor estimates it from
#: the names it carries (a number counts as :data:`NUMBER_BYTES`).
MAX_HEARTBEAT_BYTES: Final = 128 * 1024
NUMBER_BYTES: Final = 24
ENVELOPE_BYTES: Final = 256
MAX_NAME_LENGTH: Final = 128
MAX_INSTANCE_LENGTH: Final = 64
#: The largest ``seq``: what a signed 64-bit integer holds, as SQLite,
#: JSON parsers in other languages and the state file expect.
MAX_SEQ: Final = 2**63 - 1
MIN_INTERVAL: Final = 0.05
MAX_INTERVAL: Final = 3600.0

#: Service names become URI components (``py.ms.<name>.stop``) and label
#: values, so they keep to WAMP's loose URI component characters.
SERVICE_NAME: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_-]*")
#: Instance ids are random tokens; keeping them plain keeps logs plain.
INSTANCE_ID: Final = re.compile(r"[A-Za-z0-9._:-]+")
#: Carried metric names are exported as they are sent, so they keep to
#: Prometheus' snake_case names (no colons: those mark recording rules).
METRIC_NAME: Final = re.compile(r"[a-z_][a-z0-9_]*")
#: Names the Monitor's own families, or Prometheus itself, already use.
RESERVED_METRIC_PREFIXES: Final = (
    "simplepyms_",
    "process_",
    "python_",
    "scrape_",
    "__",
)
RESERVED_METRIC_NAMES: Final = frozenset({"up"})
#: A carried metric whose name ends so is a counter; any other a gauge.
COUNTER_SUFFIX: Final = "_total"

#: Why a heartbeat as a whole was refused; exported as label values.
HEARTBEAT_REJECT_REASONS: Final = (
    "not_a_dict",
    "missing_field",
    "bad_field",
    "unsupported_version",
    "too_many_metrics",
    "too_large",
)
#: Why one carried metric was dropped from an otherwise good heartbeat.
METRIC_REJECT_REASONS: Final = (
    "bad_name",
    "reserved_name",
    "unconventional_name",
    "not_a_number",
    "bad_counter",
)

_REQUIRED: Final = (
    "v",
    "service",
    "instance",
    "seq",
    "started",
    "sent",
    "interval",
    "metrics",
)


def stop_uri(service: str) -> str:
    """Return the procedure that stops *service*."""
    return f"{PREFIX}.{service}.stop"


def restart_uri(service: str) -> str:
    """Return the procedure that restarts *service*."""
    return f"{PREFIX}.{service}.restart"


def is_counter(metric: str) -> bool:
    """Tell whether a carried metric called *metric* is a counter."""
    return metric.endswith(COUNTER_SUFFIX)


class InvalidHeartbeat(ValueError):  # noqa: N818 - reads as a verdict
    """A heartbeat the Monitor refuses as a whole.

    Attributes:
        reason: one of :data:`HEARTBEAT_REJECT_REASONS`.
        detail: what exactly was wrong, for the log.
    """

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class InvalidServiceName(ValueError):  # noqa: N818 - reads as a verdict
    """A service name that cannot be used in URIs and labels."""


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A validated heartbeat.

    ``metrics`` holds only the carried metrics that passed validation;
    ``rejected`` counts, by reason, those that did not.
    """

    service: str
    instance: str
    seq: int
    started: float
    sent: float
    interval: float
    metrics: Mapping[str, float]
    rejected: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Goodbye:
    """A validated goodbye: the instance ended on purpose."""

    service: str
    instance: str
    reason: str


def shown(value: object, limit: int = 160) -> str:
    """Return a short repr of *value* for an error message.

    A payload may hold a megabyte string or an integer too long to
    print; the message must stay short and printing must not fail.
    """
    try:
        text = repr(value)
    except ValueError:  # an int beyond sys.get_int_max_str_digits()
        text = f"<{type(value).__name__} too large to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def check_service_name(name: object) -> str:
    """Return *name* if it is a usable service name.

    Raises:
        InvalidServiceName: if it is not a string of 1 to
            :data:`MAX_NAME_LENGTH` letters, digits, ``_`` or ``-``.
    """
    if (
        not isinstance(name, str)
        or len(name) > MAX_NAME_LENGTH
        or SERVICE_NAME.fullmatch(name) is None
    ):
        raise InvalidServiceName(
            f"service name must be 1 to {MAX_NAME_LENGTH} letters, digits,"
            f" '_' or '-' (not starting with '-'), got {shown(name)}"
        )
    return name


#: Services send the same names in every heartbeat: judge each once.
NAME_CACHE_SIZE: Final = 65_536


@functools.lru_cache(maxsize=NAME_CACHE_SIZE)
def check_metric_name(name: str) -> str | None:
    """Return why *name* cannot be a carried metric, or None if it can.

    ``bad_name``: not ``[a-z_][a-z0-9_]*`` of at most
    :data:`MAX_NAME_LENGTH` characters (or nothing before ``_total``).
    ``reserved_name``: the Monitor or Prometheus has it already.
    ``unconventional_name``: a name ``promtool check metrics`` objects to,
    such as a unit that is not a base unit.
    """
    if (
        len(name) > MAX_NAME_LENGTH
        or METRIC_NAME.fullmatch(name) is None
        or name == COUNTER_SUFFIX
    ):
        return "bad_name"
    if name.startswith(RESERVED_METRIC_PREFIXES) or name in (
        RESERVED_METRIC_NAMES
    ):
        return "reserved_name"
    if not naming.conventional(name, counter=is_counter(name)):
        return "unconventional_name"
    return None


def check_metric(name: object, value: object) -> float | str:
    """Return a carried metric's value as a float, or why it is refused.

    The one rule for both sides: the library drops what this refuses
    before it publishes, and the Monitor on receipt.
    """
    if not isinstance(name, str):
        return "bad_name"
    reason = check_metric_name(name)
    return reason if reason is not None else metric_value(name, value)


def metric_value(name: str, value: object) -> float | str:
    """Return *value* as a float, or the reason it is refused.

    Booleans count as 0 and 1.  Gauges may be NaN or infinite;
    counters must be finite.
    """
    if not isinstance(value, int | float):
        return "not_a_number"
    try:
        number = float(value)
    except OverflowError:
        # An integer too large for a float: JSON allows it, we do not.
        return "not_a_number"
    if is_counter(name) and not 0 <= number < math.inf:
        return "bad_counter"
    return number


def build_heartbeat(
    *,
    service: str,
    instance: str,
    seq: int,
    started: float,
    sent: float,
    interval: float,
    metrics: Mapping[str, float],
) -> dict[str, Any]:
    """Return the payload a service publishes on :data:`HEARTBEAT_TOPIC`."""
    return {
        "v": VERSION,
        "service": service,
        "instance": instance,
        "seq": seq,
        "started": started,
        "sent": sent,
        "interval": interval,
        "metrics": dict(metrics),
    }


def parse_heartbeat(payload: object) -> Heartbeat:
    """Validate a received heartbeat.

    Bad carried metrics are dropped one by one and counted in
    ``Heartbeat.rejected``; the rest of the heartbeat is kept.

    Raises:
        InvalidHeartbeat: if the heartbeat cannot be used at all.
    """
    if not isinstance(payload, dict):
        raise InvalidHeartbeat(
            "not_a_dict", f"expected a dict, got {type(payload).__name__}"
        )

    missing = [key for key in _REQUIRED if key not in payload]
    if missing:
        raise InvalidHeartbeat("missing_field", f"missing {missing}")

    version = payload["v"]
    if type(version) is not int or version != VERSION:
        raise InvalidHeartbeat(
            "unsupported_version", f"v must be {VERSION}, got {shown(version)}"
        )

    service = _field(payload, "service", _service)
    instance = _field(payload, "instance", _instance)
    seq = _field(payload, "seq", _seq)
    started = _field(payload, "started", _timestamp)
    sent = _field(payload, "sent", _timestamp)
    interval = _field(payload, "interval", _interval)
    raw_metrics = payload["metrics"]
    if not isinstance(raw_metrics, dict):
        raise InvalidHeartbeat("bad_field", "metrics must be a dict")
    if len(raw_metrics) > MAX_METRICS:
        raise InvalidHeartbeat(
            "too_many_metrics",
            f"{len(raw_metrics)} metrics, at most {MAX_METRICS}",
        )

    metrics, rejected = _metrics(raw_metrics)
    return Heartbeat(
        service=service,
        instance=instance,
        seq=seq,
        started=started,
        sent=sent,
        interval=interval,
        metrics=metrics,
        rejected=rejected,
    )


def build_goodbye(
    *, service: str, instance: str, reason: str
) -> dict[str, Any]:
    """Return the payload a service publishes on :data:`GOODBYE_TOPIC`."""
    return {
        "v": VERSION,
        "service": service,
        "instance": instance,
        "reason": reason,
    }


def parse_goodbye(payload: object) -> Goodbye:
    """Validate a received goodbye.

    Raises:
        InvalidHeartbeat: with the same reasons as :func:`parse_heartbeat`.
    """
    if not isinstance(payload, dict):
        raise InvalidHeartbeat(
            "not_a_dict", f"expected a dict, got {type(payload).__name__}"
        )
    missing = [k for k in ("service", "instance") if k not in payload]
    if missing:
        raise InvalidHeartbeat("missing_field", f"missing {missing}")

    reason = payload.get("reason", "stop")
    return Goodbye(
        service=_field(payload, "service", _service),
        instance=_field(payload, "instance", _instance),
        reason=reason if isinstance(reason, str) else "stop",
    )


def _field(payload: dict[Any, Any], key: str, convert: Any) -> Any:
    value = payload[key]
    try:
        return convert(value)
    except (TypeError, ValueError, OverflowError) as error:
        raise InvalidHeartbeat("bad_field", f"{key}: {error}") from error


def _service(value: object) -> str:
    return check_service_name(value)


def _instance(value: object) -> str:
    if (
        not isinstance(value, str)
        or len(value) > MAX_INSTANCE_LENGTH
        or INSTANCE_ID.fullmatch(value) is None
    ):
        raise ValueError(
            f"must be 1 to {MAX_INSTANCE_LENGTH} letters, digits or '._:-',"
            f" got {shown(value)}"
        )
    return value


def _seq(value: object) -> int:
    if (
        not isinstance(value, int)
        or isinstance(value, bool)
        or not 0 <= value <= MAX_SEQ
    ):
        raise ValueError(
            f"must be an integer from 0 to 2**63 - 1, got {shown(value)}"
        )
    return value


def _timestamp(value: object) -> float:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise TypeError(f"must be Unix seconds, got {shown(value)}")
    number = float(value)
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"must be finite and positive, got {shown(value)}")
    return number


def _interval(value: object) -> float:
    number = _timestamp(value)
    if not MIN_INTERVAL <= number <= MAX_INTERVAL:
        raise ValueError(
            f"must be {MIN_INTERVAL} to {MAX_INTERVAL} seconds,"
            f" got {shown(value)}"
        )
    return number


def _metrics(
    raw: dict[Any, Any],
) -> tuple[dict[str, float], dict[str, int]]:
    metrics: dict[str, float] = {}
    rejected: dict[str, int] = {}
    weight = ENVELOPE_BYTES
    for name, value in raw.items():
        weight += NUMBER_BYTES + (
            len(name) if isinstance(name, str) else NUMBER_BYTES
        )
        number = check_metric(name, value)
        if isinstance(number, float):
            metrics[name] = number
        else:
            rejected[number] = rejected.get(number, 0) + 1
    if weight > MAX_HEARTBEAT_BYTES:
        raise InvalidHeartbeat(
            "too_large", f"about {weight} bytes, at most {MAX_HEARTBEAT_BYTES}"
        )
    return metrics, rejected
