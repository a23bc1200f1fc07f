"""Fixtures every test folder shares: the Prometheus tools."""

from __future__ import annotations

import os
import shutil

import pytest


def find_binary(name: str, package: str) -> str:
    """Return the path of *name*; fail under CI, skip elsewhere, if missing.

    ``make test`` installs the Debian packages; a bare ``pytest`` on a
    machine without them skips what needs them, and says which package.
    """
    path = shutil.which(name)
    if path is not None:
        return path

    reason = (
        f"{name} is not on PATH; install the Debian package {package}"
        " (make test does)"
    )
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def promtool() -> str:
    """Path of promtool, from the Debian package prometheus."""
    return find_binary("promtool", "prometheus")


@pytest.fixture(scope="session")
def amtool() -> str:
    """Path of amtool, from the Debian package prometheus-alertmanager."""
    return find_binary("amtool", "prometheus-alertmanager")
