"""How services and the Monitor retry the router."""

from __future__ import annotations

from simplepyms.transport import (
    RETRY_DELAY_MAX,
    lost_session,
    told_on_leave,
    transport,
)


class TestTransport:
    def test_retries_for_ever_but_never_slower_than_the_cap(self) -> None:
        """autobahn's five-minute back-off is replaced by RETRY_DELAY_MAX."""
        settings = transport("ws://127.0.0.1:1/ws")

        assert (-1, RETRY_DELAY_MAX) == (
            settings["max_retries"],
            settings["max_retry_delay"],
        )

    def test_a_short_interval_retries_as_often(self) -> None:
        """A service beating every 0.2 s retries every 0.2 s at most."""
        settings = transport("ws://127.0.0.1:1/ws", 0.2)

        assert 0.2 == settings["max_retry_delay"]
        assert settings["initial_retry_delay"] <= 0.2


class TestLostSession:
    def test_transport_lost_is_the_end_of_a_session(self) -> None:
        """autobahn's transport_lost error is a lost session, not a refusal."""

        class LostError(Exception):
            error = "wamp.close.transport_lost"

        assert lost_session(LostError())
        assert not lost_session(ConnectionRefusedError())

    def test_a_refusal_is_told_on_leave_and_a_refused_port_is_not(
        self,
    ) -> None:
        """Refusals and lost sessions are reported once, by the leave."""

        class RefusedError(Exception):
            error = "wamp.error.not_authorized"

        class LostError(Exception):
            error = "wamp.close.transport_lost"

        assert told_on_leave(RefusedError())
        assert told_on_leave(LostError())
        assert not told_on_leave(ConnectionRefusedError())
