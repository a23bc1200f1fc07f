"""Hypothesis strategies for what can arrive on the Monitor's topics.

Three kinds of input: anything a WAMP serializer can deliver (JSON-like
values, plus the bytes, tuples and decimals that msgpack and CBOR add);
heartbeats that are valid but for one field; and valid heartbeats whose
carried metrics have adversarial names and values.

Text includes lone surrogates, which JSON can carry ("\\ud800") but UTF-8
cannot encode.
"""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction
from typing import Any, Final

from hypothesis import strategies as st

from simplepyms import naming, protocol

#: The service that heartbeats correctly throughout; garbage never names it.
GOOD_SERVICE: Final = "good"

TRICKY_TEXT: Final = (
    "",
    " ",
    '"',
    "\\",
    "\n",
    "\r\n",
    "\x00",
    "\x00AAAA",
    "\t",
    "}",
    '{a="b"}',
    "# TYPE x gauge",
    "# HELP x y",
    'a"b\\c\nd',
    "\\n",
    "\\x",
    "é",
    "☃",
    "\u2028",
    "\u202e",
    "\ufeff",
    "\U0001f600",
    "\ud800",
    "a\udfffb",
    "NaN",
    "+Inf",
    "1e309",
    "up",
    "job",
    "instance",
)

HUGE_INTEGERS: Final = (
    2**53 + 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**308,
    10**309,
    10**400,
    -(10**400),
)

text = st.one_of(
    st.text(st.characters(), max_size=24),
    st.sampled_from(TRICKY_TEXT),
)
integers = st.one_of(st.integers(), st.sampled_from(HUGE_INTEGERS))
numbers = st.one_of(integers, st.floats(), st.booleans())
scalars = st.one_of(
    st.none(),
    st.booleans(),
    integers,
    st.floats(),
    text,
    st.binary(max_size=8),
)
#: What msgpack and CBOR can deliver beyond JSON.
exotic_scalars = st.one_of(
    st.decimals(),
    st.fractions(max_denominator=100),
    st.sampled_from((Decimal("NaN"), Fraction(1, 3), b"\x00\xff")),
)
hashable_keys = st.one_of(text, integers, st.booleans(), st.none())


def _containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(text, children, max_size=4),
        st.dictionaries(hashable_keys, children, max_size=3),
    )


wire_values = st.recursive(
    st.one_of(scalars, exotic_scalars), _containers, max_leaves=12
)

# ---- names of services, instances and carried metrics ---------------------

service_names = st.from_regex(
    r"[A-Za-z0-9_][A-Za-z0-9_-]{0,15}", fullmatch=True
).filter(lambda name: name != GOOD_SERVICE)
instance_ids = st.one_of(
    st.from_regex(protocol.INSTANCE_ID, fullmatch=True).filter(
        lambda value: len(value) <= protocol.MAX_INSTANCE_LENGTH
    ),
    st.sampled_from(("host:9100", "10.0.0.1:80", "a.b-c_d", "-", ".", ":")),
    st.just("x" * protocol.MAX_INSTANCE_LENGTH),
)

NAME_PREFIXES: Final = (
    "",
    "_",
    "__",
    "simplepyms_",
    "process_",
    "python_",
    "scrape_",
    "go_",
    "up_",
    "job_",
    "instance_",
    "milli",
)
NAME_SUFFIXES: Final = (
    "",
    "_total",
    "_total_total",
    "_count",
    "_sum",
    "_bucket",
    "_info",
    "_created",
    "_ms",
    "_s",
    "_sec",
    "_us",
    "_kb",
    "_milliseconds",
    "_microseconds",
    "_kilobytes",
    "_megabits",
    "_minutes",
    "_hours",
    "_fahrenheit",
    "_kelvins",
    "_seconds",
    "_bytes",
    "_celsius",
    "_ratio",
    "_percent",
    "_gauge",
    "_counter",
    "_histogram",
    "_summary",
    "_count_total",
    "_seconds_total",
    "_ms_total",
    "_sum_total",
    "_bucket_total",
)
SPECIAL_NAMES: Final = (
    "up",
    "_total",
    "total",
    "_",
    "__name__",
    "le",
    "quantile",
    "a" * protocol.MAX_NAME_LENGTH,
    "a" * (protocol.MAX_NAME_LENGTH + 1),
    "a" * (protocol.MAX_NAME_LENGTH - 6) + "_total",
    "ms_queue",
    "seconds",
    "gauge_level",
    "kilo_bytes",
    "queue_depth",
    "jobs_done_total",
)
_stems = st.from_regex(
    r"[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,5}){0,2}", fullmatch=True
)

