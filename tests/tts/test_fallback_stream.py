"""FallbackVoice.synthesize_stream when the hosted voice breaks mid-reply: the local voice
speaks what the hosted one took after its last audio (none of it can have been heard) and
everything after, never what may have been heard already.

The hosted voice here is a scripted stand-in, because the moment it takes text relative to its
audio has to be exact; the real WebSocket voice is in ``tests/core/test_speaker_stream.py``.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterable

import pytest

from app.shared.errors import TtsCode, TtsError
from app.tts.fallback import FallbackVoice
from tests.core.scripted import ScriptedVoice
from tests.support.notices import Notices


class CutStream:
    """A hosted voice that takes ``before`` pieces, sends audio (unless ``audio`` is False),
    takes ``after`` more pieces and then loses its connection."""

    name = "elevenlabs"
    sample_rate = 16_000

    def __init__(self, before: int, after: int, *, audio: bool = True) -> None:
        self.before = before
        self.after = after
        self.audio = audio
        self.taken: list[str] = []

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        raise TtsError(TtsCode.ELEVENLABS_CUT, "resting")
        yield b""  # pragma: no cover - makes this an async generator

    async def synthesize_stream(self, pieces: AsyncIterable[str]) -> AsyncGenerator[bytes, None]:
        source = aiter(pieces)
        for _ in range(self.before):
            self.taken.append(await anext(source))
        if self.audio:
            yield b"\x01\x00" * 10
        for _ in range(self.after):
            self.taken.append(await anext(source))
        raise TtsError(TtsCode.ELEVENLABS_CUT, "The connection to ElevenLabs was cut.")


async def _text(parts: list[str]) -> AsyncGenerator[str, None]:
    for part in parts:
        yield part


SENTENCES = ["Sure thing. ", "Your meeting is at three. ", "Anything else? "]
TOKENS = ["Sure", " thing", ". ", "Your meet", "ing is", " at three. ", "Bye."]


@pytest.mark.parametrize(
    ("parts", "before", "after", "spoken"),
    [
        # the second sentence went out after the first audio: it is spoken, once
        (SENTENCES, 1, 1, ["Your meeting is at three.", "Anything else?"]),
        # nothing went out after the last audio: only what the hosted voice never took
        (SENTENCES, 2, 0, ["Anything else?"]),
        # cut inside a word taken before the audio: its rest ("ing") is dropped, not spoken
        (TOKENS, 4, 1, ["is at three.", "Bye."]),
    ],
)
async def test_the_local_voice_starts_after_the_last_audio(
    parts: list[str], before: int, after: int, spoken: list[str]
) -> None:
    hosted, local, notices = CutStream(before, after), ScriptedVoice(), Notices()
    voice = FallbackVoice(hosted, local, notices)

    audio = b"".join([chunk async for chunk in voice.synthesize_stream(_text(parts))])

    assert local.spoken == spoken
    assert audio[:20] == b"\x01\x00" * 10  # the hosted voice's audio, then the local one's
    assert len(audio) == 20 + 20 * len(spoken)
    assert [code for code, _ in notices.got] == [TtsCode.ELEVENLABS_CUT]
    heard = "".join(hosted.taken[:before])
    assert not any(s in heard for s in spoken)  # nothing that may have been heard again


async def test_a_stream_that_fails_before_audio_keeps_the_callers_cuts() -> None:
    hosted = CutStream(before=1, after=0, audio=False)  # broken before any audio
    local = ScriptedVoice()
    voice = FallbackVoice(hosted, local, Notices())
    parts = ["Your first meeting is tomorrow, ", "at nine thirty. ", "Bring the notes. "]

    audio = b"".join([chunk async for chunk in voice.synthesize_stream(_text(parts))])

    # the whole reply, the first clause on its own as the speaker cut it
    assert local.spoken == [
        "Your first meeting is tomorrow,",
        "at nine thirty.",
        "Bring the notes.",
    ]
    assert len(audio) == 20 * 3
