"""What every Calendar and Gmail tool the model may call is made of: its schema, its handler and
what the action policy must know about it (its risk, whom it reaches, what the user may edit
before approving); plus the argument helpers the tools share and :func:`register`.

Names and argument schemas are fixed: prompts, the audit log and the user's per-tool policy
settings refer to them. Results go back to the model short and structured (JSON). The tools
themselves are in :mod:`app.google.calendar_tools` and :mod:`app.google.mail_tools`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.core.tools import Handler, ToolRegistry
from app.core.types import ToolSpec
from app.safety.actions import ActionSpec
from app.shared.errors import GoogleCode, GoogleError


@dataclass(frozen=True)
class GoogleTool:
    """One tool: its schema for the model, its handler, and its policy description."""

    spec: ToolSpec
    handler: Handler
    action: ActionSpec


def object_schema(properties: Mapping[str, Any], required: Sequence[str] = ()) -> dict[str, Any]:
    """The JSON schema of a tool's arguments."""
    return {"type": "object", "properties": dict(properties), "required": list(required)}


def string_schema(description: str) -> dict[str, str]:
    """The schema of one text argument."""
    return {"type": "string", "description": description}


def addresses_schema(description: str) -> dict[str, Any]:
    """The schema of a list of email addresses."""
    return {"type": "array", "items": {"type": "string"}, "description": description}


def address_list(value: Any) -> list[str]:
    """An address list as the model may send it: a list, or one string with commas."""
    if value is None or value == "":
        return []
    if isinstance(value, str):
        return [part.strip() for part in re.split(r"[,;]", value) if part.strip()]
    if isinstance(value, list | tuple):
        return [str(v).strip() for v in value if str(v).strip()]
    raise GoogleError(GoogleCode.TOOL_BAD_INPUT, f"expected a list of addresses, got {value!r}")


def text_arg(args: Mapping[str, Any], name: str, default: str = "") -> str:
    """A text argument as a string (``default`` when it is missing or null)."""
    value = args.get(name, default)
    return default if value is None else str(value)


def register(registry: ToolRegistry, tools: Sequence[GoogleTool]) -> dict[str, ActionSpec]:
    """Add ``tools`` to ``registry``; returns their policy descriptions by name."""
    for tool in tools:
        registry.register(tool.spec, tool.handler)
    return {tool.spec.name: tool.action for tool in tools}
