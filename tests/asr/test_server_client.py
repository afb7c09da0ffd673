"""RemoteWhisper's wire format, error mapping and retries, over real uvicorn and pinned TLS.

The server here is a small Starlette app that answers the Hark server's transcription route
with the status codes and error bodies the server documents (``app.shared.protocol``), so every
branch can be reached on demand. The end-to-end tests against the real server app are in
``test_remote.py``.
"""

from __future__ import annotations

import io
import time
import wave
from collections.abc import Iterator
from email.utils import formatdate
from pathlib import Path

import pytest

from app.asr.fallback import FallbackTranscriber
from app.asr.server import RemoteWhisper, wav_bytes
from app.asr.server_failures import parse_retry_after, server_error
from app.core.types import Transcript
from app.settings.schema import AsrSettings, RemoteSettings
from app.shared.errors import AsrError
from app.shared.protocol import ErrorCode, error_body
from tests.asr.remote_server import ScriptedTranscriptions
from tests.support.clocks import ManualClock, Sleeps
from tests.support.notices import Notices
from tests.support.servers import closed_port, serve
from tests.support.speech import speak_16k, speak_native
from tests.support.tls import CertPair, self_signed

KEY = "test-server-key-0123456789"


@pytest.fixture
def pin(server_cert: CertPair, tmp_path: Path) -> Path:
    path = tmp_path / "server-pin.pem"
    path.write_text(server_cert.cert_pem, encoding="ascii")
    return path


@pytest.fixture(scope="module")
def scripted_server(
    server_cert: CertPair, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[ScriptedTranscriptions, str]]:
    fake = ScriptedTranscriptions()
    crt, key = server_cert.write(tmp_path_factory.mktemp("tls"), "tls")
    with serve(fake.app, crt, key) as url:
        yield fake, url


@pytest.fixture
def scripted(
    scripted_server: tuple[ScriptedTranscriptions, str],
) -> tuple[ScriptedTranscriptions, str]:
    """The module's server with an empty script and no requests recorded."""
    fake, _ = scripted_server
    fake.reset()
    return scripted_server


def remote(
    url: str,
    pin: Path | None,
    *,
    key: str | None = KEY,
    sleep: Sleeps | None = None,
    language: str = "en",
    notices: Notices | None = None,
    **remote_settings: object,
) -> RemoteWhisper:
    settings = RemoteSettings.model_validate(
        {"url": url, "ca_cert": pin, "timeout_s": 10, **remote_settings}
    )
    return RemoteWhisper(
        settings,
        AsrSettings(language=language),
        key,
        sleep=sleep or Sleeps(),
        on_notice=notices,
    )


def speech() -> bytes:
    """Real speech (Piper), made on first use and cached: not at import time."""
    return speak_16k("Turn on the kitchen lights.")


async def test_sends_a_16k_wav_with_the_key_and_reads_the_transcript(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    fake.answer(
        200,
        {
            "text": "  Turn on the kitchen lights. ",
            "language": "en",
            "duration": 1.9,
            "segments": [{"no_speech_prob": 0.01}, {"no_speech_prob": 0.2}],
        },
    )
    asr = remote(url, pin)
    result = await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert result == Transcript(
        text="Turn on the kitchen lights.",
        language="en",
        audio_s=len(speech()) / 2 / 16_000,
        no_speech_prob=0.2,
    )
    got = fake.received[0]
    assert got.authorization == f"Bearer {KEY}"
    assert got.fields["response_format"] == "verbose_json"
    assert got.fields["language"] == "en"
    assert got.filename == "utterance.wav"
    with wave.open(io.BytesIO(got.audio)) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 16_000)
        assert w.readframes(w.getnframes()) == speech()


