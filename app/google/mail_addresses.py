"""Mail addresses and header text: checking the addresses a mail goes to, showing them as
``Name <addr>``, and folding header text onto one line so no field can add a header."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from email.utils import getaddresses

from app.shared.errors import GoogleCode, GoogleError

_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+")


def mail_bad_input(message: str) -> GoogleError:
    """The error for mail Hark refuses before asking Gmail (``mail-bad-input``)."""
    return GoogleError(GoogleCode.MAIL_BAD_INPUT, message)


def clean_header(value: str) -> str:
    """One line of header text: line breaks (a header-injection attempt) become spaces."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def split_addresses(values: Iterable[str]) -> list[tuple[str, str]]:
    """The ``(name, address)`` pairs in address header values, empty ones left out."""
    return [(name, addr) for name, addr in getaddresses(list(values)) if name or addr]


def display_address(name: str, addr: str) -> str:
    """``Name <addr>``, the name quoted when it holds characters that would split it."""
    if not name:
        return addr
    if re.search(r'[()<>@,;:\\".\[\]]', name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


def bare_addresses(addresses: Iterable[str]) -> list[str]:
    """Just the addresses, lower-cased (what the policy compares)."""
    return [addr.lower() for _, addr in split_addresses(addresses) if "@" in addr]


def check_addresses(values: Sequence[str], field: str) -> tuple[str, ...]:
    """The addresses in ``values`` (each may hold several, comma-separated) as display strings;
    :class:`GoogleError` ``mail-bad-input`` naming the first malformed one."""
    out: list[str] = []
    for value in values:
        if "\n" in value or "\r" in value:
            raise mail_bad_input(f"The {field} address {value.strip()!r} has a line break in it.")
        pairs = split_addresses([value])
        if not pairs:
            raise mail_bad_input(f"The {field} address {value!r} is empty or not an email address.")
        for name, addr in pairs:
            if not _ADDRESS.fullmatch(addr):
                shown = addr or value
                raise mail_bad_input(
                    f"{shown!r} in {field} is not a valid email address: "
                    "give it as name@example.com."
                )
            out.append(display_address(clean_header(name), addr))
    return tuple(out)


def display_addresses(value: str) -> tuple[str, ...]:
    """The addresses of one header value (To, Cc) as ``Name <addr>`` strings."""
    return tuple(display_address(n, a) for n, a in split_addresses([value]) if "@" in a)
