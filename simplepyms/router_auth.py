"""What the secure crossbar configuration loads: authenticator, authorizer.

Both run inside the crossbar router worker, which imports this module;
``simplepyms/crossbar/secure.json`` names them.  WAMP-CRA is the method:
the secret never crosses the wire (only an HMAC of a fresh challenge
does), so a service needs no TLS to the router to keep its secret, and
no extra dependency beyond autobahn.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import Any

from autobahn.twisted.wamp import ApplicationSession
from autobahn.wamp.exception import ApplicationError
from twisted.logger import Logger

from simplepyms import policy, principals

_log = Logger("simplepyms.router_auth")

Authenticate = Callable[[str, str, dict[str, Any]], dict[str, str]]


def create_authenticator(config: dict[str, Any], controller: Any) -> Any:
    """Return the WAMP-CRA authenticator crossbar calls for each HELLO.

    The credentials file is read at every login, so a principal added,
    changed or removed takes effect without restarting the router.
    """

    def authenticate(
        realm: str, authid: str, details: dict[str, Any]
    ) -> dict[str, str]:
        where = os.environ.get(principals.CREDENTIALS_VARIABLE)
        try:
            if not where:
                raise principals.CredentialsError(  # noqa: TRY301
                    f"{principals.CREDENTIALS_VARIABLE} is not set"
                )
            known = principals.load(Path(where))
        except principals.CredentialsError as problem:
            # The operator reads why in the router's log; the client,
            # who may be anyone, learns only that it cannot log in now.
            _log.error("credentials_unusable: {problem}", problem=problem)
            raise ApplicationError(
                ApplicationError.AUTHENTICATION_FAILED,
                "the router cannot check credentials just now",
            ) from None
        principal = known.get(authid)
        if principal is None:
            # A secret nobody knows: the login fails exactly as with a
            # wrong secret, so a stranger cannot probe for names.
            return {"secret": secrets.token_urlsafe(32), "role": "service"}
        return {"secret": principal.secret, "role": principal.role}

    return authenticate


class Authorizer(ApplicationSession):  # type: ignore[misc]
    """Registers :data:`~simplepyms.policy.AUTHORIZE_URI` on the realm."""

    async def onJoin(self, details: Any) -> None:  # noqa: N802
        """Offer the authorizer crossbar calls for each action."""
        await self.register(authorize, policy.AUTHORIZE_URI)


def authorize(
    session: dict[str, Any], uri: str, action: str, options: Any = None
) -> policy.Decision:
    """Decide one action of the session described by *session*."""
    return policy.decide(
        str(session.get("authrole")), str(session.get("authid")), uri, action
    )
