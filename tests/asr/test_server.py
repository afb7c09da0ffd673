"""Hark against the real Hark server: real uvicorn, real TLS with a pinned self-signed
certificate, real faster-whisper (tiny.en) on Piper speech, the fake Ollama upstream.

Covers the transcriber (``RemoteWhisper``), its fallback to this computer, ``hark ask`` end to
end through the server (speech to the server's Whisper, the reply from the Ollama behind it)
and ``hark doctor``'s server check.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from app.asr.fallback import FallbackTranscriber
from app.asr.local import LocalWhisper
from app.asr.server import RemoteWhisper
from app.cli.main import main
from app.doctor.llm_server import check_remote
from app.settings.schema import AsrSettings, RemoteSettings, Settings
from app.settings.secrets import SecretStore
from app.shared.errors import AsrError
from app.shared.tls import pinned_ssl_context
from remote.server.app import create_app
from remote.server.settings import ServerSettings
from tests.fakes.ollama import FakeOllama
from tests.support.clocks import Sleeps
from tests.support.notices import Notices
from tests.support.servers import closed_port, serve
from tests.support.speech import (
    WHISPER_THREADS,
    silence,
    speak_16k,
    speech_clip,
    tiny_settings,
    words,
    write_wav,
)
from tests.support.tls import CertPair, self_signed

KEY = "hark-test-server-key-0123456789"
MODEL = "llama3.1:8b"


@dataclass(frozen=True)
class HarkServer:
    url: str
    pin: Path
    state_file: Path
    ollama: FakeOllama


@pytest.fixture(scope="module")
def server(
    server_cert: CertPair, tiny_en_dir: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HarkServer]:
    """The real server app (one per module: Whisper loads once), upstream the fake Ollama."""
    tmp = tmp_path_factory.mktemp("hark-server")
    crt, key = server_cert.write(tmp, "tls")
    state_file = tmp / "state.json"
    with FakeOllama(models=[MODEL]) as ollama:
        settings = ServerSettings(
            api_keys=[KEY],
            ollama_url=ollama.url,
            whisper_model=str(tiny_en_dir),
            whisper_device="cpu",
            whisper_cpu_threads=WHISPER_THREADS,
            whisper_concurrency=1,
            max_queue=0,  # a second transcription at once is answered 503 busy
            rate_limit_per_minute=0,
            state_file=state_file,
            access_log=False,
        )
        with serve(create_app(settings), crt, key) as url:
            yield HarkServer(url, crt, state_file, ollama)


def remote_whisper(
    server: HarkServer,
    *,
    key: str | None = KEY,
    pin: Path | None = None,
    sleep: Sleeps | None = None,
    notices: Notices | None = None,
    **remote: object,
) -> RemoteWhisper:
    settings = RemoteSettings.model_validate(
        {"url": server.url, "ca_cert": pin or server.pin, "timeout_s": 30, **remote}
    )
    return RemoteWhisper(
        settings, AsrSettings(language="en"), key, sleep=sleep or Sleeps(), on_notice=notices
    )


@pytest.mark.slow
async def test_the_server_transcribes_speech_through_the_pinned_tls(server: HarkServer) -> None:
    clip = speech_clip("Turn on the kitchen lights.", lead_silence_s=0.3, trail_silence_s=0.3)
    asr = remote_whisper(server)
    result = await asr.transcribe(clip.pcm, 16_000)
    quiet = await asr.transcribe(silence(1.5), 16_000)
    await asr.aclose()
    assert {"turn", "kitchen", "lights"} <= set(words(result.text))
    assert result.language == "en"
    assert result.audio_s == pytest.approx(clip.duration_s)
    assert result.no_speech_prob is not None
    assert result.no_speech_prob < 0.5
    assert quiet.text == ""


async def test_a_certificate_other_than_the_pin_is_refused(
    server: HarkServer, tmp_path: Path
) -> None:
    other = tmp_path / "other.pem"
    other.write_text(self_signed("hark-server", dns="hark-server.invalid").cert_pem, "ascii")
    sleeps = Sleeps()
    asr = remote_whisper(server, pin=other, sleep=sleeps)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speak_16k("Hello."), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-unreachable"
    assert "TLS" in info.value.message
    assert str(other) in info.value.message
    assert sleeps.waits == []


async def test_a_wrong_key_is_an_auth_error(server: HarkServer) -> None:
    sleeps = Sleeps()
    asr = remote_whisper(server, key="not-the-key-at-all-000000", sleep=sleeps)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speak_16k("Hello."), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-auth"
    assert "hark secret set server-api-key" in info.value.message
    assert "not-the-key" not in info.value.message
    assert sleeps.waits == []


async def _wait_until_transcribing(server: HarkServer) -> None:
    """Poll the server's own ``/status`` until a transcription holds its only slot."""
    ctx = pinned_ssl_context(server.pin.read_text("ascii"))
    deadline = time.monotonic() + 20
    async with httpx.AsyncClient(verify=ctx, timeout=5) as client:
        while time.monotonic() < deadline:
            status = await client.get(
                f"{server.url}/status", headers={"Authorization": f"Bearer {KEY}"}
            )
            if status.json()["queue"]["running"] == 1:
                return
    raise AssertionError("the first transcription never started on the server")


