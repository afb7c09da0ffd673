"""POST /v1/audio/transcriptions with real Whisper tiny.en on Piper speech."""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from app.core.types import SAMPLE_RATE
from remote.server.app import create_app
from remote.server.whisper import (
    EngineStatus,
    TranscribeOptions,
    TranscriptionResult,
    WhisperEngine,
)
from tests.fakes.ollama import FakeOllama
from tests.remote.server.harness import AUTH, KEY, encode_audio, make_settings, wav_bytes
from tests.support.clocks import ManualClock
from tests.support.servers import serve
from tests.support.speech import silence, speak_native, words

SENTENCE = "The quick brown fox jumps over the lazy dog."
PATH = "/v1/audio/transcriptions"


@pytest.fixture(scope="module")
def speech_wav() -> bytes:
    """Piper's speech at its own rate (22,050 Hz), as a WAV file."""
    pcm, rate = speak_native(SENTENCE)
    assert rate == 22_050
    return wav_bytes(pcm, rate)


@pytest.fixture
async def client(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> AsyncIterator[httpx.AsyncClient]:
    """The app in this loop (ASGI transport: the network plays no part in these checks)."""
    app = create_app(make_settings(tiny_en_dir, fake.url), engine=shared_engine)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://hark", headers=AUTH) as c:
        yield c


async def _post(
    client: httpx.AsyncClient, data: bytes, content_type: str = "audio/wav", **fields: str
) -> httpx.Response:
    return await client.post(
        PATH, files={"file": ("speech", data, content_type)}, data={"model": "whisper-1", **fields}
    )


def _error_code(response: httpx.Response) -> str:
    body: Any = response.json()
    assert isinstance(body["error"]["message"], str)
    assert body["error"]["message"]
    return str(body["error"]["code"])


# --- response formats -------------------------------------------------------------------------


@pytest.mark.slow
async def test_json(client: httpx.AsyncClient, speech_wav: bytes) -> None:
    resp = await _post(client, speech_wav)
    assert resp.status_code == 200
    assert resp.headers["content-type"] == "application/json"
    assert list(resp.json()) == ["text"]
    assert words(resp.json()["text"]) == words(SENTENCE)


@pytest.mark.slow
async def test_text(client: httpx.AsyncClient, speech_wav: bytes) -> None:
    resp = await _post(client, speech_wav, response_format="text")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/plain")
    assert resp.text.endswith("\n")
    assert words(resp.text) == words(SENTENCE)


@pytest.mark.slow
async def test_verbose_json(
    client: httpx.AsyncClient, speech_wav: bytes, shared_engine: WhisperEngine
) -> None:
    resp = await _post(client, speech_wav, response_format="verbose_json")
    assert resp.status_code == 200
    body = resp.json()
    assert body["task"] == "transcribe"
    assert body["language"] == "en"
    assert body["duration"] == pytest.approx(len(speak_native(SENTENCE)[0]) / 2 / 22_050, abs=0.05)
    assert words(body["text"]) == words(SENTENCE)
    assert body["model"] == shared_engine.status().model
    assert "/" not in body["model"]  # a model folder by its name, never its path
    assert body["requested_model"] == "whisper-1"
    segments = body["segments"]
    assert segments
    assert [s["id"] for s in segments] == list(range(len(segments)))
    assert " ".join(s["text"] for s in segments) == body["text"]
    for seg in segments:
        assert 0 <= seg["start"] < seg["end"] <= body["duration"] + 0.05
        assert seg["tokens"]
        assert 0.0 <= seg["no_speech_prob"] <= 1.0
        assert seg["avg_logprob"] <= 0.0


_SRT_TIME = r"\d\d:\d\d:\d\d,\d\d\d"
_VTT_TIME = r"\d\d:\d\d:\d\d\.\d\d\d"


@pytest.mark.slow
async def test_srt(client: httpx.AsyncClient, speech_wav: bytes) -> None:
    resp = await _post(client, speech_wav, response_format="srt")
    assert resp.status_code == 200
    blocks = resp.text.strip().split("\n\n")
    for number, block in enumerate(blocks, start=1):
        lines = block.split("\n")
        assert lines[0] == str(number)
        assert re.fullmatch(f"{_SRT_TIME} --> {_SRT_TIME}", lines[1])
    text = " ".join(" ".join(b.split("\n")[2:]) for b in blocks)
    assert words(text) == words(SENTENCE)


@pytest.mark.slow
async def test_vtt(client: httpx.AsyncClient, speech_wav: bytes) -> None:
    resp = await _post(client, speech_wav, response_format="vtt")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("text/vtt")
    assert resp.text.startswith("WEBVTT\n\n")
    blocks = resp.text.removeprefix("WEBVTT\n\n").strip().split("\n\n")
    for block in blocks:
        assert re.fullmatch(f"{_VTT_TIME} --> {_VTT_TIME}", block.split("\n")[0])
    text = " ".join(" ".join(b.split("\n")[1:]) for b in blocks)
    assert words(text) == words(SENTENCE)


# --- containers and codecs --------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.parametrize(
    ("container", "codec", "rate", "mime"),
    [
        ("mp3", "libmp3lame", 0, ""),  # no content type at all is fine too
        ("ogg", "libopus", 48_000, "audio/ogg"),
        ("webm", "libopus", 48_000, "video/webm"),  # what browsers record
    ],
)
async def test_compressed_containers_are_decoded(
    client: httpx.AsyncClient, container: str, codec: str, rate: int, mime: str
) -> None:
    pcm, native = speak_native(SENTENCE)
    data = encode_audio(pcm, native, container, codec, rate)
    assert not data.startswith(b"RIFF")
    resp = await _post(client, data, mime)
    assert resp.status_code == 200, resp.text
    assert words(resp.json()["text"]) == words(SENTENCE)


