"""The audit log: an append-only, hash-chained record of every action Hark proposed and did.

One SQLite table in WAL mode (the engine thread writes while ``hark audit`` reads). Each row's
``hash`` is sha256 over the previous row's hash and the row's canonical content, so an edited,
inserted or deleted row breaks the chain and :meth:`AuditLog.verify` names the first bad one.
Triggers refuse UPDATE and DELETE, so only a deliberate edit outside Hark can change history;
``sqlite_sequence`` remembers the highest row ever written, so cutting rows off the end shows
too (unless that is edited as well: the chain protects against mistakes and casual tampering,
not against someone who rewrites the whole file).

The file is created 0600: it holds what was sent (mail bodies are the user's own data and are
needed to audit what went out), never secrets; nothing here logs row content.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from app.safety.actions import KEY_KINDS, KeyState, canonical_json
from app.settings.schema import PolicySettings
from app.shared.errors import AuditCode, HarkError
from app.shared.paths import data_dir

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
GENESIS = "0" * 64
"""The ``prev_hash`` of the first row."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    action_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    tool TEXT,
    data TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_tool_kind_at ON audit (tool, kind, at);
CREATE INDEX IF NOT EXISTS audit_action ON audit (action_id);
CREATE INDEX IF NOT EXISTS audit_key ON audit (json_extract(data, '$.key'));
CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""


class AuditError(HarkError):
    """The audit log cannot be opened or written."""


@dataclass(frozen=True, slots=True)
class AuditRow:
    """One recorded step of one action."""

    seq: int
    at: float
    action_id: str
    kind: str
    tool: str | None
    data: dict[str, Any]
    prev_hash: str
    hash: str


@dataclass(frozen=True, slots=True)
class VerifyResult:
    """The chain check: ``ok``, how many rows were checked, and the first bad one if any."""

    ok: bool
    checked: int
    first_bad_seq: int | None = None
    problem: str | None = None


def default_audit_path(settings: PolicySettings) -> Path:
    """``policy.audit_db``, else ``audit.sqlite3`` in Hark's data directory."""
    return settings.audit_db or data_dir() / "audit.sqlite3"


def row_hash(
    prev_hash: str, seq: int, at: float, action_id: str, kind: str, tool: str | None, data: str
) -> str:
    """sha256 over the previous hash and the row's canonical content."""
    content = canonical_json(
        {"seq": seq, "at": at, "action_id": action_id, "kind": kind, "tool": tool, "data": data}
    )
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