@pytest.mark.slow
async def test_a_busy_server_is_retried_after_its_retry_after(server: HarkServer) -> None:
    first_asr = remote_whisper(server)
    first = asyncio.create_task(
        first_asr.transcribe(speak_16k("Please read me the news of the day."), 16_000)
    )
    await _wait_until_transcribing(server)
    sleeps, notices = Sleeps(then=first), Notices()
    second_asr = remote_whisper(server, sleep=sleeps, notices=notices, retry_backoff_s=0.25)
    second = await second_asr.transcribe(speak_16k("Turn on the kitchen lights."), 16_000)
    await first
    await first_asr.aclose()
    await second_asr.aclose()
    assert {"kitchen", "lights"} <= set(words(second.text))
    assert len(sleeps.waits) == 1
    assert sleeps.waits[0] >= 1  # the server's Retry-After (whole seconds), not the backoff
    assert sleeps.waits[0] == int(sleeps.waits[0])
    assert [code for code, _ in notices.got] == ["asr-remote-busy"]


@pytest.mark.slow
async def test_a_server_that_is_down_is_retried_then_hark_transcribes_locally(
    tiny_en_dir: Path,
) -> None:
    sleeps, notices = Sleeps(), Notices()
    with closed_port() as port:
        settings = RemoteSettings(url=f"https://127.0.0.1:{port}", retry_attempts=3)
        primary = RemoteWhisper(settings, AsrSettings(), KEY, sleep=sleeps)
        asr = FallbackTranscriber(
            primary, lambda: LocalWhisper(tiny_settings(tiny_en_dir)), notices
        )
        first = await asr.transcribe(speak_16k("Turn on the kitchen lights."), 16_000)
        second = await asr.transcribe(speak_16k("What is the weather like?"), 16_000)
        await asr.aclose()
    assert {"kitchen", "lights"} <= set(words(first.text))
    assert "weather" in words(second.text)
    assert sleeps.waits == [1.0, 2.0, 4.0]  # retried with backoff, then local; then resting
    assert len(notices.got) == 1
    code, message = notices.got[0]
    assert code == "asr-remote-unreachable"
    assert "Hark server unreachable; transcribing on this computer" in message


