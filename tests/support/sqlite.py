"""What an SQLite database holds on disk (the file and its write-ahead log), for tests that
check something is gone from the file itself, not only from the rows a query returns."""

from __future__ import annotations

from pathlib import Path


def file_bytes(path: Path) -> bytes:
    """The database and its write-ahead log, as they lie on disk."""
    data = b""
    for part in (path, path.with_name(path.name + "-wal")):
        if part.exists():
            data += part.read_bytes()
    return data
