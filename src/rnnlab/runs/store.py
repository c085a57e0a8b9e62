"""The runs store: one SQLite database (``<runs folder>/rnnlab.db``) of runs, metrics, artifacts.

A *run* is described by a *spec*: a plain JSON-serialisable dict (strings, numbers, booleans,
``None``, lists and dicts of them). Its *key* is the SHA-256 of the spec's canonical JSON
(``sort_keys=True``, no spaces, no NaN), so the same spec always names the same run, whatever the
order of its dict entries and whichever process computes it. The spec's ``"experiment"`` (a
string) and ``"seed"`` (an int) entries, when present, are copied into their own columns for
queries; they stay part of the spec and of the key.

The file format (tables, columns, the marks that make a file ours) is in :mod:`rnnlab.runs.schema`.

Lifecycle: :meth:`RunStore.add` inserts a run as ``pending`` (or leaves an existing one as it
is); :meth:`~RunStore.claim` / :meth:`~RunStore.claim_next` move ``pending`` → ``running`` and
record who runs it; :meth:`~RunStore.finish` → ``done`` with an outcome; :meth:`~RunStore.fail`
→ ``failed`` with the error; :meth:`~RunStore.release` and :meth:`~RunStore.recover` put runs
back to ``pending``.

Concurrency guarantees:

- Every write is one transaction opened with ``BEGIN IMMEDIATE``: it takes SQLite's write lock
  before it reads, so read-then-update steps (claiming) are atomic across processes, and a
  process killed at any moment leaves the database as it was before or after each write —
  never half of one. A finished run is durable once :meth:`~RunStore.finish` returns.
- The journal is in WAL mode: readers never block the writer nor each other; writers wait for
  each other up to ``timeout`` seconds (``busy_timeout``) and then raise
  ``sqlite3.OperationalError``.
- A run is claimed by at most one process at a time: of several processes racing to claim the
  same run, exactly one gets it.
- Use one :class:`RunStore` per process (it holds one connection). It may be pickled: the copy
  opens its own connection in the process that unpickles it; a copy inherited through ``fork``
  also opens its own on first use. A store is safe to share between threads of one process
  (calls are serialised by a lock).
- Logging a metric twice for the same (run, name, step) keeps the last value, so a run that is
  resumed from a checkpoint may re-log steps without duplicates.
- SQLite's locking needs a local filesystem (not NFS or other network shares).

Bad files: an existing file that is not an rnnlab runs database — random bytes, a truncated or
corrupt file, another program's SQLite database, or ours with tables added by someone else —
raises :class:`RunStoreError` naming the path; the file is never modified. A missing file is
created: the new database is built in a temporary file beside the target and linked into place,
so no process ever sees a half-initialised one. A zero-byte file is initialised in place.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rnnlab._io import file_mode
from rnnlab.runs.identity import canonical_json, code_version, spec_key
from rnnlab.runs.liveness import process_alive, process_start
from rnnlab.runs.schema import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    header_problem,
    init_schema,
    schema_problem,
)

__all__ = [
    "APPLICATION_ID",
    "DATABASE_NAME",
    "DEFAULT_PATH",
    "SCHEMA_VERSION",
    "STATUSES",
    "RunRecord",
    "RunStore",
    "RunStoreError",
    "canonical_json",
    "code_version",
    "database_path",
    "open_store",
    "spec_key",
]

DATABASE_NAME = "rnnlab.db"
DEFAULT_PATH = Path("runs") / DATABASE_NAME
STATUSES = ("pending", "running", "done", "failed")

_RUN_COLUMNS = (
    "key, experiment, spec, seed, status, attempts, code_version, host, pid, created, started, "
    "finished, wall_seconds, outcome, error"
)

# Connections inherited through fork() must not be used nor closed by the child (SQLite forbids
# both); a store that finds itself in a new process parks the old connection here and opens anew.
_INHERITED: list[sqlite3.Connection] = []


class RunStoreError(ValueError):
    """The file at the store's path is not a usable rnnlab runs database (it is left untouched)."""


@dataclass(frozen=True)
class RunRecord:
    """One row of ``runs``, decoded: ``spec`` and ``outcome`` are dicts, times are Unix seconds."""

    key: str
    experiment: str | None
    spec: dict[str, Any]
    seed: int | None
    status: str
    attempts: int
    code_version: str | None
    host: str | None
    pid: int | None
    created: float
    started: float | None
    finished: float | None
    wall_seconds: float | None
    outcome: dict[str, Any] | None
    error: str | None

    @classmethod
    def _from_row(cls, row: Sequence[Any]) -> RunRecord:
        values = list(row)
        values[2] = json.loads(values[2])
        values[13] = None if values[13] is None else json.loads(values[13])
        return cls(*values)