composed_names = st.builds(
    lambda prefix, stem, suffix: prefix + stem + suffix,
    st.sampled_from(NAME_PREFIXES),
    _stems,
    st.sampled_from(NAME_SUFFIXES),
)
camel_names = st.from_regex(r"[a-z]{1,6}[A-Z][a-zA-Z0-9]{0,6}", fullmatch=True)
colon_names = st.from_regex(
    r"[a-z_:][a-z0-9_]{0,6}:[a-z0-9_:]{0,6}", fullmatch=True
)
#: Words promtool's lint reacts to, to be strung together with "_".
LINT_WORDS: Final = (
    *sorted(naming.BASE_UNITS),
    *sorted(naming.OTHER_UNITS),
    *sorted(naming.ABBREVIATED_UNITS),
    *sorted(naming.TYPE_WORDS),
    *(
        prefix + unit
        for prefix in naming.UNIT_PREFIXES
        for unit in ("seconds", "bytes", "bits")
    ),
    "milli",
    "kilo",
    "count",
    "sum",
    "bucket",
    "total",
    "info",
    "created",
    "le",
    "quantile",
    "ratio",
    "percent",
    "",
)
word_salad_names = st.lists(
    st.one_of(st.sampled_from(LINT_WORDS), _stems), min_size=1, max_size=4
).map("_".join)
metric_names = st.one_of(
    word_salad_names,
    word_salad_names,
    composed_names,
    composed_names,
    camel_names,
    colon_names,
    st.sampled_from(SPECIAL_NAMES),
    st.from_regex(r"[a-z_][a-z0-9_]{0,20}", fullmatch=True),
    text,
)
metric_keys = st.one_of(
    metric_names,
    metric_names,
    metric_names,
    integers,
    st.none(),
    st.binary(max_size=6),
)
metric_values = st.one_of(
    st.floats(),
    st.floats(min_value=0, allow_infinity=False),
    integers,
    st.booleans(),
    st.sampled_from((float("nan"), float("inf"), float("-inf"), -0.0)),
    st.one_of(
        text,
        st.none(),
        st.lists(st.integers(), max_size=2),
        st.binary(max_size=4),
        exotic_scalars,
    ),
)
#: Anything at all as carried metrics: bad keys, bad values.
carried_metrics = st.dictionaries(metric_keys, metric_values, max_size=12)
#: Names near promtool's rules with numbers, so that many are exported.
adversarial_metrics = st.dictionaries(
    metric_names,
    st.one_of(st.floats(), integers, st.booleans()),
    min_size=1,
    max_size=16,
)

# ---- heartbeats -----------------------------------------------------------

timestamps = st.one_of(
    st.floats(min_value=0, max_value=4e9),
    st.floats(min_value=0, allow_infinity=False),
    st.integers(min_value=0, max_value=2**62),
)
intervals = st.one_of(
    st.floats(
        min_value=protocol.MIN_INTERVAL, max_value=protocol.MAX_INTERVAL
    ),
    st.sampled_from((protocol.MIN_INTERVAL, protocol.MAX_INTERVAL, 5, 5.0)),
)


@st.composite
def valid_heartbeats(
    draw: st.DrawFn,
    metrics: st.SearchStrategy[dict[Any, Any]] | None = None,
) -> dict[Any, Any]:
    """Draw a heartbeat the Monitor must accept, carrying *metrics*."""
    return protocol.build_heartbeat(
        service=draw(service_names),
        instance=draw(instance_ids),
        seq=draw(st.one_of(st.integers(min_value=0), st.just(10**400))),
        started=draw(timestamps),
        sent=draw(timestamps),
        interval=draw(intervals),
        metrics=draw(
            st.one_of(carried_metrics, adversarial_metrics)
            if metrics is None
            else metrics
        ),
    )


HEARTBEAT_FIELDS: Final = (
    "v",
    "service",
    "instance",
    "seq",
    "started",
    "sent",
    "interval",
    "metrics",
)