async def test_other_rates_are_resampled_and_auto_language_is_left_to_the_server(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    pcm, rate = speak_native("Good morning.")
    assert rate != 16_000
    asr = remote(url, pin, language="auto")
    result = await asr.transcribe(pcm, rate)
    await asr.aclose()
    assert result.text == "hello there"
    assert result.language == "en"  # what the server detected
    assert "language" not in fake.received[0].fields
    with wave.open(io.BytesIO(fake.received[0].audio)) as w:
        assert w.getframerate() == 16_000
        assert abs(w.getnframes() / 16_000 - len(pcm) / 2 / rate) < 0.01


async def test_silence_as_the_server_answers_it_is_an_empty_transcript(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    fake.answer(200, {"text": "", "language": "en", "segments": []})
    asr = remote(url, pin)
    result = await asr.transcribe(bytes(32_000), 16_000)
    tiny = await asr.transcribe(bytes(200), 16_000)  # 6 ms: not sent at all
    await asr.aclose()
    assert result.text == ""
    assert result.no_speech_prob is None
    assert tiny.text == ""
    assert len(fake.received) == 1


async def test_a_certificate_other_than_the_pin_is_refused_without_retrying(
    scripted: tuple[ScriptedTranscriptions, str], tmp_path: Path
) -> None:
    fake, url = scripted
    other = tmp_path / "other.pem"
    other.write_text(self_signed("someone-else").cert_pem, encoding="ascii")
    sleeps = Sleeps()
    asr = remote(url, other, sleep=sleeps)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-unreachable"
    assert "TLS" in info.value.message
    assert str(other) in info.value.message
    assert sleeps.waits == []  # a wrong pin does not heal by waiting
    assert fake.received == []


async def test_an_unusable_pin_file_says_so(tmp_path: Path) -> None:
    bad = tmp_path / "garbage.pem"
    bad.write_text("not a certificate", encoding="ascii")
    asr = remote("https://127.0.0.1:9", bad)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-ca-cert"
    assert str(bad) in info.value.message


@pytest.mark.parametrize("status", [401, 403])
async def test_a_refused_key_is_an_auth_error_and_not_retried(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path, status: int
) -> None:
    fake, url = scripted
    fake.answer(status, error_body(ErrorCode.UNAUTHORIZED, "missing or wrong API key"))
    sleeps = Sleeps()
    asr = remote(url, pin, sleep=sleeps)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-auth"
    assert "hark secret set server-api-key" in info.value.message
    assert "missing or wrong API key" in info.value.message
    assert KEY not in info.value.message
    assert sleeps.waits == []
    assert len(fake.received) == 1


async def test_no_key_stored_fails_before_any_request(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    asr = remote(url, pin, key=None)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-auth"
    assert "hark secret set server-api-key" in info.value.message
    assert fake.received == []


async def test_provisioning_is_retried_after_the_advertised_wait(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    fake.answer(
        503,
        error_body(ErrorCode.PROVISIONING, "pulling llama3.1:8b (42 %)", "server_error"),
        {"Retry-After": "7"},
    )
    sleeps, notices = Sleeps(), Notices()
    asr = remote(url, pin, sleep=sleeps, notices=notices)
    result = await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert result.text == "hello there"
    assert sleeps.waits == [7.0]
    assert len(fake.received) == 2
    assert [code for code, _ in notices.got] == ["asr-remote-provisioning"]
    assert "still setting up" in notices.got[0][1]
    assert "in 7 s" in notices.got[0][1]


async def test_busy_backs_off_exponentially_and_gives_up_after_the_retries(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    for _ in range(4):
        fake.answer(503, error_body(ErrorCode.BUSY, "the transcription queue is full"))
    sleeps, notices = Sleeps(), Notices()
    asr = remote(url, pin, sleep=sleeps, notices=notices, retry_attempts=3, retry_backoff_s=0.5)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-busy"
    assert "queue is full" in info.value.message
    assert sleeps.waits == [0.5, 1.0, 2.0]
    assert len(fake.received) == 4
    assert len(notices.got) == 1  # once per kind of trouble, not per try


async def test_retry_after_is_capped(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    fake.answer(
        503, error_body(ErrorCode.PROVISIONING, "pulling the model"), {"Retry-After": "600"}
    )
    sleeps = Sleeps()
    settings = RemoteSettings(url=url, ca_cert=pin)
    asr = RemoteWhisper(settings, AsrSettings(), KEY, sleep=sleeps, max_wait_s=12.0)
    await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert sleeps.waits == [12.0]


@pytest.mark.parametrize(
    ("status", "code", "message", "expected"),
    [
        (400, ErrorCode.BAD_AUDIO, "the upload is not audio", "asr-remote-bad-request"),
        (413, ErrorCode.TOO_LARGE, "the upload is over 25 MB", "asr-remote-bad-request"),
        (429, ErrorCode.RATE_LIMITED, "slow down", "asr-remote-busy"),
        (500, ErrorCode.INTERNAL, "something broke", "asr-remote-server"),
    ],
)
async def test_other_errors_carry_the_servers_message_and_are_not_retried(
    scripted: tuple[ScriptedTranscriptions, str],
    pin: Path,
    status: int,
    code: ErrorCode,
    message: str,
    expected: str,
) -> None:
    fake, url = scripted
    fake.answer(status, error_body(code, message))
    sleeps = Sleeps()
    asr = remote(url, pin, sleep=sleeps)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == expected
    assert message in info.value.message
    assert f"HTTP {status}" in info.value.message
    assert sleeps.waits == []
    assert len(fake.received) == 1


async def test_an_answer_that_is_not_a_transcription_is_a_server_error(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    fake.answer(200, {"hello": "world"})
    asr = remote(url, pin)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-server"
    assert "Hark server" in info.value.message


async def test_a_server_that_is_down_is_retried_then_reported_unreachable(pin: Path) -> None:
    sleeps = Sleeps()
    with closed_port() as port:
        url = f"https://127.0.0.1:{port}"
        asr = remote(url, pin, sleep=sleeps, retry_attempts=4, retry_backoff_s=1.0)
        with pytest.raises(AsrError) as info:
            await asr.transcribe(speech(), 16_000)
        await asr.aclose()
    assert info.value.code == "asr-remote-unreachable"
    assert url in info.value.message
    assert "HARK_REMOTE__URL" in info.value.message
    assert sleeps.waits == [1.0, 2.0, 4.0, 8.0]


class RecordingTranscriber:
    """A local transcriber stand-in with a known answer (the real one is in test_remote.py)."""

    def __init__(self, text: str = "heard here") -> None:
        self.text = text
        self.calls = 0

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        self.calls += 1
        return Transcript(self.text, "en", len(pcm) / 2 / sample_rate)


async def test_fallback_rests_the_server_then_probes_it_once_and_hands_back(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    for _ in range(3):  # the first turn: one try + two retries
        fake.answer(503, error_body(ErrorCode.BUSY, "queue full"), {"Retry-After": "1"})
    fake.answer(503, error_body(ErrorCode.BUSY, "still full"))  # the probe after the rest
    sleeps, notices, clock, local = Sleeps(), Notices(), ManualClock(), RecordingTranscriber()
    made: list[RecordingTranscriber] = []

    def make_local() -> RecordingTranscriber:
        made.append(local)
        return local

    asr = FallbackTranscriber(
        remote(url, pin, sleep=sleeps, retry_attempts=2),
        make_local,
        notices,
        cooldown_s=60,
        clock=clock,
    )
    first = await asr.transcribe(speech(), 16_000)
    assert first.text == "heard here"
    assert len(fake.received) == 3
    assert sleeps.waits == [1.0, 1.0]
    assert asr.falling_back

    clock.now += 30  # resting: straight to the local model, the server is not asked
    assert (await asr.transcribe(speech(), 16_000)).text == "heard here"
    assert len(fake.received) == 3

    clock.now += 31  # the rest is over: one probe, no retries, still busy
    assert (await asr.transcribe(speech(), 16_000)).text == "heard here"
    assert len(fake.received) == 4
    assert sleeps.waits == [1.0, 1.0]

    clock.now += 61  # the server answers again and takes over
    assert (await asr.transcribe(speech(), 16_000)).text == "hello there"
    assert not asr.falling_back
    assert len(made) == 1
    assert local.calls == 3
    assert [code for code, _ in notices.got] == ["asr-remote-busy", "asr-remote-restored"]
    assert "transcribing on this computer" in notices.got[0][1]
    await asr.aclose()


async def test_fallback_does_not_hide_a_refused_key(
    scripted: tuple[ScriptedTranscriptions, str], pin: Path
) -> None:
    fake, url = scripted
    fake.answer(401, error_body(ErrorCode.UNAUTHORIZED, "wrong API key"))
    made: list[int] = []

    def make_local() -> RecordingTranscriber:
        made.append(1)
        return RecordingTranscriber()

    notices = Notices()
    asr = FallbackTranscriber(remote(url, pin), make_local, notices)
    with pytest.raises(AsrError) as info:
        await asr.transcribe(speech(), 16_000)
    await asr.aclose()
    assert info.value.code == "asr-remote-auth"
    assert made == []  # the local model was never even built
    assert notices.got == []


async def test_when_the_local_model_fails_too_both_problems_are_named(pin: Path) -> None:
    class Broken:
        async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
            raise AsrError("asr-model-missing", "no Whisper model here")

    with closed_port() as port:
        asr = FallbackTranscriber(
            remote(f"https://127.0.0.1:{port}", pin, retry_attempts=0), Broken
        )
        with pytest.raises(AsrError) as info:
            await asr.transcribe(speech(), 16_000)
        await asr.aclose()
    assert info.value.code == "asr-remote-unreachable"
    assert "did not answer" in info.value.message or "could not be reached" in info.value.message
    assert "no Whisper model here" in info.value.message


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    now = time.time()
    assert parse_retry_after("5") == 5.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    later = parse_retry_after(formatdate(now + 30, usegmt=True), now=now)
    assert later is not None
    assert 29 <= later <= 31
    assert parse_retry_after(formatdate(now - 30, usegmt=True), now=now) == 0.0


def test_error_bodies_of_every_shape_are_read() -> None:
    assert server_error(b'{"error": {"message": "m", "type": "t", "code": "busy"}}') == (
        "busy",
        "m",
    )
    assert server_error(b'{"error": "ollama says no"}') == (None, "ollama says no")
    assert server_error(b'{"detail": "Not Found"}') == (None, "Not Found")
    assert server_error(b"Bad Gateway") == (None, "Bad Gateway")


def test_wav_bytes_is_a_16k_mono_wav() -> None:
    data = wav_bytes(bytes(4410 * 2), 44_100)
    with wave.open(io.BytesIO(data)) as w:
        assert (w.getnchannels(), w.getframerate(), w.getnframes()) == (1, 16_000, 1600)
