"""The mail tools the model may call, as ``google.mail``'s level allows (search and read; drafts;
send, reply, mark read and archive), and :class:`GmailContacts`, the address book the policy
checks recipients against."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from app.core.types import Risk, ToolSpec
from app.core.wording import mail_words
from app.google.gmail import Gmail
from app.google.outgoing_mail import OutgoingMail
from app.google.tools import (
    GoogleTool,
    address_list,
    addresses_schema,
    object_schema,
    string_schema,
    text_arg,
)
from app.safety.actions import ActionSpec, normalize_address

MAX_MESSAGES = 25
MAIL_FIELDS = ("to", "cc", "bcc", "subject", "body")


def _outgoing(args: Mapping[str, Any]) -> OutgoingMail:
    return OutgoingMail(
        to=tuple(address_list(args.get("to"))),
        cc=tuple(address_list(args.get("cc"))),
        bcc=tuple(address_list(args.get("bcc"))),
        subject=text_arg(args, "subject"),
        body=text_arg(args, "body"),
        thread_id=args.get("thread_id") or None,
        in_reply_to=args.get("in_reply_to") or None,
        references=args.get("references") or None,
    )


def _mail_recipients(args: Mapping[str, Any]) -> list[str]:
    return [
        *address_list(args.get("to")),
        *address_list(args.get("cc")),
        *address_list(args.get("bcc")),
    ]


def _describe_mail(verb: str) -> Callable[[Mapping[str, Any]], str]:
    def describe(args: Mapping[str, Any]) -> str:
        return mail_words(verb, args)

    return describe


def mail_tools(gmail: Gmail, *, level: str) -> list[GoogleTool]:
    """The mail tools for ``google.mail``'s level: read, compose (drafts) or send."""

    async def search(args: Mapping[str, Any]) -> dict[str, Any]:
        query = text_arg(args, "query") or "is:unread in:inbox"
        limit = min(int(args.get("limit") or 10), MAX_MESSAGES)
        found = await gmail.search(query, limit=limit)
        return {"query": query, "count": len(found), "messages": [m.brief() for m in found]}

    async def read(args: Mapping[str, Any]) -> dict[str, Any]:
        return (await gmail.read(str(args["message_id"]))).brief()

    async def draft(args: Mapping[str, Any]) -> dict[str, Any]:
        draft_id = await gmail.create_draft(_outgoing(args))
        return {"draft_id": draft_id, "note": "saved in Drafts; not sent"}

    async def send(args: Mapping[str, Any]) -> dict[str, Any]:
        mail = _outgoing(args)
        message_id = await gmail.send(mail)
        return {"sent": True, "message_id": message_id, "to": list(mail.recipients())}

    async def mark_read(args: Mapping[str, Any]) -> dict[str, Any]:
        await gmail.mark_read(str(args["message_id"]))
        return {"marked_read": args["message_id"]}

    async def archive(args: Mapping[str, Any]) -> dict[str, Any]:
        await gmail.archive(str(args["message_id"]))
        return {"archived": args["message_id"]}

    async def prepare_reply(args: Mapping[str, Any]) -> dict[str, Any]:
        mail = await gmail.reply_to(
            str(args["message_id"]), text_arg(args, "body"), reply_all=bool(args.get("reply_all"))
        )
        return {
            **args,
            "to": list(mail.to),
            "cc": list(mail.cc),
            "subject": mail.subject,
            "thread_id": mail.thread_id,
            "in_reply_to": mail.in_reply_to,
            "references": mail.references,
        }

    async def reply(args: Mapping[str, Any]) -> dict[str, Any]:
        if not args.get("to"):  # not prepared by the policy (a direct call): build it now
            args = await prepare_reply(args)
        return await send(args)

    message_id = string_schema("the message's id from mail_search")
    tools = [
        GoogleTool(
            ToolSpec(
                "mail_search",
                "Search the user's Gmail (Gmail search syntax; default: unread mail in the "
                "inbox). Returns sender, subject, date and a snippet of each.",
                object_schema(
                    {
                        "query": string_schema(
                            "e.g. 'is:unread in:inbox', 'from:anna subject:invoice'"
                        ),
                        "limit": {"type": "integer", "description": "at most this many (10)"},
                    }
                ),
            ),
            search,
            ActionSpec(Risk.READ, lambda a: "Search mail"),
        ),
        GoogleTool(
            ToolSpec(
                "mail_read",
                "Read one message: headers, the text, and the names of attachments.",
                object_schema({"message_id": message_id}, ["message_id"]),
            ),
            read,
            ActionSpec(Risk.READ, lambda a: f"Read the message {a.get('message_id')}"),
        ),
    ]
    if level == "read":
        return tools
    mail_fields = {
        "to": addresses_schema("recipients' email addresses"),
        "cc": addresses_schema("copy to"),
        "bcc": addresses_schema("blind copy to"),
        "subject": string_schema("the subject line"),
        "body": string_schema("the text of the mail"),
    }
    tools.append(
        GoogleTool(
            ToolSpec(
                "mail_draft",
                "Save a mail in the user's Drafts without sending it.",
                object_schema(mail_fields, ["to", "subject", "body"]),
            ),
            draft,
            ActionSpec(Risk.WRITE, _describe_mail("Save a draft"), editable=MAIL_FIELDS),
        )
    )
    if level != "send":
        return tools
    tools += [
        GoogleTool(
            ToolSpec(
                "mail_send",
                "Send a mail from the user's Gmail.",
                object_schema(mail_fields, ["to", "subject", "body"]),
            ),
            send,
            ActionSpec(
                Risk.EXTERNAL,
                _describe_mail("Send an email"),
                editable=MAIL_FIELDS,
                recipients=_mail_recipients,
            ),
        ),
        GoogleTool(
            ToolSpec(
                "mail_reply",
                "Reply to a message in its thread (reply_all also answers everyone on it).",
                object_schema(
                    {
                        "message_id": message_id,
                        "body": string_schema("the text of the reply"),
                        "reply_all": {"type": "boolean", "description": "answer everyone"},
                    },
                    ["message_id", "body"],
                ),
            ),
            reply,
            ActionSpec(
                Risk.EXTERNAL,
                _describe_mail("Send a reply"),
                editable=MAIL_FIELDS,
                recipients=_mail_recipients,
                prepare=prepare_reply,
            ),
        ),
        GoogleTool(
            ToolSpec(
                "mail_mark_read",
                "Mark a message as read.",
                object_schema({"message_id": message_id}, ["message_id"]),
            ),
            mark_read,
            ActionSpec(Risk.WRITE, lambda a: f"Mark the message {a.get('message_id')} as read"),
        ),
        GoogleTool(
            ToolSpec(
                "mail_archive",
                "Archive a message (take it out of the inbox; it stays in All Mail).",
                object_schema({"message_id": message_id}, ["message_id"]),
            ),
            archive,
            ActionSpec(Risk.WRITE, lambda a: f"Archive the message {a.get('message_id')}"),
        ),
    ]
    return tools


class GmailContacts:
    """The policy's address book: the user's own address and everyone they ever wrote to."""

    def __init__(self, gmail: Gmail) -> None:
        self._gmail = gmail

    async def is_known(self, address: str) -> bool:
        wanted = normalize_address(address)
        if wanted == normalize_address(await self._gmail.address()):
            return True
        return wanted in await self._gmail.correspondents()
