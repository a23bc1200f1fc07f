"""Fixtures for the unit tests: a fake clock, a fresh registry, a Monitor."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry
from twisted.internet.task import Clock

from simplepyms.liveness import Fleet
from simplepyms.monitor import Monitor

from .support import T0


@pytest.fixture
def clock() -> Clock:
    """A Twisted Clock standing at T0."""
    fake = Clock()
    fake.advance(T0)
    return fake


@pytest.fixture
def registry() -> CollectorRegistry:
    """A registry of this test's own."""
    return CollectorRegistry()


@pytest.fixture
def fleet() -> Fleet:
    """A fleet with the default factors and retention."""
    return Fleet()


@pytest.fixture
def monitor(
    fleet: Fleet, clock: Clock, registry: CollectorRegistry
) -> Monitor:
    """A Monitor on the fake clock that never connects (start() is not run)."""
    return Monitor(
        fleet,
        reactor=clock,
        registry=registry,
        url="ws://127.0.0.1:1/ws",
        realm="realm1",
    )
