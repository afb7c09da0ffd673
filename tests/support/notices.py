"""A collector for the notices a component raises (``on_notice(code, message)``), so a test can
check which codes were said, in what order, and what the user was told."""

from __future__ import annotations


class Notices:
    """Records each notice as ``(code, message)`` in ``got``."""

    def __init__(self) -> None:
        self.got: list[tuple[str, str]] = []

    def __call__(self, code: str, message: str) -> None:
        self.got.append((code, message))
