"""Who may do what on a secure router: the rules the authorizer applies.

Three roles, each a principal in the router's credentials file:

- ``service``: its authid is its service name.  It publishes heartbeats
  and goodbyes (the router discloses who published them), hears
  discoveries, registers procedures under ``py.ms.<its name>.`` only,
  and calls other services' procedures, but never a ``stop`` or
  ``restart``.  It leaves no testament: crossbar cannot authorize the
  publication of a dead session's testament on a role like this one.
- ``monitor``: hears heartbeats, goodbyes, and crossbar's own
  ``wamp.session.on_leave``, and asks for discoveries.  Nobody else
  hears heartbeats.
- ``admin``: an operator; calls any ``py.ms.`` procedure, ``stop`` and
  ``restart`` included.

Anything not allowed here is refused.  The rules are pure, so the
tests read like the table above.
"""

from __future__ import annotations

import re
from typing import Final, TypedDict

from simplepyms import protocol

SERVICE: Final = "service"
MONITOR: Final = "monitor"
ADMIN: Final = "admin"
ROLES: Final = (SERVICE, MONITOR, ADMIN)

#: The procedure crossbar calls to authorize each action of these roles.
AUTHORIZE_URI: Final = f"{protocol.PREFIX}.router.authorize"
#: What the authorizer registers under: no service may use the name.
RESERVED_SERVICE_NAMES: Final = frozenset({"router"})

#: crossbar's meta event for an ended session: the Monitor's lost notice.
SESSION_LEFT_TOPIC: Final = "wamp.session.on_leave"
_CONTROL = re.compile(
    rf"{re.escape(protocol.PREFIX)}\.{protocol.SERVICE_NAME.pattern}"
    r"\.(stop|restart)"
)
_ROUTER_PREFIX: Final = f"{protocol.PREFIX}.router."


class Decision(TypedDict):
    """What crossbar's dynamic authorizer expects back."""

    allow: bool
    disclose: bool
    cache: bool


def decide(role: str, authid: str, uri: str, action: str) -> Decision:
    """Return whether *authid* in *role* may do *action* on *uri*.

    ``action`` is crossbar's: ``publish``, ``subscribe``, ``call`` or
    ``register``.  crossbar caches a decision by realm, role, URI and
    action, but not by authid: a decision that depends on the authid
    (a service's registrations) must not be cached, or the first
    service allowed ``py.ms.<its name>.stop`` would open it to all.
    """
    if role == SERVICE:
        allowed = _service_may(authid, uri, action)
    elif role == MONITOR:
        allowed = _monitor_may(uri, action)
    elif role == ADMIN:
        allowed = action == "call" and _is_application(uri)
    else:
        allowed = False
    # The Monitor checks who published each heartbeat, and a callee may
    # want to know who called: disclose the identity on all we allow.
    by_name = role == SERVICE and action == "register"
    return {"allow": allowed, "disclose": allowed, "cache": not by_name}


def is_control(uri: str) -> bool:
    """Tell whether *uri* is some service's ``stop`` or ``restart``."""
    return _CONTROL.fullmatch(uri) is not None


def _service_may(name: str, uri: str, action: str) -> bool:
    if action == "publish":
        return uri in (protocol.HEARTBEAT_TOPIC, protocol.GOODBYE_TOPIC)
    if action == "subscribe":
        return uri == protocol.DISCOVER_TOPIC
    if action == "register":
        return name not in RESERVED_SERVICE_NAMES and uri.startswith(
            f"{protocol.PREFIX}.{name}."
        )
    if action == "call":
        return _is_application(uri) and not is_control(uri)
    return False


def _monitor_may(uri: str, action: str) -> bool:
    if action == "subscribe":
        return uri in (
            protocol.HEARTBEAT_TOPIC,
            protocol.GOODBYE_TOPIC,
            SESSION_LEFT_TOPIC,
        )
    return action == "publish" and uri == protocol.DISCOVER_TOPIC


def _is_application(uri: str) -> bool:
    return uri.startswith(f"{protocol.PREFIX}.") and not uri.startswith(
        _ROUTER_PREFIX
    )
