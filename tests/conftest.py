"""Fixtures every test folder shares: the Prometheus tools."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

_STATE_DIR: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    """Keep every Monitor's state file out of the user's home.

    A Monitor started without --state-file (the demo's, say) writes to
    SIMPLEPYMS_STATE_FILE, which here points into a folder of the run's.
    """
    folder = tempfile.mkdtemp(prefix="simplepyms-test-state-")
    _STATE_DIR.append(folder)
    os.environ["SIMPLEPYMS_STATE_FILE"] = os.path.join(
        folder, "monitor-{host}-{port}.sqlite"
    )


def pytest_unconfigure(config: pytest.Config) -> None:
    """Remove the run's state folder."""
    for folder in _STATE_DIR:
        shutil.rmtree(folder, ignore_errors=True)


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
