"""Where a service, the Monitor or an operator finds its WAMP-CRA secret.

In order: the ``secret`` argument, the ``secret_file`` argument, the
file named by ``SIMPLEPYMS_SECRET_FILE``, the value of
``SIMPLEPYMS_SECRET``.  A file is better than the variable: the
environment of a process is readable by more than its owner on some
systems, and ends up in crash reports.  No secret is ever logged or
shown in an error message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

# Names of variables, not secrets.
SECRET_VARIABLE: Final = "SIMPLEPYMS_SECRET"  # noqa: S105
SECRET_FILE_VARIABLE: Final = "SIMPLEPYMS_SECRET_FILE"  # noqa: S105


def find_secret(
    secret: str | None = None,
    secret_file: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> str | None:
    """Return the secret to authenticate with, or None for anonymous.

    Raises:
        ValueError: if both arguments are given, the file cannot be
            read, or the secret is empty.
    """
    env = os.environ if environ is None else environ
    if secret is not None and secret_file is not None:
        raise ValueError("give secret or secret_file, not both")
    if secret is not None:
        return _checked(secret, "secret")
    if secret_file is None:
        secret_file = env.get(SECRET_FILE_VARIABLE) or None
        if secret_file is None:
            value = env.get(SECRET_VARIABLE)
            return None if value is None else _checked(value, SECRET_VARIABLE)
    return _read(Path(secret_file))


def wampcra(authid: str, secret: str) -> dict[str, Any]:
    """Return autobahn's ``authentication`` setting for WAMP-CRA."""
    return {"wampcra": {"authid": authid, "secret": secret}}


def _read(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as problem:
        reason = getattr(problem, "strerror", None) or type(problem).__name__
        raise ValueError(f"cannot read secret file {path}: {reason}") from None
    # Editors and `echo` end the file with a newline; it is not secret.
    return _checked(text.strip("\r\n"), f"secret file {path}")


def _checked(value: str, source: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{source} is empty")
    return value
