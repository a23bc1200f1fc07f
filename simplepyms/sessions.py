"""Which router session each instance heartbeats from.

On a secure router the Monitor learns of a dead session from crossbar's
``wamp.session.on_leave`` meta event, which carries only the session id;
this index turns that id into the instances the session spoke for.  The
ids come from the router's publisher disclosure, so a service cannot
claim another's session.
"""

from __future__ import annotations

Key = tuple[str, str]  # (service, instance)


class SessionIndex:
    """Map router session ids to the instances heard on them."""

    def __init__(self) -> None:
        self._keys: dict[int, set[Key]] = {}
        self._session: dict[Key, int] = {}

    def __len__(self) -> int:
        return len(self._session)

    def heard(self, session: int, key: Key) -> None:
        """Note that *key* just heartbeat on *session*."""
        old = self._session.get(key)
        if old == session:
            return
        if old is not None:
            self._drop(old, key)
        self._session[key] = session
        self._keys.setdefault(session, set()).add(key)

    def left(self, session: int) -> list[Key]:
        """Forget *session*; return the instances last heard on it."""
        keys = self._keys.pop(session, set())
        for key in keys:
            del self._session[key]
        return sorted(keys)

    def clear(self) -> None:
        """Forget everything: the router's session ids may start over."""
        self._keys.clear()
        self._session.clear()

    def _drop(self, session: int, key: Key) -> None:
        keys = self._keys[session]
        keys.discard(key)
        if not keys:
            del self._keys[session]
