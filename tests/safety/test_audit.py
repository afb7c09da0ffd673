"""The SQLite audit log and ``hark audit``: WAL, 0600, the hash chain, threads, the CLI."""

from __future__ import annotations

import argparse
import io
import json
import re
import sqlite3
import stat
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.cli.audit import add_parser, run
from app.core.types import ToolCall
from app.safety.audit import (
    GENESIS,
    SCHEMA_VERSION,
    AuditError,
    AuditLog,
    default_audit_path,
    row_hash,
)
from app.settings.schema import PolicySettings, Settings
from app.shared.paths import data_dir
from tests.support.clocks import ManualClock
from tests.support.policy import ACTIONS, MAIL, NOW, Approve, Contacts, Handlers, Reject
from tests.support.policy import build_registry as registry_for


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "audit.sqlite3"


@pytest.fixture
def audit(path: Path) -> Iterator[AuditLog]:
    log = AuditLog(path, clock=ManualClock(NOW))
    yield log
    log.close()


def fill(audit: AuditLog, n: int, tool: str = "mail_send") -> None:
    for i in range(n):
        audit.append(f"a{i}", "proposed", {"tool": tool, "summary": f"step {i}"})


def tamper(path: Path, sql: str) -> None:
    """Change the file behind Hark's back, as someone with the sqlite3 shell could."""
    conn = sqlite3.connect(path)
    conn.executescript("DROP TRIGGER audit_no_update; DROP TRIGGER audit_no_delete;" + sql + ";")
    conn.close()


def test_the_file_is_private_and_in_wal_mode(audit: AuditLog, path: Path) -> None:
    fill(audit, 1)
    for name in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        assert stat.S_IMODE(name.stat().st_mode) == 0o600, name
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    conn.close()


def test_a_file_left_readable_by_others_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "audit.sqlite3"
    path.touch(mode=0o644)
    path.chmod(0o644)
    AuditLog(path).close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_the_default_path_is_in_the_data_dir_unless_set(tmp_path: Path) -> None:
    assert default_audit_path(PolicySettings()) == data_dir() / "audit.sqlite3"
    assert default_audit_path(PolicySettings(audit_db=tmp_path / "x.db")) == tmp_path / "x.db"


def test_rows_are_chained_by_hash(audit: AuditLog) -> None:
    audit.append("a1", "proposed", {"tool": "mail_send", "summary": "Send", "n": 1})
    audit.append("a1", "verdict", {"tool": "mail_send", "verdict": "confirm"})
    first, second = audit.rows()
    assert (first.seq, second.seq) == (1, 2)
    assert first.prev_hash == GENESIS
    assert second.prev_hash == first.hash
    assert first.tool == "mail_send"
    assert first.data == {"tool": "mail_send", "summary": "Send", "n": 1}
    text = json.dumps(first.data, sort_keys=True, separators=(",", ":"))
    assert first.hash == row_hash(GENESIS, 1, first.at, "a1", "proposed", "mail_send", text)
    assert [r.seq for r in audit.rows(limit=1)] == [2]


def test_the_table_refuses_updates_and_deletes(audit: AuditLog, path: Path) -> None:
    fill(audit, 2)
    conn = sqlite3.connect(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit SET data = '{}' WHERE seq = 1")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit WHERE seq = 1")
    conn.close()
    assert audit.verify().ok


def test_verify_passes_an_intact_chain(audit: AuditLog) -> None:
    fill(audit, 5)
    assert audit.verify().ok
    assert audit.verify().checked == 5


@pytest.mark.parametrize(
    ("sql", "bad_seq", "problem"),
    [
        ("UPDATE audit SET data = replace(data, 'step 2', 'step X') WHERE seq = 3", 3, "hash"),
        ("UPDATE audit SET at = at + 1 WHERE seq = 2", 2, "hash"),
        ("DELETE FROM audit WHERE seq = 3", 3, "missing"),
        ("DELETE FROM audit WHERE seq = 5", 5, "missing"),
        (
            "DELETE FROM audit WHERE seq = 3; UPDATE audit SET seq = seq - 1 WHERE seq > 3",
            3,
            "link",
        ),
    ],
)
def test_verify_names_the_first_bad_row(
    audit: AuditLog, path: Path, sql: str, bad_seq: int, problem: str
) -> None:
    fill(audit, 5)
    tamper(path, sql)
    result = audit.verify()
    assert not result.ok
    assert result.first_bad_seq == bad_seq
    assert result.checked == bad_seq - 1
    assert result.problem is not None
    assert problem in result.problem


def test_appends_from_two_threads_keep_one_chain(path: Path) -> None:
    shared = AuditLog(path)
    other = AuditLog(path)  # a second connection, as a second process would have
    barrier = threading.Barrier(3)
    errors: list[BaseException] = []

    def writer(log: AuditLog, name: str) -> None:
        try:
            barrier.wait()
            for i in range(100):
                log.append(f"{name}{i}", "proposed", {"tool": name})
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=writer, args=(shared, "t1")),
        threading.Thread(target=writer, args=(shared, "t2")),
        threading.Thread(target=writer, args=(other, "t3")),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    assert not any(t.is_alive() for t in threads)
    result = shared.verify()
    assert result.ok
    assert result.checked == 300
    assert shared.count_executed("t1", 0) == 0
    shared.close()
    other.close()


def test_reopening_continues_the_chain(path: Path) -> None:
    with AuditLog(path) as first:
        fill(first, 3)
    with AuditLog(path) as again:
        fill(again, 2)
        rows = again.rows()
        assert [r.seq for r in rows] == [1, 2, 3, 4, 5]
        assert rows[3].prev_hash == rows[2].hash
        assert again.verify().ok


