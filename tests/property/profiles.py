"""Hypothesis profiles for the property tests, chosen by the environment.

``default`` keeps ``pytest tests/property`` to about a minute on two cores;
``long`` (``SIMPLEPYMS_HYPOTHESIS_PROFILE=long``) runs ten thousand examples
per property and the tests marked ``slow``.
"""

from __future__ import annotations

import os
from typing import Final

from hypothesis import HealthCheck, settings

VARIABLE: Final = "SIMPLEPYMS_HYPOTHESIS_PROFILE"
DEFAULT: Final = "default"
LONG: Final = "long"
LONG_EXAMPLES: Final = 10_000

settings.register_profile(
    DEFAULT,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile(
    LONG,
    max_examples=LONG_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def chosen() -> str:
    """Return the profile the environment asks for."""
    return os.environ.get(VARIABLE, DEFAULT)


def is_long() -> bool:
    """Tell whether the long profile was asked for."""
    return chosen() == LONG


def load() -> None:
    """Load the chosen profile; an unknown name fails the run."""
    settings.load_profile(chosen())


def examples(default: int) -> int:
    """Return *default* examples, or the long profile's count under it."""
    return LONG_EXAMPLES if is_long() else default
