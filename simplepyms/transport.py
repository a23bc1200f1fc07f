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


def lost_session(error: BaseException) -> bool:
    """Tell whether a connect failure is just the end of a session."""
    return getattr(error, "error", None) == "wamp.close.transport_lost"
