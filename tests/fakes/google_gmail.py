"""The fake Gmail v1 part: a mailbox that answers the requests google-api-python-client sends.

Paths are the ones the client uses under an ``api_endpoint`` override, which keeps Gmail's
``gmail/v1/`` prefix: ``/gmail/v1/users/me/messages`` (list, with ``q``, ``labelIds``,
``maxResults``, ``pageToken``), ``.../messages/{id}`` (get: ``format`` full, metadata with
``metadataHeaders``, minimal, raw), ``.../messages/{id}/modify``, ``.../messages/send``,
``.../messages/{id}/attachments/{aid}``, ``.../drafts`` (create, list), ``.../drafts/{id}``,
``.../drafts/send``, ``.../threads/{id}`` and ``.../profile``. ``send`` and ``drafts.create``
take a JSON body ``{"raw": base64url}`` from the client; the media-upload forms
(``/upload/gmail/v1/...?uploadType=media|multipart``) are accepted too.

Like Gmail: ids are hex strings, a thread's id is its first message's id, ``labelIds`` carry
INBOX/UNREAD/SENT/DRAFT, ``payload`` is the MIME tree with base64url ``body.data`` holding the
part's bytes in its own charset (transfer encoding undone), attachments get an
``attachmentId``, ``internalDate`` is a string of epoch milliseconds, header values come back
decoded, the snippet is HTML-escaped, an empty list has no ``messages`` key, spam and trash
are left out unless asked for, and each endpoint checks the token's scopes (403
``insufficientPermissions``). Sending parses the raw RFC 822 message (``email`` package), adds
From, Date and Message-ID when missing, and files it under SENT; a given ``threadId`` keeps the
thread when the subjects match (as Gmail requires), else the mail starts a new one.

Scripting::

    mid = google.gmail.add_message(sender="Ann <ann@example.org>", subject="Lunch", body="1pm?")
    google.gmail.sent[-1]["To"], google.gmail.sent[-1].text, google.gmail.message(mid).labels
"""

from __future__ import annotations

import base64
import html
import itertools
import json
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import format_datetime, getaddresses, make_msgid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from tests.fakes.google import FakeRequest, FakeResponse

PREFIX = "/gmail/v1/users/"
UPLOAD_PREFIX = "/upload/gmail/v1/users/"
SYSTEM_LABELS = frozenset(
    {"INBOX", "UNREAD", "SENT", "DRAFT", "SPAM", "TRASH", "STARRED", "IMPORTANT"}
    | {f"CATEGORY_{c}" for c in ("PERSONAL", "SOCIAL", "PROMOTIONS", "UPDATES", "FORUMS")}
)
READ = frozenset({"full", "gmail.readonly", "gmail.modify"})
METADATA = READ | {"gmail.metadata"}
PROFILE = METADATA | {"gmail.compose"}
DRAFTS = frozenset({"full", "gmail.compose", "gmail.modify"})
SEND = DRAFTS | {"gmail.send"}
MODIFY = frozenset({"full", "gmail.modify"})

Attachment = str | tuple[str, bytes] | tuple[str, bytes, str]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii")


def unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _scope_names(scopes: Iterable[str]) -> set[str]:
    names = set()
    for scope in scopes:
        if scope.rstrip("/") == "https://mail.google.com":
            names.add("full")
        else:
            names.add(scope.rsplit("/", 1)[-1])
    return names


def _parse(raw: bytes) -> EmailMessage:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    return message


def _text_of(message: Message) -> str:
    """The first plain-text part (else HTML with its tags dropped), decoded."""
    html_text = None
    for part in message.walk():
        if part.is_multipart() or part.get_filename():
            continue
        if part.get_content_type() == "text/plain":
            return str(part.get_content())  # type: ignore[attr-defined]
        if part.get_content_type() == "text/html" and html_text is None:
            html_text = re.sub(r"<[^>]+>", " ", str(part.get_content()))  # type: ignore[attr-defined]
    return html.unescape(html_text or "")


def _norm_subject(subject: str) -> str:
    return re.sub(r"^\s*((re|fwd?|aw)\s*:\s*)+", "", subject, flags=re.IGNORECASE).strip().lower()


