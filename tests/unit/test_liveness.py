"""The liveness model, judged at explicit moments on the Monitor's clock."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from simplepyms.liveness import Fleet, Instance, Seen, State
from simplepyms.protocol import Goodbye

from .support import T0, beat

Ending = Callable[[Fleet, float], object]


def tracked(fleet: Fleet, instance: str = "a1") -> Instance:
    """Return the instance of adder so named, which must be tracked."""
    inst = fleet.get("adder", instance)
    assert inst is not None
    return inst


def say_goodbye(fleet: Fleet, now: float, instance: str = "a1") -> object:
    """End an adder instance with a goodbye at *now*."""
    return fleet.goodbye(Goodbye("adder", instance, "stop"), now)


def lose(fleet: Fleet, now: float, instance: str = "a1") -> object:
    """End an adder instance with a lost-session notice at *now*."""
    return fleet.lost("adder", instance, now)


def fall_silent(fleet: Fleet, now: float, instance: str = "a1") -> object:
    """Do nothing: the instance ends by silence once the timeout passes."""
    return None


ENDINGS = [
    pytest.param(say_goodbye, id="goodbye"),
    pytest.param(lose, id="lost"),
    pytest.param(fall_silent, id="silence"),
]


class TestConfiguration:
    """Fleet checks its factors when it is built."""

    @pytest.mark.parametrize("late_factor", [0.5, 0.999, 3.5])
    def test_late_factor_out_of_range(self, late_factor: float) -> None:
        """A late factor below 1 or above the timeout factor is refused."""
        message = (
            r"late_factor must be at least 1 and at most timeout_factor"
            rf" \(3\.0\), got {late_factor}"
        )

        with pytest.raises(ValueError, match=message):
            Fleet(late_factor=late_factor)

    @pytest.mark.parametrize("late_factor", [1.0, 3.0])
    def test_late_factor_limits(self, late_factor: float) -> None:
        """A late factor of exactly 1 or the timeout factor is accepted."""
        assert late_factor == Fleet(late_factor=late_factor).late_factor

    def test_defaults(self) -> None:
        """By default: down after 3 intervals, late after 1.5, kept 900 s."""
        fleet = Fleet()

        expected = (3.0, 1.5, 900.0)
        assert expected == (
            fleet.timeout_factor,
            fleet.late_factor,
            fleet.retention,
        )


class TestState:
    """How an instance is judged from the silence since its heartbeat."""

    def test_new_instance_is_new(self, fleet: Fleet) -> None:
        """The first heartbeat of an instance reads as NEW."""
        assert Seen.NEW is fleet.heartbeat(beat(), T0)

    def test_new_instance_is_up(self, fleet: Fleet) -> None:
        """An instance is up as soon as its first heartbeat arrives."""
        fleet.heartbeat(beat(), T0)

        assert State.UP is fleet.state(tracked(fleet), T0)

    def test_next_heartbeat_is_current(self, fleet: Fleet) -> None:
        """A heartbeat with the next seq reads as CURRENT."""
        fleet.heartbeat(beat(), T0)

        assert Seen.CURRENT is fleet.heartbeat(beat(seq=2), T0 + 5)

    @pytest.mark.parametrize(
        ("silence", "expected"),
        [
            (0.0, State.UP),
            (7.5, State.UP),
            (7.500001, State.LATE),
            (15.0, State.LATE),
            (15.000001, State.DOWN),
            (3600.0, State.DOWN),
        ],
    )
    def test_boundaries(
        self, fleet: Fleet, silence: float, expected: State
    ) -> None:
        """Up to 1.5 intervals up, to 3 intervals late, then down."""
        fleet.heartbeat(beat(interval=5.0), T0)

        assert expected is fleet.state(tracked(fleet), T0 + silence)

    @pytest.mark.parametrize(
        ("silence", "expected"),
        [(15.0, State.UP), (15.000001, State.DOWN)],
    )
    def test_no_late_when_factors_equal(
        self, silence: float, expected: State
    ) -> None:
        """With late_factor equal to timeout_factor, up turns straight down."""
        fleet = Fleet(timeout_factor=3.0, late_factor=3.0)
        fleet.heartbeat(beat(interval=5.0), T0)

        assert expected is fleet.state(tracked(fleet), T0 + silence)

    @pytest.mark.parametrize(
        ("silence", "expected"),
        [(10.0, State.LATE), (10.000001, State.DOWN)],
    )
    def test_custom_timeout_factor(
        self, silence: float, expected: State
    ) -> None:
        """The timeout follows timeout_factor times the interval."""
        fleet = Fleet(timeout_factor=2.0, late_factor=1.0)
        fleet.heartbeat(beat(interval=5.0), T0)

        assert expected is fleet.state(tracked(fleet), T0 + silence)

    def test_timeout_follows_latest_interval(self, fleet: Fleet) -> None:
        """A heartbeat announcing a longer interval moves the timeout."""
        fleet.heartbeat(beat(interval=5.0), T0)
        fleet.heartbeat(beat(seq=2, interval=10.0), T0)

        assert State.LATE is fleet.state(tracked(fleet), T0 + 30.0)

    def test_heartbeat_resets_silence(self, fleet: Fleet) -> None:
        """Silence is counted from the latest heartbeat."""
        fleet.heartbeat(beat(), T0)
        fleet.heartbeat(beat(seq=2), T0 + 14.0)

        assert State.UP is fleet.state(tracked(fleet), T0 + 20.0)

    def test_last_seen_is_receive_time(self, fleet: Fleet) -> None:
        """last_seen is the Monitor's receive time, not the sent stamp."""
        fleet.heartbeat(beat(started=10.0, sent=T0 - 300.0), T0)

        assert T0 == tracked(fleet).last_seen

    def test_last_sent_is_sender_time(self, fleet: Fleet) -> None:
        """last_sent keeps the sender's own stamp."""
        fleet.heartbeat(beat(started=10.0, sent=T0 - 300.0), T0)

        assert T0 - 300.0 == tracked(fleet).last_sent

    def test_down_by_silence_revives(self, fleet: Fleet) -> None:
        """An instance down by silence is up again on a newer heartbeat."""
        fleet.heartbeat(beat(), T0)

        seen = fleet.heartbeat(beat(seq=2), T0 + 60.0)

        assert (Seen.CURRENT, State.UP) == (
            seen,
            fleet.state(tracked(fleet), T0 + 60.0),
        )

    def test_live_counts_up_and_late(self, fleet: Fleet) -> None:
        """live() counts a service's instances that are up or late."""
        fleet.heartbeat(beat(instance="a1"), T0)
        fleet.heartbeat(beat(instance="a2"), T0 + 8.0)
        fleet.heartbeat(beat(instance="a3"), T0 + 16.0)

        assert 2 == fleet.live("adder", T0 + 16.0)

    def test_live_is_per_service(self, fleet: Fleet) -> None:
        """live() counts only instances of the service asked about."""
        fleet.heartbeat(beat(service="adder"), T0)
        fleet.heartbeat(beat(service="store"), T0)

        assert 1 == fleet.live("store", T0)

    def test_iter_and_len(self, fleet: Fleet) -> None:
        """The fleet iterates over and counts its tracked instances."""
        fleet.heartbeat(beat(instance="a1"), T0)
        fleet.heartbeat(beat(instance="a2"), T0)

        assert {"a1", "a2"} == {inst.instance for inst in fleet}
        assert 2 == len(fleet)

    def test_key(self, fleet: Fleet) -> None:
        """An instance's key is its service and instance labels."""
        fleet.heartbeat(beat(), T0)

        assert ("adder", "a1") == tracked(fleet).key


