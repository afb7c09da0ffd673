"""Mail as Hark reads it from Gmail: :class:`MailSummary` and :class:`MailMessage`, and how a
Gmail message resource becomes one (its headers decoded, its MIME parts walked, an HTML body
turned into text, dates as timezone-aware UTC)."""

from __future__ import annotations

import base64
import codecs
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.utils import parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any


def _decoded(value: str) -> str:
    """Header text as a person reads it (RFC 2047 encoded words decoded, if any are left)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError):
        return value


@dataclass(frozen=True, slots=True)
class MailSummary:
    """One message as a search lists it: enough to choose which to read or act on."""

    id: str
    thread_id: str
    sender: str
    subject: str
    date: datetime | None
    snippet: str
    unread: bool

    def brief(self) -> dict[str, Any]:
        """The short structured form the model sees (empty fields left out to save tokens)."""
        out: dict[str, Any] = {"id": self.id, "from": self.sender, "subject": self.subject}
        if self.date is not None:
            out["date"] = self.date.isoformat()
        out["snippet"] = self.snippet
        if self.unread:
            out["unread"] = True
        return {k: v for k, v in out.items() if v not in ("", None)}


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One message read in full: headers, its plain-text body and its attachments' names."""

    id: str
    thread_id: str
    sender: str
    subject: str
    date: datetime | None
    snippet: str
    unread: bool
    to: tuple[str, ...]
    cc: tuple[str, ...]
    body: str
    attachments: tuple[str, ...]
    message_id: str = ""
    references: str = ""

    def brief(self, max_body: int = 2000) -> dict[str, Any]:
        """The model's view: headers and the body cut to ``max_body`` characters (marked)."""
        out: dict[str, Any] = {
            "id": self.id,
            "from": self.sender,
            "to": list(self.to),
            "cc": list(self.cc),
            "subject": self.subject,
            "date": self.date.isoformat() if self.date is not None else None,
            "unread": True if self.unread else None,
            "attachments": list(self.attachments),
        }
        body = self.body
        if len(body) > max_body:
            out["body"] = body[:max_body].rstrip() + " …"
            out["body_truncated"] = True
        else:
            out["body"] = body
        return {k: v for k, v in out.items() if v not in ("", None, [])}


class _HtmlText(HTMLParser):
    """HTML to readable text: scripts and styles dropped, blocks on their own lines."""

    BLOCKS = frozenset(
        {"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "hr"}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip += 1
        elif tag in self.BLOCKS:
            self.out.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style", "head", "title"):
            self._skip = max(0, self._skip - 1)
        elif tag in self.BLOCKS:
            self.out.append("\n")
        elif tag in ("td", "th"):
            self.out.append(" ")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(data)


def html_to_text(markup: str) -> str:
    """The text of an HTML mail, one paragraph per line."""
    parser = _HtmlText()
    parser.feed(markup)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.out).splitlines())
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def _b64(data: str) -> bytes:
    return base64.urlsafe_b64decode(data + "=" * (-len(data) % 4))


def part_headers(part: dict[str, Any]) -> dict[str, str]:
    """A part's headers by lower-cased name (the first of each), decoded."""
    out: dict[str, str] = {}
    for header in part.get("headers") or []:
        out.setdefault(str(header.get("name", "")).lower(), _decoded(str(header.get("value", ""))))
    return out


def _charset(part: dict[str, Any]) -> str:
    holder = Message()
    holder["Content-Type"] = part_headers(part).get("content-type", "text/plain")
    charset = holder.get_content_charset() or "utf-8"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return "utf-8"


def decode_text(part: dict[str, Any], data: str) -> str:
    """A text part's body (Gmail's base64url ``data``) as text, in the part's own charset."""
    return _b64(data).decode(_charset(part), errors="replace")


def _date(resource: dict[str, Any], header: str) -> datetime | None:
    """When the message arrived (Gmail's ``internalDate``), else its Date header."""
    try:
        return datetime.fromtimestamp(int(resource["internalDate"]) / 1000, UTC)
    except (KeyError, ValueError, TypeError):
        pass
    try:
        when = parsedate_to_datetime(header)
    except (TypeError, ValueError, IndexError):
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def summary_of(resource: dict[str, Any]) -> MailSummary:
    """A message resource (full, or metadata with the summary headers) as a search lists it."""
    headers = part_headers(resource.get("payload") or {})
    return MailSummary(
        id=str(resource["id"]),
        thread_id=str(resource.get("threadId", resource["id"])),
        sender=headers.get("from", ""),
        subject=headers.get("subject", ""),
        date=_date(resource, headers.get("date", "")),
        snippet=unescape(str(resource.get("snippet", ""))),
        unread="UNREAD" in (resource.get("labelIds") or []),
    )


def leaf_parts(part: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """The non-multipart parts of a Gmail payload, depth first (nested multiparts included)."""
    children = part.get("parts") or []
    if not children:
        yield part
        return
    for child in children:
        yield from leaf_parts(child)