async def test_silence_gives_empty_text(client: httpx.AsyncClient) -> None:
    resp = await _post(client, wav_bytes(silence(2.0), SAMPLE_RATE))
    assert resp.status_code == 200
    assert resp.json() == {"text": ""}


# --- bad input: 4xx with a message, never 500 -------------------------------------------------


async def test_not_audio_is_400_bad_audio(client: httpx.AsyncClient) -> None:
    resp = await _post(client, b"this is plainly not a recording " * 20)
    assert resp.status_code == 400
    assert _error_code(resp) == "bad-audio"
    assert "decode" in resp.json()["error"]["message"]


async def test_empty_file_is_400(client: httpx.AsyncClient) -> None:
    resp = await _post(client, b"")
    assert resp.status_code == 400
    assert _error_code(resp) == "bad-audio"
    assert "empty" in resp.json()["error"]["message"]


async def test_wav_header_without_samples_is_400(client: httpx.AsyncClient) -> None:
    resp = await _post(client, wav_bytes(b"", SAMPLE_RATE))
    assert resp.status_code == 400
    assert _error_code(resp) == "bad-audio"


async def test_garbage_after_a_wav_header_is_not_500(client: httpx.AsyncClient) -> None:
    header = wav_bytes(b"", SAMPLE_RATE)[:36]  # RIFF/fmt but no data chunk
    resp = await _post(client, header + b"\xff\x00junk" * 50)
    assert resp.status_code in (200, 400)
    if resp.status_code == 400:
        assert _error_code(resp) == "bad-audio"


