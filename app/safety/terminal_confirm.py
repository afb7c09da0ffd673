"""The terminal's Confirmer: asks before Hark does something that matters, in ``hark ask`` and
``hark listen``.

It shows what will happen and why it needs a yes, lets the user edit the preview field by field
(what is approved is what runs), and treats anything but a yes as a no. Each answer is read on a
daemon thread, so a question the policy gave up on (its timeout) never keeps Hark from exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from app.core.types import ActionProposal, Decision

Read = Callable[[str], str]


def _shown(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(str(v) for v in value)
    return "" if value is None else str(value)


def _parsed(old: Any, text: str) -> Any:
    """The edited value in the old value's shape: lists from commas, numbers stay numbers."""
    if isinstance(old, list | tuple):
        return [part.strip() for part in text.split(",") if part.strip()]
    if isinstance(old, bool):
        return text.strip().lower() in ("y", "yes", "true", "1")
    if isinstance(old, int):
        try:
            return int(text)
        except ValueError:
            return text
    return text


class TerminalConfirmer:
    """Implements the Confirmer port on a terminal; ``read`` is ``input`` unless a test says."""

    def __init__(self, read: Read = input, out: TextIO | None = None) -> None:
        self._read = read
        self._out = out

    @property
    def out(self) -> TextIO:
        return self._out or sys.stderr

    async def confirm(self, proposal: ActionProposal) -> Decision:
        self._show(proposal)
        edits: dict[str, Any] = {}
        while True:
            try:
                answer = (await self._ask("Do it? [y]es / [n]o / [e]dit: ")).strip().lower()
            except EOFError:
                return Decision(False, note="no answer")
            if answer in ("y", "yes"):
                return Decision(True, edits=edits)
            if answer in ("e", "edit") and proposal.preview:
                try:
                    edits.update(await self._edit(proposal.preview, edits))
                except EOFError:
                    return Decision(False, note="no answer")
                self._show_preview({**proposal.preview, **edits})
                continue
            return Decision(False, note="rejected")

    def _show(self, proposal: ActionProposal) -> None:
        print(f"\nHark wants to: {proposal.summary}", file=self.out)
        for reason in proposal.reasons:
            print(f"  because: {reason}", file=self.out)
        self._show_preview(proposal.preview)

    def _show_preview(self, preview: Mapping[str, Any]) -> None:
        for name, value in preview.items():
            text = _shown(value)
            if "\n" in text:
                text = "\n      ".join(text.splitlines())
            print(f"  {name}: {text}", file=self.out)

    async def _edit(self, preview: Mapping[str, Any], done: Mapping[str, Any]) -> dict[str, Any]:
        print("Enter a new value, or just Enter to keep it:", file=self.out)
        changed: dict[str, Any] = {}
        for name, old in preview.items():
            current = done.get(name, old)
            text = await self._ask(f"  {name} [{_shown(current)}]: ")
            if text.strip():
                changed[name] = _parsed(old, text.strip())
        return changed

    async def _ask(self, prompt: str) -> str:
        loop = asyncio.get_running_loop()
        answer: asyncio.Future[str] = loop.create_future()

        def settle(value: str | None, error: BaseException | None) -> None:
            if answer.done():
                return
            if error is not None:
                answer.set_exception(error)
            else:
                answer.set_result(value or "")

        def work() -> None:
            value: str | None = None
            error: BaseException | None = None
            try:
                value = self._read(prompt)
            except BaseException as exc:  # EOF, Ctrl-C: the asking coroutine decides
                error = exc
            with contextlib.suppress(RuntimeError):  # the loop ended: nobody waits any more
                loop.call_soon_threadsafe(settle, value, error)

        threading.Thread(target=work, name="hark-confirm", daemon=True).start()
        return await answer