class TestUptime:
    """Uptime as the Monitor's clock measures it."""

    def test_at_receipt(self, fleet: Fleet) -> None:
        """At receipt, uptime is what the instance says it has run."""
        fleet.heartbeat(beat(started=T0 - 50.0, sent=T0), T0)

        assert 50.0 == fleet.uptime(tracked(fleet), T0)

    def test_grows_with_now(self, fleet: Fleet) -> None:
        """Between heartbeats, uptime grows with the Monitor's clock."""
        fleet.heartbeat(beat(started=T0 - 50.0, sent=T0), T0)

        assert 60.0 == fleet.uptime(tracked(fleet), T0 + 10.0)

    @pytest.mark.parametrize("offset", [1000.0, -500.0])
    def test_skew_free(self, fleet: Fleet, offset: float) -> None:
        """A sender clock off by *offset* seconds does not change uptime."""
        fleet.heartbeat(beat(started=T0 - 50.0 + offset, sent=T0 + offset), T0)

        assert 60.0 == fleet.uptime(tracked(fleet), T0 + 10.0)

    def test_transit_time_not_counted(self, fleet: Fleet) -> None:
        """A heartbeat received late does not shorten the uptime."""
        fleet.heartbeat(beat(started=T0 - 50.0, sent=T0), T0 + 2.0)

        assert 50.0 == fleet.uptime(tracked(fleet), T0 + 2.0)

    def test_never_negative(self, fleet: Fleet) -> None:
        """A sent stamp before the start stamp gives uptime 0, not less."""
        fleet.heartbeat(beat(started=T0 + 50.0, sent=T0), T0)

        assert 0.0 == fleet.uptime(tracked(fleet), T0)

    def test_frozen_when_stopped(self, fleet: Fleet) -> None:
        """After a goodbye, uptime stays what it was at the goodbye."""
        fleet.heartbeat(beat(started=T0 - 50.0, sent=T0), T0)
        say_goodbye(fleet, T0 + 5.0)

        assert 55.0 == fleet.uptime(tracked(fleet), T0 + 500.0)

    def test_frozen_when_lost(self, fleet: Fleet) -> None:
        """After a lost-session notice, uptime stays what it was then."""
        fleet.heartbeat(beat(started=T0 - 50.0, sent=T0), T0)
        lose(fleet, T0 + 5.0)

        assert 55.0 == fleet.uptime(tracked(fleet), T0 + 500.0)

    def test_frozen_when_down_by_silence(self, fleet: Fleet) -> None:
        """Once down by silence, uptime no longer grows."""
        fleet.heartbeat(beat(), T0)
        inst = tracked(fleet)

        assert fleet.uptime(inst, T0 + 16.0) == fleet.uptime(inst, T0 + 600.0)

    def test_no_drop_when_silence_turns_down(self, fleet: Fleet) -> None:
        """Uptime does not go backwards at the moment silence means down."""
        fleet.heartbeat(beat(), T0)
        inst = tracked(fleet)
        late = fleet.uptime(inst, T0 + 15.0)

        assert late <= fleet.uptime(inst, T0 + 15.000001)

    def test_lost_after_silence_keeps_uptime(self, fleet: Fleet) -> None:
        """A late lost notice does not change a frozen uptime."""
        fleet.heartbeat(beat(), T0)
        inst = tracked(fleet)
        frozen = fleet.uptime(inst, T0 + 60.0)

        lose(fleet, T0 + 60.0)

        assert frozen == fleet.uptime(inst, T0 + 60.0)

    def test_restart_in_place_restarts_uptime(self, fleet: Fleet) -> None:
        """A new start stamp for the same instance measures from it."""
        fleet.heartbeat(beat(started=T0 - 50.0, sent=T0), T0)
        fleet.heartbeat(beat(seq=1, started=T0 + 8.0, sent=T0 + 10.0), T0 + 10)

        assert 2.0 == fleet.uptime(tracked(fleet), T0 + 10.0)