@pytest.mark.slow
async def test_truncated_wav_gives_what_is_there(client: httpx.AsyncClient) -> None:
    pcm, rate = speak_native(SENTENCE)
    whole = wav_bytes(pcm, rate)
    resp = await _post(client, whole[: len(whole) * 2 // 3])  # the header claims more samples
    assert resp.status_code == 200
    heard = words(resp.json()["text"])
    assert heard
    assert heard[:3] == words(SENTENCE)[:3]
    assert "dog" not in heard


async def test_a_text_file_is_415(client: httpx.AsyncClient) -> None:
    resp = await _post(client, b"hello", "text/plain")
    assert resp.status_code == 415
    assert _error_code(resp) == "unsupported-media-type"


async def test_a_json_body_is_415(client: httpx.AsyncClient) -> None:
    resp = await client.post(PATH, json={"file": "speech.wav"})
    assert resp.status_code == 415
    assert _error_code(resp) == "unsupported-media-type"


async def test_missing_file_field_is_400(client: httpx.AsyncClient) -> None:
    resp = await client.post(PATH, files={"model": (None, "whisper-1")})
    assert resp.status_code == 400
    assert _error_code(resp) == "bad-request"
    assert "file" in resp.json()["error"]["message"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("response_format", "docx"), ("temperature", "1.5"), ("temperature", "warm")],
)
async def test_bad_fields_are_400(
    client: httpx.AsyncClient, speech_wav: bytes, field: str, value: str
) -> None:
    resp = await _post(client, speech_wav, **{field: value})
    assert resp.status_code == 400
    assert _error_code(resp) == "bad-request"
    assert field in resp.json()["error"]["message"]


async def test_language_the_model_cannot_do_is_400(
    client: httpx.AsyncClient, speech_wav: bytes
) -> None:
    resp = await _post(client, speech_wav, language="de")
    assert resp.status_code == 400
    assert _error_code(resp) == "bad-request"
    assert "English only" in resp.json()["error"]["message"] or "en only" in resp.text
    assert "/" not in resp.json()["error"]["message"]  # the model by name, not its folder


async def test_audio_longer_than_the_limit_is_413(
    tiny_en_dir: Path, fake: FakeOllama, speech_wav: bytes
) -> None:
    app = create_app(make_settings(tiny_en_dir, fake.url, max_audio_s=1.0))
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://h", headers=AUTH) as c:
        resp = await _post(c, speech_wav)
    assert resp.status_code == 413
    assert _error_code(resp) == "too-large"
    assert "longer" in resp.json()["error"]["message"]


# --- upload size over a real socket -------------------------------------------------------------


@pytest.fixture
def small_server(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> Iterator[str]:
    """Real uvicorn with a 64 KiB body limit."""
    settings = make_settings(tiny_en_dir, fake.url, max_upload_mb=1 / 16)
    with serve(create_app(settings, engine=shared_engine)) as url:
        yield url


def test_too_large_by_content_length_is_413(small_server: str, speech_wav: bytes) -> None:
    assert len(speech_wav) > 64 * 1024
    with httpx.Client(base_url=small_server, headers=AUTH, timeout=10) as c:
        resp = c.post(PATH, files={"file": ("a.wav", speech_wav, "audio/wav")})
        assert resp.status_code == 413
        assert _error_code(resp) == "too-large"
        assert "MiB" in resp.json()["error"]["message"]
        assert c.get("/nope").status_code == 404  # still serving


def test_too_large_without_content_length_is_413(small_server: str, speech_wav: bytes) -> None:
    boundary = "hark-boundary"
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="a.wav"\r\n'
            "Content-Type: audio/wav\r\n\r\n"
        ).encode()
        + speech_wav
        + f"\r\n--{boundary}--\r\n".encode()
    )

    def chunks() -> Iterator[bytes]:  # a generator body is sent chunked, with no length
        for i in range(0, len(body), 8192):
            yield body[i : i + 8192]

    headers = {**AUTH, "Content-Type": f"multipart/form-data; boundary={boundary}"}
    with httpx.Client(base_url=small_server, timeout=10) as c:
        resp = c.post(PATH, content=chunks(), headers=headers)
        assert "content-length" not in resp.request.headers
        assert resp.status_code == 413
        assert _error_code(resp) == "too-large"
        small = c.post(PATH, files={"file": ("a.wav", b"tiny", "audio/wav")}, headers=AUTH)
        assert small.status_code == 400  # the next request is read normally