@dataclass
class FakeMail:
    """One stored message. ``mail["Subject"]`` reads a (decoded) header; ``text`` its body."""

    id: str
    thread_id: str
    labels: set[str]
    raw: bytes
    internal_date: int
    history_id: int
    draft_id: str | None = None
    mime: EmailMessage = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.mime = _parse(self.raw)

    def __getitem__(self, name: str) -> str:
        value = self.mime.get(name)
        return "" if value is None else str(value)

    @property
    def text(self) -> str:
        """The plain-text body (else the HTML one without tags), with ``\n`` line ends."""
        return _text_of(self.mime).replace("\r\n", "\n")

    def addresses(self, *headers: str) -> list[str]:
        values = [str(v) for h in headers for v in self.mime.get_all(h) or []]
        return [addr.lower() for _, addr in getaddresses(values) if "@" in addr]

    def snippet(self) -> str:
        return html.escape(" ".join(self.text.split())[:200])


class FakeGmail:
    """The mailbox of ``address``; tests script it with :meth:`add_message` and read what Hark
    did from :attr:`sent`, :attr:`drafts` and :meth:`message`."""

    def __init__(self, address: str = "me@example.com") -> None:
        self.address = address
        self._lock = threading.Lock()
        self._mails: dict[str, FakeMail] = {}
        self._ids = itertools.count(0x18C2A0B1C3D40000)
        self._history = itertools.count(1000)
        self._clock_ms = int(time.time() * 1000)

    # --- scripting ------------------------------------------------------------------------

    def add_message(
        self,
        *,
        sender: str = "Ann Example <ann@example.org>",
        to: str | Sequence[str] | None = None,
        subject: str = "Hello",
        body: str = "Hello there.",
        html: str | None = None,
        attachments: Sequence[Attachment] = (),
        unread: bool = True,
        labels: Iterable[str] = ("INBOX",),
        thread_id: str | None = None,
        message_id: str | None = None,
        date: datetime | None = None,
        cc: Sequence[str] = (),
        reply_to: str | None = None,
        references: str | None = None,
        charset: str = "utf-8",
    ) -> str:
        """Deliver a message (to :attr:`address` unless ``to`` says otherwise); its id.

        ``body=""`` with ``html`` makes an HTML-only mail; ``attachments`` are file names or
        ``(name, data[, mime type])``; ``charset`` encodes the text parts."""
        mail = EmailMessage()
        mail["From"] = sender
        mail["To"] = ", ".join([to] if isinstance(to, str) else to or [self.address])
        if cc:
            mail["Cc"] = ", ".join(cc)
        if reply_to:
            mail["Reply-To"] = reply_to
        mail["Subject"] = subject
        when = date or datetime.fromtimestamp(self._tick() / 1000, UTC)
        mail["Date"] = format_datetime(when)
        mail["Message-ID"] = message_id or make_msgid(domain="mail.example.org")
        if references:
            mail["References"] = references
            mail["In-Reply-To"] = references.split()[-1]
        if body or html is None:
            mail.set_content(body, charset=charset)
            if html is not None:
                mail.add_alternative(html, subtype="html", charset=charset)
        else:
            mail.set_content(html, subtype="html", charset=charset)
        for item in attachments:
            name, data, ctype = (
                (item, b"attachment " + item.encode(), "application/octet-stream")
                if isinstance(item, str)
                else (item[0], item[1], item[2] if len(item) == 3 else "application/octet-stream")
            )
            maintype, subtype = ctype.split("/", 1)
            mail.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        flags = set(labels) | ({"UNREAD"} if unread else set())
        stored = self._store(bytes(mail), flags, thread_id, int(when.timestamp() * 1000))
        return stored.id

    def add_raw(self, raw: bytes, *, labels: Iterable[str] = ("INBOX", "UNREAD")) -> str:
        """Deliver an RFC 822 message exactly as given; its id."""
        return self._store(raw, set(labels), None, self._tick()).id

    def message(self, message_id: str) -> FakeMail:
        with self._lock:
            return self._mails[message_id]

    @property
    def messages(self) -> list[FakeMail]:
        with self._lock:
            return list(self._mails.values())

    @property
    def sent(self) -> list[FakeMail]:
        """Mails sent through the API, oldest first."""
        return [m for m in self.messages if "SENT" in m.labels and m.draft_id is None]

    @property
    def drafts(self) -> list[FakeMail]:
        return [m for m in self.messages if m.draft_id is not None]

    # --- dispatch -------------------------------------------------------------------------

    def handle(self, request: FakeRequest) -> FakeResponse | None:
        path = request.path
        upload = path.startswith(UPLOAD_PREFIX)
        if not upload and not path.startswith(PREFIX):
            return None
        user, _, rest = path.removeprefix(UPLOAD_PREFIX if upload else PREFIX).partition("/")
        if user not in ("me", self.address):
            return _error(403, "forbidden", "Delegation denied for " + self.address)
        route = (request.method, *rest.split("/"))
        scopes = _scope_names(request.scopes)
        try:
            return self._route(request, route, scopes, upload)
        except _Refusal as refusal:
            return refusal.response

    def _route(
        self, req: FakeRequest, route: tuple[str, ...], scopes: set[str], upload: bool
    ) -> FakeResponse:
        match route:
            case ("GET", "profile"):
                _need(scopes, PROFILE)
                return _ok(self._profile())
            case ("GET", "messages"):
                _need(scopes, METADATA if not req.arg("q") else READ)
                return _ok(self._list(req))
            case ("POST", "messages", "send"):
                _need(scopes, SEND)
                meta, raw = _incoming(req, upload)
                return _ok(self._send(raw, meta.get("threadId")))
            case ("GET", "messages", mid):
                fmt = req.arg("format", "full") or "full"
                _need(scopes, METADATA if fmt in ("metadata", "minimal") else READ)
                return _ok(self._resource(self._get(mid), fmt, req))
            case ("POST", "messages", mid, "modify"):
                _need(scopes, MODIFY)
                return _ok(self._modify(mid, req.json()))
            case ("GET", "messages", mid, "attachments", aid):
                _need(scopes, READ)
                return _ok(self._attachment(self._get(mid), aid))
            case ("GET", "threads", tid):
                _need(scopes, READ)
                return _ok(self._thread(tid, req))
            case ("POST", "drafts"):
                _need(scopes, DRAFTS)
                meta, raw = _incoming(req, upload, key="message")
                return _ok(self._create_draft(raw, meta.get("threadId")))
            case ("GET", "drafts"):
                _need(scopes, DRAFTS)
                return _ok(self._list_drafts())
            case ("POST", "drafts", "send"):
                _need(scopes, DRAFTS)
                return _ok(self._send_draft(str(req.json().get("id", ""))))
            case ("GET", "drafts", did):
                _need(scopes, DRAFTS)
                mail = self._draft(did)
                return _ok({"id": did, "message": self._resource(mail, "full", req)})
            case ("DELETE", "drafts", did):
                _need(scopes, DRAFTS)
                with self._lock:
                    self._mails.pop(self._draft(did).id, None)
                return _ok(status=204)
        raise _Refusal(_error(404, "notFound", f"Not Found: {req.method} {req.path}"))

    # --- behaviour ------------------------------------------------------------------------

    def _tick(self) -> int:
        with self._lock:
            self._clock_ms += 60_000
            return self._clock_ms

    def _store(
        self, raw: bytes, labels: set[str], thread_id: str | None, when_ms: int, draft: bool = False
    ) -> FakeMail:
        mid = f"{next(self._ids):x}"
        mail = FakeMail(
            mid, thread_id or mid, labels, raw, when_ms, next(self._history),
            f"r{int(mid, 16) % 10**19}" if draft else None,
        )  # fmt: skip
        with self._lock:
            self._mails[mid] = mail
        return mail

    def _get(self, mid: str) -> FakeMail:
        with self._lock:
            mail = self._mails.get(mid)
        if mail is None:
            raise _Refusal(_error(404, "notFound", "Requested entity was not found."))
        return mail

    def _draft(self, did: str) -> FakeMail:
        found = next((m for m in self.drafts if m.draft_id == did), None)
        if found is None:
            raise _Refusal(_error(404, "notFound", "Requested entity was not found."))
        return found

    def _profile(self) -> dict[str, Any]:
        mails = self.messages
        return {
            "emailAddress": self.address,
            "messagesTotal": len(mails),
            "threadsTotal": len({m.thread_id for m in mails}),
            "historyId": str(max((m.history_id for m in mails), default=1000)),
        }

    def _list(self, req: FakeRequest) -> dict[str, Any]:
        query = req.arg("q", "") or ""
        wanted = set(req.query.get("labelIds", []))
        hidden = set() if req.arg("includeSpamTrash") == "true" else {"SPAM", "TRASH"}
        if re.search(r"\bin:(spam|trash|anywhere)\b", query):
            hidden = set()
        try:
            limit = min(max(int(req.arg("maxResults", "100") or 100), 1), 500)
            start = int(req.arg("pageToken", "0") or 0)
        except ValueError:
            raise _Refusal(_error(400, "invalidArgument", "Invalid pageToken")) from None
        matches = [
            m
            for m in sorted(self.messages, key=lambda m: (m.internal_date, m.id), reverse=True)
            if wanted <= m.labels and not m.labels & hidden and _matches(m, query)
        ]
        page = matches[start : start + limit]
        body: dict[str, Any] = {"resultSizeEstimate": len(matches)}
        if page:
            body["messages"] = [{"id": m.id, "threadId": m.thread_id} for m in page]
        if start + limit < len(matches):
            body["nextPageToken"] = str(start + limit)
        return body

    def _resource(self, mail: FakeMail, fmt: str, req: FakeRequest) -> dict[str, Any]:
        if fmt not in ("full", "metadata", "minimal", "raw"):
            raise _Refusal(_error(400, "invalidArgument", f"Invalid format: {fmt}"))
        body: dict[str, Any] = {
            "id": mail.id,
            "threadId": mail.thread_id,
            "labelIds": sorted(mail.labels),
            "snippet": mail.snippet(),
            "sizeEstimate": len(mail.raw),
            "historyId": str(mail.history_id),
            "internalDate": str(mail.internal_date),
        }
        if fmt == "raw":
            body["raw"] = b64url(mail.raw)
        elif fmt == "metadata":
            names = {h.lower() for h in req.query.get("metadataHeaders", [])}
            headers = _headers(mail.mime)
            body["payload"] = {
                "mimeType": mail.mime.get_content_type(),
                "headers": [h for h in headers if not names or h["name"].lower() in names],
            }
        elif fmt == "full":
            body["payload"] = _payload(mail.mime, "", mail.id)
        return body

    def _attachment(self, mail: FakeMail, aid: str) -> dict[str, Any]:
        for index, part in enumerate(mail.mime.walk()):
            if _attachment_id(mail.id, index) == aid:
                data = _leaf_bytes(part)
                return {"size": len(data), "data": b64url(data)}
        raise _Refusal(_error(400, "invalidArgument", "Invalid attachment token"))

    def _thread(self, tid: str, req: FakeRequest) -> dict[str, Any]:
        mails = sorted(
            (m for m in self.messages if m.thread_id == tid), key=lambda m: m.internal_date
        )
        if not mails:
            raise _Refusal(_error(404, "notFound", "Requested entity was not found."))
        fmt = req.arg("format", "full") or "full"
        return {
            "id": tid,
            "historyId": str(max(m.history_id for m in mails)),
            "messages": [self._resource(m, fmt, req) for m in mails],
        }

    def _modify(self, mid: str, change: Any) -> dict[str, Any]:
        mail = self._get(mid)
        add = set(change.get("addLabelIds") or [])
        remove = set(change.get("removeLabelIds") or [])
        bad = sorted((add | remove) - SYSTEM_LABELS - {"DRAFT", "SENT"})
        if bad or {"DRAFT", "SENT"} & add:
            name = (bad or sorted({"DRAFT", "SENT"} & add))[0]
            raise _Refusal(_error(400, "invalidArgument", f"Invalid label: {name}"))
        with self._lock:
            mail.labels = (mail.labels | add) - remove
            mail.history_id = next(self._history)
        return {"id": mail.id, "threadId": mail.thread_id, "labelIds": sorted(mail.labels)}

    def _complete(self, raw: bytes) -> bytes:
        """Add the headers Gmail fills in on sending (From, Date, Message-ID)."""
        mime = _parse(raw)
        extra = b""
        if not mime.get("From"):
            extra += f"From: {self.address}\r\n".encode()
        if not mime.get("Date"):
            extra += f"Date: {format_datetime(datetime.now(UTC))}\r\n".encode()
        if not mime.get("Message-ID"):
            extra += f"Message-ID: {make_msgid(domain='mail.gmail.com')}\r\n".encode()
        return extra + raw

    def _thread_for(self, mime: EmailMessage, thread_id: str | None) -> str | None:
        if not thread_id:
            return None
        first = next((m for m in self.messages if m.thread_id == thread_id), None)
        if first is None:
            raise _Refusal(_error(404, "notFound", "Requested entity was not found."))
        same = _norm_subject(first["Subject"]) == _norm_subject(str(mime.get("Subject", "")))
        return thread_id if same else None

    def _send(self, raw: bytes, thread_id: str | None) -> dict[str, Any]:
        raw = self._complete(raw)
        mime = _parse(raw)
        recipients = FakeMail("x", "x", set(), raw, 0, 0).addresses("To", "Cc", "Bcc")
        if not recipients:
            raise _Refusal(_error(400, "invalidArgument", "Recipient address required"))
        labels = {"SENT"} | ({"INBOX", "UNREAD"} if self.address.lower() in recipients else set())
        mail = self._store(raw, labels, self._thread_for(mime, thread_id), self._tick())
        return {"id": mail.id, "threadId": mail.thread_id, "labelIds": sorted(mail.labels)}

    def _create_draft(self, raw: bytes, thread_id: str | None) -> dict[str, Any]:
        raw = self._complete(raw)
        tid = self._thread_for(_parse(raw), thread_id)
        mail = self._store(raw, {"DRAFT"}, tid, self._tick(), draft=True)
        return {
            "id": mail.draft_id,
            "message": {"id": mail.id, "threadId": mail.thread_id, "labelIds": ["DRAFT"]},
        }

    def _list_drafts(self) -> dict[str, Any]:
        drafts = [
            {"id": m.draft_id, "message": {"id": m.id, "threadId": m.thread_id}}
            for m in reversed(self.drafts)
        ]
        return {"drafts": drafts, "resultSizeEstimate": len(drafts)} if drafts else {}

    def _send_draft(self, did: str) -> dict[str, Any]:
        mail = self._draft(did)
        if not mail.addresses("To", "Cc", "Bcc"):
            raise _Refusal(_error(400, "invalidArgument", "Recipient address required"))
        with self._lock:
            mail.draft_id = None
            mail.labels = {"SENT"}
        return {"id": mail.id, "threadId": mail.thread_id, "labelIds": ["SENT"]}