class TestEnding:
    """Goodbyes and lost sessions."""

    def test_goodbye_stops(self, fleet: Fleet) -> None:
        """A goodbye makes the instance stopped."""
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0 + 1.0)

        assert State.STOPPED is fleet.state(tracked(fleet), T0 + 1.0)

    def test_stopped_never_down(self, fleet: Fleet) -> None:
        """A stopped instance stays stopped however long it is silent."""
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0 + 1.0)

        assert State.STOPPED is fleet.state(tracked(fleet), T0 + 10_000.0)

    def test_goodbye_returns_instance(self, fleet: Fleet) -> None:
        """goodbye() returns the instance it stopped."""
        fleet.heartbeat(beat(), T0)

        assert tracked(fleet) is say_goodbye(fleet, T0)

    def test_goodbye_unknown(self, fleet: Fleet) -> None:
        """A goodbye from an instance never seen changes nothing."""
        assert say_goodbye(fleet, T0) is None
        assert 0 == len(fleet)

    def test_second_goodbye_ignored(self, fleet: Fleet) -> None:
        """A second goodbye returns None and keeps the first end time."""
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0 + 1.0)

        assert say_goodbye(fleet, T0 + 2.0) is None
        assert T0 + 1.0 == tracked(fleet).ended_at

    def test_heartbeat_after_goodbye_ended(self, fleet: Fleet) -> None:
        """A heartbeat after a goodbye reads as ENDED."""
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0 + 1.0)

        assert Seen.ENDED is fleet.heartbeat(beat(seq=2), T0 + 2.0)

    def test_heartbeat_after_goodbye_no_revival(self, fleet: Fleet) -> None:
        """A heartbeat after a goodbye leaves the instance stopped."""
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0 + 1.0)
        fleet.heartbeat(beat(seq=2), T0 + 2.0)

        assert State.STOPPED is fleet.state(tracked(fleet), T0 + 2.0)

    def test_goodbye_of_silent_instance(self, fleet: Fleet) -> None:
        """A goodbye after the timeout keeps the moment it went down."""
        fleet.heartbeat(beat(interval=5.0), T0)
        say_goodbye(fleet, T0 + 100.0)

        assert T0 + 15.0 == tracked(fleet).ended_at

    def test_lost_is_down_at_once(self, fleet: Fleet) -> None:
        """A lost session makes the instance down without waiting."""
        fleet.heartbeat(beat(), T0)
        lose(fleet, T0 + 1.0)

        assert State.DOWN is fleet.state(tracked(fleet), T0 + 1.0)

    def test_lost_unknown(self, fleet: Fleet) -> None:
        """A lost notice for an instance never seen changes nothing."""
        assert lose(fleet, T0) is None

    def test_lost_after_goodbye_stays_stopped(self, fleet: Fleet) -> None:
        """A lost notice after a goodbye does not turn stopped into down."""
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0)
        lose(fleet, T0 + 1.0)

        assert State.STOPPED is fleet.state(tracked(fleet), T0 + 1.0)

    def test_reconnect_after_lost_revives(self, fleet: Fleet) -> None:
        """A newer heartbeat after a lost session means it reconnected."""
        fleet.heartbeat(beat(seq=1), T0)
        lose(fleet, T0 + 1.0)

        fleet.heartbeat(beat(seq=2), T0 + 3.0)

        assert State.UP is fleet.state(tracked(fleet), T0 + 3.0)


