"""Profiles, the slow marker and quiet logs for the property tests."""

from __future__ import annotations

from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any

import pytest
from structlog.testing import capture_logs

from . import profiles

HERE = Path(__file__).parent
#: pytest-timeout's 120 s per test would cut a ten-thousand-example run.
LONG_TIMEOUT_SECONDS = 6 * 3600

profiles.load()


def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> None:
    """Skip slow property tests unless the long profile is chosen."""
    ours = [item for item in items if item.path.is_relative_to(HERE)]
    if profiles.is_long():
        for item in ours:
            item.add_marker(
                pytest.mark.timeout(LONG_TIMEOUT_SECONDS), append=False
            )
        return

    skip = pytest.mark.skip(
        reason=f"long run only: set {profiles.VARIABLE}={profiles.LONG}"
    )
    for item in ours:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="package", autouse=True)
def quiet_logs() -> Iterator[list[MutableMapping[str, Any]]]:
    """Capture structlog events, so thousands of examples print nothing."""
    with capture_logs() as events:
        yield events
