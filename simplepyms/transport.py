"""How simplepyms connects to the router: autobahn transport settings."""

from __future__ import annotations

from typing import Any

#: The longest wait between two attempts to reach the router.
RETRY_DELAY_MAX = 5.0


def transport(
    url: str, max_retry_delay: float = RETRY_DELAY_MAX
) -> dict[str, Any]:
    """Return autobahn's transport settings for the router at *url*.

    autobahn's own default backs off to five minutes between attempts;
    a service should be back within a heartbeat timeout of the router.
    """
    return {
        "type": "websocket",
        "url": url,
        "max_retries": -1,
        "initial_retry_delay": min(0.5, max_retry_delay),
        "max_retry_delay": max_retry_delay,
        "retry_delay_growth": 1.5,
        "retry_delay_jitter": 0.1,
    }


#: Why a router may refuse a session for good: retrying will not help.
REFUSALS = frozenset(
    {
        "wamp.error.no_such_realm",
        "wamp.error.not_authorized",
        "wamp.error.authentication_failed",
        "wamp.error.no_auth_method",
    }
)


#: What to check when the router refuses a session for good.
REFUSAL_HINT = "check --realm, --authid and the secret"


def lost_session(error: BaseException) -> bool:
    """Tell whether a connect failure is just the end of a session."""
    return getattr(error, "error", None) == "wamp.close.transport_lost"


def told_on_leave(error: BaseException) -> bool:
    """Tell whether a connect failure is the end or refusal of a session.

    Both reach the session's leave handler too, which reports them:
    the connect-failure handler should stay silent about them.
    """
    return lost_session(error) or getattr(error, "error", None) in REFUSALS
