"""Contract test: google-api-python-client's own Gmail v1 service must work against FakeGmail.

The client is built from the discovery document it ships (``static_discovery=True``) with the
fake as ``api_endpoint``, so the paths, parameters and bodies here are exactly what Hark sends.
If one of these fails after a client upgrade, the fake has drifted: fix the fake, not the test.
"""

from __future__ import annotations

import base64
import json
import urllib.request
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import httplib2
import pytest
from google.oauth2.credentials import Credentials
from googleapiclient.discovery import build
from googleapiclient.errors import HttpError
from googleapiclient.http import MediaInMemoryUpload

from tests.fakes.google import FakeGoogle

SCOPE = "https://www.googleapis.com/auth/"
MODIFY = SCOPE + "gmail.modify"
READONLY = SCOPE + "gmail.readonly"
SEND = SCOPE + "gmail.send"
COMPOSE = SCOPE + "gmail.compose"


@pytest.fixture
def google() -> Iterator[FakeGoogle]:
    with FakeGoogle() as fake:
        yield fake


def service(google: FakeGoogle, *scopes: str) -> Any:
    creds = Credentials(token=google.oauth.issue_access_token(scopes or [MODIFY]))
    return build(
        "gmail",
        "v1",
        credentials=creds,
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": google.url},
    )


def run(request: Any) -> Any:
    """Execute, then close the client's keep-alive connection so the fake can stop."""
    try:
        return request.execute()
    finally:
        request.http.close()


def raw_mail(to: str = "bob@example.org", subject: str = "Hi", body: str = "Hello") -> str:
    mail = EmailMessage()
    if to:
        mail["To"] = to
    mail["Subject"] = subject
    mail.set_content(body)
    return base64.urlsafe_b64encode(bytes(mail)).decode()


def test_requests_use_gmail_v1_paths(google: FakeGoogle) -> None:
    users = service(google).users()
    run(users.messages().list(userId="me"))
    run(users.getProfile(userId="me"))
    assert google.requests == [
        ("GET", "/gmail/v1/users/me/messages"),
        ("GET", "/gmail/v1/users/me/profile"),
    ]


def test_list_filters_with_q_and_pages(google: FakeGoogle) -> None:
    ids = [google.gmail.add_message(subject=f"Note {i}") for i in range(5)]
    google.gmail.add_message(subject="Read already", unread=False)
    google.gmail.add_message(subject="Old", labels=(), unread=True)  # archived
    users = service(google).users()

    first = run(users.messages().list(userId="me", q="is:unread in:inbox", maxResults=3))
    assert [m["id"] for m in first["messages"]] == ids[::-1][:3]  # newest first
    assert first["resultSizeEstimate"] == 5
    second = run(
        users.messages().list(
            userId="me", q="is:unread in:inbox", maxResults=3, pageToken=first["nextPageToken"]
        )
    )
    assert [m["id"] for m in second["messages"]] == ids[::-1][3:]
    assert "nextPageToken" not in second
    assert all(m["threadId"] == m["id"] for m in second["messages"])

    empty = run(users.messages().list(userId="me", q="subject:nothing-like-this"))
    assert "messages" not in empty
    assert empty["resultSizeEstimate"] == 0


def test_q_operators(google: FakeGoogle) -> None:
    ann = google.gmail.add_message(sender="Ann <ann@example.org>", subject="Budget plan")
    bob = google.gmail.add_message(sender="bob@example.net", subject="Lunch", body="pizza today")
    users = service(google).users()

    def ids(q: str) -> list[str]:
        answer = run(users.messages().list(userId="me", q=q))
        return [m["id"] for m in answer.get("messages", [])]

    assert ids("from:ann@example.org") == [ann]
    assert ids("subject:budget") == [ann]
    assert ids("pizza") == [bob]
    assert ids("-from:ann") == [bob]
    assert ids('subject:"budget plan" is:unread') == [ann]
    assert ids("to:me@example.com in:inbox") == [bob, ann]
    assert ids("in:sent") == []


