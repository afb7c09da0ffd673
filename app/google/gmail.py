"""Gmail for one account: find, read, draft, send and reply to mail, mark it read, archive it.

Everything goes through :class:`app.google.api.GoogleApi`, which runs the blocking client in a
worker thread and turns failures into :class:`GoogleError` codes. Reads and label changes are
retried on network errors and 5xx answers; drafts and sends are not (a retried send could reach
its recipients twice) except on 429, which Google answers before doing anything.

What is read comes back as :mod:`app.google.mail_messages` types; what is drafted or sent is an
:class:`~app.google.outgoing_mail.OutgoingMail`.

Nothing here logs a subject, a body or an address; ids and counts only.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import re
from collections.abc import Callable, Iterable
from typing import Any

from app.google.api import GoogleApi
from app.google.mail_addresses import (
    bare_addresses,
    display_address,
    display_addresses,
    mail_bad_input,
    split_addresses,
)
from app.google.mail_messages import (
    MailMessage,
    MailSummary,
    decode_text,
    html_to_text,
    leaf_parts,
    part_headers,
    summary_of,
)
from app.google.outgoing_mail import OutgoingMail
from app.shared.errors import GoogleCode, GoogleError

log = logging.getLogger(__name__)

SUMMARY_HEADERS = ["From", "Subject", "Date"]
RECIPIENT_HEADERS = ["To", "Cc", "Bcc"]
MAX_PAGE = 100
_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
_RE = re.compile(r"^\s*re\s*:", re.IGNORECASE)


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
                found.append(summary_of(resource))
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
            raise mail_bad_input("The reply has no text: say what it should say.")
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
        headers = part_headers(resource.get("payload") or {})
        me = (await self.address()).lower()
        from_me = me in bare_addresses([headers.get("from", "")])
        if from_me and not headers.get("reply-to"):
            primary = split_addresses([headers.get("to", "")])
        else:
            primary = split_addresses([headers.get("reply-to") or headers.get("from", "")])
        to = _unique(primary, exclude=set())
        cc: list[tuple[str, str]] = []
        if reply_all:
            taken = {addr.lower() for _, addr in to} | {me}
            extra = split_addresses([headers.get("to", ""), headers.get("cc", "")])
            cc = _unique(extra, exclude=taken)
        if not to:
            raise mail_bad_input("That message has no sender address to reply to.")
        subject = headers.get("subject", "")
        if not _RE.match(subject):
            subject = f"Re: {subject}".strip()
        original_id = headers.get("message-id", "").strip()
        refs = headers.get("references") or headers.get("in-reply-to", "")
        references = " ".join(part for part in (refs.strip(), original_id) if part)
        return OutgoingMail(
            to=tuple(display_address(n, a) for n, a in to),
            cc=tuple(display_address(n, a) for n, a in cc),
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
                        found.update(bare_addresses(values))
                self._correspondents = found
                log.info("Gmail: %d correspondent(s) from %d sent mail(s)", len(found), len(ids))
            return set(self._correspondents)

    # --- helpers --------------------------------------------------------------------------

    @staticmethod
    def _check_id(message_id: str) -> str:
        mid = message_id.strip()
        if not _ID.fullmatch(mid):
            raise mail_bad_input(
                f"{message_id!r} is not a Gmail message id (search for the message first)."
            )
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
        headers = part_headers(payload)
        plain: list[str] = []
        html: list[str] = []
        attachments: list[str] = []
        for part in leaf_parts(payload):
            filename = str(part.get("filename") or "")
            disposition = part_headers(part).get("content-disposition", "").lower()
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
        summary = summary_of(resource)
        return MailMessage(
            id=summary.id,
            thread_id=summary.thread_id,
            sender=summary.sender,
            subject=summary.subject,
            date=summary.date,
            snippet=summary.snippet,
            unread=summary.unread,
            to=display_addresses(headers.get("to", "")),
            cc=display_addresses(headers.get("cc", "")),
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
        return decode_text(part, str(data))


def _list_page(query: str, size: int, token: str | None) -> Callable[[Any], Any]:
    return lambda s: (
        s.users().messages().list(userId="me", q=query, maxResults=size, pageToken=token)
    )


def _unique(pairs: Iterable[tuple[str, str]], *, exclude: set[str]) -> list[tuple[str, str]]:
    seen = set(exclude)
    out: list[tuple[str, str]] = []
    for name, addr in pairs:
        if "@" in addr and addr.lower() not in seen:
            seen.add(addr.lower())
            out.append((name, addr))
    return out