class RunStore:
    """The runs database at ``path`` (default ``runs/rnnlab.db``; parent folders are created).

    Opening an existing file checks that it is an rnnlab runs database of a schema this code
    knows, and raises :class:`RunStoreError` naming the path otherwise, without modifying the file.
    See the module docstring for the schema and the concurrency guarantees.

    Args:
        path: the database file.
        timeout: seconds a write waits for another process's write lock before
            ``sqlite3.OperationalError`` (SQLite's ``busy_timeout``). Default 60.
    """

    def __init__(self, path: str | os.PathLike[str] = DEFAULT_PATH, *, timeout: float = 60.0):
        if not isinstance(timeout, (int, float)) or not timeout >= 0:
            raise ValueError(f"timeout: expected seconds >= 0, got {timeout!r}")
        self.path = Path(path)
        self.timeout = float(timeout)
        self._lock = threading.RLock()
        self._ids: dict[str, int] = {}
        self._conn: sqlite3.Connection | None = None
        self._pid = -1
        self._connection()  # open and validate now, so that bad files fail early

    # ------------------------------------------------------------------ opening and validation
    def _error(self, what: str) -> RunStoreError:
        return RunStoreError(
            f"runs database {str(self.path)!r}: {what}. The file was left untouched; point "
            "rnnlab at another runs folder, or move the file away."
        )

    def _check_header(self) -> None:
        """Check the SQLite header of an existing non-empty file without opening it in SQLite."""
        try:
            with open(self.path, "rb") as f:
                problem = header_problem(f.read(100))
        except OSError as error:
            raise self._error(f"cannot be read ({error})") from error
        if problem:
            raise self._error(problem)

    def _connect(self, path: Path) -> sqlite3.Connection:
        conn = sqlite3.connect(
            path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {int(self.timeout * 1000)}")
        conn.execute("PRAGMA foreign_keys = ON")
        return conn

    def _create(self) -> None:
        """Build a new database in a temporary file and link it into place (atomic; never
        replaces a file that appeared meanwhile)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".rnnlab-", suffix=".db.tmp", dir=self.path.parent)
        os.close(fd)
        try:
            conn = sqlite3.connect(tmp, isolation_level=None)
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("BEGIN IMMEDIATE")
                init_schema(conn)
                conn.execute("COMMIT")
            finally:
                conn.close()
            os.chmod(tmp, file_mode())
            with contextlib.suppress(FileExistsError):  # another process made it first
                os.link(tmp, self.path)
        finally:
            for suffix in ("", "-wal", "-shm"):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp + suffix)

    def _validate(self, conn: sqlite3.Connection) -> None:
        problem = schema_problem(conn)
        if problem:
            raise self._error(problem)

    def _open(self) -> sqlite3.Connection:
        if not self.path.exists():
            self._create()
        empty = self.path.stat().st_size == 0
        if not empty:
            self._check_header()
        try:
            conn = self._connect(self.path)
        except sqlite3.Error as error:
            raise self._error(f"cannot be opened ({error})") from error
        try:
            if empty:  # a zero-byte file (e.g. made by tempfile): initialise it in place
                conn.execute("BEGIN IMMEDIATE")
                try:
                    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0] == 0:
                        init_schema(conn)
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            self._validate(conn)
            if conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                conn.execute("PRAGMA journal_mode = WAL")
        except RunStoreError:
            conn.close()
            raise
        except sqlite3.DatabaseError as error:
            conn.close()
            raise self._error(f"is corrupt or unreadable ({error})") from error
        return conn

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            if self._conn is not None:
                _INHERITED.append(self._conn)  # forked copy: neither use nor close it
                self._ids.clear()
            self._conn = self._open()
            self._pid = os.getpid()
        return self._conn

    def close(self) -> None:
        """Close this process's connection (a later call opens a new one)."""
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> dict[str, Any]:
        return {"path": self.path, "timeout": self.timeout}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.path, self.timeout = state["path"], state["timeout"]
        self._lock = threading.RLock()
        self._ids = {}
        self._conn, self._pid = None, -1  # opened on first use, in the unpickling process

    def __repr__(self) -> str:
        return f"RunStore({str(self.path)!r})"

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction: ``BEGIN IMMEDIATE`` ... ``COMMIT`` (``ROLLBACK`` on error)."""
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def _run_id(self, conn: sqlite3.Connection, key: str) -> int:
        run_id = self._ids.get(key)
        if run_id is None:
            row = conn.execute("SELECT id FROM runs WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise KeyError(f"key: no run {key!r} in {self.path}")
            run_id = self._ids[key] = row[0]
        return run_id

    # ---------------------------------------------------------------------------------- runs
    def add(self, spec: Mapping[str, Any]) -> str:
        """Add the run ``spec`` as ``pending`` unless it is already there; return its key.

        Idempotent: adding the same spec again (in any dict order) changes nothing.
        """
        return self.add_many([spec])[0]

    def add_many(self, specs: Iterable[Mapping[str, Any]]) -> list[str]:
        """:meth:`add` every spec in one transaction; return their keys in order."""
        rows = []
        for index, spec in enumerate(specs):
            try:
                text = canonical_json(spec)
            except (TypeError, ValueError) as error:
                raise type(error)(f"specs[{index}]: {error}") from None
            experiment, seed = spec.get("experiment"), spec.get("seed")
            if experiment is not None and not isinstance(experiment, str):
                raise TypeError(
                    f"specs[{index}]['experiment']: expected a string, got {experiment!r}"
                )
            if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
                raise TypeError(f"specs[{index}]['seed']: expected an int, got {seed!r}")
            rows.append((spec_key(spec), experiment, text, seed))
        now = time.time()
        with self._write() as conn:
            conn.executemany(
                "INSERT INTO runs (key, experiment, spec, seed, status, created) "
                "VALUES (?, ?, ?, ?, 'pending', ?) ON CONFLICT (key) DO NOTHING",
                [(*row, now) for row in rows],
            )
        return [row[0] for row in rows]

    def _claim_row(self, conn: sqlite3.Connection, run_id: int) -> RunRecord:
        pid = os.getpid()
        conn.execute(
            "UPDATE runs SET status = 'running', attempts = attempts + 1, code_version = ?, "
            "host = ?, pid = ?, proc_start = ?, started = ?, finished = NULL, "
            "wall_seconds = NULL, outcome = NULL, error = NULL WHERE id = ?",
            (code_version(), socket.gethostname(), pid, process_start(pid), time.time(), run_id),
        )
        row = conn.execute(f"SELECT {_RUN_COLUMNS} FROM runs WHERE id = ?", (run_id,)).fetchone()
        return RunRecord._from_row(row)

    def claim(self, key: str, *, retry_failed: bool = False) -> RunRecord | None:
        """Atomically move run ``key`` from ``pending`` (or ``failed`` if ``retry_failed``) to
        ``running``, recording this process (host, pid), the code version and the start time.

        Returns the claimed run, or None if it is not claimable (running elsewhere, done, or
        failed without ``retry_failed``). Raises ``KeyError`` for an unknown key.
        """
        claimable = ("pending", "failed") if retry_failed else ("pending",)
        code_version()  # cached; looked up before taking the write lock
        with self._write() as conn:
            row = conn.execute("SELECT id, status FROM runs WHERE key = ?", (key,)).fetchone()
            if row is None:
                raise KeyError(f"key: no run {key!r} in {self.path}")
            if row[1] not in claimable:
                return None
            return self._claim_row(conn, row[0])

    def claim_next(self, experiment: str | None = None) -> RunRecord | None:
        """Atomically claim the oldest ``pending`` run (of ``experiment`` if given), as
        :meth:`claim` does; None when there is none."""
        sql = "SELECT id FROM runs WHERE status = 'pending'"
        params: tuple[Any, ...] = ()
        if experiment is not None:
            sql, params = sql + " AND experiment = ?", (experiment,)
        code_version()
        with self._write() as conn:
            row = conn.execute(sql + " ORDER BY id LIMIT 1", params).fetchone()
            return None if row is None else self._claim_row(conn, row[0])

    def finish(
        self,
        key: str,
        outcome: Mapping[str, Any] | None = None,
        *,
        wall_seconds: float | None = None,
    ) -> None:
        """Mark run ``key`` ``done`` with ``outcome`` (a JSON-serialisable dict; NaN allowed).

        ``wall_seconds`` defaults to the time since the run was claimed.
        """
        outcome = {} if outcome is None else outcome
        if not isinstance(outcome, Mapping):
            raise TypeError(f"outcome: expected a dict, got {type(outcome).__name__}")
        try:
            text = json.dumps(outcome, sort_keys=True)
        except TypeError as error:
            raise TypeError(f"outcome: must be JSON-serialisable ({error})") from None
        now = time.time()
        with self._write() as conn:
            run_id = self._run_id(conn, key)
            conn.execute(
                "UPDATE runs SET status = 'done', finished = ?, "
                "wall_seconds = coalesce(?, ? - started), outcome = ?, error = NULL WHERE id = ?",
                (now, wall_seconds, now, text, run_id),
            )

    def fail(self, key: str, error: str | BaseException) -> None:
        """Mark run ``key`` ``failed``, keeping ``error`` (a message, or an exception whose
        traceback is stored)."""
        if isinstance(error, BaseException):
            import traceback

            error = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        now = time.time()
        with self._write() as conn:
            run_id = self._run_id(conn, key)
            conn.execute(
                "UPDATE runs SET status = 'failed', finished = ?, wall_seconds = ? - started, "
                "error = ? WHERE id = ?",
                (now, now, str(error), run_id),
            )

    def release(self, key: str) -> None:
        """Put run ``key`` back to ``pending`` (e.g. after an interruption), whatever its status.
        Its metrics are kept."""
        with self._write() as conn:
            run_id = self._run_id(conn, key)
            conn.execute(
                "UPDATE runs SET status = 'pending', finished = NULL, wall_seconds = NULL, "
                "outcome = NULL, error = NULL WHERE id = ?",
                (run_id,),
            )

    def recover(self) -> list[str]:
        """Reset to ``pending`` every ``running`` run claimed on this host by a process that is
        gone (killed, crashed; a zombie or a reused pid counts as gone). Returns their keys.

        Runs claimed on other hosts are left alone: their liveness cannot be checked from here
        (use :meth:`release` once you know they are dead).
        """
        host = socket.gethostname()
        with self._write() as conn:
            rows = conn.execute(
                "SELECT id, key, pid, proc_start FROM runs WHERE status = 'running' AND host = ?",
                (host,),
            ).fetchall()
            dead = [
                (i, k) for i, k, pid, start in rows if pid is None or not process_alive(pid, start)
            ]
            conn.executemany(
                "UPDATE runs SET status = 'pending' WHERE id = ? AND status = 'running'",
                [(i,) for i, _ in dead],
            )
        return [k for _, k in dead]

    def get(self, key: str) -> RunRecord:
        """The run ``key``; ``KeyError`` if there is none."""
        rows = self._read(f"SELECT {_RUN_COLUMNS} FROM runs WHERE key = ?", (key,))
        if not rows:
            raise KeyError(f"key: no run {key!r} in {self.path}")
        return RunRecord._from_row(rows[0])

    def statuses(self, keys: Iterable[str] | None = None) -> dict[str, str]:
        """``{key: status}`` of the given runs (unknown keys are left out), or of all runs."""
        rows = self._read("SELECT key, status FROM runs")
        if keys is None:
            return dict(rows)
        wanted = set(keys)
        return {key: status for key, status in rows if key in wanted}

    def __contains__(self, key: object) -> bool:
        return bool(self._read("SELECT 1 FROM runs WHERE key = ?", (key,)))

    def runs(self, experiment: str | None = None, status: str | None = None) -> list[RunRecord]:
        """All runs, oldest first, optionally only those of ``experiment`` and/or ``status``."""
        if status is not None and status not in STATUSES:
            raise ValueError(f"status: expected one of {list(STATUSES)}, got {status!r}")
        where, params = [], []
        if experiment is not None:
            where.append("experiment = ?")
            params.append(experiment)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        sql = f"SELECT {_RUN_COLUMNS} FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        return [RunRecord._from_row(row) for row in self._read(sql + " ORDER BY id", params)]

    def counts(self, experiment: str | None = None) -> dict[str, int]:
        """Number of runs per status (every status present, zeros included)."""
        sql, params = "SELECT status, count(*) FROM runs", ()
        if experiment is not None:
            sql, params = sql + " WHERE experiment = ?", (experiment,)
        found = dict(self._read(sql + " GROUP BY status", params))
        return {status: found.get(status, 0) for status in STATUSES}

    # ------------------------------------------------------------------------------- metrics
    def log_metrics(self, key: str, step: int, values: Mapping[str, float]) -> None:
        """Record ``values`` (``{name: value}``) of run ``key`` at ``step``, in one transaction.

        Re-logging a (name, step) replaces the old value; NaN is stored as NULL and read back as
        NaN.
        """
        self.log_metrics_many(key, [(step, name, value) for name, value in values.items()])

    def log_metrics_many(self, key: str, rows: Iterable[tuple[int, str, float]]) -> None:
        """Record many ``(step, name, value)`` rows of run ``key`` in one transaction."""
        checked = []
        for step, name, value in rows:
            if isinstance(step, bool) or not isinstance(step, int):
                raise TypeError(f"step: expected an int, got {step!r}")
            if not isinstance(name, str):
                raise TypeError(f"metric name: expected a string, got {name!r}")
            value = float(value)
            checked.append((name, step, None if math.isnan(value) else value))
        if not checked:
            return
        with self._write() as conn:
            run_id = self._run_id(conn, key)
            conn.executemany(
                "INSERT OR REPLACE INTO metrics (run_id, name, step, value) VALUES (?, ?, ?, ?)",
                [(run_id, *row) for row in checked],
            )

    def metrics(self, key: str, name: str | None = None) -> dict[str, list[tuple[int, float]]]:
        """Run ``key``'s metrics as ``{name: [(step, value), ...]}``, steps in increasing order
        (only ``name`` if given)."""
        sql = (
            "SELECT m.name, m.step, m.value FROM metrics m JOIN runs r ON r.id = m.run_id "
            "WHERE r.key = ?"
        )
        params: tuple[Any, ...] = (key,)
        if name is not None:
            sql, params = sql + " AND m.name = ?", (key, name)
        if key not in self:
            raise KeyError(f"key: no run {key!r} in {self.path}")
        result: dict[str, list[tuple[int, float]]] = {}
        for metric, step, value in self._read(sql + " ORDER BY m.name, m.step", params):
            result.setdefault(metric, []).append((step, math.nan if value is None else value))
        return result

    # ----------------------------------------------------------------------------- artifacts
    def add_artifact(self, key: str, kind: str, path: str | os.PathLike[str]) -> None:
        """Record a file made by run ``key`` (``kind``: e.g. ``"checkpoint"``, ``"plot"``)."""
        with self._write() as conn:
            run_id = self._run_id(conn, key)
            conn.execute(
                "INSERT OR REPLACE INTO artifacts (run_id, kind, path, created) "
                "VALUES (?, ?, ?, ?)",
                (run_id, kind, os.fspath(path), time.time()),
            )

    def artifacts(self, key: str, kind: str | None = None) -> list[tuple[str, str]]:
        """Run ``key``'s artifacts as ``(kind, path)`` pairs, oldest first."""
        sql = (
            "SELECT a.kind, a.path FROM artifacts a JOIN runs r ON r.id = a.run_id WHERE r.key = ?"
        )
        params: tuple[Any, ...] = (key,)
        if kind is not None:
            sql, params = sql + " AND a.kind = ?", (key, kind)
        return [tuple(row) for row in self._read(sql + " ORDER BY a.created", params)]


def database_path(runs_dir: str | os.PathLike[str]) -> Path:
    """Where the database of the runs folder ``runs_dir`` lives: ``<runs_dir>/rnnlab.db``. The one
    place that knows it."""
    return Path(runs_dir) / DATABASE_NAME


def open_store(runs_dir: str | os.PathLike[str], *, create: bool = True) -> RunStore:
    """The :class:`RunStore` of the runs folder ``runs_dir``.

    With ``create=True`` (commands that write) a missing folder and database are created; with
    ``create=False`` (commands that only read) a folder without a database is refused, so that a
    mistyped path never leaves an empty store behind. Either way a path that is not a folder, or a
    folder where the database cannot be created, raises :class:`RunStoreError` naming it.
    """
    folder = Path(runs_dir)
    if folder.exists() and not folder.is_dir():
        raise RunStoreError(f"runs folder {str(folder)!r} is a file, not a folder")
    path = database_path(folder)
    if not create and not path.is_file():
        raise RunStoreError(
            f"runs folder {str(folder)!r} holds no runs database ({DATABASE_NAME}): nothing has "
            "run there yet, or the path is mistyped"
        )
    try:
        return RunStore(path)
    except OSError as error:
        raise RunStoreError(
            f"runs folder {str(folder)!r} cannot hold a runs database ({error.strerror or error})"
        ) from None