def test_get_full_metadata_and_raw(google: FakeGoogle) -> None:
    mid = google.gmail.add_message(
        sender="Ann <ann@example.org>",
        subject="Café",
        body="Grüße & more",
        html="<p>Grüße</p>",
        attachments=[("plan.pdf", b"%PDF-1.4", "application/pdf")],
    )
    users = service(google).users()

    full = run(users.messages().get(userId="me", id=mid, format="full"))
    assert full["labelIds"] == ["INBOX", "UNREAD"]
    assert int(full["internalDate"]) > 1_600_000_000_000
    assert full["snippet"] == "Grüße &amp; more"
    payload = full["payload"]
    assert payload["partId"] == ""
    assert payload["mimeType"] == "multipart/mixed"
    alternative, attachment = payload["parts"]
    assert [p["partId"] for p in alternative["parts"]] == ["0.0", "0.1"]
    plain = alternative["parts"][0]
    assert base64.urlsafe_b64decode(plain["body"]["data"]).decode() == "Grüße & more\n"
    assert attachment["filename"] == "plan.pdf"
    assert "attachmentId" in attachment["body"]
    data = run(
        users.messages()
        .attachments()
        .get(userId="me", messageId=mid, id=attachment["body"]["attachmentId"])
    )
    assert base64.urlsafe_b64decode(data["data"]) == b"%PDF-1.4"

    meta = run(
        users.messages().get(
            userId="me", id=mid, format="metadata", metadataHeaders=["From", "Subject"]
        )
    )
    assert meta["payload"]["headers"] == [
        {"name": "From", "value": "Ann <ann@example.org>"},
        {"name": "Subject", "value": "Café"},
    ]
    assert "parts" not in meta["payload"]

    raw = run(users.messages().get(userId="me", id=mid, format="raw"))
    assert b"Subject: =?utf-8?q?Caf=C3=A9?=" in base64.urlsafe_b64decode(raw["raw"])


def test_unknown_message_is_404(google: FakeGoogle) -> None:
    with pytest.raises(HttpError) as caught:
        run(service(google).users().messages().get(userId="me", id="deadbeef"))
    assert caught.value.resp.status == 404
    assert json.loads(caught.value.content)["error"]["errors"][0]["reason"] == "notFound"


def test_send_stores_in_sent_and_keeps_a_thread(google: FakeGoogle) -> None:
    original = google.gmail.add_message(subject="Plans")
    users = service(google, SEND, READONLY).users()

    sent = run(users.messages().send(userId="me", body={"raw": raw_mail(subject="Re: Plans")}))
    assert sent["labelIds"] == ["SENT"]
    assert sent["threadId"] == sent["id"]
    threaded = run(
        users.messages().send(
            userId="me", body={"raw": raw_mail(subject="Re: Plans"), "threadId": original}
        )
    )
    assert threaded["threadId"] == original
    other = run(
        users.messages().send(
            userId="me", body={"raw": raw_mail(subject="Other"), "threadId": original}
        )
    )
    assert other["threadId"] == other["id"]  # Gmail threads only matching subjects

    mail = google.gmail.sent[0]
    assert mail["To"] == "bob@example.org"
    assert mail["From"] == "me@example.com"
    assert mail["Message-ID"].startswith("<")
    assert mail.text == "Hello\n"
    thread = run(users.threads().get(userId="me", id=original))
    assert [m["id"] for m in thread["messages"]] == [original, threaded["id"]]
    listed = run(users.messages().list(userId="me", q="in:sent"))
    assert {m["id"] for m in listed["messages"]} == {sent["id"], threaded["id"], other["id"]}


def test_send_without_recipient_is_invalid(google: FakeGoogle) -> None:
    with pytest.raises(HttpError) as caught:
        run(service(google).users().messages().send(userId="me", body={"raw": raw_mail(to="")}))
    assert caught.value.resp.status == 400
    assert "invalidArgument" in caught.value.content.decode()
    assert google.gmail.sent == []


