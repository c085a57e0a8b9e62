"""The runs database's file format: its tables, and the marks that tell an rnnlab runs database
from any other file.

Schema (version :data:`SCHEMA_VERSION`; ``PRAGMA application_id`` = :data:`APPLICATION_ID` and
``PRAGMA user_version`` = :data:`SCHEMA_VERSION` mark the file as ours)::

    meta(name TEXT PRIMARY KEY, value TEXT)       -- 'application' = 'rnnlab-runs',
                                                  -- 'schema_version' = '1', 'created'
    runs(id           INTEGER PRIMARY KEY,
         key          TEXT UNIQUE NOT NULL,       -- sha256 hex of the canonical spec JSON
         experiment   TEXT,                       -- spec["experiment"] if given
         spec         TEXT NOT NULL,              -- canonical spec JSON
         seed         INTEGER,                    -- spec["seed"] if given
         status       TEXT NOT NULL,              -- pending | running | done | failed
         attempts     INTEGER NOT NULL,           -- how many times the run was claimed
         code_version TEXT,                       -- rnnlab.__version__ [+g<git commit>] of the
                                                  --   process that claimed it
         host TEXT, pid INTEGER,                  -- the claiming process
         proc_start   TEXT,                       -- its start time (Linux /proc), against pid
                                                  --   reuse; NULL elsewhere
         created, started, finished REAL,         -- Unix time in seconds (time.time())
         wall_seconds REAL,                       -- finished - started unless given
         outcome      TEXT,                       -- JSON object returned by the run
         error        TEXT)                       -- traceback of a failed run
    metrics(run_id, name TEXT, step INTEGER, value REAL,   -- NaN is stored as NULL
            PRIMARY KEY (run_id, name, step)) WITHOUT ROWID -- the index on run_id
    artifacts(run_id, kind TEXT, path TEXT, created REAL,
              PRIMARY KEY (run_id, kind, path))
"""

from __future__ import annotations

import sqlite3
import time

__all__ = [
    "APPLICATION",
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "header_problem",
    "init_schema",
    "schema_problem",
]

APPLICATION_ID = 0x524E4C42  # b"RNLB" in the SQLite header (offset 68): marks the file as ours
SCHEMA_VERSION = 1  # PRAGMA user_version and meta.schema_version
APPLICATION = "rnnlab-runs"  # meta.application

_SQLITE_MAGIC = b"SQLite format 3\x00"
_TABLES = {"meta", "runs", "metrics", "artifacts"}
_SCHEMA = (
    "CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
    """CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        key TEXT UNIQUE NOT NULL,
        experiment TEXT,
        spec TEXT NOT NULL,
        seed INTEGER,
        status TEXT NOT NULL DEFAULT 'pending'
            CHECK (status IN ('pending', 'running', 'done', 'failed')),
        attempts INTEGER NOT NULL DEFAULT 0,
        code_version TEXT,
        host TEXT,
        pid INTEGER,
        proc_start TEXT,
        created REAL NOT NULL,
        started REAL,
        finished REAL,
        wall_seconds REAL,
        outcome TEXT,
        error TEXT
    )""",
    "CREATE INDEX runs_experiment_status ON runs (experiment, status)",
    "CREATE INDEX runs_status ON runs (status)",
    """CREATE TABLE metrics (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        name TEXT NOT NULL,
        step INTEGER NOT NULL,
        value REAL,
        PRIMARY KEY (run_id, name, step)
    ) WITHOUT ROWID""",
    """CREATE TABLE artifacts (
        run_id INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
        kind TEXT NOT NULL,
        path TEXT NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (run_id, kind, path)
    ) WITHOUT ROWID""",
)


def header_problem(header: bytes) -> str | None:
    """What is wrong with a file whose first 100 bytes are ``header``, or None if it may be ours."""
    if len(header) < 100 or not header.startswith(_SQLITE_MAGIC):
        return "is not an SQLite database (corrupt or another kind of file)"
    application_id = int.from_bytes(header[68:72], "big")
    if application_id != APPLICATION_ID:
        return (
            f"is an SQLite database of another application (application_id "
            f"{application_id:#x}, expected {APPLICATION_ID:#x}), not an rnnlab runs database"
        )
    return None


def init_schema(conn: sqlite3.Connection) -> None:
    """Create the tables and marks in an empty database (inside the caller's transaction)."""
    for statement in _SCHEMA:
        conn.execute(statement)
    conn.executemany(
        "INSERT INTO meta (name, value) VALUES (?, ?)",
        [
            ("application", APPLICATION),
            ("schema_version", str(SCHEMA_VERSION)),
            ("created", repr(time.time())),
        ],
    )
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def schema_problem(conn: sqlite3.Connection) -> str | None:
    """What keeps the open database ``conn`` from being an rnnlab runs database this code reads,
    or None."""
    tables = {
        name
        for (name,) in conn.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if "meta" not in tables:
        return "has no rnnlab 'meta' table, so it is not an rnnlab runs database"
    meta = dict(conn.execute("SELECT name, value FROM meta").fetchall())
    if meta.get("application") != APPLICATION:
        return f"its meta table names application {meta.get('application')!r}, not {APPLICATION!r}"
    try:
        version = int(meta.get("schema_version", ""))
    except ValueError:
        return f"bad schema version {meta.get('schema_version')!r}"
    if version > SCHEMA_VERSION:
        return (
            f"was written by a newer rnnlab (schema version {version}; this rnnlab reads up "
            f"to {SCHEMA_VERSION})"
        )
    if tables != _TABLES:
        extra, missing = sorted(tables - _TABLES), sorted(_TABLES - tables)
        return (
            f"has unexpected tables {extra} and lacks {missing}; expected exactly {sorted(_TABLES)}"
        )
    return None