class TestStale:
    """Repeated and out-of-order heartbeats."""

    @pytest.mark.parametrize("seq", [5, 4, 0])
    def test_stale(self, fleet: Fleet, seq: int) -> None:
        """A heartbeat whose seq is not newer reads as STALE."""
        fleet.heartbeat(beat(seq=5), T0)

        assert Seen.STALE is fleet.heartbeat(beat(seq=seq), T0 + 1.0)

    def test_stale_does_not_refresh(self, fleet: Fleet) -> None:
        """A stale heartbeat does not count as a sign of life."""
        fleet.heartbeat(beat(seq=5), T0)
        fleet.heartbeat(beat(seq=5), T0 + 10.0)

        assert T0 == tracked(fleet).last_seen

    def test_stale_not_counted(self, fleet: Fleet) -> None:
        """A stale heartbeat is not counted as accepted."""
        fleet.heartbeat(beat(seq=5), T0)
        fleet.heartbeat(beat(seq=5), T0 + 1.0)

        assert 1 == tracked(fleet).heartbeats

    def test_stale_keeps_metrics(self, fleet: Fleet) -> None:
        """A stale heartbeat does not overwrite the carried metrics."""
        fleet.heartbeat(beat(seq=5, metrics={"queue_depth": 1}), T0)
        fleet.heartbeat(beat(seq=4, metrics={"queue_depth": 9}), T0 + 1.0)

        assert {"queue_depth": 1.0} == tracked(fleet).metrics


