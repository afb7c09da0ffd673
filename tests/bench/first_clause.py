"""First audio with the first clause spoken early (``tts.first_clause_words``) and without.

Real parts: the Piper voice, Hark's turn pipeline and its Ollama client; the model is the fake
Ollama at a fixed pace (``--first-token-ms``, ``--token-ms``), writing a reply whose first
sentence has a comma after eight words. Each run is a typed request (no speech recognition), so
the figure is the time from the request to the first sound, the part the clause shortens.

    python -m tests.bench.first_clause [--runs 5] [--words 5]

The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
from typing import Any

from app.audio.playback import NullSink
from app.core.conversation import Conversation
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.tools import ToolRegistry
from app.llm.ollama import OllamaChat
from app.settings.schema import LlmSettings
from app.tts.piper import PiperLocalVoice
from tests.fakes.ollama import FakeOllama

REPLY = (
    "Your first meeting tomorrow is at nine thirty, with the design team in the large room. "
    "After that you are free until lunch."
)


async def run(runs: int, words: int, first_token_ms: float, token_ms: float) -> dict[str, Any]:
    voice = PiperLocalVoice()
    await voice.load()
    times: dict[int, list[float]] = {0: [], words: []}
    with FakeOllama(first_token_delay_s=first_token_ms / 1000, token_delay_s=token_ms / 1000) as f:
        chat = OllamaChat(LlmSettings(host=f.url))
        try:
            for _ in range(runs):
                for setting in times:  # alternate, so machine noise hits both alike
                    f.reply(REPLY)
                    pipeline = VoicePipeline(
                        chat=chat,
                        tools=ToolRegistry(),
                        conversation=Conversation("You are Hark.", 0),
                        sink=NullSink(),
                        emit=lambda _e: None,
                        voice=voice,
                        options=PipelineOptions(first_clause_words=setting),
                    )
                    result = await pipeline.run_text("What is tomorrow?")
                    if result.timings.first_audio_ms is None:
                        raise RuntimeError(f"turn failed: {result.error_code}")
                    times[setting].append(result.timings.first_audio_ms)
        finally:
            await chat.aclose()
    sentence, clause = statistics.median(times[0]), statistics.median(times[words])
    return {
        "bench": "first_clause",
        "runs": runs,
        "words": words,
        "fake_llm": {"first_token_ms": first_token_ms, "token_ms": token_ms},
        "first_audio_sentence_ms": sentence,
        "first_audio_clause_ms": clause,
        "saved_ms": sentence - clause,
    }


def print_report(s: dict[str, Any]) -> None:
    print(f"{'first piece':>24}  {'1st audio ms (median)':>22}")
    print(f"{'whole sentence':>24}  {s['first_audio_sentence_ms']:>22.0f}")
    print(
        f"{'clause after ' + str(s['words']) + ' words':>24}  {s['first_audio_clause_ms']:>22.0f}"
    )
    print(f"the first clause saves {s['saved_ms']:.0f} ms to the first sound")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()}))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--words", type=int, default=5, help="tts.first_clause_words (>= 1)")
    p.add_argument("--first-token-ms", type=float, default=350.0)
    p.add_argument("--token-ms", type=float, default=60.0)
    args = p.parse_args(argv)
    if args.runs < 1 or args.words < 1:
        p.error("--runs and --words must be at least 1")
    summary = asyncio.run(run(args.runs, args.words, args.first_token_ms, args.token_ms))
    print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
