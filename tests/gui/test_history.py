"""The conversation history on a real SQLite file: kept across reopening, searchable, bounded,
private to the user, and really gone after Clear history (checked in the file's bytes)."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from app.gui.history import (
    Action,
    ConversationHistory,
    HistoryError,
    TurnRecord,
    history_path,
    open_history,
)
from tests.support.sqlite import file_bytes

SECRET = "zebra-quokka-7731"


def turn(request: str, reply: str = "Okay.", **kw: object) -> TurnRecord:
    return TurnRecord("text", request, reply, **kw)  # type: ignore[arg-type]


def test_turns_survive_reopening_in_order_with_everything_shown(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = ConversationHistory(path, clock=lambda: 1_800_000_000.0)
    done = Action("✓ Send an email to ann@x.org, subject “Lunch” — done", True)
    first = store.add(
        TurnRecord("voice", "mail Ann about lunch", "Sent.", (done,), "", "total 1.20 s")
    )
    store.add(turn("and Bo?", "Stopped before it finished.", ending="Stopped."))
    assert first.id > 0
    assert first.at == 1_800_000_000.0
    store.close()
    again = ConversationHistory(path)
    [one, two] = again.recent(10)
    assert one == TurnRecord(
        "voice", "mail Ann about lunch", "Sent.", (done,), "", "total 1.20 s", 1_800_000_000.0
    )
    assert (two.request, two.ending) == ("and Bo?", "Stopped.")
    assert [r.request for r in again.recent(1)] == ["and Bo?"]
    again.close()


def test_search_finds_words_in_requests_replies_and_actions_in_any_case(tmp_path: Path) -> None:
    store = ConversationHistory(tmp_path / "h.sqlite3")
    store.add(turn("What's on today?", "The dentist at 3."))
    store.add(turn("Mail Ann", "Done.", actions=(Action("✓ Send an email to Ännie", True),)))
    store.add(turn("weather", "Sunny."))
    store.add(turn("rain", "Wet."))
    assert [r.request for r in store.search("DENTIST")] == ["What's on today?"]
    assert [r.request for r in store.search("ännie")] == ["Mail Ann"]
    assert [r.request for r in store.search("O")] == ["What's on today?", "Mail Ann"]
    assert store.search("  ") == []
    assert store.search("100%") == []  # no wildcards: % is just a character
    store.close()


def test_up_recalls_distinct_requests_newest_last(tmp_path: Path) -> None:
    store = ConversationHistory(tmp_path / "h.sqlite3")
    for text in ("one", "two", "one", "three", ""):
        store.add(turn(text))
    assert store.requests() == ["two", "one", "three"]
    assert store.requests(limit=2) == ["one", "three"]
    store.close()


def test_the_history_keeps_only_the_newest_turns(tmp_path: Path) -> None:
    store = ConversationHistory(tmp_path / "h.sqlite3", max_turns=3)
    for n in range(7):
        store.add(turn(f"request {n}"))
    assert [r.request for r in store.recent(10)] == ["request 4", "request 5", "request 6"]
    store.close()


def test_the_history_stays_under_its_size_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "h.sqlite3"
    store = ConversationHistory(path, max_bytes=256 * 1024)
    long = "words " * 3000  # 18 kB a turn
    for n in range(60):
        store.add(turn(f"request {n}", long))
    assert store.size_bytes() <= 256 * 1024
    assert 0 < store.count() < 60
    assert store.recent(1)[0].request == "request 59"  # the oldest went first
    assert path.stat().st_size < 1024 * 1024
    store.close()


def test_the_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "data" / "history.sqlite3"
    store = ConversationHistory(path)
    store.add(turn("hello"))
    for part in (path, path.with_name(path.name + "-wal")):
        assert stat.S_IMODE(part.stat().st_mode) == 0o600, part
    with sqlite3.connect(path) as other:
        assert other.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


def test_clear_history_leaves_nothing_of_it_in_the_files(tmp_path: Path) -> None:
    path = tmp_path / "history.sqlite3"
    store = ConversationHistory(path)
    for n in range(20):
        store.add(turn(f"tell {SECRET} number {n}", f"{SECRET} is noted."))
    store.close()  # on disk for sure
    store = ConversationHistory(path)
    assert SECRET.encode() in file_bytes(path)
    store.clear()
    assert store.count() == 0
    assert store.recent(10) == []
    assert SECRET.encode() not in file_bytes(path)
    store.add(turn("after"))  # still usable
    assert [r.request for r in store.recent(5)] == ["after"]
    store.close()
    assert SECRET.encode() not in file_bytes(path)


def test_a_history_that_cannot_be_opened_says_so_and_open_history_gives_none(
    tmp_path: Path,
) -> None:
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    with pytest.raises(HistoryError, match="could not be opened"):
        ConversationHistory(blocked / "history.sqlite3")
    assert open_history(blocked / "history.sqlite3") is None


def test_the_default_place_is_the_data_folder(isolated_home: Path) -> None:
    assert history_path() == isolated_home / ".local/share/hark/history.sqlite3"
    store = open_history()
    assert store is not None
    store.add(turn("hi"))
    store.close()
    assert history_path().exists()
