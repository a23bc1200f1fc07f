"""Keep the fleet across Monitor restarts, in one SQLite file.

The Monitor saves every instance it tracks (not their carried metrics,
which are only served once a fresh heartbeat brings them) every few
seconds and when it stops, and loads them when it starts.  An instance
that died while the Monitor was away is then judged down, not forgotten.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from simplepyms.liveness import Fleet, Instance, State

SCHEMA_VERSION = 1

_COLUMNS = (
    "service",
    "instance",
    "interval",
    "started",
    "last_seen",
    "last_sent",
    "seq",
    "heartbeats",
    "start_on_monitor",
    "ended",
    "ended_at",
    "replaced",
    "reported",
    "heard",
)


class StoreError(Exception):
    """The state file cannot be opened, read or written."""


class FleetStore:
    """The SQLite file that holds a Monitor's fleet.

    Args:
        path: the file; its folder is created if missing.

    Raises:
        StoreError: if the file cannot be opened or is not ours.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(path)
            self._create()
        except (OSError, sqlite3.Error) as problem:
            raise StoreError(
                f"cannot use state file {path}: {problem}"
            ) from problem

    def close(self) -> None:
        """Close the file."""
        self._db.close()

    def save(self, fleet: Fleet) -> None:
        """Replace what the file holds with *fleet*.

        Raises:
            StoreError: if writing fails (a full disk, say).
        """
        rows = [
            (
                inst.service,
                inst.instance,
                inst.interval,
                inst.started,
                inst.last_seen,
                inst.last_sent,
                inst.seq,
                inst.heartbeats,
                inst.start_on_monitor,
                None if inst.ended is None else inst.ended.value,
                inst.ended_at,
                int(inst.replaced),
                inst.reported.value,
                inst.heard,
            )
            for inst in fleet
        ]
        marks = ", ".join("?" for _ in _COLUMNS)
        try:
            with self._db:
                self._db.execute("DELETE FROM instances")
                self._db.executemany(
                    f"INSERT INTO instances VALUES ({marks})",  # noqa: S608
                    rows,
                )
                self._db.execute("DELETE FROM restarts")
                self._db.executemany(
                    "INSERT INTO restarts VALUES (?, ?)",
                    fleet.restarts.items(),
                )
        except (sqlite3.Error, OverflowError) as problem:
            raise StoreError(
                f"cannot write state file {self.path}: {problem}"
            ) from problem

    def load(self, fleet: Fleet) -> int:
        """Put every saved instance into *fleet*; return how many.

        Raises:
            StoreError: if the file cannot be read.
        """
        columns = ", ".join(_COLUMNS)
        try:
            rows = self._db.execute(
                f"SELECT {columns} FROM instances"  # noqa: S608
            ).fetchall()
            restarts = self._db.execute("SELECT * FROM restarts").fetchall()
        except sqlite3.Error as problem:
            raise StoreError(
                f"cannot read state file {self.path}: {problem}"
            ) from problem

        for row in rows:
            values = dict(zip(_COLUMNS, row, strict=True))
            ended = values.pop("ended")
            replaced = bool(values.pop("replaced"))
            reported = State(values.pop("reported"))
            fleet.restore(
                Instance(
                    **values,
                    metrics={},
                    ended=None if ended is None else State(ended),
                    replaced=replaced,
                    reported=reported,
                )
            )
        fleet.restarts.update(dict(restarts))
        return len(rows)

    def _create(self) -> None:
        with self._db:
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS schema (version INTEGER)"
            )
            found = self._db.execute("SELECT version FROM schema").fetchone()
            if found is None:
                self._db.execute(
                    "INSERT INTO schema VALUES (?)", (SCHEMA_VERSION,)
                )
            elif found[0] != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"schema version {found[0]}, expected {SCHEMA_VERSION}"
                )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS instances ("
                " service TEXT, instance TEXT, interval REAL, started REAL,"
                " last_seen REAL, last_sent REAL, seq INTEGER,"
                " heartbeats INTEGER, start_on_monitor REAL, ended TEXT,"
                " ended_at REAL, replaced INTEGER, reported TEXT,"
                " heard REAL, PRIMARY KEY (service, instance))"
            )
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS restarts ("
                " service TEXT PRIMARY KEY, count INTEGER)"
            )