def _ok(body: Any = None, status: int = 200) -> FakeResponse:
    from tests.fakes.google import FakeResponse

    return FakeResponse(status, body)


def _error(status: int, reason: str, message: str) -> FakeResponse:
    from tests.fakes.google import google_error

    return google_error(status, reason, message)


class _Refusal(Exception):
    def __init__(self, response: FakeResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _need(scopes: set[str], allowed: frozenset[str]) -> None:
    if not scopes & allowed:
        raise _Refusal(
            _error(
                403, "insufficientPermissions", "Request had insufficient authentication scopes."
            )
        )


def _incoming(
    req: FakeRequest, upload: bool, key: str | None = None
) -> tuple[dict[str, Any], bytes]:
    """The metadata and raw RFC 822 bytes of a send or draft, from JSON or a media upload."""
    if upload:
        kind = req.arg("uploadType")
        if kind == "media":
            return {}, req.body
        if kind != "multipart":
            raise _Refusal(_error(400, "invalidArgument", f"Invalid uploadType: {kind}"))
        parts = _related_parts(req.headers.get("content-type", ""), req.body)
        if len(parts) != 2:
            raise _Refusal(_error(400, "invalidArgument", "Bad multipart upload"))
        meta = json.loads(parts[0] or b"{}")
        meta = (meta.get(key) or {}) if key else meta
        return meta, parts[1]
    try:
        meta = req.json()
    except ValueError:
        raise _Refusal(_error(400, "parseError", "Parse Error")) from None
    meta = (meta.get(key) or {}) if key else meta
    raw_b64 = meta.get("raw")
    if not isinstance(raw_b64, str) or not raw_b64:
        raise _Refusal(
            _error(
                400,
                "invalidArgument",
                "'raw' RFC822 payload message string or uploading message via /upload/* URL "
                "required",
            )
        )
    try:
        return meta, base64.b64decode(
            raw_b64 + "=" * (-len(raw_b64) % 4), altchars=b"-_", validate=True
        )
    except ValueError:
        raise _Refusal(
            _error(400, "invalidArgument", "Invalid value for ByteString: " + raw_b64[:20])
        ) from None


def _related_parts(content_type: str, body: bytes) -> list[bytes]:
    """The bodies of a ``multipart/related`` upload (metadata JSON, then the message)."""
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        return []
    out = []
    for chunk in body.split(b"--" + found.group(1).encode())[1:]:
        if chunk.startswith(b"--"):
            break
        blank = re.search(rb"\r?\n\r?\n", chunk.lstrip(b"\r\n"))
        content = chunk.lstrip(b"\r\n")[blank.end() :] if blank else b""
        out.append(content.removesuffix(b"\n").removesuffix(b"\r"))
    return out


def _headers(part: Message) -> list[dict[str, str]]:
    return [{"name": name, "value": str(value)} for name, value in part.items()]


def _leaf_bytes(part: Message) -> bytes:
    """A leaf part's content with its transfer encoding undone (charset untouched)."""
    data = part.get_payload(decode=True)
    return data if isinstance(data, bytes) else b""


def _attachment_id(mid: str, index: int) -> str:
    return b64url(f"{mid}:{index}".encode()).rstrip("=")


def _payload(message: Message, part_id: str, mid: str) -> dict[str, Any]:
    """Gmail's MIME tree: ``partId`` "" at the top, then "0", "1", "1.0" …"""
    indexes = {id(p): i for i, p in enumerate(message.walk())}

    def build(part: Message, pid: str) -> dict[str, Any]:
        node: dict[str, Any] = {
            "partId": pid,
            "mimeType": part.get_content_type(),
            "filename": part.get_filename() or "",
            "headers": _headers(part),
        }
        if part.is_multipart():
            children = part.get_payload()
            assert isinstance(children, list)
            node["body"] = {"size": 0}
            node["parts"] = [
                build(child, f"{pid}.{i}" if pid else str(i)) for i, child in enumerate(children)
            ]
            return node
        data = _leaf_bytes(part)
        if node["filename"]:
            node["body"] = {
                "attachmentId": _attachment_id(mid, indexes[id(part)]),
                "size": len(data),
            }
        else:
            node["body"] = {"size": len(data), "data": b64url(data)} if data else {"size": 0}
        return node

    return build(message, part_id)


_TOKEN = re.compile(r'(-?)(?:(\w+):)?("([^"]*)"|\(([^)]*)\)|\S+)')


def _matches(mail: FakeMail, query: str) -> bool:
    """Gmail's search operators that Hark and the tests use (all terms must hold)."""
    for negate, op, whole, quoted, grouped in _TOKEN.findall(query):
        value = (quoted or grouped or whole).lower()
        if not value:
            continue
        hit = _term(mail, op.lower(), value)
        if hit == bool(negate):
            return False
    return True


def _term(mail: FakeMail, op: str, value: str) -> bool:
    labels = {label.lower() for label in mail.labels}
    if op == "is":
        if value == "read":
            return "unread" not in labels
        return value in labels
    if op == "in":
        return value == "anywhere" or {"draft": "drafts"}.get(value, value).rstrip("s") in {
            label.rstrip("s") for label in labels
        }
    if op == "label":
        return value in labels
    if op in ("from", "to", "cc", "bcc"):
        headers = {"to": ("To", "Cc", "Bcc")}.get(op, (op.capitalize(),))
        return any(value in mail[h].lower() for h in headers)
    if op == "subject":
        subject = mail["Subject"].lower()
        return all(word in subject for word in value.split())
    if op == "has":
        return value == "attachment" and any(p.get_filename() for p in mail.mime.walk())
    if op == "rfc822msgid":
        return mail["Message-ID"].strip("<>").lower() == value.strip("<>")
    words = f"{op}:{value}" if op else value
    haystack = " ".join([mail["From"], mail["To"], mail["Cc"], mail["Subject"], mail.text]).lower()
    return all(word in haystack for word in words.split())
