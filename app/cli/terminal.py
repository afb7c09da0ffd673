"""The terminal for `hark` subcommands: results on stdout, messages and progress on stderr,
and yes/no questions that are never asked without a terminal."""

from __future__ import annotations

import sys
from typing import TextIO

from app.core.ports import Confirmer
from app.safety.terminal_confirm import TerminalConfirmer


def confirm(question: str, out: Terminal) -> bool:
    """Ask yes/no on the terminal; without a terminal the answer is no (use --yes)."""
    if not sys.stdin.isatty():
        out.say(f"{question} — not asked without a terminal; add --yes")
        return False
    answer = input(f"{question} [y/N] ")
    return answer.strip().lower() in ("y", "yes")


def terminal_confirmer() -> Confirmer | None:
    """The action policy's confirmer for ``hark ask`` and ``hark listen``: ask on the terminal
    when there is one; without, actions that need a yes are not done."""
    if not sys.stdin or not sys.stdin.isatty():
        return None
    return TerminalConfirmer()


class Terminal:
    """stdout for results, stderr for messages and progress."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out = out
        self.err = err

    def write(self, text: str) -> None:
        self.out.write(text)
        self.out.flush()

    def say(self, message: str) -> None:
        print(message, file=self.err, flush=True)