@pytest.mark.slow
def test_hark_ask_goes_through_the_server(
    server: HarkServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    SecretStore().set("server-api-key", KEY)
    with closed_port() as nowhere:
        monkeypatch.setenv("HARK_REMOTE__URL", server.url)
        monkeypatch.setenv("HARK_REMOTE__CA_CERT", str(server.pin))
        monkeypatch.setenv("HARK_REMOTE__FALLBACK_TO_LOCAL_ASR", "false")
        monkeypatch.setenv("HARK_LLM__MODEL", MODEL)
        monkeypatch.setenv("HARK_LLM__HOST", f"http://127.0.0.1:{nowhere}")  # never used
        monkeypatch.setenv("HARK_ASR__MODEL", str(tmp_path / "no-local-model"))  # never used
        server.ollama.reply("The plants are watered. Anything else?")
        clip = speech_clip("Remind me to water the plants.", lead_silence_s=0.4)
        wav = write_wav(tmp_path / "question.wav", clip.pcm)
        calls_before = len(server.ollama.requests)
        code = main(["ask", "--wav", str(wav), "--json", "--no-voice"])
    out, err = capsys.readouterr()
    assert code == 0, err
    data = json.loads(out)
    assert {"water", "plants"} <= set(words(data["transcript"]))
    assert data["reply"] == "The plants are watered. Anything else?"
    assert data["timings_ms"]["asr"] > 0
    sent = server.ollama.requests[calls_before:]
    assert len(sent) == 1
    assert sent[0]["model"] == MODEL
    assert {"water", "plants"} <= set(words(sent[0]["messages"][-1]["content"]))
    # The server passed the chat on without our key: Ollama never sees it.
    assert all("authorization" not in h for h in server.ollama.headers)


def remote_settings(server: HarkServer, **remote: object) -> Settings:
    return Settings.model_validate(
        {
            "remote": {"url": server.url, "ca_cert": str(server.pin), **remote},
            "llm": {"model": MODEL},
        }
    )


async def test_doctor_says_the_server_is_ready(server: HarkServer) -> None:
    store = SecretStore(env={})
    store.set("server-api-key", KEY)
    check = await check_remote(remote_settings(server), store)
    assert check.status == "ok", check
    assert check.detail.startswith("ok (")
    assert MODEL in check.detail
    assert "GPU" in check.detail


async def test_doctor_shows_the_provisioning_progress(server: HarkServer) -> None:
    store = SecretStore(env={})
    store.set("server-api-key", KEY)
    server.state_file.write_text(
        json.dumps({"state": "pulling-model", "detail": f"pulling {MODEL}", "progress": 0.42}),
        encoding="utf-8",
    )
    try:
        check = await check_remote(remote_settings(server), store)
    finally:
        server.state_file.unlink()
    assert check.status == "warn"
    assert check.detail == f"provisioning: pulling {MODEL} 42 %"
    assert check.fix
    assert not check.required


async def test_doctor_tells_a_wrong_key_from_no_key(server: HarkServer) -> None:
    store = SecretStore(env={})
    missing = await check_remote(remote_settings(server), store)
    store.set("server-api-key", "wrong-key-wrong-key-wrong")
    wrong = await check_remote(remote_settings(server), store)
    assert missing.status == wrong.status == "fail"
    assert "no API key" in missing.detail
    assert "wrong key" in wrong.detail
    assert "hark secret set server-api-key" in wrong.fix
    assert "wrong-key" not in wrong.detail


async def test_doctor_reports_an_unreachable_server_and_a_wrong_pin(
    server: HarkServer, tmp_path: Path
) -> None:
    store = SecretStore(env={})
    store.set("server-api-key", KEY)
    with closed_port() as port:
        down = Settings.model_validate({"remote": {"url": f"https://127.0.0.1:{port}"}})
        unreachable = await check_remote(down, store)
    other = tmp_path / "other.pem"
    other.write_text(self_signed("hark-server").cert_pem, "ascii")
    mismatch = await check_remote(remote_settings(server, ca_cert=str(other)), store)
    assert unreachable.status == "fail"
    assert unreachable.detail.startswith("unreachable")
    assert "HARK_REMOTE__URL" in unreachable.fix
    assert mismatch.status == "fail"
    assert "TLS" in mismatch.detail
    assert "HARK_REMOTE__CA_CERT" in mismatch.fix