class TestRestarts:
    """Counting a service's restarts."""

    def test_first_instance_no_restart(self, fleet: Fleet) -> None:
        """The first instance of a service counts no restart."""
        fleet.heartbeat(beat(), T0)

        assert {} == fleet.restarts

    @pytest.mark.parametrize("end", ENDINGS)
    def test_replacement_reads_restarted(
        self, fleet: Fleet, end: Ending
    ) -> None:
        """A new instance after the old one ended reads as RESTARTED."""
        fleet.heartbeat(beat(instance="a1"), T0)
        end(fleet, T0 + 1.0)

        seen = fleet.heartbeat(beat(instance="a2"), T0 + 20.0)

        assert Seen.RESTARTED is seen

    @pytest.mark.parametrize("end", ENDINGS)
    def test_replacement_counts_one(self, fleet: Fleet, end: Ending) -> None:
        """A new instance after the old one ended counts one restart."""
        fleet.heartbeat(beat(instance="a1"), T0)
        end(fleet, T0 + 1.0)
        fleet.heartbeat(beat(instance="a2"), T0 + 20.0)

        assert {"adder": 1} == fleet.restarts

    def test_predecessor_replaced_once(self, fleet: Fleet) -> None:
        """A second newcomer does not count the same ended instance again."""
        fleet.heartbeat(beat(instance="a1"), T0)
        say_goodbye(fleet, T0 + 1.0, "a1")
        fleet.heartbeat(beat(instance="a2"), T0 + 2.0)

        assert Seen.NEW is fleet.heartbeat(beat(instance="a3"), T0 + 3.0)
        assert {"adder": 1} == fleet.restarts

    def test_two_live_instances(self, fleet: Fleet) -> None:
        """Two live instances of a service are both tracked."""
        fleet.heartbeat(beat(instance="a1"), T0)
        fleet.heartbeat(beat(instance="a2"), T0 + 1.0)

        assert {"a1", "a2"} == {inst.instance for inst in fleet}

    def test_two_live_instances_no_restart(self, fleet: Fleet) -> None:
        """A second live instance is NEW and counts no restart."""
        fleet.heartbeat(beat(instance="a1"), T0)

        assert Seen.NEW is fleet.heartbeat(beat(instance="a2"), T0 + 1.0)
        assert {} == fleet.restarts

    def test_new_start_same_instance(self, fleet: Fleet) -> None:
        """A new start stamp under the same instance id is a restart."""
        fleet.heartbeat(beat(seq=7, started=T0 - 50.0), T0)

        seen = fleet.heartbeat(beat(seq=1, started=T0 + 3.0), T0 + 4.0)

        assert Seen.RESTARTED is seen
        assert {"adder": 1} == fleet.restarts

    def test_new_start_resets_heartbeats(self, fleet: Fleet) -> None:
        """After a restart in place, accepted heartbeats count from one."""
        fleet.heartbeat(beat(seq=1, started=T0 - 50.0), T0)
        fleet.heartbeat(beat(seq=2, started=T0 - 50.0), T0 + 5.0)
        fleet.heartbeat(beat(seq=1, started=T0 + 6.0), T0 + 7.0)

        assert 1 == tracked(fleet).heartbeats

    def test_restarts_per_service(self, fleet: Fleet) -> None:
        """An ended instance of one service is no predecessor for another."""
        fleet.heartbeat(beat(service="store", instance="s1"), T0)
        fleet.lost("store", "s1", T0 + 1.0)
        fleet.heartbeat(beat(service="adder", instance="a1"), T0 + 2.0)

        assert {} == fleet.restarts


