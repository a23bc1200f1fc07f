"""Rate limits on repeated log events."""

from __future__ import annotations

from structlog.testing import capture_logs
from twisted.logger import LogLevel

from simplepyms.logs import _Bridge
from simplepyms.throttle import Throttle


class TestThrottle:
    def test_one_per_period_and_a_count_of_the_rest(self) -> None:
        """Within the period a key passes once; the rest are counted."""
        now = [0.0]
        throttle = Throttle(lambda: now[0], every=60)

        passed = [throttle.due("k") for _ in range(5)]

        assert [True, False, False, False, False] == passed
        assert 4 == throttle.suppressed("k")
        assert 0 == throttle.suppressed("k")

    def test_passes_again_after_the_period(self) -> None:
        """Once the period is over the same key passes again."""
        now = [0.0]
        throttle = Throttle(lambda: now[0], every=60)
        throttle.due("k")
        now[0] = 60.0

        assert throttle.due("k")

    def test_keys_are_independent(self) -> None:
        """One key held back does not hold back another."""
        throttle = Throttle(lambda: 0.0)
        throttle.due("a")

        assert throttle.due("b")


class TestBridge:
    def _error(self, text: str) -> dict[str, object]:
        return {
            "log_level": LogLevel.error,
            "log_namespace": "autobahn.x",
            "log_format": text,
        }

    def test_a_library_error_repeated_is_passed_on_once(self) -> None:
        """autobahn's same error, again and again, is one library_error."""
        bridge = _Bridge()
        with capture_logs() as logs:
            for _ in range(10):
                bridge(self._error("wamp.error.invalid_uri: nope"))

        assert ["library_error"] == [e["event"] for e in logs]

    def test_routine_reconnects_are_left_out(self) -> None:
        """Failed attempts and refusals are told by simplepyms itself."""
        bridge = _Bridge()
        with capture_logs() as logs:
            bridge(self._error("Connection failed: refused"))
            bridge(self._error("wamp.close.transport_lost: gone"))
            bridge(self._error("wamp.error.not_authorized: bad secret"))

        assert [] == logs
