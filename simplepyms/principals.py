"""The secure router's credentials file: who may join, in which role.

The file is JSON, one entry per authid::

    {
      "monitor": {"role": "monitor", "secret": "..."},
      "admin":   {"role": "admin",   "secret": "..."},
      "adder":   {"role": "service", "secret": "..."}
    }

A service's authid is its service name.  The file lives outside the
crossbar configuration, readable by the router's user alone; its path
comes from ``SIMPLEPYMS_CREDENTIALS``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from simplepyms import policy, protocol

CREDENTIALS_VARIABLE: Final = "SIMPLEPYMS_CREDENTIALS"
#: Shorter secrets are refused: WAMP-CRA is as strong as its secret.
MIN_SECRET_LENGTH: Final = 16


class CredentialsError(ValueError):
    """The credentials file cannot be used; the message says why."""


@dataclass(frozen=True)
class Principal:
    """One authid the router lets join."""

    authid: str
    role: str
    secret: str

    def __repr__(self) -> str:
        return f"Principal(authid={self.authid!r}, role={self.role!r})"


def load(path: Path) -> dict[str, Principal]:
    """Read and check the credentials file at *path*.

    Raises:
        CredentialsError: if it cannot be read or breaks a rule; the
            message names the file and the entry, never a secret.
    """
    try:
        data = json.loads(
            path.read_text(encoding="utf-8"), object_pairs_hook=_unique
        )
    except OSError as problem:
        reason = problem.strerror or type(problem).__name__
        raise CredentialsError(
            f"cannot read credentials file {path}: {reason}"
        ) from None
    except (UnicodeDecodeError, json.JSONDecodeError) as problem:
        raise CredentialsError(
            f"credentials file {path} is not valid JSON: {problem}"
        ) from None
    except RecursionError:
        raise CredentialsError(
            f"credentials file {path} is nested too deeply"
        ) from None
    except _DuplicateKeyError as twice:
        raise CredentialsError(
            f"credentials file {path} names {twice.key!r} twice"
        ) from None
    if not isinstance(data, dict) or not data:
        raise CredentialsError(
            f"credentials file {path} must hold a JSON object with one"
            " entry per authid"
        )
    return {
        authid: _principal(path, authid, entry)
        for authid, entry in data.items()
    }


def _principal(path: Path, authid: str, entry: object) -> Principal:
    where = f"credentials file {path}, entry {authid!r}"
    if not isinstance(entry, dict):
        raise CredentialsError(f"{where}: must be an object")
    unknown = sorted(set(entry) - {"role", "secret"})
    if unknown:
        raise CredentialsError(f"{where}: unknown keys {unknown}")
    role = entry.get("role")
    if role not in policy.ROLES:
        # The value is not shown: it may be a secret in the wrong place.
        raise CredentialsError(
            f"{where}: role must be one of {', '.join(policy.ROLES)}"
        )
    secret = entry.get("secret")
    if not isinstance(secret, str) or len(secret) < MIN_SECRET_LENGTH:
        raise CredentialsError(
            f"{where}: secret must be a string of at least"
            f" {MIN_SECRET_LENGTH} characters"
        )
    if role == policy.SERVICE:
        try:
            protocol.check_service_name(authid)
        except ValueError as problem:
            raise CredentialsError(f"{where}: {problem}") from None
        if authid in policy.RESERVED_SERVICE_NAMES:
            raise CredentialsError(f"{where}: the name is reserved")
    return Principal(authid=authid, role=role, secret=secret)


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def _unique(pairs: list[tuple[str, object]]) -> dict[str, object]:
    # json keeps the last of two equal keys; here that would silently
    # swap one principal's role or secret for another's.
    found: dict[str, object] = {}
    for key, value in pairs:
        if key in found:
            raise _DuplicateKeyError(key)
        found[key] = value
    return found
