"""Gmail for one account: find, read, draft, send and reply to mail, mark it read, archive it.

Everything goes through :class:`app.google.api.GoogleApi`, which runs the blocking client in a
worker thread and turns failures into :class:`GoogleError` codes. Reads and label changes are
retried on network errors and 5xx answers; drafts and sends are not (a retried send could reach
its recipients twice) except on 429, which Google answers before doing anything.

Outgoing mail is built with the ``email`` package (``EmailMessage``, SMTP policy), so non-ASCII
text is encoded properly and header injection is impossible: newlines in a subject are folded
to spaces and addresses are checked one by one. Dates are timezone-aware UTC.

Nothing here logs a subject, a body or an address; ids and counts only.
"""

from __future__ import annotations

import asyncio
import base64
import codecs
import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.utils import getaddresses, parsedate_to_datetime
from html import unescape
from html.parser import HTMLParser
from typing import Any

from app.google.api import GoogleApi
from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

SUMMARY_HEADERS = ["From", "Subject", "Date"]
RECIPIENT_HEADERS = ["To", "Cc", "Bcc"]
MAX_PAGE = 100
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"\\]+@[^@\s<>()\[\],;:\"\\]+\.[^@\s<>()\[\],;:\"\\.]+")
_RE = re.compile(r"^\s*re\s*:", re.IGNORECASE)


def _bad(message: str) -> GoogleError:
    return GoogleError(GoogleCode.MAIL_BAD_INPUT, message)


def _clean_header(value: str) -> str:
    """One line of header text: line breaks (a header-injection attempt) become spaces."""
    return " ".join(value.replace("\r", " ").replace("\n", " ").split())


def _decoded(value: str) -> str:
    """Header text as a person reads it (RFC 2047 encoded words decoded, if any are left)."""
    if "=?" not in value:
        return value
    try:
        return str(make_header(decode_header(value)))
    except (ValueError, LookupError):
        return value


def _split_addresses(values: Iterable[str]) -> list[tuple[str, str]]:
    return [(name, addr) for name, addr in getaddresses(list(values)) if name or addr]


def _display(name: str, addr: str) -> str:
    """``Name <addr>``, the name quoted when it holds characters that would split it."""
    if not name:
        return addr
    if re.search(r'[()<>@,;:\\".\[\]]', name):
        name = '"' + name.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{name} <{addr}>"


def _bare(addresses: Iterable[str]) -> list[str]:
    return [addr.lower() for _, addr in _split_addresses(addresses) if "@" in addr]


def check_addresses(values: Sequence[str], field: str) -> tuple[str, ...]:
    """The addresses in ``values`` (each may hold several, comma-separated) as display strings;
    :class:`GoogleError` ``mail-bad-input`` naming the first malformed one."""
    out: list[str] = []
    for value in values:
        if "\n" in value or "\r" in value:
            raise _bad(f"The {field} address {value.strip()!r} has a line break in it.")
        pairs = _split_addresses([value])
        if not pairs:
            raise _bad(f"The {field} address {value!r} is empty or not an email address.")
        for name, addr in pairs:
            if not _ADDRESS.fullmatch(addr):
                shown = addr or value
                raise _bad(
                    f"{shown!r} in {field} is not a valid email address: "
                    "give it as name@example.com."
                )
            out.append(_display(_clean_header(name), addr))
    return tuple(out)


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


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A mail to draft or send. Replies carry ``thread_id``, ``in_reply_to`` and
    ``references`` so that Gmail and the recipients' programs keep the conversation together."""

    to: tuple[str, ...]
    subject: str
    body: str
    cc: tuple[str, ...] = ()
    bcc: tuple[str, ...] = ()
    thread_id: str | None = None
    in_reply_to: str | None = None
    references: str | None = None

    def recipients(self) -> tuple[str, ...]:
        """Every bare address the mail goes to (To, Cc and Bcc), lower-cased, each once; the
        policy checks these (how many, and whether the user ever wrote to them)."""
        seen: dict[str, None] = {}
        for addr in _bare([*self.to, *self.cc, *self.bcc]):
            seen.setdefault(addr, None)
        return tuple(seen)

    def validate(self) -> None:
        """Refuse a mail Gmail would refuse, or one that is surely a mistake."""
        check_addresses(self.to, "To")
        check_addresses(self.cc, "Cc")
        check_addresses(self.bcc, "Bcc")
        if not self.recipients():
            raise _bad("The mail has no recipient: give at least one address to send it to.")
        if not self.subject.strip() and not self.body.strip():
            raise _bad("The mail has neither a subject nor a text: say what it should say.")
        for name, value in (("thread", self.thread_id), ("reply", self.in_reply_to)):
            if value and ("\n" in value or "\r" in value):
                raise _bad(f"The {name} reference has a line break in it.")

    def to_mime(self, sender: str | None = None) -> bytes:
        """The RFC 822 bytes Gmail wants: CRLF line ends, non-ASCII text encoded, and no way for a
        field's text to add a header of its own."""
        self.validate()
        mail = EmailMessage(policy=policy.SMTP)
        if sender:
            mail["From"] = check_addresses([sender], "From")[0]
        mail["To"] = ", ".join(check_addresses(self.to, "To"))
        if self.cc:
            mail["Cc"] = ", ".join(check_addresses(self.cc, "Cc"))
        if self.bcc:
            mail["Bcc"] = ", ".join(check_addresses(self.bcc, "Bcc"))
        mail["Subject"] = _clean_header(self.subject)
        if self.in_reply_to:
            mail["In-Reply-To"] = _clean_header(self.in_reply_to)
        if self.references:
            mail["References"] = _clean_header(self.references)
        mail.set_content(self.body.replace("\r\n", "\n"), charset="utf-8")
        return mail.as_bytes()


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


