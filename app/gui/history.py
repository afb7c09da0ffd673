"""The conversation history: the turns the Conversation window showed, kept across restarts.

One SQLite file in the data folder (``history.sqlite3``), readable only by the user (0600), in
WAL mode. It holds exactly what the window showed of each turn — the request, the reply, the
actions with their outcome, how it ended and its timings — never audio, and of a mail only
what the conversation showed (a summary, never the message it summarised). It stays bounded:
the newest :data:`MAX_TURNS` turns and at most :data:`MAX_BYTES` on disk; older turns go
first. :meth:`ConversationHistory.clear` really deletes: the rows go, freed pages are zeroed
(``secure_delete``), the file is rebuilt (``VACUUM``) and the write-ahead log emptied, so
nothing of the old conversation is left in either file.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from app.shared.paths import data_dir

log = logging.getLogger(__name__)

HISTORY_FILE = "history.sqlite3"
MAX_TURNS = 2000
"""Turns kept; the oldest go first."""
MAX_BYTES = 8 * 1024 * 1024
"""The most the file may take on disk."""
MAX_TEXT = 20_000
"""Characters kept of one text (a very long reply is cut)."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS turns (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    at REAL NOT NULL,
    source TEXT NOT NULL,
    request TEXT NOT NULL,
    reply TEXT NOT NULL,
    actions TEXT NOT NULL,
    ending TEXT NOT NULL,
    timings TEXT NOT NULL
)
"""
_COLUMNS = "id, at, source, request, reply, actions, ending, timings"


@dataclass(frozen=True, slots=True)
class Action:
    """One action of a turn as the window showed it."""

    text: str
    ok: bool | None
    """True done, False failed or refused, None still running when the turn ended."""


@dataclass(frozen=True, slots=True)
class TurnRecord:
    """One turn as the Conversation window showed it."""

    source: str
    """``voice`` or ``text``."""
    request: str
    reply: str
    actions: tuple[Action, ...] = ()
    ending: str = ""
    """Why it ended early ("Stopped.", "Failed: …"), or empty."""
    timings: str = ""
    """The latency line the window showed."""
    at: float = 0.0
    """When it happened (seconds since the epoch)."""
    id: int = field(default=0, compare=False)
    """The row's id once stored (0 before)."""


class HistoryError(Exception):
    """The history file cannot be opened or written; the message says so in words."""