@pytest.mark.parametrize("kind", ["send", "draft"])
def test_media_uploads_are_accepted(google: FakeGoogle, kind: str) -> None:
    """The client's media-upload forms. It builds their URL with https even under an http
    endpoint, so the test replays the exact request it built over http."""
    users = service(google).users()
    original = google.gmail.add_message(subject="Uploaded")
    media = MediaInMemoryUpload(
        base64.urlsafe_b64decode(raw_mail(subject="Re: Uploaded")), mimetype="message/rfc822"
    )
    if kind == "send":
        built = users.messages().send(userId="me", body={"threadId": original}, media_body=media)
    else:
        built = users.drafts().create(
            userId="me", body={"message": {"threadId": original}}, media_body=media
        )
    assert "uploadType=multipart" in built.uri
    request = urllib.request.Request(
        built.uri.replace("https://", "http://"),
        data=built.body,
        headers={**built.headers, "authorization": "Bearer " + built.http.credentials.token},
        method=built.method,
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        reply = json.loads(answer.read())
    stored = google.gmail.sent if kind == "send" else google.gmail.drafts
    assert [m.id for m in stored] == [reply.get("message", reply)["id"]]
    assert stored[0].thread_id == original
    assert stored[0]["Subject"] == "Re: Uploaded"
    assert stored[0].text == "Hello\n"


def test_drafts_create_list_and_send(google: FakeGoogle) -> None:
    users = service(google, COMPOSE).users()
    draft = run(users.drafts().create(userId="me", body={"message": {"raw": raw_mail()}}))
    assert draft["id"].startswith("r")
    assert draft["message"]["labelIds"] == ["DRAFT"]
    assert [d["id"] for d in run(users.drafts().list(userId="me"))["drafts"]] == [draft["id"]]
    assert google.gmail.drafts[0]["Subject"] == "Hi"
    assert google.gmail.sent == []

    run(users.drafts().send(userId="me", body={"id": draft["id"]}))
    assert google.gmail.drafts == []
    assert google.gmail.sent[0]["Subject"] == "Hi"


def test_modify_changes_labels(google: FakeGoogle) -> None:
    mid = google.gmail.add_message()
    users = service(google).users()
    answer = run(
        users.messages().modify(userId="me", id=mid, body={"removeLabelIds": ["UNREAD", "INBOX"]})
    )
    assert answer["labelIds"] == []
    assert google.gmail.message(mid).labels == set()
    run(users.messages().modify(userId="me", id=mid, body={"addLabelIds": ["STARRED"]}))
    assert google.gmail.message(mid).labels == {"STARRED"}
    with pytest.raises(HttpError) as caught:
        run(users.messages().modify(userId="me", id=mid, body={"addLabelIds": ["NOPE"]}))
    assert caught.value.resp.status == 400


def test_profile(google: FakeGoogle) -> None:
    google.gmail.add_message()
    profile = run(service(google, COMPOSE).users().getProfile(userId="me"))
    assert profile["emailAddress"] == "me@example.com"
    assert profile["messagesTotal"] == 1


def test_invalid_token_is_401(google: FakeGoogle) -> None:
    users = build(
        "gmail",
        "v1",
        http=httplib2.Http(timeout=10),
        static_discovery=True,
        cache_discovery=False,
        client_options={"api_endpoint": google.url},
    ).users()
    request = users.messages().list(userId="me")
    request.headers["authorization"] = "Bearer ya29.not-issued"
    with pytest.raises(HttpError) as caught:
        run(request)
    assert caught.value.resp.status == 401
    assert json.loads(caught.value.content)["error"]["status"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("scope", "call"),
    [
        (SEND, lambda u: u.messages().list(userId="me", q="is:unread")),
        (READONLY, lambda u: u.messages().send(userId="me", body={"raw": raw_mail()})),
        (READONLY, lambda u: u.messages().modify(userId="me", id="1", body={})),
        (SEND, lambda u: u.drafts().create(userId="me", body={"message": {"raw": raw_mail()}})),
        (COMPOSE, lambda u: u.messages().get(userId="me", id="1", format="full")),
    ],
)
def test_missing_scope_is_403(google: FakeGoogle, scope: str, call: Any) -> None:
    with pytest.raises(HttpError) as caught:
        run(call(service(google, scope).users()))
    assert caught.value.resp.status == 403
    assert json.loads(caught.value.content)["error"]["errors"][0]["reason"] == (
        "insufficientPermissions"
    )
    assert google.gmail.sent == []
    assert google.gmail.drafts == []
