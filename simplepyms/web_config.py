"""The ``--web-config`` file: TLS and basic auth for ``/metrics``.

It has the shape of the web configuration file of Prometheus' own
exporters, so the same file and the same scrape config work here::

    tls_server_config:
      cert_file: monitor.crt
      key_file: monitor.key
      # client_auth_type: RequireAndVerifyClientCert
      # client_ca_file: clients-ca.crt
      # min_version: TLS12
    basic_auth_users:
      prometheus: $2b$12$...   # a bcrypt hash, e.g. from htpasswd -nBC 12

Relative paths are taken from the file's own folder.  What simplepyms
does not implement (cipher suites, curves, HTTP headers, allowed SANs)
is refused by name rather than ignored: a file that asks for more than
it gets is a mistake worth a line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import yaml
from OpenSSL import SSL

TLS_VERSIONS: Final = {
    "TLS12": SSL.TLS1_2_VERSION,
    "TLS13": SSL.TLS1_3_VERSION,
}
CLIENT_AUTH_TYPES: Final = (
    "NoClientCert",
    "VerifyClientCertIfGiven",
    "RequireAndVerifyClientCert",
)
_TLS_KEYS: Final = frozenset(
    {"cert_file", "key_file", "client_auth_type", "client_ca_file"}
    | {"min_version", "max_version"}
)
_TOP_KEYS: Final = frozenset({"tls_server_config", "basic_auth_users"})
#: $2b$, the cost in two digits, then 22 characters of salt and 31 of hash.
_BCRYPT: Final = re.compile(
    r"\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}"
)


class WebConfigError(ValueError):
    """The web config file cannot be used; the message says why."""


@dataclass(frozen=True)
class TLSConfig:
    """Where the certificate and key are, and what clients must show."""

    cert_file: Path
    key_file: Path
    client_auth_type: str = "NoClientCert"
    client_ca_file: Path | None = None
    min_version: str = "TLS12"
    max_version: str = "TLS13"


@dataclass(frozen=True)
class WebConfig:
    """What ``--web-config`` asks of the HTTP side."""

    tls: TLSConfig | None = None
    #: user name -> bcrypt hash, as bytes.
    users: dict[str, bytes] = field(default_factory=dict)


def load(path: Path) -> WebConfig:
    """Read and check the web config file at *path*.

    Raises:
        WebConfigError: naming the file and the key at fault.
    """
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as problem:
        reason = problem.strerror or type(problem).__name__
        raise WebConfigError(
            f"cannot read web config {path}: {reason}"
        ) from None
    except RecursionError:
        raise WebConfigError(
            f"web config {path} is nested too deeply"
        ) from None
    except (UnicodeDecodeError, yaml.YAMLError) as problem:
        first = str(problem).splitlines()[0]
        raise WebConfigError(
            f"web config {path} is not valid YAML: {first}"
        ) from None
    if data is None:
        return WebConfig()
    where = f"web config {path}"
    if not isinstance(data, dict):
        raise WebConfigError(f"{where} must be a YAML mapping")
    _only(data, _TOP_KEYS, where)
    base = path.parent
    tls = data.get("tls_server_config")
    return WebConfig(
        tls=None if tls is None else _tls(tls, base, where),
        users=_users(data.get("basic_auth_users"), where),
    )


def _tls(data: object, base: Path, where: str) -> TLSConfig:
    where = f"{where}: tls_server_config"
    if not isinstance(data, dict):
        raise WebConfigError(f"{where} must be a mapping")
    _only(data, _TLS_KEYS, where)
    for key in ("cert_file", "key_file"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise WebConfigError(f"{where}.{key} is required")
    auth = data.get("client_auth_type", "NoClientCert")
    if auth not in CLIENT_AUTH_TYPES:
        raise WebConfigError(
            f"{where}.client_auth_type must be one of"
            f" {', '.join(CLIENT_AUTH_TYPES)}, got {auth!r}"
        )
    ca = data.get("client_ca_file")
    if auth != "NoClientCert" and not ca:
        raise WebConfigError(f"{where}.client_ca_file is required with {auth}")
    versions = {}
    for key, default in (("min_version", "TLS12"), ("max_version", "TLS13")):
        versions[key] = data.get(key, default)
        if versions[key] not in TLS_VERSIONS:
            raise WebConfigError(
                f"{where}.{key} must be one of {', '.join(TLS_VERSIONS)},"
                f" got {versions[key]!r}"
            )
    if (
        TLS_VERSIONS[versions["min_version"]]
        > (TLS_VERSIONS[versions["max_version"]])
    ):
        raise WebConfigError(f"{where}.min_version is above max_version")
    return TLSConfig(
        cert_file=base / data["cert_file"],
        key_file=base / data["key_file"],
        client_auth_type=auth,
        client_ca_file=None if not ca else base / str(ca),
        **versions,
    )


def _users(data: object, where: str) -> dict[str, bytes]:
    if data is None:
        return {}
    where = f"{where}: basic_auth_users"
    if not isinstance(data, dict):
        raise WebConfigError(f"{where} must map user names to bcrypt hashes")
    users = {}
    for user, hashed in data.items():
        if not isinstance(user, str) or not user or ":" in user:
            raise WebConfigError(
                f"{where}: user names must be non-empty text without ':',"
                f" got {user!r}"
            )
        if not isinstance(hashed, str) or not _BCRYPT.fullmatch(hashed):
            # Never echo the value: it may be a password typed by mistake.
            raise WebConfigError(
                f"{where}.{user} must be a bcrypt hash ($2y$..., as"
                " htpasswd -nBC 12 makes)"
            )
        users[user] = hashed.encode("ascii", "replace")
    return users


def _only(data: dict[Any, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(key) for key in set(data) - allowed)
    if unknown:
        raise WebConfigError(
            f"{where}: {', '.join(unknown)} not supported (supported:"
            f" {', '.join(sorted(allowed))})"
        )


class ServerContextFactory:
    """The OpenSSL context for the Monitor's listening socket.

    Built once at start: the certificate chain, the key, the protocol
    versions and, if asked, the client certificates to require.

    Raises:
        WebConfigError: if a file cannot be read or the key does not
            match the certificate.
    """

    def __init__(self, tls: TLSConfig) -> None:
        context = SSL.Context(SSL.TLS_SERVER_METHOD)
        context.set_min_proto_version(TLS_VERSIONS[tls.min_version])
        context.set_max_proto_version(TLS_VERSIONS[tls.max_version])
        try:
            context.use_certificate_chain_file(str(tls.cert_file))
        except SSL.Error:
            raise WebConfigError(
                f"cannot load certificate {tls.cert_file}: missing, or not"
                " a PEM certificate"
            ) from None
        try:
            context.use_privatekey_file(str(tls.key_file))
            context.check_privatekey()
        except SSL.Error:
            raise WebConfigError(
                f"cannot load key {tls.key_file}: missing, not a PEM key,"
                f" or not the key of {tls.cert_file}"
            ) from None
        if tls.client_ca_file is not None:
            try:
                context.load_verify_locations(str(tls.client_ca_file))
            except SSL.Error:
                raise WebConfigError(
                    f"cannot load client CA {tls.client_ca_file}"
                ) from None
            mode = SSL.VERIFY_PEER
            if tls.client_auth_type == "RequireAndVerifyClientCert":
                mode |= SSL.VERIFY_FAIL_IF_NO_PEER_CERT
            context.set_verify(mode, _verified)
        self._context = context

    def getContext(self) -> SSL.Context:  # noqa: N802 - Twisted's name
        """Return the context for each new connection."""
        return self._context


def _verified(
    connection: Any, certificate: Any, errno: int, depth: int, ok: int
) -> bool:
    # OpenSSL has checked the chain against the client CA already.
    return bool(ok)