class TestSweep:
    """sweep() reports each change once and forgets the expired."""

    def test_no_change(self, fleet: Fleet) -> None:
        """A sweep right after the first heartbeat reports nothing."""
        fleet.heartbeat(beat(), T0)

        assert [] == fleet.sweep(T0)

    def test_transitions_once_each(self, fleet: Fleet) -> None:
        """Up to late and late to down are each reported exactly once."""
        fleet.heartbeat(beat(), T0)

        changes = [
            [(t.old, t.new) for t in fleet.sweep(T0 + offset)]
            for offset in (8.0, 9.0, 16.0, 17.0)
        ]

        assert [
            [(State.UP, State.LATE)],
            [],
            [(State.LATE, State.DOWN)],
            [],
        ] == changes

    def test_transition_names_instance(self, fleet: Fleet) -> None:
        """A transition carries the instance that changed."""
        fleet.heartbeat(beat(), T0)

        (change,) = fleet.sweep(T0 + 16.0)

        assert tracked(fleet) is change.instance

    def test_goodbye_transition(self, fleet: Fleet) -> None:
        """A goodbye is reported as up to stopped."""
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0 + 1.0)

        changes = fleet.sweep(T0 + 1.0)

        assert [(State.UP, State.STOPPED)] == [(t.old, t.new) for t in changes]

    def test_revival_transition(self, fleet: Fleet) -> None:
        """A silent instance that beats again is reported down to up."""
        fleet.heartbeat(beat(), T0)
        fleet.sweep(T0 + 16.0)
        fleet.heartbeat(beat(seq=2), T0 + 20.0)

        changes = fleet.sweep(T0 + 20.0)

        assert [(State.DOWN, State.UP)] == [(t.old, t.new) for t in changes]

    @pytest.mark.parametrize(
        ("end", "gone_after"),
        [
            pytest.param(say_goodbye, T0 + 900.0, id="goodbye"),
            pytest.param(lose, T0 + 900.0, id="lost"),
            pytest.param(fall_silent, T0 + 915.0, id="silence"),
        ],
    )
    def test_kept_until_retention(
        self, fleet: Fleet, end: Ending, gone_after: float
    ) -> None:
        """An ended instance is still tracked at exactly the retention."""
        fleet.heartbeat(beat(interval=5.0), T0)
        end(fleet, T0)

        fleet.sweep(gone_after)

        assert fleet.get("adder", "a1") is not None

    @pytest.mark.parametrize(
        ("end", "gone_after"),
        [
            pytest.param(say_goodbye, T0 + 900.0, id="goodbye"),
            pytest.param(lose, T0 + 900.0, id="lost"),
            pytest.param(fall_silent, T0 + 915.0, id="silence"),
        ],
    )
    def test_purged_after_retention(
        self, fleet: Fleet, end: Ending, gone_after: float
    ) -> None:
        """An ended instance is forgotten just after the retention."""
        fleet.heartbeat(beat(interval=5.0), T0)
        end(fleet, T0)

        fleet.sweep(gone_after + 0.000001)

        assert fleet.get("adder", "a1") is None

    def test_custom_retention(self) -> None:
        """The retention is configurable."""
        fleet = Fleet(retention=60.0)
        fleet.heartbeat(beat(), T0)
        say_goodbye(fleet, T0)

        fleet.sweep(T0 + 61.0)

        assert 0 == len(fleet)

    def test_live_instance_kept(self, fleet: Fleet) -> None:
        """An instance that keeps beating is never purged."""
        for seq in range(1, 400):
            now = T0 + 5.0 * seq
            fleet.heartbeat(beat(seq=seq), now)
            fleet.sweep(now)

        assert 1 == len(fleet)

    def test_purged_not_resurrected(self, fleet: Fleet) -> None:
        """A heartbeat from a purged instance reads as ENDED."""
        fleet.heartbeat(beat(), T0)
        fleet.sweep(T0 + 1000.0)

        assert Seen.ENDED is fleet.heartbeat(beat(seq=2), T0 + 1001.0)

    def test_purged_stays_untracked(self, fleet: Fleet) -> None:
        """A heartbeat from a purged instance does not track it again."""
        fleet.heartbeat(beat(), T0)
        fleet.sweep(T0 + 1000.0)
        fleet.heartbeat(beat(seq=2), T0 + 1001.0)

        assert fleet.get("adder", "a1") is None