def _headers(part: dict[str, Any]) -> dict[str, str]:
    """A part's headers by lower-cased name (the first of each), decoded."""
    out: dict[str, str] = {}
    for header in part.get("headers") or []:
        out.setdefault(str(header.get("name", "")).lower(), _decoded(str(header.get("value", ""))))
    return out


def _charset(part: dict[str, Any]) -> str:
    holder = Message()
    holder["Content-Type"] = _headers(part).get("content-type", "text/plain")
    charset = holder.get_content_charset() or "utf-8"
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return "utf-8"


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


def _summary(resource: dict[str, Any]) -> MailSummary:
    headers = _headers(resource.get("payload") or {})
    return MailSummary(
        id=str(resource["id"]),
        thread_id=str(resource.get("threadId", resource["id"])),
        sender=headers.get("from", ""),
        subject=headers.get("subject", ""),
        date=_date(resource, headers.get("date", "")),
        snippet=unescape(str(resource.get("snippet", ""))),
        unread="UNREAD" in (resource.get("labelIds") or []),
    )


class Gmail:
    """The user's mailbox, as the mail tools use it. One per account; caches the user's own
    address and the set of people they have written to for the object's life."""

    def __init__(self, api: GoogleApi) -> None:
        self._api = api
        self._address: str | None = None
        self._correspondents: set[str] | None = None
        self._lock = asyncio.Lock()

    async def search(
        self, query: str = "is:unread in:inbox", *, limit: int = 10
    ) -> list[MailSummary]:
        """Messages matching a Gmail search (its own syntax: ``from:ann is:unread``), newest
        first, at most ``limit``. The default is what "check my mail" means: unread in the inbox."""
        ids = await self._list_ids(query, max(1, min(limit, 500)), "search your mail")
        found: list[MailSummary] = []
        for mid in ids:
            resource = await self._get_or_none(mid, "metadata", SUMMARY_HEADERS)
            if resource is not None:
                found.append(_summary(resource))
        log.info("Gmail: search found %d message(s)", len(found))
        return found

    async def read(self, message_id: str) -> MailMessage:
        """One message with its text: the plain-text part when there is one, else the HTML part
        turned into text; attachments are named, not downloaded."""
        mid = self._check_id(message_id)
        resource = await self._api.call(
            lambda s: s.users().messages().get(userId="me", id=mid, format="full"),
            what="read that message",
        )
        return await self._message(resource)

    async def create_draft(self, mail: OutgoingMail) -> str:
        """Save ``mail`` as a draft (nothing is sent); the draft's id."""
        raw = self._raw(mail)
        message: dict[str, Any] = {"raw": raw}
        if mail.thread_id:
            message["threadId"] = mail.thread_id
        answer = await self._api.call(
            lambda s: s.users().drafts().create(userId="me", body={"message": message}),
            what="create the draft",
            idempotent=False,
        )
        log.info("Gmail: draft %s created", answer.get("id"))
        return str(answer["id"])

    async def send(self, mail: OutgoingMail) -> str:
        """Send ``mail`` now; the sent message's id. Not retried on server errors (it may have
        gone out): the caller reports the failure instead of sending twice."""
        raw = self._raw(mail)
        body: dict[str, Any] = {"raw": raw}
        if mail.thread_id:
            body["threadId"] = mail.thread_id
        answer = await self._api.call(
            lambda s: s.users().messages().send(userId="me", body=body),
            what="send the mail",
            idempotent=False,
        )
        if self._correspondents is not None:
            self._correspondents.update(mail.recipients())
        log.info(
            "Gmail: sent message %s to %d recipient(s)", answer.get("id"), len(mail.recipients())
        )
        return str(answer["id"])

    async def reply_to(
        self, message_id: str, body: str, *, reply_all: bool = False
    ) -> OutgoingMail:
        """The reply to a message, ready to confirm and send (this sends nothing). It goes to
        the Reply-To or From address (the original recipients when the user wrote the message),
        with ``reply_all`` also to the other To and Cc people except the user; it stays in the
        thread and carries In-Reply-To and References."""
        if not body.strip():
            raise _bad("The reply has no text: say what it should say.")
        mid = self._check_id(message_id)
        resource = await self._api.call(
            lambda s: s.users().messages().get(
                userId="me",
                id=mid,
                format="metadata",
                metadataHeaders=[
                    "From", "Reply-To", "To", "Cc", "Subject", "Message-ID", "References",
                    "In-Reply-To",
                ],
            ),
            what="read the message to reply to",
        )  # fmt: skip
        headers = _headers(resource.get("payload") or {})
        me = (await self.address()).lower()
        from_me = me in _bare([headers.get("from", "")])
        if from_me and not headers.get("reply-to"):
            primary = _split_addresses([headers.get("to", "")])
        else:
            primary = _split_addresses([headers.get("reply-to") or headers.get("from", "")])
        to = _unique(primary, exclude=set())
        cc: list[tuple[str, str]] = []
        if reply_all:
            taken = {addr.lower() for _, addr in to} | {me}
            extra = _split_addresses([headers.get("to", ""), headers.get("cc", "")])
            cc = _unique(extra, exclude=taken)
        if not to:
            raise _bad("That message has no sender address to reply to.")
        subject = headers.get("subject", "")
        if not _RE.match(subject):
            subject = f"Re: {subject}".strip()
        original_id = headers.get("message-id", "").strip()
        refs = headers.get("references") or headers.get("in-reply-to", "")
        references = " ".join(part for part in (refs.strip(), original_id) if part)
        return OutgoingMail(
            to=tuple(_display(n, a) for n, a in to),
            cc=tuple(_display(n, a) for n, a in cc),
            subject=subject,
            body=body,
            thread_id=str(resource.get("threadId") or mid),
            in_reply_to=original_id or None,
            references=references or None,
        )

    async def mark_read(self, message_id: str) -> None:
        """Take the UNREAD label off a message."""
        await self._modify(message_id, ["UNREAD"], "mark the message read")

    async def archive(self, message_id: str) -> None:
        """Take a message out of the inbox (it stays in All Mail)."""
        await self._modify(message_id, ["INBOX"], "archive the message")

    async def address(self) -> str:
        """The user's own Gmail address (asked once)."""
        if self._address is None:
            profile = await self._api.call(
                lambda s: s.users().getProfile(userId="me"), what="look up your Gmail address"
            )
            self._address = str(profile["emailAddress"])
        return self._address

    async def correspondents(self, *, limit: int = 300) -> set[str]:
        """Lower-cased addresses the user has written to (in their last ``limit`` sent mails),
        so that mail to a stranger can be confirmed first. Asked once, then kept up to date
        with what :meth:`send` sends."""
        async with self._lock:
            if self._correspondents is None:
                ids = await self._list_ids("in:sent", max(1, limit), "list the people you wrote to")
                found: set[str] = set()
                for mid in ids:
                    resource = await self._get_or_none(mid, "metadata", RECIPIENT_HEADERS)
                    if resource is not None:
                        payload = resource.get("payload") or {}
                        values = [
                            str(h.get("value", ""))
                            for h in payload.get("headers") or []
                            if str(h.get("name", "")).lower() in ("to", "cc", "bcc")
                        ]
                        found.update(_bare(values))
                self._correspondents = found
                log.info("Gmail: %d correspondent(s) from %d sent mail(s)", len(found), len(ids))
            return set(self._correspondents)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _check_id(message_id: str) -> str:
        mid = message_id.strip()
        if not _ID.fullmatch(mid):
            raise _bad(f"{message_id!r} is not a Gmail message id (search for the message first).")
        return mid

    @staticmethod
    def _raw(mail: OutgoingMail) -> str:
        return base64.urlsafe_b64encode(mail.to_mime()).decode("ascii")

    async def _list_ids(self, query: str, limit: int, what: str) -> list[str]:
        ids: list[str] = []
        token: str | None = None
        while len(ids) < limit:
            answer = await self._api.call(
                _list_page(query, min(limit - len(ids), MAX_PAGE), token), what=what
            )
            ids.extend(str(m["id"]) for m in answer.get("messages") or [])
            token = answer.get("nextPageToken")
            if not token:
                break
        return ids[:limit]

    async def _get_or_none(self, mid: str, fmt: str, headers: list[str]) -> dict[str, Any] | None:
        """A message listed a moment ago, or None if it was deleted in between."""
        try:
            resource: dict[str, Any] = await self._api.call(
                lambda s: (
                    s.users()
                    .messages()
                    .get(userId="me", id=mid, format=fmt, metadataHeaders=headers)
                ),
                what="read a message's headers",
            )
        except GoogleError as exc:
            if exc.code != GoogleCode.NOT_FOUND:
                raise
            log.info("Gmail: message %s vanished while listing", mid)
            return None
        return resource

    async def _modify(self, message_id: str, remove: list[str], what: str) -> None:
        mid = self._check_id(message_id)
        await self._api.call(
            lambda s: (
                s.users().messages().modify(userId="me", id=mid, body={"removeLabelIds": remove})
            ),
            what=what,
        )
        log.info("Gmail: removed %s from message %s", ",".join(remove), mid)

    async def _message(self, resource: dict[str, Any]) -> MailMessage:
        payload = resource.get("payload") or {}
        headers = _headers(payload)
        plain: list[str] = []
        html: list[str] = []
        attachments: list[str] = []
        for part in _leaves(payload):
            filename = str(part.get("filename") or "")
            disposition = _headers(part).get("content-disposition", "").lower()
            if filename or disposition.startswith("attachment"):
                attachments.append(filename or "(unnamed attachment)")
                continue
            kind = str(part.get("mimeType", "")).lower()
            if kind in ("text/plain", "text/html"):
                text = await self._part_text(str(resource["id"]), part)
                (plain if kind == "text/plain" else html).append(text)
        if any(t.strip() for t in plain):
            body = "\n\n".join(t.strip() for t in plain if t.strip())
        else:
            body = "\n\n".join(html_to_text(t) for t in html).strip()
        summary = _summary(resource)
        return MailMessage(
            id=summary.id,
            thread_id=summary.thread_id,
            sender=summary.sender,
            subject=summary.subject,
            date=summary.date,
            snippet=summary.snippet,
            unread=summary.unread,
            to=_displays(headers.get("to", "")),
            cc=_displays(headers.get("cc", "")),
            body=body.replace("\r\n", "\n"),
            attachments=tuple(attachments),
            message_id=headers.get("message-id", ""),
            references=headers.get("references", ""),
        )

    async def _part_text(self, mid: str, part: dict[str, Any]) -> str:
        body = part.get("body") or {}
        data = body.get("data")
        if data is None and body.get("attachmentId"):
            aid = str(body["attachmentId"])
            fetched = await self._api.call(
                lambda s: (
                    s.users().messages().attachments().get(userId="me", messageId=mid, id=aid)
                ),
                what="read that message",
            )
            data = fetched.get("data")
        if not data:
            return ""
        return _b64(str(data)).decode(_charset(part), errors="replace")


def _displays(value: str) -> tuple[str, ...]:
    return tuple(_display(n, a) for n, a in _split_addresses([value]) if "@" in a)


def _list_page(query: str, size: int, token: str | None) -> Callable[[Any], Any]:
    return lambda s: (
        s.users().messages().list(userId="me", q=query, maxResults=size, pageToken=token)
    )


def _leaves(part: dict[str, Any]) -> Iterable[dict[str, Any]]:
    """The non-multipart parts of a Gmail payload, depth first (nested multiparts included)."""
    children = part.get("parts") or []
    if not children:
        yield part
        return
    for child in children:
        yield from _leaves(child)


def _unique(pairs: Iterable[tuple[str, str]], *, exclude: set[str]) -> list[tuple[str, str]]:
    seen = set(exclude)
    out: list[tuple[str, str]] = []
    for name, addr in pairs:
        if "@" in addr and addr.lower() not in seen:
            seen.add(addr.lower())
            out.append((name, addr))
    return out