class ConversationHistory:
    """The turns, oldest first, in one SQLite file. Use it from one thread (the GUI's)."""

    def __init__(
        self,
        path: Path,
        *,
        max_turns: int = MAX_TURNS,
        max_bytes: int = MAX_BYTES,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self._max_turns = max(1, max_turns)
        self._max_bytes = max(64 * 1024, max_bytes)
        self._clock = clock
        try:
            path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(path, os.O_CREAT | os.O_RDWR, 0o600))
            os.chmod(path, 0o600)
            self._db = sqlite3.connect(path, isolation_level=None)
            self._db.create_function("fold", 1, _fold, deterministic=True)
            for pragma in (
                "auto_vacuum = INCREMENTAL",  # before the first table: lets trimming shrink it
                "journal_mode = WAL",
                "synchronous = NORMAL",
                "journal_size_limit = 1048576",  # the log shrinks back after a checkpoint
                "secure_delete = ON",  # deleted text is overwritten, not just unlinked
            ):
                self._db.execute(f"PRAGMA {pragma}")
            self._db.execute(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise HistoryError(
                f"the conversation history at {path} could not be opened ({exc}); this "
                "session's conversation will not be kept"
            ) from exc

    def close(self) -> None:
        self._db.close()

    # -- writing ---------------------------------------------------------------------------

    def add(self, record: TurnRecord) -> TurnRecord:
        """Keep one turn (the newest); returns it with its id and time."""
        at = record.at or self._clock()
        actions = json.dumps(
            [[a.text[:MAX_TEXT], a.ok] for a in record.actions], ensure_ascii=False
        )
        cursor = self._write(
            f"INSERT INTO turns ({_COLUMNS[4:]}) VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                at,
                record.source,
                record.request[:MAX_TEXT],
                record.reply[:MAX_TEXT],
                actions,
                record.ending[:MAX_TEXT],
                record.timings[:MAX_TEXT],
            ),
        )
        self._trim()
        return replace(record, at=at, id=int(cursor.lastrowid or 0))

    def clear(self) -> None:
        """Delete every turn for good: rows, freed pages, the write-ahead log."""
        self._write("DELETE FROM turns", ())
        self._write("DELETE FROM sqlite_sequence", ())
        self._write("VACUUM", ())
        self._write("PRAGMA wal_checkpoint(TRUNCATE)", ())
        log.info("conversation history cleared")

    def _trim(self) -> None:
        self._write(
            "DELETE FROM turns WHERE id <= "
            "(SELECT id FROM turns ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self._max_turns,),
        )
        while self.size_bytes() > self._max_bytes and self.count() > 1:
            drop = max(1, self.count() // 10)
            self._write(
                "DELETE FROM turns WHERE id IN (SELECT id FROM turns ORDER BY id LIMIT ?)",
                (drop,),
            )
            self._write("PRAGMA incremental_vacuum", ())
            self._write("PRAGMA wal_checkpoint(TRUNCATE)", ())

    def _write(self, sql: str, args: Sequence[Any]) -> sqlite3.Cursor:
        try:
            return self._db.execute(sql, args)
        except sqlite3.Error as exc:
            raise HistoryError(f"the conversation history could not be saved ({exc})") from exc

    # -- reading ---------------------------------------------------------------------------

    def count(self) -> int:
        return int(self._db.execute("SELECT count(*) FROM turns").fetchone()[0])

    def size_bytes(self) -> int:
        """The space the turns take in the file (pages in use)."""
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        size = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * size)

    def recent(self, limit: int) -> list[TurnRecord]:
        """The newest ``limit`` turns, oldest first."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM turns ORDER BY id DESC LIMIT ?", (max(0, limit),)
        ).fetchall()
        return [_record(row) for row in reversed(rows)]

    def search(self, words: str, limit: int = 200) -> list[TurnRecord]:
        """Turns whose request, reply or actions hold ``words`` (any case), newest
        ``limit`` of them, oldest first."""
        needle = _fold(words.strip())
        if not needle:
            return []
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM turns WHERE instr(fold(request), ?) OR instr(fold(reply), ?)"
            " OR instr(fold(actions), ?) ORDER BY id DESC LIMIT ?",
            (needle, needle, needle, max(0, limit)),
        ).fetchall()
        return [_record(row) for row in reversed(rows)]

    def requests(self, limit: int = 50) -> list[str]:
        """The newest distinct requests, oldest first (what Up in the request field recalls)."""
        rows = self._db.execute(
            "SELECT request FROM turns WHERE request != '' GROUP BY request "
            "ORDER BY max(id) DESC LIMIT ?",
            (max(0, limit),),
        ).fetchall()
        return [str(row[0]) for row in reversed(rows)]


def _fold(text: object) -> str:
    return str(text or "").casefold()


def _record(row: Sequence[Any]) -> TurnRecord:
    try:
        actions = tuple(Action(str(text), ok) for text, ok in json.loads(row[5]))
    except (ValueError, TypeError):
        actions = ()
    return TurnRecord(
        source=str(row[2]),
        request=str(row[3]),
        reply=str(row[4]),
        actions=actions,
        ending=str(row[6]),
        timings=str(row[7]),
        at=float(row[1]),
        id=int(row[0]),
    )


def history_path() -> Path:
    """Where the desktop app keeps the conversation: the data folder's ``history.sqlite3``."""
    return data_dir() / HISTORY_FILE


def open_history(path: Path | None = None) -> ConversationHistory | None:
    """The history at ``path`` (default: :func:`history_path`), or None when it cannot be
    opened (logged: the window then keeps only this session's turns)."""
    try:
        return ConversationHistory(path or history_path())
    except HistoryError as exc:
        log.warning("%s", exc)
        return None
