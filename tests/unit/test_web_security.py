"""The --web-config file and basic auth, without a network."""

from __future__ import annotations

import base64
from collections.abc import Callable
from pathlib import Path
from typing import Any

import bcrypt
import pytest
from structlog.testing import capture_logs
from twisted.internet import defer
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET
from twisted.web.test.requesthelper import DummyRequest

from simplepyms import web_config
from simplepyms.web_auth import BasicAuthGuard
from tests.tls_files import Certificates, make_certificates

PASSWORD = b"scrape-me-please"
HASH = bcrypt.hashpw(PASSWORD, bcrypt.gensalt(rounds=4))


def config_file(folder: Path, text: str) -> Path:
    """Write a web config holding *text*; return its path."""
    path = folder / "web.yml"
    path.write_text(text)
    return path


class TestLoad:
    def test_an_empty_file_changes_nothing(self, tmp_path: Path) -> None:
        """No TLS and no users: plain HTTP, as without the option."""
        assert web_config.WebConfig() == web_config.load(
            config_file(tmp_path, "")
        )

    def test_paths_are_relative_to_the_file(self, tmp_path: Path) -> None:
        """cert_file and key_file resolve from the config's folder."""
        path = config_file(
            tmp_path,
            "tls_server_config:\n  cert_file: a.crt\n  key_file: k/a.key\n",
        )

        tls = web_config.load(path).tls

        assert tls is not None
        assert (tmp_path / "a.crt", tmp_path / "k" / "a.key") == (
            tls.cert_file,
            tls.key_file,
        )
        assert ("NoClientCert", "TLS12") == (
            tls.client_auth_type,
            tls.min_version,
        )

    def test_users_keep_their_hashes(self, tmp_path: Path) -> None:
        """basic_auth_users maps each user to its bcrypt hash."""
        path = config_file(
            tmp_path, f"basic_auth_users:\n  prometheus: '{HASH.decode()}'\n"
        )

        assert {"prometheus": HASH} == web_config.load(path).users

    def test_the_shipped_example_loads(self) -> None:
        """prometheus/web-config.example.yml is a valid file."""
        example = Path("prometheus/web-config.example.yml")

        loaded = web_config.load(example)

        assert loaded.tls is not None
        assert ["prometheus"] == list(loaded.users)

    @pytest.mark.parametrize(
        ("text", "complaint"),
        [
            ("- a\n- b\n", "must be a YAML mapping"),
            ("tls_server_config: [\n", "not valid YAML"),
            ("http_server_config:\n  http2: true\n", "http_server_config"),
            ("tls_server_config:\n  key_file: k\n", "cert_file is required"),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n"
                "  cipher_suites: [x]\n",
                "cipher_suites not supported",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n"
                "  client_auth_type: Sometimes\n",
                "client_auth_type must be one of",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n"
                "  client_auth_type: RequireAndVerifyClientCert\n",
                "client_ca_file is required",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n"
                "  min_version: TLS10\n",
                "min_version must be one of TLS12, TLS13",
            ),
            (
                "tls_server_config:\n  cert_file: c\n  key_file: k\n"
                "  min_version: TLS13\n  max_version: TLS12\n",
                "above max_version",
            ),
            ("basic_auth_users: [x]\n", "must map user names"),
            ("basic_auth_users:\n  'a:b': x\n", "without ':'"),
        ],
    )
    def test_mistakes_are_named(
        self, tmp_path: Path, text: str, complaint: str
    ) -> None:
        """Each mistake is one WebConfigError naming the file and key."""
        path = config_file(tmp_path, text)

        with pytest.raises(web_config.WebConfigError) as raised:
            web_config.load(path)

        assert complaint in str(raised.value)
        assert str(path) in str(raised.value)

    def test_a_plain_password_is_refused_unshown(self, tmp_path: Path) -> None:
        """A password where a hash belongs is refused, and not echoed."""
        path = config_file(
            tmp_path, "basic_auth_users:\n  prometheus: hunter2-hunter2\n"
        )

        with pytest.raises(web_config.WebConfigError, match="bcrypt") as e:
            web_config.load(path)
        assert "hunter2" not in str(e.value)

    def test_a_truncated_hash_is_refused(self, tmp_path: Path) -> None:
        """A hash cut short would refuse every scrape: refused at start."""
        path = config_file(
            tmp_path, "basic_auth_users:\n  prometheus: $2b$12$short\n"
        )

        with pytest.raises(web_config.WebConfigError, match="bcrypt hash"):
            web_config.load(path)

    def test_a_missing_file(self, tmp_path: Path) -> None:
        """A file that is not there is one clear error."""
        with pytest.raises(web_config.WebConfigError, match="cannot read"):
            web_config.load(tmp_path / "missing.yml")


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A CA and a server certificate for 127.0.0.1."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


