"""ElevenLabsVoice over the WebSocket input API, against the fake ElevenLabs: the messages it
sends, one connection per reply, every failure as a coded error, the switch to HTTP when the
upgrade is refused, and the fallback chain behind it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Literal

import pytest

from app.core.ports import StreamingSynthesizer
from app.settings.schema import ElevenLabsSettings
from app.shared.errors import TtsCode, TtsError
from app.tts.elevenlabs import ElevenLabsVoice
from app.tts.elevenlabs_ws import CHUNK_LENGTH_SCHEDULE, stream_input_url
from app.tts.fallback import FallbackVoice
from app.tts.piper import PiperLocalVoice
from tests.fakes.elevenlabs import DEFAULT_KEY, FakeElevenLabs
from tests.support.notices import Notices
from tests.support.servers import closed_port

TEXT = "Your next meeting is at three."
REPLY = [
    "Sure",
    ". Your next ",
    "meet",
    "ing is at three",
    ", in the blue room. ",
    "Anything?",
]
SENTENCES = ["Sure.", "Your next meeting is at three, in the blue room.", "Anything?"]


def _voice(
    voices: list[ElevenLabsVoice],
    fake: FakeElevenLabs,
    key: str | None = DEFAULT_KEY,
    transport: Literal["websocket", "http"] = "websocket",
) -> ElevenLabsVoice:
    settings = ElevenLabsSettings(
        base_url=fake.url, voice_id="voice-abc", model_id="model-xyz", transport=transport
    )
    voice = ElevenLabsVoice(settings, key, timeout_s=5.0)
    voices.append(voice)
    return voice


async def _pieces(parts: list[str], gate: asyncio.Event | None = None) -> AsyncIterator[str]:
    for index, part in enumerate(parts):
        if index == 1 and gate is not None:
            await gate.wait()
        yield part


async def _collect(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


async def test_a_sentence_goes_over_the_websocket_with_flush_and_close(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    voice = _voice(voices, fake_elevenlabs)
    assert voice.transport == "websocket"

    audio = await _collect(voice.synthesize(TEXT))

    assert audio == fake_elevenlabs.pcm_for(TEXT)
    (req,) = fake_elevenlabs.requests
    assert req.method == "WEBSOCKET"
    assert req.path == "/v1/text-to-speech/voice-abc/stream-input"
    assert req.query["model_id"] == "model-xyz"
    assert req.query["output_format"] == "pcm_16000"
    assert req.headers["xi-api-key"] == "<redacted>"
    assert req.body[0] == {
        "text": " ",
        "generation_config": {"chunk_length_schedule": list(CHUNK_LENGTH_SCHEDULE)},
    }
    assert req.body[-2:] == [{"text": "three. ", "flush": True}, {"text": ""}]
    assert "".join(m["text"] for m in req.body[1:]) == TEXT + " "
    assert req.spoken == [TEXT]
    assert req.completed


async def test_a_whole_reply_streams_over_one_connection_flushed_per_sentence(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    voice = _voice(voices, fake_elevenlabs)
    assert isinstance(voice, StreamingSynthesizer)

    audio = await _collect(voice.synthesize_stream(_pieces(REPLY)))

    (req,) = fake_elevenlabs.requests  # one connection for the whole reply
    assert req.spoken == SENTENCES
    assert audio == b"".join(fake_elevenlabs.pcm_for(s) for s in SENTENCES)
    flushed = [m["text"] for m in req.body if m.get("flush")]
    assert flushed == ["Sure. ", "three, in the blue room. ", "Anything? "]
    assert all(m["text"].endswith(" ") for m in req.body[1:-1])  # whole words only


async def test_a_first_clause_is_flushed_at_once_and_later_commas_are_not(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    voice = _voice(voices, fake_elevenlabs)
    pieces = ["Your first meeting is with Sam, ", "at nine, in the blue room. ", "Fine, thanks."]
    await _collect(voice.synthesize_stream(_pieces(pieces)))
    (req,) = fake_elevenlabs.requests
    flushed = [m["text"] for m in req.body if m.get("flush")]
    assert flushed[0].endswith("Sam, ")  # the speaker's first clause: voiced without waiting
    assert not any(text.endswith(", ") for text in flushed[1:])


async def test_audio_starts_before_the_reply_has_ended(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    voice = _voice(voices, fake_elevenlabs)
    gate = asyncio.Event()  # the "model" writes nothing after its first sentence until set
    chunks = voice.synthesize_stream(_pieces(["Sure. ", "And more text here."], gate))
    first = await anext(chunks)
    assert fake_elevenlabs.pcm_for("Sure.").startswith(first)
    assert not gate.is_set()
    gate.set()
    rest = b"".join([c async for c in chunks])
    assert first + rest == b"".join(
        fake_elevenlabs.pcm_for(s) for s in ("Sure.", "And more text here.")
    )


@pytest.mark.parametrize(
    ("script", "code", "words"),
    [
        ("bad-key", TtsCode.ELEVENLABS_AUTH, "rejected the API key"),
        ("quota", TtsCode.ELEVENLABS_AUTH, "quota"),
        ("429", TtsCode.ELEVENLABS_RATE_LIMITED, "rate limiting"),
        ("500", TtsCode.ELEVENLABS_SERVER, "server error"),
    ],
)
async def test_refusals_are_coded_errors(
    fake_elevenlabs: FakeElevenLabs,
    voices: list[ElevenLabsVoice],
    script: str,
    code: TtsCode,
    words: str,
) -> None:
    key = "not-the-key" if script == "bad-key" else DEFAULT_KEY
    if script == "quota":
        fake_elevenlabs.quota_exceeded_next()
    elif script.isdigit():
        fake_elevenlabs.fail_next(int(script))
    voice = _voice(voices, fake_elevenlabs, key)
    with pytest.raises(TtsError) as info:
        await _collect(voice.synthesize(TEXT))
    assert info.value.code == code
    assert words in info.value.message
    assert "not-the-key" not in info.value.message
    assert voice.transport == "websocket"  # a refusal of the request, not of WebSockets


async def test_a_connection_cut_mid_reply_is_tts_elevenlabs_cut(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    fake_elevenlabs.chunk_bytes = 1024
    fake_elevenlabs.drop_after_first_chunk()
    voice = _voice(voices, fake_elevenlabs)
    got: list[bytes] = []

    async def listen() -> None:
        async for chunk in voice.synthesize(TEXT):
            got.append(chunk)

    with pytest.raises(TtsError) as info:
        await listen()
    assert info.value.code == TtsCode.ELEVENLABS_CUT
    assert "middle of the reply" in info.value.message
    assert b"".join(got) == fake_elevenlabs.pcm_for(TEXT)[:1024]


async def test_unreachable_is_a_coded_error(voices: list[ElevenLabsVoice]) -> None:
    with closed_port() as port:
        settings = ElevenLabsSettings(base_url=f"http://127.0.0.1:{port}")
        voice = ElevenLabsVoice(settings, DEFAULT_KEY, timeout_s=5.0)
        voices.append(voice)
        with pytest.raises(TtsError) as info:
            await _collect(voice.synthesize(TEXT))
    assert info.value.code == TtsCode.ELEVENLABS_UNREACHABLE
    assert f"127.0.0.1:{port}" in info.value.message


async def test_a_refused_upgrade_switches_the_voice_to_http(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    fake_elevenlabs.refuse_websocket_next(404)
    voice = _voice(voices, fake_elevenlabs)

    first = await _collect(voice.synthesize(TEXT))
    reply = await _collect(voice.synthesize_stream(_pieces(REPLY)))

    assert first == fake_elevenlabs.pcm_for(TEXT)
    assert reply == b"".join(fake_elevenlabs.pcm_for(s) for s in SENTENCES)
    assert voice.transport == "http"
    methods = [(r.method, r.status) for r in fake_elevenlabs.requests]
    assert methods == [("WEBSOCKET", 404)] + [("POST", 200)] * 4
    assert [r.body["text"] for r in fake_elevenlabs.requests[1:]] == [TEXT, *SENTENCES]


async def test_the_http_setting_never_opens_a_websocket(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    settings = ElevenLabsSettings(base_url=fake_elevenlabs.url, transport="http")
    voice = ElevenLabsVoice(settings, DEFAULT_KEY)
    voices.append(voice)
    reply = await _collect(voice.synthesize_stream(_pieces(REPLY)))
    assert reply == b"".join(fake_elevenlabs.pcm_for(s) for s in SENTENCES)
    assert {r.method for r in fake_elevenlabs.requests} == {"POST"}


async def test_closing_the_stream_early_ends_the_connection(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    resume = fake_elevenlabs.hold_after_first_chunk()
    fake_elevenlabs.chunk_bytes = 1024
    voice = _voice(voices, fake_elevenlabs)
    never = asyncio.Event()  # the model is still writing when the user barges in
    chunks = voice.synthesize_stream(_pieces(["Sure. ", "And then some more."], never))
    assert await anext(chunks)
    await chunks.aclose()  # barge-in: hangs up without waiting for a closing handshake
    resume.set()
    (req,) = fake_elevenlabs.requests
    assert await asyncio.to_thread(req.done.wait, 5)  # the fake saw the connection go
    assert not req.completed  # no end of input was ever sent
    assert req.spoken == ["Sure."]


async def test_fallback_speaks_the_whole_reply_when_the_websocket_fails_first(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    local = _voice(voices, fake_elevenlabs, transport="http")  # a local voice with known audio
    notices = Notices()
    voice = FallbackVoice(_voice(voices, fake_elevenlabs, "revoked"), local, notices)

    reply = await _collect(voice.synthesize_stream(_pieces(REPLY)))

    assert reply == b"".join(fake_elevenlabs.pcm_for(s) for s in SENTENCES)
    assert [c for c, _ in notices.got] == [TtsCode.ELEVENLABS_AUTH]
    assert [r.method for r in fake_elevenlabs.requests] == ["WEBSOCKET"] + ["POST"] * 3


async def test_fallback_speaks_the_rest_when_the_websocket_is_cut_mid_reply(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice]
) -> None:
    local = _voice(voices, fake_elevenlabs, transport="http")
    failed = asyncio.Event()
    voice = FallbackVoice(_voice(voices, fake_elevenlabs), local, lambda code, msg: failed.set())
    fake_elevenlabs.chunk_bytes = 1024
    fake_elevenlabs.drop_after_first_chunk()
    gate = asyncio.Event()
    chunks = voice.synthesize_stream(_pieces(["Sure. ", "Anything else?"], gate))

    first = await anext(chunks)  # the first sentence's first chunk, then the cut
    pending = asyncio.ensure_future(anext(chunks))
    await asyncio.wait_for(failed.wait(), 5)  # the fallback is told before more text comes
    gate.set()
    rest = await pending + b"".join([c async for c in chunks])

    assert first == fake_elevenlabs.pcm_for("Sure.")[:1024]
    assert rest == fake_elevenlabs.pcm_for("Anything else?")  # over HTTP, never twice
    assert voice.last_error is not None
    assert voice.last_error.code == TtsCode.ELEVENLABS_CUT
    assert [r.method for r in fake_elevenlabs.requests] == ["WEBSOCKET", "POST"]


def test_flash_and_the_websocket_are_the_defaults_and_a_chosen_model_is_kept() -> None:
    default = ElevenLabsSettings()
    assert default.model_id == "eleven_flash_v2_5"
    assert default.transport == "websocket"
    assert stream_input_url(default).startswith(
        "wss://api.elevenlabs.io/v1/text-to-speech/21m00Tcm4TlvDq8ikWAM/stream-input?"
    )
    chosen = ElevenLabsSettings.model_validate(
        {"model_id": "eleven_multilingual_v2", "base_url": "http://127.0.0.1:9/proxy"}
    )
    url = stream_input_url(chosen)
    assert url.startswith("ws://127.0.0.1:9/proxy/v1/text-to-speech/")
    assert "model_id=eleven_multilingual_v2" in url


@pytest.mark.parametrize("failure", ["unreachable", "quota"])
async def test_piper_speaks_when_the_websocket_voice_cannot(
    fake_elevenlabs: FakeElevenLabs, voices: list[ElevenLabsVoice], failure: str
) -> None:
    notices = Notices()
    if failure == "quota":
        fake_elevenlabs.quota_exceeded_next()
        primary = _voice(voices, fake_elevenlabs)
        voice = FallbackVoice(primary, PiperLocalVoice(), notices)
        audio = await _collect(voice.synthesize(TEXT))
    else:
        with closed_port() as port:
            settings = ElevenLabsSettings(base_url=f"http://127.0.0.1:{port}")
            primary = ElevenLabsVoice(settings, DEFAULT_KEY, timeout_s=5.0)
            voices.append(primary)
            voice = FallbackVoice(primary, PiperLocalVoice(), notices)
            audio = await _collect(voice.synthesize_stream(_pieces(REPLY)))
    assert len(audio) > 16000  # at least half a second of Piper's speech, at 16 kHz
    expected = TtsCode.ELEVENLABS_AUTH if failure == "quota" else TtsCode.ELEVENLABS_UNREACHABLE
    assert [code for code, _ in notices.got] == [expected]
    assert "piper" in notices.got[0][1]
    assert voice.name == "elevenlabs→piper"
