"""One finding of the check-up: what was checked, how it stands, and how to fix it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Check:
    """A check's result; ``fix`` says what to do when it is not ok, and a check that is not
    ``required`` (a fallback, an optional account) never fails the check-up."""

    name: str
    status: Status
    detail: str
    fix: str = ""
    required: bool = True
