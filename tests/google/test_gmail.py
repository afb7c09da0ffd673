"""Gmail through the real google-api-python-client against the fake Gmail (tests/fakes)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from google.oauth2.credentials import Credentials

from app.google.api import GoogleApi
from app.google.gmail import Gmail
from app.google.mail_messages import MailMessage, MailSummary, html_to_text
from app.google.outgoing_mail import OutgoingMail
from app.settings.schema import GoogleSettings
from app.shared.errors import GoogleError
from tests.fakes.google import FakeGoogle

SCOPE = "https://www.googleapis.com/auth/"
MODIFY = SCOPE + "gmail.modify"
READONLY = SCOPE + "gmail.readonly"
SEND = SCOPE + "gmail.send"
ANN = "Ann Example <ann@example.org>"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


@pytest.fixture
def connect(google: FakeGoogle) -> Iterator[Callable[..., Gmail]]:
    """Gmail clients with tokens of the given scopes (gmail.modify + gmail.send by default)."""
    apis: list[GoogleApi] = []
    settings = GoogleSettings(
        api_endpoint=google.url, token_uri=google.url + "/token", retry_backoff_s=0.01
    )

    def make(*scopes: str) -> Gmail:
        token = google.oauth.issue_access_token(scopes or (MODIFY, SEND))
        apis.append(GoogleApi("gmail", Credentials(token=token), settings))
        return Gmail(apis[-1])

    yield make
    for api in apis:
        api.service.close()  # drop keep-alive connections so the fake can stop


@pytest.fixture
def gmail(connect: Callable[..., Gmail]) -> Gmail:
    return connect()


# --- search -------------------------------------------------------------------------------


async def test_search_defaults_to_unread_inbox(google: FakeGoogle, gmail: Gmail) -> None:
    when = datetime(2026, 3, 2, 9, 30, tzinfo=UTC)
    wanted = google.gmail.add_message(
        sender=ANN, subject="Lunch & plans", body="Pizza & pasta at 1?", date=when
    )
    google.gmail.add_message(subject="Seen already", unread=False)
    google.gmail.add_message(subject="Archived", labels=())
    google.gmail.add_message(subject="Mine", labels=("SENT",), unread=False)

    found = await gmail.search()

    assert found == [
        MailSummary(
            id=wanted,
            thread_id=wanted,
            sender=ANN,
            subject="Lunch & plans",
            date=when,
            snippet="Pizza & pasta at 1?",
            unread=True,
        )
    ]
    assert found[0].brief() == {
        "id": wanted,
        "from": ANN,
        "subject": "Lunch & plans",
        "date": "2026-03-02T09:30:00+00:00",
        "snippet": "Pizza & pasta at 1?",
        "unread": True,
    }


async def test_search_query_limit_and_brief_omits_empties(google: FakeGoogle, gmail: Gmail) -> None:
    older = google.gmail.add_message(sender="bob@example.net", subject="", body="", unread=False)
    newer = google.gmail.add_message(sender="bob@example.net", subject="Two")
    google.gmail.add_message(sender="carol@example.net", subject="Three")

    found = await gmail.search("from:bob@example.net", limit=5)

    assert [m.id for m in found] == [newer, older]
    assert found[1].brief().keys() == {"id", "from", "date"}
    assert [m.id for m in await gmail.search("from:bob@example.net", limit=1)] == [newer]


async def test_search_follows_page_tokens(google: FakeGoogle, gmail: Gmail) -> None:
    ids = [google.gmail.add_message(subject=f"n{i}") for i in range(104)]

    found = await gmail.search(limit=102)

    assert [m.id for m in found] == ids[::-1][:102]
    assert google.count("GET", "/gmail/v1/users/me/messages") - 102 == 2  # two list pages


# --- read ---------------------------------------------------------------------------------


async def test_read_prefers_plain_text_of_alternative(google: FakeGoogle, gmail: Gmail) -> None:
    mid = google.gmail.add_message(
        sender=ANN,
        to=["me@example.com", '"Doe, John" <john@example.org>'],
        cc=["Carol <carol@example.org>"],
        subject="Agenda",
        body="Plain agenda:\r\n1. Budget\r\n",
        html="<p>HTML agenda</p>",
        references="<a@example.org>",
    )

    message = await gmail.read(mid)

    assert message.body == "Plain agenda:\n1. Budget"
    assert message.to == ("me@example.com", '"Doe, John" <john@example.org>')
    assert message.cc == ("Carol <carol@example.org>",)
    assert message.sender == ANN
    assert message.subject == "Agenda"
    assert message.unread is True
    assert message.attachments == ()
    assert message.message_id == google.gmail.message(mid)["Message-ID"]
    assert message.references == "<a@example.org>"


async def test_read_html_only_mail_as_text(google: FakeGoogle, gmail: Gmail) -> None:
    markup = (
        "<html><head><style>p {color: red}</style></head><body>"
        "<p>Hello&nbsp;<b>Ann</b> &amp; co,</p><script>alert(1)</script>"
        "<div>See you <i>at 5</i>.</div></body></html>"
    )
    mid = google.gmail.add_message(body="", html=markup)

    message = await gmail.read(mid)

    assert message.body == "Hello Ann & co,\n\nSee you at 5."


async def test_read_decodes_the_declared_charset(google: FakeGoogle, gmail: Gmail) -> None:
    latin = google.gmail.add_message(
        subject="Grüße", body="Schöne Grüße aus Köln", charset="latin-1"
    )
    cyrillic = google.gmail.add_message(body="Привет, мир", charset="koi8-r")

    assert (await gmail.read(latin)).body == "Schöne Grüße aus Köln"
    assert (await gmail.read(latin)).subject == "Grüße"
    assert (await gmail.read(cyrillic)).body == "Привет, мир"


async def test_read_names_attachments_in_nested_multiparts(
    google: FakeGoogle, gmail: Gmail
) -> None:
    mid = google.gmail.add_message(
        body="Files attached.",
        html="<p>Files attached.</p>",
        attachments=[("plan.pdf", b"%PDF", "application/pdf"), ("notes.txt", b"x", "text/plain")],
    )

    message = await gmail.read(mid)

    assert message.attachments == ("plan.pdf", "notes.txt")
    assert message.body == "Files attached."  # the attached text file is not the body
    assert message.brief()["attachments"] == ["plan.pdf", "notes.txt"]


def test_message_brief_cuts_long_bodies() -> None:
    message = MailMessage(
        id="1", thread_id="1", sender=ANN, subject="Long", date=None, snippet="", unread=False,
        to=("me@example.com",), cc=(), body="word " * 100, attachments=(),
    )  # fmt: skip

    brief = message.brief(max_body=20)

    assert brief["body"] == "word word word word …"
    assert brief["body_truncated"] is True
    assert "cc" not in brief
    assert "unread" not in brief
    assert "body_truncated" not in message.brief()


def test_html_to_text_keeps_paragraphs() -> None:
    assert html_to_text("<p>One</p><p>Two<br>Three</p>") == "One\n\nTwo\nThree"
    assert html_to_text("<table><tr><td>a</td><td>b</td></tr></table>") == "a b"


# --- draft and send -----------------------------------------------------------------------


async def test_create_draft_sends_nothing(google: FakeGoogle, gmail: Gmail) -> None:
    draft_id = await gmail.create_draft(
        OutgoingMail(to=("bob@example.net",), subject="Draft", body="Maybe later.")
    )

    assert draft_id == google.gmail.drafts[0].draft_id
    assert google.gmail.drafts[0]["To"] == "bob@example.net"
    assert google.gmail.drafts[0].text == "Maybe later.\n"
    assert google.gmail.sent == []


async def test_send_builds_a_utf8_mail(google: FakeGoogle, gmail: Gmail) -> None:
    mail = OutgoingMail(
        to=("Zoë Brontë <zoe@example.org>", "bob@example.net"),
        cc=("Carol@Example.org",),
        bcc=("dave@example.com",),
        subject="Café at 5 ☕",
        body="Schöne Grüße,\nme",
    )

    message_id = await gmail.send(mail)

    sent = google.gmail.message(message_id)
    assert sent["To"] == "Zoë Brontë <zoe@example.org>, bob@example.net"
    assert sent["Cc"] == "Carol@Example.org"
    assert sent["Bcc"] == "dave@example.com"
    assert sent["Subject"] == "Café at 5 ☕"
    assert sent["From"] == "me@example.com"
    assert sent.text == "Schöne Grüße,\nme\n"
    assert mail.recipients() == (
        "zoe@example.org",
        "bob@example.net",
        "carol@example.org",
        "dave@example.com",
    )
    assert sent.labels == {"SENT"}


@pytest.mark.parametrize(
    ("mail", "words"),
    [
        (OutgoingMail(to=(), subject="Hi", body="x"), "no recipient"),
        (OutgoingMail(to=("bob",), subject="Hi", body="x"), "'bob' in To is not a valid"),
        (OutgoingMail(to=("a@b.org",), cc=("x@@y",), subject="Hi", body="x"), "in Cc"),
        (OutgoingMail(to=("bob@example.net",), subject=" ", body="\n"), "neither a subject"),
        (OutgoingMail(to=("a@b.org\nBcc: e@x.org",), subject="Hi", body="x"), "line break"),
    ],
)
async def test_bad_mail_is_refused_before_any_request(
    google: FakeGoogle, gmail: Gmail, mail: OutgoingMail, words: str
) -> None:
    for action in (gmail.send, gmail.create_draft):
        with pytest.raises(GoogleError) as caught:
            await action(mail)
        assert caught.value.code == "mail-bad-input"
        assert words in caught.value.message
    assert google.requests == []


async def test_bad_ids_and_empty_replies_are_refused(google: FakeGoogle, gmail: Gmail) -> None:
    mid = google.gmail.add_message()
    for call in (
        lambda: gmail.read("../profile"),
        lambda: gmail.archive(""),
        lambda: gmail.reply_to(mid, "  "),
    ):
        with pytest.raises(GoogleError) as caught:
            await call()
        assert caught.value.code == "mail-bad-input"
    assert google.requests == []


async def test_subject_newlines_cannot_add_headers(google: FakeGoogle, gmail: Gmail) -> None:
    mail = OutgoingMail(
        to=("bob@example.net",), subject="Hi\r\nBcc: eve@evil.example\nX-Evil: 1", body="x"
    )

    message_id = await gmail.send(mail)

    sent = google.gmail.message(message_id)
    assert sent["Bcc"] == ""
    assert sent["X-Evil"] == ""
    assert sent["Subject"] == "Hi Bcc: eve@evil.example X-Evil: 1"
    assert sent.addresses("To", "Cc", "Bcc") == ["bob@example.net"]
    assert mail.recipients() == ("bob@example.net",)


# --- replies ------------------------------------------------------------------------------


async def test_reply_stays_in_thread_with_headers(google: FakeGoogle, gmail: Gmail) -> None:
    mid = google.gmail.add_message(
        sender=ANN,
        cc=["carol@example.org"],
        subject="Lunch",
        message_id="<m2@example.org>",
        references="<m0@example.org> <m1@example.org>",
    )

    reply = await gmail.reply_to(mid, "Yes, 1pm works.")

    assert reply == OutgoingMail(
        to=(ANN,),
        subject="Re: Lunch",
        body="Yes, 1pm works.",
        thread_id=mid,
        in_reply_to="<m2@example.org>",
        references="<m0@example.org> <m1@example.org> <m2@example.org>",
    )
    assert google.gmail.sent == []  # built, not sent
    sent = google.gmail.message(await gmail.send(reply))
    assert sent.thread_id == mid
    assert sent["In-Reply-To"] == "<m2@example.org>"
    assert sent["References"] == "<m0@example.org> <m1@example.org> <m2@example.org>"


async def test_reply_all_excludes_me_and_keeps_one_re(google: FakeGoogle, gmail: Gmail) -> None:
    mid = google.gmail.add_message(
        sender="Ann <ann@example.org>",
        reply_to="Team <team@example.org>",
        to=["Me <ME@example.com>", "bob@example.net", "team@example.org"],
        cc=["Carol <carol@example.org>", "ann@example.org"],
        subject="RE: Budget",
        message_id="<b1@example.org>",
    )

    reply = await gmail.reply_to(mid, "Agreed.", reply_all=True)

    assert reply.to == ("Team <team@example.org>",)
    assert reply.cc == ("bob@example.net", "Carol <carol@example.org>", "ann@example.org")
    assert reply.subject == "RE: Budget"
    assert reply.references == "<b1@example.org>"
    plain = await gmail.reply_to(mid, "Agreed.")
    assert plain.cc == ()


async def test_reply_to_my_own_mail_goes_to_its_recipients(
    google: FakeGoogle, gmail: Gmail
) -> None:
    mid = google.gmail.add_message(
        sender="Me <me@example.com>", to="bob@example.net", labels=("SENT",), subject="Ping"
    )

    reply = await gmail.reply_to(mid, "Any news?")

    assert reply.to == ("bob@example.net",)
    assert reply.subject == "Re: Ping"


# --- labels, profile, correspondents ------------------------------------------------------


async def test_mark_read_and_archive_change_labels(google: FakeGoogle, gmail: Gmail) -> None:
    mid = google.gmail.add_message(labels=("INBOX", "STARRED"))

    await gmail.mark_read(mid)
    assert google.gmail.message(mid).labels == {"INBOX", "STARRED"}
    await gmail.archive(mid)
    assert google.gmail.message(mid).labels == {"STARRED"}
    assert await gmail.search() == []


async def test_address_is_asked_once(google: FakeGoogle, gmail: Gmail) -> None:
    google.gmail.address = "ann@example.org"

    assert await gmail.address() == "ann@example.org"
    assert await gmail.address() == "ann@example.org"
    assert google.count("GET", "/profile") == 1


async def test_correspondents_from_sent_mail(google: FakeGoogle, gmail: Gmail) -> None:
    google.gmail.add_message(
        sender="me@example.com", to=["Bob <Bob@Example.net>"], cc=["carol@example.org"],
        labels=("SENT",), unread=False,
    )  # fmt: skip
    google.gmail.add_message(sender="me@example.com", to="dave@example.com", labels=("SENT",))
    google.gmail.add_message(sender="eve@example.org")  # received, not written to

    first = await gmail.correspondents()
    requests = len(google.requests)

    assert first == {"bob@example.net", "carol@example.org", "dave@example.com"}
    assert await gmail.correspondents() == first
    assert len(google.requests) == requests  # cached
    await gmail.send(OutgoingMail(to=("Eve <eve@example.org>",), subject="Hi", body="x"))
    assert "eve@example.org" in await gmail.correspondents()


async def test_correspondents_respects_limit(google: FakeGoogle, gmail: Gmail) -> None:
    for name in ("a", "b", "c"):
        google.gmail.add_message(to=f"{name}@example.org", labels=("SENT",))

    assert await gmail.correspondents(limit=2) == {"b@example.org", "c@example.org"}


# --- errors -------------------------------------------------------------------------------


async def test_unknown_message_is_not_found(gmail: Gmail) -> None:
    with pytest.raises(GoogleError) as caught:
        await gmail.read("0123abcd")
    assert caught.value.code == "google-not-found"
    assert "Gmail" in caught.value.message


async def test_send_retries_after_rate_limit(google: FakeGoogle, gmail: Gmail) -> None:
    google.fail("/messages/send", 429, reason="rateLimitExceeded", retry_after=0.01)

    message_id = await gmail.send(OutgoingMail(to=("bob@example.net",), subject="Hi", body="x"))

    assert google.count("POST", "/messages/send") == 2
    assert [m.id for m in google.gmail.sent] == [message_id]


async def test_send_is_not_retried_on_server_error(google: FakeGoogle, gmail: Gmail) -> None:
    google.fail("/messages/send", 503)

    with pytest.raises(GoogleError) as caught:
        await gmail.send(OutgoingMail(to=("bob@example.net",), subject="Hi", body="x"))

    assert caught.value.code == "google-unavailable"
    assert google.count("POST", "/messages/send") == 1
    assert google.gmail.sent == []


async def test_read_retries_server_errors(google: FakeGoogle, gmail: Gmail) -> None:
    mid = google.gmail.add_message(body="Made it.")
    google.fail(f"/messages/{mid}", 503, times=2)

    message = await gmail.read(mid)

    assert message.body == "Made it."
    assert google.count("GET", f"/messages/{mid}") == 3


async def test_missing_scope_says_what_to_do(
    google: FakeGoogle, connect: Callable[..., Gmail]
) -> None:
    mid = google.gmail.add_message()
    readonly = connect(READONLY)

    with pytest.raises(GoogleError) as caught:
        await readonly.archive(mid)

    assert caught.value.code == "google-scope"
    assert "hark google login" in caught.value.message
    assert google.gmail.message(mid).labels == {"INBOX", "UNREAD"}
