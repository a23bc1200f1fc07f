"""Rate limits for log events that a flood could repeat without end."""

from __future__ import annotations

from collections.abc import Callable, Hashable

#: A repeated event is logged at most this often per key.
EVERY_SECONDS = 60.0


class Throttle:
    """Say whether an event of some kind may be logged now.

    Args:
        clock: returns the current time in seconds.
        every: the shortest time between two events of one kind.
    """

    def __init__(
        self, clock: Callable[[], float], every: float = EVERY_SECONDS
    ) -> None:
        self._clock = clock
        self._every = every
        self._last: dict[Hashable, float] = {}
        self._suppressed: dict[Hashable, int] = {}

    def due(self, key: Hashable) -> bool:
        """True if *key* was not let through within the period."""
        now = self._clock()
        last = self._last.get(key)
        if last is not None and now - last < self._every:
            self._suppressed[key] = self._suppressed.get(key, 0) + 1
            return False
        self._last[key] = now
        return True

    def suppressed(self, key: Hashable) -> int:
        """How many *key* events were held back since the last let through."""
        return self._suppressed.pop(key, 0)