# --- the queue ---------------------------------------------------------------------------------


class GatedEngine:
    """The real engine behind a gate: a transcription holds its slot until the test opens it."""

    def __init__(self, inner: WhisperEngine) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.entered = threading.Semaphore(0)

    def status(self) -> EngineStatus:
        return self.inner.status()

    async def load(self) -> None:
        await self.inner.load()

    async def transcribe(self, data: bytes, options: TranscribeOptions) -> TranscriptionResult:
        self.entered.release()
        assert await asyncio.to_thread(self.gate.wait, 15), "the test never opened the gate"
        return await self.inner.transcribe(data, options)

    async def unload_if_idle(self, idle_s: float) -> bool:
        return await self.inner.unload_if_idle(idle_s)


def _wait_for_waiting(client: httpx.Client, n: int) -> None:
    """Poll /status until ``n`` transcriptions wait (bounded; each round awaits the server)."""
    for _ in range(200):
        if client.get("/status").json()["queue"]["waiting"] == n:
            return
    raise AssertionError(f"the queue never had {n} waiting")


@pytest.mark.slow
def test_full_queue_answers_503_and_the_queued_ones_finish(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama, speech_wav: bytes
) -> None:
    engine = GatedEngine(shared_engine)
    settings = make_settings(tiny_en_dir, fake.url, whisper_concurrency=1, max_queue=1)
    files = {"file": ("a.wav", speech_wav, "audio/wav")}
    with (
        serve(create_app(settings, engine=engine)) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=30) as c,
        ThreadPoolExecutor(2) as pool,
    ):
        first = pool.submit(c.post, PATH, files=files)
        assert engine.entered.acquire(timeout=10)
        second = pool.submit(c.post, PATH, files=files)
        _wait_for_waiting(c, 1)
        third = c.post(PATH, files=files)
        assert third.status_code == 503
        assert _error_code(third) == "busy"
        assert int(third.headers["Retry-After"]) >= 1
        assert c.get("/status").json()["queue"] == {
            "running": 1,
            "waiting": 1,
            "concurrency": 1,
            "max_queue": 1,
        }
        engine.gate.set()
        for done in (first.result(timeout=30), second.result(timeout=30)):
            assert done.status_code == 200
            assert words(done.json()["text"]) == words(SENTENCE)
        assert c.get("/status").json()["queue"] == {
            "running": 0,
            "waiting": 0,
            "concurrency": 1,
            "max_queue": 1,
        }


@pytest.mark.slow
def test_concurrent_requests_with_real_whisper_are_served_or_told_to_wait(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama, speech_wav: bytes
) -> None:
    settings = make_settings(tiny_en_dir, fake.url, whisper_concurrency=1, max_queue=1)
    files = {"file": ("a.wav", speech_wav, "audio/wav")}
    with (
        serve(create_app(settings, engine=shared_engine)) as url,
        httpx.Client(base_url=url, headers=AUTH, timeout=60) as c,
        ThreadPoolExecutor(4) as pool,
    ):
        results = list(pool.map(lambda _: c.post(PATH, files=files), range(4)))
        statuses = sorted(r.status_code for r in results)
        assert set(statuses) <= {200, 503}, statuses
        assert statuses.count(200) >= 1
        for r in results:
            if r.status_code == 200:
                assert words(r.json()["text"]) == words(SENTENCE)
            else:
                assert _error_code(r) == "busy"
                assert int(r.headers["Retry-After"]) >= 1
        assert c.get("/status").json()["queue"]["waiting"] == 0


# --- idle unload --------------------------------------------------------------------------------


