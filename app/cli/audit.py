"""``hark audit``: show what Hark proposed and did, and check that the record is intact.

One line per action (time, tool, what, verdict, decision, result), or one JSON object per
action with ``--json``; ``--verify`` walks the hash chain and exits 1 at the first bad row.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import Any, TextIO

from app.safety.audit import AuditLog, AuditRow, default_audit_path
from app.settings.schema import Settings

EXIT_BROKEN = 1
DEFAULT_LIMIT = 50
_WHAT_WIDTH = 48

_OUTCOMES = {
    "executed": "done",
    "failed": "failed",
    "reused": "already done",
    "limited": "rate limited",
    "started": "started, no result",
}


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``audit`` to ``hark``'s subparsers."""
    audit: argparse.ArgumentParser = sub.add_parser(
        "audit",
        help="show what Hark did on your behalf (the action log)",
        description="Show the actions Hark proposed, what the policy and you decided, and what "
        "happened; --verify checks that no record was changed or removed.",
    )
    audit.add_argument("--json", action="store_true", help="one JSON object per action")
    audit.add_argument(
        "--verify", action="store_true", help="check the hash chain; exit 1 if it is broken"
    )
    audit.add_argument(
        "--limit",
        type=_positive_int,
        default=DEFAULT_LIMIT,
        metavar="N",
        help=f"show the last N actions (default {DEFAULT_LIMIT})",
    )
    return audit


def run(args: argparse.Namespace, settings: Settings, *, out: TextIO | None = None) -> int:
    """Run ``hark audit``; returns the exit status (AuditError propagates as a HarkError)."""
    out = out or sys.stdout
    path = default_audit_path(settings.policy)
    if not path.exists():
        print(f"No actions recorded yet ({path} does not exist).", file=out)
        return 0
    with AuditLog(path) as audit:
        if args.verify:
            result = audit.verify()
            if result.ok:
                print(f"OK: {result.checked} rows, the chain is intact ({path})", file=out)
                return 0
            print(
                f"BROKEN at row {result.first_bad_seq}: {result.problem} "
                f"({result.checked} rows before it are intact; {path})",
                file=out,
            )
            return EXIT_BROKEN
        actions = audit.actions(args.limit)
    if args.json:
        for rows in actions:
            print(json.dumps(action_record(rows), ensure_ascii=False, default=str), file=out)
    elif not actions:
        print(f"No actions recorded yet ({path}).", file=out)
    else:
        _print_table([_line(action_record(rows)) for rows in actions], out)
    return 0


def action_record(rows: list[AuditRow]) -> dict[str, Any]:
    """One action's rows folded into what a person asks: what, decided how, with what result."""
    by_kind = {row.kind: row.data for row in rows}
    first = rows[0]
    proposed = by_kind.get("proposed", {})
    verdict = by_kind.get("verdict", {})
    decision = by_kind.get("decision")
    started = by_kind.get("started")
    return {
        "id": first.action_id,
        "at": datetime.fromtimestamp(first.at).astimezone().isoformat(timespec="seconds"),
        "tool": first.tool,
        "what": proposed.get("summary"),
        "risk": proposed.get("risk"),
        "verdict": verdict.get("verdict"),
        "reasons": verdict.get("reasons", []),
        "decision": _decision_text(decision),
        "edits": decision.get("edits", {}) if decision else {},
        "result": _result_text(rows, verdict, decision),
        "arguments": (started or proposed).get("arguments", {}),
        "rows": [
            {"seq": r.seq, "at": r.at, "kind": r.kind, "data": r.data, "hash": r.hash} for r in rows
        ],
    }


def _decision_text(decision: dict[str, Any] | None) -> str | None:
    if decision is None:
        return None
    if decision.get("approved"):
        return "approved, edited" if decision.get("edits") else "approved"
    return f"rejected ({decision['note']})" if decision.get("note") else "rejected"


def _result_text(
    rows: list[AuditRow], verdict: dict[str, Any], decision: dict[str, Any] | None
) -> str:
    last = rows[-1]
    if last.kind in _OUTCOMES:
        return _OUTCOMES[last.kind]
    if last.kind == "refused":
        why = last.data.get("why")
        return "held: may already be done" if why == "maybe done" else "held: already running"
    if verdict.get("verdict") == "deny":
        return "denied"
    if decision is not None and not decision.get("approved"):
        return "not done"
    return "in progress"


def _line(record: dict[str, Any]) -> list[str]:
    what = str(record["what"] or "")
    if len(what) > _WHAT_WIDTH:
        what = what[: _WHAT_WIDTH - 1] + "…"
    return [
        datetime.fromisoformat(record["at"]).strftime("%Y-%m-%d %H:%M:%S"),
        str(record["tool"] or "?"),
        what,
        str(record["verdict"] or "-"),
        str(record["decision"] or "-"),
        record["result"],
    ]


def _print_table(lines: list[list[str]], out: TextIO) -> None:
    header = ["TIME", "TOOL", "WHAT", "VERDICT", "DECISION", "RESULT"]
    widths = [max(len(row[i]) for row in [header, *lines]) for i in range(len(header))]
    for row in [header, *lines]:
        print(
            "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip(), file=out
        )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("give a number of actions, 1 or more")
    return value
