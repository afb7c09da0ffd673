"""Contract: the official SDK's WebSocket helper (``text_to_speech.convert_realtime``) against
the fake's WebSocket input API, so the fake cannot drift from what the SDK sends and expects.

The helper always speaks ``wss``, so the fake serves TLS here with a certificate made on the
spot, trusted through ``SSL_CERT_FILE`` (which the default SSL context reads).
"""

from __future__ import annotations

import base64
import json
import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.fakes.elevenlabs import DEFAULT_KEY, FakeElevenLabs
from tests.support.tls import self_signed

pytestmark = pytest.mark.filterwarnings(
    "ignore:ConnectionClosed.code is deprecated:DeprecationWarning"  # inside the SDK
)

VOICE = "21m00Tcm4TlvDq8ikWAM"
MODEL = "eleven_flash_v2_5"
WORDS = ["Your ", "next ", "meeting ", "is ", "at ", "three, ", "in ", "the ", "blue ", "room, "]
WORDS += ["with ", "Sam ", "and ", "Alex. ", "Bring ", "the ", "slides."]


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeElevenLabs]:
    cert, key = self_signed("fake-elevenlabs", ip="127.0.0.1").write(tmp_path, "fake")
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    with FakeElevenLabs(ssl_context=context) as server:
        yield server


def _client(fake: FakeElevenLabs, key: str = DEFAULT_KEY) -> ElevenLabs:
    return ElevenLabs(api_key=key, base_url=fake.url)


def test_convert_realtime_streams_text_in_and_pcm_out(fake: FakeElevenLabs) -> None:
    audio = b"".join(
        _client(fake).text_to_speech.convert_realtime(
            VOICE, text=iter(WORDS), model_id=MODEL, output_format="pcm_16000"
        )
    )

    (req,) = fake.requests
    assert req.method == "WEBSOCKET"
    assert req.path == f"/v1/text-to-speech/{VOICE}/stream-input"
    assert req.query == {"model_id": MODEL, "output_format": "pcm_16000"}
    assert req.headers["xi-api-key"] == "<redacted>"
    assert req.key_valid
    first = req.body[0]
    assert first["text"] == " "
    assert first["generation_config"] == {"chunk_length_schedule": [50]}
    assert req.body[-1] == {"text": ""}
    assert all(m.get("try_trigger_generation") for m in req.body[1:-1])
    # The SDK's schedule of 50 characters makes the fake start on audio before the end.
    assert len(req.spoken) >= 2
    assert " ".join(req.spoken) == "".join(WORDS).strip()
    assert audio == b"".join(fake.pcm_for(s) for s in req.spoken)
    assert req.completed


def _reported(body: object, message: str, kind: str) -> bool:
    """What the SDK reports of an error close: the service's error message when it read it
    before the close, or the close's reason when the close met it still sending its text (a
    race of the client's own, which Hark's client handles both ways)."""
    if isinstance(body, dict):
        return body == {"message": message, "error": kind, "code": 1008}
    return body == message


def test_a_wrong_key_closes_with_1008_and_the_error_message(fake: FakeElevenLabs) -> None:
    with pytest.raises(ApiError) as info:
        b"".join(
            _client(fake, "not-the-key").text_to_speech.convert_realtime(
                VOICE, text=iter(["Hello there."]), output_format="pcm_16000"
            )
        )
    assert info.value.status_code == 1008
    assert _reported(info.value.body, "Invalid API key", "invalid_api_key"), info.value.body
    assert not fake.requests[0].key_valid


def test_a_used_up_quota_closes_with_1008(fake: FakeElevenLabs) -> None:
    fake.quota_exceeded_next()
    with pytest.raises(ApiError) as info:
        b"".join(
            _client(fake).text_to_speech.convert_realtime(
                VOICE, text=iter(["Hello there."]), output_format="pcm_16000"
            )
        )
    assert info.value.status_code == 1008
    body = info.value.body
    assert (isinstance(body, dict) and body["error"] == "quota_exceeded") or (
        isinstance(body, str) and "quota" in body.lower()
    ), body


def test_a_refused_upgrade_is_the_http_status(fake: FakeElevenLabs) -> None:
    fake.websocket_enabled = False
    with pytest.raises(InvalidStatus) as info:
        b"".join(
            _client(fake).text_to_speech.convert_realtime(
                VOICE, text=iter(["Hello there."]), output_format="pcm_16000"
            )
        )
    assert info.value.response.status_code == 404


def test_the_key_may_come_in_the_first_message_instead_of_the_header(
    fake: FakeElevenLabs,
) -> None:
    url = fake.url.replace("https", "wss") + f"/v1/text-to-speech/{VOICE}/stream-input"
    with connect(url + "?output_format=pcm_16000") as ws:
        ws.send(json.dumps({"text": " ", "xi_api_key": DEFAULT_KEY}))
        ws.send(json.dumps({"text": "Hello there. ", "flush": True}))
        ws.send(json.dumps({"text": ""}))
        messages = [json.loads(m) for m in ws]
    assert messages[-1] == {"isFinal": True}
    audio = b"".join(base64.b64decode(m["audio"]) for m in messages[:-1])
    assert audio == fake.pcm_for("Hello there.")
    assert fake.requests[0].body[0]["xi_api_key"] == "<redacted>"