class TestServerContext:
    def test_a_matching_pair_loads(self, certificates: Certificates) -> None:
        """The certificate and its key make a context."""
        tls = web_config.TLSConfig(certificates.cert, certificates.key)

        assert web_config.ServerContextFactory(tls).getContext() is not None

    def test_client_certificates_can_be_required(
        self, certificates: Certificates
    ) -> None:
        """RequireAndVerifyClientCert loads the client CA."""
        tls = web_config.TLSConfig(
            certificates.cert,
            certificates.key,
            client_auth_type="RequireAndVerifyClientCert",
            client_ca_file=certificates.ca,
        )

        assert web_config.ServerContextFactory(tls).getContext() is not None

    @pytest.mark.parametrize(
        ("cert", "key", "complaint"),
        [
            ("missing", "key", "cannot load certificate"),
            ("cert", "other_key", "not the key of"),
            ("cert", "missing", "cannot load key"),
        ],
    )
    def test_bad_files_are_named(
        self, certificates: Certificates, cert: str, key: str, complaint: str
    ) -> None:
        """A missing file or a key that does not match is one error."""

        def pick(name: str) -> Path:
            if name == "missing":
                return certificates.ca.parent / "missing.pem"
            path: Path = getattr(certificates, name)
            return path

        tls = web_config.TLSConfig(pick(cert), pick(key))

        with pytest.raises(web_config.WebConfigError, match=complaint):
            web_config.ServerContextFactory(tls)


class _Page(Resource):
    isLeaf = True  # noqa: N815 - Twisted's name

    def render_GET(self, request: Any) -> bytes:  # noqa: N802
        return b"metrics here\n"


class _CountedCheck:
    """Runs bcrypt at once, counting the checks."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(
        self, check: Callable[..., bool], *args: Any
    ) -> defer.Deferred[bool]:
        self.calls += 1
        return defer.maybeDeferred(check, *args)


def get(guard: BasicAuthGuard, user: str = "", password: str = "") -> Any:
    """GET through *guard*, with basic credentials if *user* is given."""
    request = DummyRequest([b""])
    if user:
        token = base64.b64encode(f"{user}:{password}".encode())
        request.requestHeaders.setRawHeaders(
            b"Authorization", [b"Basic " + token]
        )
    body = guard.render(request)
    if body is not NOT_DONE_YET:
        request.write(body)
        request.finish()
    return request


def guard(check: _CountedCheck) -> BasicAuthGuard:
    """A guard in front of a page that says "metrics here"."""
    return BasicAuthGuard(_Page(), {"prometheus": HASH}, check)


class TestBasicAuth:
    @pytest.mark.parametrize(
        ("user", "password"),
        [
            ("", ""),
            ("prometheus", "wrong"),
            ("nobody", PASSWORD.decode()),
            ("prometheus", "x" * 100),
        ],
    )
    def test_without_the_right_pair_it_is_401(
        self, user: str, password: str
    ) -> None:
        """No, wrong or unknown credentials: 401 and a Basic challenge."""
        request = get(guard(_CountedCheck()), user, password)

        assert 401 == request.responseCode
        assert [b'Basic realm="simplepyms"'] == (
            request.responseHeaders.getRawHeaders(b"WWW-Authenticate")
        )
        assert b"metrics here" not in b"".join(request.written)

    def test_the_right_pair_gets_the_page(self) -> None:
        """The user and password that match the hash get the page."""
        request = get(guard(_CountedCheck()), "prometheus", PASSWORD.decode())

        assert b"metrics here\n" == b"".join(request.written)
        assert request.finished

    def test_a_pair_that_passed_is_not_checked_again(self) -> None:
        """Ten scrapes with the same credentials cost one bcrypt check."""
        check = _CountedCheck()
        front = guard(check)

        for _ in range(10):
            get(front, "prometheus", PASSWORD.decode())

        assert 1 == check.calls

    def test_an_unknown_user_costs_a_check_too(self) -> None:
        """A user that does not exist takes as long as a wrong password."""
        check = _CountedCheck()

        get(guard(check), "nobody", "whatever")

        assert 1 == check.calls

    def test_a_malformed_header_is_401(self) -> None:
        """Garbage after Basic is refused like no credentials."""
        request = DummyRequest([b""])
        request.requestHeaders.setRawHeaders(b"Authorization", [b"Basic %%%"])

        guard(_CountedCheck()).render(request)

        assert 401 == request.responseCode


class TestGuard:
    def test_basic_auth_without_tls_is_a_warning(self, tmp_path: Path) -> None:
        """Passwords in clear text are allowed, but said so at start."""
        from twisted.web.server import Site

        from simplepyms.serve import _guard

        path = config_file(
            tmp_path, f"basic_auth_users:\n  prometheus: '{HASH.decode()}'\n"
        )
        site = Site(_Page())

        with capture_logs() as logs:
            tls, guarded = _guard(site, path)

        assert (None, True) == (tls, guarded)
        assert isinstance(site.resource, BasicAuthGuard)
        assert ["basic_auth_without_tls"] == [e["event"] for e in logs]

    def test_with_tls_there_is_no_warning(
        self, tmp_path: Path, certificates: Certificates
    ) -> None:
        """TLS and basic auth together start quietly."""
        from twisted.web.server import Site

        from simplepyms.serve import _guard

        path = config_file(
            tmp_path,
            f"tls_server_config:\n  cert_file: {certificates.cert}\n"
            f"  key_file: {certificates.key}\n"
            f"basic_auth_users:\n  prometheus: '{HASH.decode()}'\n",
        )

        with capture_logs() as logs:
            tls, guarded = _guard(Site(_Page()), path)

        assert tls is not None
        assert guarded
        assert [] == logs