def test_keys_and_counts_respect_their_windows(path: Path) -> None:
    clock = ManualClock(1000.0)
    with AuditLog(path, clock=clock) as log:
        log.append("a", "started", {"tool": "mail_send", "key": "k1"})
        clock.advance(10)
        log.append("a", "executed", {"tool": "mail_send", "key": "k1", "result": '{"id": 1}'})
        log.append("b", "executed", {"tool": "mail_draft", "key": "k2", "result": "{}"})
        log.append("c", "started", {"tool": "mail_send", "key": "k3"})
        state = log.find_key("k1", since=0)
        assert state is not None
        assert (state.action_id, state.kind, state.at, state.result) == (
            "a",
            "executed",
            1010.0,
            '{"id": 1}',
        )
        started = log.find_key("k3", since=0)
        assert started is not None
        assert started.kind == "started"
        assert started.result is None
        assert log.find_key("k1", since=1011.0) is None
        assert log.find_key("nope", since=0) is None
        assert log.count_executed("mail_send", since=0) == 1
        assert log.count_executed("mail_send", since=1010.5) == 0


def test_a_newer_schema_is_refused_clearly(path: Path) -> None:
    AuditLog(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(AuditError, match="newer Hark") as info:
        AuditLog(path)
    assert info.value.code == "audit-newer-schema"


def test_a_corrupt_file_is_refused_clearly(path: Path) -> None:
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database, just text " * 200)
    with pytest.raises(AuditError, match="not a readable audit log") as info:
        AuditLog(path)
    assert info.value.code == "audit-corrupt"
    assert path.read_bytes().startswith(b"this is not a database")  # nothing lost


# -- hark audit -----------------------------------------------------------------------------


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="hark")
    add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["audit", *argv])


def cli(path: Path, *argv: str) -> tuple[int, str]:
    out = io.StringIO()
    code = run(parse(*argv), Settings(policy=PolicySettings(audit_db=path)), out=out)
    return code, out.getvalue()


async def record_some_actions(path: Path) -> None:
    """Three real policy runs: a read, an approved send, a rejected send."""
    from app.safety.policy import ActionPolicy

    handlers = Handlers()
    with AuditLog(path) as log:
        for confirmer, call in [
            (None, ToolCall("get_current_time", {})),
            (Approve({"subject": "Lunch moved"}), ToolCall("mail_send", MAIL)),
            (Reject(), ToolCall("mail_send", {**MAIL, "to": ["eve@evil.org"]})),
        ]:
            policy = ActionPolicy(
                registry_for(handlers),
                ACTIONS,
                PolicySettings(),
                audit=log,
                confirmer=confirmer,
                contacts=Contacts("bob@x.org"),
            )
            await policy.call(call)


async def test_the_table_shows_one_line_per_action(path: Path) -> None:
    await record_some_actions(path)
    code, text = cli(path)
    assert code == 0
    header, *lines = text.splitlines()
    assert header.split() == ["TIME", "TOOL", "WHAT", "VERDICT", "DECISION", "RESULT"]
    assert len(lines) == 3
    rows = [re.split(r"\s{2,}", line) for line in lines]
    assert [row[1:] for row in rows] == [
        ["get_current_time", "Run get_current_time", "auto", "-", "done"],
        ["mail_send", "Send an email to bob@x.org: 'Lunch'", "confirm", "approved, edited", "done"],
        [
            "mail_send",
            "Send an email to eve@evil.org: 'Lunch'",
            "confirm",
            "rejected (rejected)",
            "not done",
        ],
    ]
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", rows[0][0])
    _, last = cli(path, "--limit", "1")
    assert len(last.splitlines()) == 2
    assert "eve@evil.org" in last


async def test_json_lines_hold_each_action_and_its_rows(path: Path) -> None:
    await record_some_actions(path)
    code, text = cli(path, "--json")
    assert code == 0
    records = [json.loads(line) for line in text.splitlines()]
    assert [r["tool"] for r in records] == ["get_current_time", "mail_send", "mail_send"]
    sent = records[1]
    assert sent["verdict"] == "confirm"
    assert sent["decision"] == "approved, edited"
    assert sent["edits"] == {"subject": "Lunch moved"}
    assert sent["arguments"]["subject"] == "Lunch moved"
    assert sent["result"] == "done"
    assert [r["kind"] for r in sent["rows"]] == [
        "proposed",
        "verdict",
        "decision",
        "started",
        "executed",
    ]
    assert records[2]["result"] == "not done"


async def test_verify_exit_codes(path: Path) -> None:
    await record_some_actions(path)
    code, text = cli(path, "--verify")
    assert code == 0
    assert text.startswith("OK: 12 rows")
    tamper(path, "UPDATE audit SET data = replace(data, 'Noon', 'Midnight') WHERE kind = 'started'")
    code, text = cli(path, "--verify")
    assert code == 1
    assert text.startswith("BROKEN at row 8: its content does not match its hash")


def test_an_empty_or_missing_log_says_so(path: Path) -> None:
    code, text = cli(path)
    assert code == 0
    assert "No actions recorded yet" in text
    assert not path.exists()
    AuditLog(path).close()
    assert cli(path, "--verify") == (0, f"OK: 0 rows, the chain is intact ({path})\n")
    assert "No actions recorded yet" in cli(path)[1]


def test_limit_must_be_positive() -> None:
    with pytest.raises(SystemExit):
        parse("--limit", "0")
