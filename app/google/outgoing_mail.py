"""Mail Hark writes: :class:`OutgoingMail`, checked before anything goes to Gmail, and the MIME
bytes Gmail is sent.

Outgoing mail is built with the ``email`` package (``EmailMessage``, SMTP policy), so non-ASCII
text is encoded properly and header injection is impossible: newlines in a subject are folded
to spaces and addresses are checked one by one.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import policy
from email.message import EmailMessage

from app.google.mail_addresses import (
    bare_addresses,
    check_addresses,
    clean_header,
    mail_bad_input,
)


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
        for addr in bare_addresses([*self.to, *self.cc, *self.bcc]):
            seen.setdefault(addr, None)
        return tuple(seen)

    def validate(self) -> None:
        """Refuse a mail Gmail would refuse, or one that is surely a mistake."""
        check_addresses(self.to, "To")
        check_addresses(self.cc, "Cc")
        check_addresses(self.bcc, "Bcc")
        if not self.recipients():
            raise mail_bad_input(
                "The mail has no recipient: give at least one address to send it to."
            )
        if not self.subject.strip() and not self.body.strip():
            raise mail_bad_input(
                "The mail has neither a subject nor a text: say what it should say."
            )
        for name, value in (("thread", self.thread_id), ("reply", self.in_reply_to)):
            if value and ("\n" in value or "\r" in value):
                raise mail_bad_input(f"The {name} reference has a line break in it.")

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
        mail["Subject"] = clean_header(self.subject)
        if self.in_reply_to:
            mail["In-Reply-To"] = clean_header(self.in_reply_to)
        if self.references:
            mail["References"] = clean_header(self.references)
        mail.set_content(self.body.replace("\r\n", "\n"), charset="utf-8")
        return mail.as_bytes()
