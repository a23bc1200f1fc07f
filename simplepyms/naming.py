"""Prometheus' naming conventions, as ``promtool check metrics`` lints them.

A carried metric is exported under the name its service chose, so the
Monitor refuses names that would make its own ``/metrics`` fail the lint.
The rules follow promtool's: base units only, no abbreviated units, no
metric type in the name, and the suffixes that histograms and summaries
own.
"""

from __future__ import annotations

from typing import Final

BASE_UNITS: Final = frozenset(
    {
        "amperes",
        "bytes",
        "celsius",
        "grams",
        "joules",
        "kelvin",
        "meters",
        "metres",
        "seconds",
        "volts",
    }
)
OTHER_UNITS: Final = frozenset(
    {
        "minutes",
        "hours",
        "days",
        "weeks",
        "kelvins",
        "fahrenheit",
        "rankine",
        "inches",
        "yards",
        "miles",
        "bits",
        "calories",
        "pounds",
        "ounces",
    }
)
UNIT_PREFIXES: Final = (
    "pico",
    "nano",
    "micro",
    "milli",
    "centi",
    "deci",
    "deca",
    "hecto",
    "kilo",
    "kibi",
    "mega",
    "mibi",
    "giga",
    "gibi",
    "tera",
    "tebi",
    "peta",
    "pebi",
)
ABBREVIATED_UNITS: Final = frozenset(
    {"s", "ms", "us", "ns", "sec", "b", "kb", "mb", "gb", "tb", "pb"}
    | {"m", "h", "d"}
)
TYPE_WORDS: Final = frozenset({"counter", "gauge", "histogram", "summary"})
HISTOGRAM_SUFFIXES: Final = ("_bucket", "_count", "_sum")


def conventional(name: str, *, counter: bool) -> bool:
    """Tell whether promtool would accept *name* for a gauge or counter.

    *name* is already a valid lower-case metric name.
    """
    words = name.split("_")
    if any(_non_base_unit(word) for word in words):
        return False
    later = set(words[1:])
    if later & ABBREVIATED_UNITS or later & TYPE_WORDS:
        return False
    return counter or not name.endswith(HISTOGRAM_SUFFIXES)


def _non_base_unit(word: str) -> bool:
    if word in OTHER_UNITS:
        return True
    for prefix in UNIT_PREFIXES:
        rest = word.removeprefix(prefix)
        if rest != word and (rest in BASE_UNITS or rest in OTHER_UNITS):
            return True
    return False