NEAR_MISSES: Final[dict[str, tuple[object, ...]]] = {
    "v": (0, 2, True, 1.0, "1", None, -1, 10**400, [1]),
    "service": (
        "",
        "-adder",
        "add.er",
        "add er",
        "adder\n",
        "ädder",
        "a/b",
        "a" * (protocol.MAX_NAME_LENGTH + 1),
        None,
        1,
        b"adder",
        ["adder"],
    ),
    "instance": (
        "",
        "x" * (protocol.MAX_INSTANCE_LENGTH + 1),
        "a b",
        "a/b",
        'a"b',
        "a\nb",
        "\ud800",
        "é",
        None,
        5,
        b"a1",
        {"a": 1},
    ),
    "seq": (-1, True, False, 1.0, "1", None, -(10**400), float("nan")),
    "started": (
        -1,
        -1e-300,
        float("nan"),
        float("inf"),
        float("-inf"),
        True,
        "0",
        10**400,
        None,
    ),
    "sent": (-1, float("nan"), float("inf"), False, 10**309, "now"),
    "interval": (
        0,
        0.0499,
        3600.0001,
        float("nan"),
        float("inf"),
        -5,
        True,
        10**400,
        "5",
    ),
    "metrics": (
        None,
        [],
        "queue_depth",
        [("queue_depth", 1)],
        (("queue_depth", 1),),
        {str(n): n for n in range(protocol.MAX_METRICS + 1)},
        {f"m{n}": n for n in range(protocol.MAX_METRICS + 1)},
    ),
}


@st.composite
def near_valid_heartbeats(draw: st.DrawFn) -> dict[Any, Any]:
    """Draw a valid heartbeat with one field deleted, bent or replaced."""
    payload = draw(valid_heartbeats())
    key = draw(st.sampled_from(sorted(NEAR_MISSES)))
    how = draw(st.sampled_from(("delete", "near", "random", "extra")))
    if how == "delete":
        del payload[key]
    elif how == "near":
        payload[key] = draw(st.sampled_from(NEAR_MISSES[key]))
    elif how == "random":
        payload[key] = draw(wire_values)
    else:
        payload[draw(hashable_keys)] = draw(wire_values)
    return payload


goodbye_payloads = st.one_of(
    st.builds(
        protocol.build_goodbye,
        service=service_names,
        instance=instance_ids,
        reason=text,
    ),
    st.fixed_dictionaries(
        {"service": service_names, "instance": instance_ids},
        optional={"reason": wire_values, "v": wire_values},
    ),
    st.dictionaries(
        st.sampled_from(("service", "instance", "reason", "v")),
        wire_values,
    ),
    wire_values,
)

payloads = st.one_of(
    wire_values,
    near_valid_heartbeats(),
    valid_heartbeats(),
    st.dictionaries(st.sampled_from(HEARTBEAT_FIELDS), wire_values),
)

#: Keyword names a WAMP publisher may use.  ``self`` is left out: it
#: collides with the bound method's own parameter (see ``test_bugs.py``).
keyword_names = st.one_of(
    st.sampled_from(("v", "service", "instance", "seq", "metrics", "details")),
    st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,8}", fullmatch=True),
    text,
).filter(lambda name: name != "self")


@st.composite
def calls(
    draw: st.DrawFn, single: st.SearchStrategy[Any] = payloads
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Draw the positional and keyword arguments of one WAMP event."""
    shape = draw(st.sampled_from(("one", "none", "kwargs", "many", "mixed")))
    if shape == "one":
        return ((draw(single),), {})
    if shape == "none":
        return ((), {})
    if shape == "kwargs":
        as_dict = draw(single)
        if isinstance(as_dict, dict) and all(
            isinstance(key, str) and key != "self" for key in as_dict
        ):
            return ((), as_dict)
        return ((), draw(st.dictionaries(keyword_names, wire_values)))
    if shape == "many":
        return (tuple(draw(st.lists(single, min_size=2, max_size=3))), {})
    kwargs = draw(st.dictionaries(keyword_names, wire_values, min_size=1))
    return ((draw(single),), kwargs)


def names_good(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    """Tell whether an event could be about :data:`GOOD_SERVICE`."""
    values = [*args, kwargs]
    return any(
        isinstance(value, dict) and value.get("service") == GOOD_SERVICE
        for value in values
    )


# ---- events for the Monitor, time and sweeps included ----------------------

#: Clock moves onto and past the late, down and retention thresholds of a
#: 5 s interval under the default factors.
THRESHOLDS: Final = (0.0, 0.05, 1.0, 7.5, 7.51, 15.0, 15.01, 900.0, 916.0, 1e4)
advances = st.one_of(
    st.floats(min_value=0, max_value=2000), st.sampled_from(THRESHOLDS)
)
garbage = st.one_of(
    st.tuples(st.just("heartbeat"), calls()),
    st.tuples(st.just("goodbye"), calls(goodbye_payloads)),
    st.tuples(st.just("lost"), calls(goodbye_payloads)),
)
events = st.one_of(
    garbage,
    garbage,
    st.tuples(st.just("advance"), advances),
    st.tuples(st.just("sweep"), st.none()),
)
