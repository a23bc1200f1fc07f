"""HTTP basic auth in front of the Monitor's pages, with bcrypt hashes.

bcrypt is slow on purpose (tens of milliseconds a check), so checks run
in Twisted's thread pool, off the reactor that takes heartbeats, and a
pair that passed is remembered by a SHA-256 of the hash and password, so
a scraper that sends the same credentials every 15 s costs one bcrypt
check, not one a scrape.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable
from typing import Final

import bcrypt
from twisted.internet import defer, threads
from twisted.web import resource, server
from twisted.web.server import Request

REALM: Final = b"simplepyms"
#: Remembered good credentials; the set is emptied when it grows past.
CACHE_SIZE: Final = 256

Check = Callable[[bytes, bytes], bool]


class BasicAuthGuard(resource.Resource):
    """Serve *wrapped* only to requests with a known user and password.

    Args:
        wrapped: the site's root resource.
        users: user name -> bcrypt hash.
        defer_check: runs a bcrypt check and returns a Deferred; by
            default in the reactor's thread pool.
    """

    isLeaf = True  # noqa: N815 - Twisted's name

    def __init__(
        self,
        wrapped: resource.IResource,
        users: dict[str, bytes],
        defer_check: Callable[..., defer.Deferred[bool]] | None = None,
    ) -> None:
        super().__init__()
        self._wrapped = wrapped
        self._users = users
        self._passed: set[bytes] = set()
        self._defer_check = defer_check or threads.deferToThread
        # Checked when the user is unknown, at the cost of the real
        # hashes, so that the answer takes as long as for a known user
        # with a wrong password.
        rounds = max((_rounds(h) for h in users.values()), default=12)
        self._dummy = bcrypt.hashpw(b"unused", bcrypt.gensalt(rounds=rounds))

    def render(self, request: Request) -> bytes | int:
        """Check the credentials, then render what was asked for."""
        user, password = _credentials(request)
        hashed = self._users.get(user.decode("utf-8", "replace"))
        token = _token(user, password, hashed)
        if hashed is not None and token in self._passed:
            return self._serve(request)

        gone: list[bool] = []
        request.notifyFinish().addErrback(lambda _: gone.append(True))
        checked = self._defer_check(
            bcrypt.checkpw, password, hashed or self._dummy
        )
        checked.addCallback(self._checked, request, token, hashed is not None)
        # bcrypt refuses passwords over 72 bytes: a refusal like any other.
        checked.addErrback(lambda _: False)
        checked.addCallback(self._answer, request, gone)
        return server.NOT_DONE_YET

    def _checked(
        self, good: bool, request: Request, token: bytes, known: bool
    ) -> bool:
        if good and known:
            if len(self._passed) >= CACHE_SIZE:
                self._passed.clear()
            self._passed.add(token)
        return good and known

    def _answer(self, good: bool, request: Request, gone: list[bool]) -> None:
        if gone:
            return  # the client left while bcrypt ran
        body = self._serve(request) if good else self._refuse(request)
        if isinstance(body, bytes):
            request.write(body)
            request.finish()

    def _serve(self, request: Request) -> bytes | int:
        page = resource.getChildForRequest(self._wrapped, request)
        body: bytes | int = page.render(request)
        return body

    def _refuse(self, request: Request) -> bytes:
        request.setResponseCode(401)
        request.setHeader(b"WWW-Authenticate", b'Basic realm="%s"' % REALM)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"Unauthorized\n"


def _credentials(request: Request) -> tuple[bytes, bytes]:
    header = request.getHeader(b"Authorization") or b""
    scheme, _, encoded = header.partition(b" ")
    if scheme.lower() != b"basic":
        return b"", b""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return b"", b""
    user, _, password = decoded.partition(b":")
    return user, password


def _token(user: bytes, password: bytes, hashed: bytes | None) -> bytes:
    # Keyed by the hash too: a changed hash drops what it let in.
    material = b"\0".join((user, password, hashed or b""))
    return hmac.digest(b"simplepyms-basic-auth", material, hashlib.sha256)


def _rounds(hashed: bytes) -> int:
    # $2b$12$...: the cost is the third field.
    try:
        return min(max(int(hashed.split(b"$")[2]), 4), 31)
    except (IndexError, ValueError):
        return 12