class AuditLog:
    """The SQLite audit store; implements the policy's ``AuditTrail``.

    Thread-safe: one connection guarded by a lock (the engine thread appends, other threads
    may read), and each append is one ``BEGIN IMMEDIATE`` transaction, so two processes on the
    same file still produce one unbroken chain.
    """

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.time) -> None:
        self.path = path
        self._clock = clock
        self._lock = threading.Lock()
        self._conn = _open(path)

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- AuditTrail ----------------------------------------------------------------------

    def append(self, action_id: str, kind: str, data: Mapping[str, Any]) -> None:
        """Add one row at the end of the chain."""
        tool = data.get("tool")
        text = canonical_json(dict(data))
        with self._write() as conn:
            last = conn.execute("SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1").fetchone()
            used = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
            seq = max(last[0] if last else 0, used[0] if used else 0) + 1
            prev = last[1] if last else GENESIS
            at = float(self._clock())
            digest = row_hash(prev, seq, at, action_id, kind, _text(tool), text)
            conn.execute(
                "INSERT INTO audit (seq, at, action_id, kind, tool, data, prev_hash, hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (seq, at, action_id, kind, _text(tool), text, prev, digest),
            )
        log.debug("audit: %s %s", kind, tool)

    def find_key(self, key: str, since: float) -> KeyState | None:
        marks = ",".join("?" for _ in KEY_KINDS)
        row = self._read_one(
            "SELECT action_id, kind, at, data FROM audit "
            f"WHERE json_extract(data, '$.key') = ? AND kind IN ({marks}) AND at >= ? "
            "ORDER BY seq DESC LIMIT 1",
            (key, *KEY_KINDS, since),
        )
        if row is None:
            return None
        data = json.loads(row[3])
        result = data.get("result") if row[1] == "executed" else None
        return KeyState(
            action_id=row[0], kind=row[1], at=row[2], result=None if result is None else str(result)
        )

    def count_executed(self, tool: str, since: float) -> int:
        row = self._read_one(
            "SELECT COUNT(*) FROM audit WHERE tool = ? AND kind = 'executed' AND at >= ?",
            (tool, since),
        )
        return int(row[0]) if row else 0

    # -- reading -------------------------------------------------------------------------

    def rows(self, limit: int | None = None) -> list[AuditRow]:
        """The rows in order; with ``limit``, only the last ``limit`` of them."""
        sql = "SELECT seq, at, action_id, kind, tool, data, prev_hash, hash FROM audit"
        if limit is None:
            found = self._read_all(sql + " ORDER BY seq", ())
        else:
            found = self._read_all(sql + " ORDER BY seq DESC LIMIT ?", (limit,))[::-1]
        return [_row(r) for r in found]

    def actions(self, limit: int | None = None) -> list[list[AuditRow]]:
        """The rows grouped by action, oldest first; with ``limit``, the last ``limit`` actions."""
        sql = "SELECT action_id FROM audit GROUP BY action_id ORDER BY MIN(seq) DESC"
        ids = [
            r[0]
            for r in self._read_all(
                sql + ("" if limit is None else " LIMIT ?"), () if limit is None else (limit,)
            )
        ]
        if not ids:
            return []
        grouped: dict[str, list[AuditRow]] = {i: [] for i in reversed(ids)}
        marks = ",".join("?" for _ in ids)
        found = self._read_all(
            "SELECT seq, at, action_id, kind, tool, data, prev_hash, hash FROM audit "
            f"WHERE action_id IN ({marks}) ORDER BY seq",
            tuple(ids),
        )
        for r in found:
            grouped[r[2]].append(_row(r))
        return list(grouped.values())

    def verify(self) -> VerifyResult:
        """Walk the whole chain; the first row whose hash or link does not match is named."""
        prev = GENESIS
        expected_seq = 1
        checked = 0
        with self._reading() as conn:
            cursor = conn.execute(
                "SELECT seq, at, action_id, kind, tool, data, prev_hash, hash FROM audit "
                "ORDER BY seq"
            )
            for seq, at, action_id, kind, tool, data, prev_hash, digest in cursor:
                if seq != expected_seq:
                    return _bad(checked, expected_seq, f"row {expected_seq} is missing")
                if prev_hash != prev:
                    return _bad(checked, seq, "its link to the previous row is broken")
                if row_hash(prev, seq, at, action_id, kind, tool, data) != digest:
                    return _bad(checked, seq, "its content does not match its hash (edited?)")
                prev = digest
                expected_seq += 1
                checked += 1
            used = conn.execute("SELECT seq FROM sqlite_sequence WHERE name = 'audit'").fetchone()
        if used is not None and used[0] >= expected_seq:
            return _bad(checked, expected_seq, f"rows {expected_seq} to {used[0]} are missing")
        return VerifyResult(ok=True, checked=checked)

    # -- plumbing ------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
                self._conn.execute("COMMIT")
            except sqlite3.Error as exc:
                raise AuditError(
                    AuditCode.WRITE, f"could not write the audit log {self.path}: {exc}"
                ) from exc

    def _read_one(self, sql: str, params: tuple[Any, ...]) -> Any:
        with self._reading() as conn:
            return conn.execute(sql, params).fetchone()

    def _read_all(self, sql: str, params: tuple[Any, ...]) -> list[Any]:
        with self._reading() as conn:
            return conn.execute(sql, params).fetchall()

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                yield self._conn
            except sqlite3.Error as exc:
                raise AuditError(
                    AuditCode.READ, f"could not read the audit log {self.path}: {exc}"
                ) from exc


def _open(path: Path) -> sqlite3.Connection:
    """Open (or create, 0600) the database, check its schema version, set WAL."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
    except OSError as exc:
        raise AuditError(AuditCode.OPEN, f"cannot create the audit log {path}: {exc}") from exc
    conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None, timeout=10.0)
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise AuditError(
                AuditCode.NEWER_SCHEMA,
                f"the audit log {path} was written by a newer Hark (schema {version}, this one "
                f"reads {SCHEMA_VERSION}); update Hark, or set policy.audit_db to another file",
            )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.executescript(_SCHEMA)
        if version < SCHEMA_VERSION:
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    except AuditError:
        conn.close()
        raise
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise AuditError(
            AuditCode.CORRUPT,
            f"{path} is not a readable audit log ({exc}); move it aside and Hark starts a new "
            "one, or set policy.audit_db to another file",
        ) from exc
    return conn


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _row(r: tuple[Any, ...]) -> AuditRow:
    try:
        data = json.loads(r[5])
    except ValueError:
        data = {"unreadable": r[5]}
    return AuditRow(r[0], r[1], r[2], r[3], r[4], data, r[6], r[7])


def _bad(checked: int, seq: int, problem: str) -> VerifyResult:
    return VerifyResult(ok=False, checked=checked, first_bad_seq=seq, problem=problem)
