"""The SQLite state file that carries the fleet across Monitor restarts."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from simplepyms.liveness import Fleet, State
from simplepyms.protocol import Goodbye
from simplepyms.store import FleetStore, StoreError

from .support import T0, beat


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """Where the state file goes, in a folder that does not exist yet."""
    return tmp_path / "state" / "monitor.sqlite"


class TestFleetStore:
    def test_a_number_sqlite_cannot_hold_is_a_store_error(
        self, path: Path
    ) -> None:
        """A value past 64 bits fails the save as StoreError, so it is
        counted and the saver runs on."""
        fleet = Fleet()
        fleet.heartbeat(beat(instance="a1"), T0)
        inst = fleet.get("adder", "a1")
        assert inst is not None
        inst.seq = 2**64

        with pytest.raises(StoreError, match="cannot write state file"):
            FleetStore(path).save(fleet)

    def test_round_trip_keeps_every_instance_and_its_state(
        self, path: Path
    ) -> None:
        """What one Monitor saved, the next one judges the same way."""
        fleet = Fleet()
        fleet.heartbeat(beat(instance="a1"), T0)
        fleet.heartbeat(beat(instance="b2", seq=7), T0 + 1)
        fleet.goodbye(Goodbye("adder", "b2", "stop"), T0 + 2)
        store = FleetStore(path)
        store.save(fleet)
        store.close()

        again = Fleet()
        restored = FleetStore(path).load(again)

        assert 2 == restored
        b2 = again.get("adder", "b2")
        a1 = again.get("adder", "a1")
        assert b2 is not None
        assert a1 is not None
        assert (State.STOPPED, 7) == (again.state(b2, T0 + 3), b2.seq)
        assert State.UP == again.state(a1, T0 + 3)
        assert State.DOWN == again.state(a1, T0 + 100)
        assert {} == a1.metrics

    def test_restarts_survive(self, path: Path) -> None:
        """The restart counter does not fall back to zero."""
        fleet = Fleet()
        fleet.restarts["adder"] = 4
        FleetStore(path).save(fleet)

        again = Fleet()
        FleetStore(path).load(again)

        assert {"adder": 4} == again.restarts

    def test_saving_twice_replaces(self, path: Path) -> None:
        """A purged instance is gone from the file at the next save."""
        store = FleetStore(path)
        fleet = Fleet()
        fleet.heartbeat(beat(), T0)
        store.save(fleet)
        store.save(Fleet())

        assert 0 == store.load(Fleet())

    def test_a_file_that_is_not_sqlite_is_refused(self, path: Path) -> None:
        """Garbage in the state file is one clear error naming the file."""
        path.parent.mkdir(parents=True)
        path.write_text("not a database, just text " * 100)

        with pytest.raises(StoreError, match=str(path)):
            FleetStore(path)

    def test_another_schema_version_is_refused(self, path: Path) -> None:
        """A file from another schema is not read as if it were ours."""
        FleetStore(path).close()
        with sqlite3.connect(path) as db:
            db.execute("UPDATE schema SET version = 99")

        with pytest.raises(StoreError, match="schema version 99"):
            FleetStore(path)

    def test_a_folder_that_cannot_be_made_is_refused(
        self, tmp_path: Path
    ) -> None:
        """A path under a plain file cannot hold the state file."""
        blocker = tmp_path / "file"
        blocker.write_text("")

        with pytest.raises(StoreError, match="cannot use state file"):
            FleetStore(blocker / "monitor.sqlite")
