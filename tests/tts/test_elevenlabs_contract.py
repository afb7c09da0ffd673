"""Contract: the official ``elevenlabs`` SDK and the fake server agree on the wire protocol.

If ElevenLabs' SDK changes what it sends (path, query, headers, JSON) or how it reads answers
(streaming, error bodies, headers), these tests fail before the fake can mislead other tests.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from contextlib import closing
from typing import cast

import httpx
import pytest
from elevenlabs.client import ElevenLabs
from elevenlabs.core.api_error import ApiError

from tests.fakes.elevenlabs import (
    DEFAULT_KEY,
    INVALID_KEY_BODY,
    QUOTA_BODY,
    RATE_LIMIT_BODY,
    FakeElevenLabs,
)

VOICE = "21m00Tcm4TlvDq8ikWAM"
MODEL = "eleven_flash_v2_5"
TEXT = "Hello from the contract test."


@pytest.fixture
def fake() -> Iterator[FakeElevenLabs]:
    with FakeElevenLabs() as server:
        yield server


@pytest.fixture
def http() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10) as client:
        yield client


@pytest.fixture
def client(fake: FakeElevenLabs, http: httpx.Client) -> ElevenLabs:
    return ElevenLabs(api_key=DEFAULT_KEY, base_url=fake.url, timeout=10, httpx_client=http)


def test_stream_request_matches_the_fake(fake: FakeElevenLabs, client: ElevenLabs) -> None:
    audio = b"".join(
        client.text_to_speech.stream(VOICE, text=TEXT, model_id=MODEL, output_format="pcm_22050")
    )

    assert audio == fake.pcm_for(TEXT, "pcm_22050")
    (req,) = fake.requests
    assert req.method == "POST"
    assert req.path == f"/v1/text-to-speech/{VOICE}/stream"
    assert req.voice_id == VOICE
    assert req.query == {"output_format": "pcm_22050"}
    assert req.key_valid
    assert req.headers["xi-api-key"] == "<redacted>"
    assert req.headers["content-type"] == "application/json"
    assert req.body == {"text": TEXT, "model_id": MODEL}
    assert req.status == 200
    assert req.completed


def test_non_streaming_convert_gets_the_same_audio(
    fake: FakeElevenLabs, client: ElevenLabs
) -> None:
    audio = b"".join(
        client.text_to_speech.convert(VOICE, text=TEXT, model_id=MODEL, output_format="pcm_16000")
    )
    assert audio == fake.pcm_for(TEXT, "pcm_16000")
    assert fake.requests[0].path == f"/v1/text-to-speech/{VOICE}"


def test_sdk_yields_the_first_chunk_before_the_fake_sends_the_rest(
    fake: FakeElevenLabs, client: ElevenLabs
) -> None:
    resume = fake.hold_after_first_chunk()
    text = "A longer sentence, so that the answer needs several chunks to arrive."
    expected = fake.pcm_for(text, "pcm_16000")
    assert len(expected) > 3 * fake.chunk_bytes

    stream = client.text_to_speech.stream(
        VOICE, text=text, model_id=MODEL, output_format="pcm_16000"
    )
    with closing(cast(Generator[bytes, None, None], stream)) as chunks:
        first = next(chunks)
        assert len(first) == 1024  # the SDK re-chunks to 1 KiB
        assert fake.requests[0].bytes_sent == fake.chunk_bytes
        assert not fake.requests[0].completed
        resume.set()
        rest = b"".join(chunks)

    assert first + rest == expected
    assert fake.requests[0].completed


def test_wrong_key_is_a_401_api_error(fake: FakeElevenLabs, http: httpx.Client) -> None:
    client = ElevenLabs(api_key="not-the-key", base_url=fake.url, httpx_client=http)
    with pytest.raises(ApiError) as info:
        b"".join(client.text_to_speech.stream(VOICE, text=TEXT, output_format="pcm_16000"))
    assert info.value.status_code == 401
    assert info.value.body == INVALID_KEY_BODY
    assert not fake.requests[0].key_valid


def test_rate_limit_is_a_429_with_retry_after(fake: FakeElevenLabs, client: ElevenLabs) -> None:
    fake.fail_next(429, headers={"Retry-After": "7"})
    with pytest.raises(ApiError) as info:
        b"".join(client.text_to_speech.stream(VOICE, text=TEXT, output_format="pcm_16000"))
    assert info.value.status_code == 429
    assert info.value.body == RATE_LIMIT_BODY
    assert info.value.headers is not None
    assert info.value.headers["retry-after"] == "7"
    # The failure was used up: the next request succeeds.
    audio = b"".join(client.text_to_speech.stream(VOICE, text=TEXT, output_format="pcm_16000"))
    assert audio == fake.pcm_for(TEXT)


def test_quota_exceeded_body_reaches_the_sdk(fake: FakeElevenLabs, client: ElevenLabs) -> None:
    fake.quota_exceeded_next(401)
    with pytest.raises(ApiError) as info:
        b"".join(client.text_to_speech.stream(VOICE, text=TEXT, output_format="pcm_16000"))
    assert info.value.status_code == 401
    assert info.value.body == QUOTA_BODY


def test_missing_output_format_is_a_422_from_the_fake(
    fake: FakeElevenLabs, client: ElevenLabs
) -> None:
    # Without output_format the service would answer MP3; the fake refuses instead.
    with pytest.raises(ApiError) as info:
        b"".join(client.text_to_speech.stream(VOICE, text=TEXT, model_id=MODEL))
    assert info.value.status_code == 422
    assert info.value.body["detail"][0]["loc"] == ["query", "output_format"]
    assert "output_format" not in fake.requests[0].query