@pytest.mark.slow
async def test_model_unloads_when_idle_and_reloads_on_use(
    tiny_en_dir: Path, fake: FakeOllama, speech_wav: bytes
) -> None:
    clock = ManualClock()
    settings = make_settings(tiny_en_dir, fake.url, whisper_idle_unload_s=60)
    engine = WhisperEngine(settings, clock=clock)
    app = create_app(settings, engine=engine, clock=clock)
    unloader = app.state.hark.unloader
    assert unloader is not None
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://h", headers=AUTH) as c,
    ):
        assert not engine.status().loaded
        first = await _post(c, speech_wav)
        assert words(first.json()["text"]) == words(SENTENCE)
        assert engine.status().loaded
        clock.advance(59)
        assert not await engine.unload_if_idle(60)
        assert engine.status().loaded
        clock.advance(2)
        unloader.wake()
        await asyncio.wait_for(unloader.unloaded.wait(), 10)
        assert unloader.unloads == 1
        assert not engine.status().loaded
        whisper = (await c.get("/status")).json()["whisper"]
        assert whisper["loaded"] is False
        assert whisper["state"] == "unloaded"
        again = await _post(c, speech_wav)
        assert again.status_code == 200
        assert words(again.json()["text"]) == words(SENTENCE)
        assert engine.status().loaded


async def test_a_model_that_cannot_load_is_503_and_unhealthy(
    tmp_path: Path, fake: FakeOllama, speech_wav: bytes
) -> None:
    missing = tmp_path / "no-such-model"
    settings = make_settings(missing, fake.url, whisper_preload=True)
    app = create_app(settings)
    transport = httpx.ASGITransport(app=app)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="http://h", headers=AUTH) as c,
    ):
        resp = await _post(c, speech_wav)
        assert resp.status_code == 503
        assert _error_code(resp) == "whisper-unavailable"
        assert "no-such-model" in resp.json()["error"]["message"]
        health = await c.get("/healthz")
        assert health.status_code == 503
        assert health.json() == {"status": "not-ready", "not_ready": ["whisper"]}


# --- the official OpenAI client -------------------------------------------------------------------


@pytest.mark.slow
def test_openai_client_transcribes_through_the_server(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama, speech_wav: bytes
) -> None:
    settings = make_settings(tiny_en_dir, fake.url)
    with serve(create_app(settings, engine=shared_engine)) as url:
        client = openai.OpenAI(api_key=KEY, base_url=f"{url}/v1", max_retries=0, timeout=30)
        result = client.audio.transcriptions.create(
            model="whisper-1", file=("speech.wav", speech_wav, "audio/wav")
        )
        assert words(result.text) == words(SENTENCE)
        verbose = client.audio.transcriptions.create(
            model="whisper-1",
            file=("speech.wav", speech_wav, "audio/wav"),
            response_format="verbose_json",
            language="en",
        )
        assert verbose.language == "en"
        assert verbose.segments
        assert words(verbose.segments[0].text)[:2] == ["the", "quick"]
        text = client.audio.transcriptions.create(
            model="whisper-1", file=("speech.wav", speech_wav, "audio/wav"), response_format="text"
        )
        assert words(str(text)) == words(SENTENCE)
        wrong = openai.OpenAI(api_key="not-the-key", base_url=f"{url}/v1", max_retries=0)
        with pytest.raises(openai.AuthenticationError) as info:
            wrong.audio.transcriptions.create(
                model="whisper-1", file=("speech.wav", speech_wav, "audio/wav")
            )
        assert info.value.code == "unauthorized"
        client.close()
        wrong.close()


def test_the_body_limit_holds_for_ollama_routes_too(small_server: str, fake: FakeOllama) -> None:
    big = b'{"model": "llama3.2:3b", "prompt": "' + b"x" * 100_000 + b'"}'

    def chunks() -> Iterator[bytes]:
        for i in range(0, len(big), 8192):
            yield big[i : i + 8192]

    headers = {**AUTH, "Content-Type": "application/json"}
    with httpx.Client(base_url=small_server, headers=headers, timeout=10) as c:
        for body in (big, chunks()):
            resp = c.post("/api/generate", content=body)
            assert resp.status_code == 413
            assert _error_code(resp) == "too-large"
    assert "POST /api/generate" not in fake.calls
