"""ElevenLabs first-chunk latency: HTTP per sentence against the WebSocket input API.

The fake ElevenLabs (tests/fakes/elevenlabs.py) answers every generation's first audio after
``--first-chunk-ms`` (the service's own time to first byte, the same on both paths), and a
stand-in for the model writes the reply word by word, ``--token-ms`` apart. What is timed is
"text in → first audio chunk out" for the reply's first sentence, from the moment its last
word is written (and from the reply's first word):

* HTTP, one request per sentence (the SDK over a warm, pooled connection; and a fresh voice,
  whose first request builds the client and connects);
* WebSocket, one connection per sentence (``synthesize``);
* WebSocket, the whole reply streamed over one connection as it is written
  (``synthesize_stream``): opened at the first word, the text already there at the full stop.

Then the same reply goes through Hark's own turn (``VoicePipeline`` and its speaker), once with
a voice that only takes sentences (a connection per piece, as the speaker did before it used
the stream) and once with the streaming voice (one connection per reply): timed from the first
piece shown to the first audio written, with the connections each reply opened.

Everything runs on 127.0.0.1 without TLS, so the figures show what each path adds on top of
the service's own delay here; over the internet every fresh request or connection also pays
the round trips (and a TLS handshake) this machine cannot show.

    python -m tests.bench.elevenlabs_latency [--runs 7] [--first-chunk-ms 150] [--token-ms 60]

Timings are printed, not asserted. The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections.abc import AsyncGenerator, Sequence
from dataclasses import dataclass, field

from app.core.conversation import Conversation
from app.core.events import Event, SentenceReady
from app.core.pipeline import PipelineOptions, VoicePipeline
from app.core.ports import Synthesizer
from app.core.tools import ToolRegistry
from app.core.types import BackendStatus, ChatDelta, ChatMessage, ToolSpec
from app.settings.schema import ElevenLabsSettings
from app.tts.elevenlabs import ElevenLabsVoice
from tests.core.scripted import MemorySink
from tests.fakes.elevenlabs import DEFAULT_KEY, FakeElevenLabs

REPLY = "Sure, I can do that. Your meeting with Sam moves to Friday at three. Anything else?"
FIRST = "Sure, I can do that."


@dataclass
class Marks:
    """When the model wrote its first word and finished the first sentence."""

    first_word: float = 0.0
    clause_end: float = 0.0
    sentence_end: float = 0.0
    words: list[str] = field(default_factory=list)


async def write_reply(marks: Marks, token_s: float) -> AsyncGenerator[str, None]:
    """The reply word by word, ``token_s`` apart, marking the first sentence's end."""
    words = REPLY.split(" ")
    for index, word in enumerate(words):
        if index:
            await asyncio.sleep(token_s)  # the model's pace (a benchmark, not a test wait)
        piece = word if index == len(words) - 1 else word + " "
        now = time.perf_counter()
        if index == 0:
            marks.first_word = now
        marks.words.append(piece)
        if not marks.clause_end and piece.endswith(", "):
            marks.clause_end = now
        if "".join(marks.words).strip() == FIRST:
            marks.sentence_end = now
        yield piece


async def http_sentence(voice: ElevenLabsVoice, token_s: float) -> tuple[float, float]:
    """The pipeline's way with HTTP: wait for the sentence, then one request for it."""
    marks = Marks()
    async for _ in write_reply(marks, token_s):
        if marks.sentence_end:
            break
    return await _first_chunk(voice.synthesize(FIRST), marks)


async def ws_sentence(voice: ElevenLabsVoice, token_s: float) -> tuple[float, float]:
    return await http_sentence(voice, token_s)  # same steps; the voice's transport differs


async def ws_stream(voice: ElevenLabsVoice, token_s: float) -> tuple[float, float]:
    """The whole reply handed to the voice as it is written."""
    marks = Marks()
    audio = voice.synthesize_stream(write_reply(marks, token_s))
    return await _first_chunk(audio, marks, clause=True)


async def _first_chunk(
    audio: AsyncGenerator[bytes, None], marks: Marks, *, clause: bool = False
) -> tuple[float, float]:
    """The first chunk's delay after the text it voices was written (the first sentence; with
    ``clause``, the first clause, which the WebSocket stream flushes at once), and after the
    model's first word."""
    try:
        await anext(audio)
        now = time.perf_counter()
    finally:
        await audio.aclose()
    ready = marks.clause_end if clause else marks.sentence_end
    return (now - ready) * 1000, (now - marks.first_word) * 1000


class PacedChat:
    """The model for Hark's turn (the ChatModel port): the reply word by word, ``token_s`` apart."""

    def __init__(self, token_s: float) -> None:
        self._token_s = token_s

    async def stream_chat(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncGenerator[ChatDelta, None]:
        async for piece in write_reply(Marks(), self._token_s):
            yield ChatDelta(piece)
        yield ChatDelta(done=True)

    async def check(self) -> BackendStatus:
        return BackendStatus(True, "ok", "paced")


class SentenceOnly:
    """The streaming voice without ``synthesize_stream``: the speaker asks per piece."""

    def __init__(self, voice: ElevenLabsVoice) -> None:
        self._voice = voice
        self.name = voice.name
        self.sample_rate = voice.sample_rate

    def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        return self._voice.synthesize(text)


async def speaker_turn(fake: FakeElevenLabs, voice: Synthesizer, token_s: float) -> list[float]:
    """One turn through the pipeline: [ms from the first piece shown to the first audio
    written, connections the reply opened]."""
    opened = len(fake.requests)
    sink = MemorySink()
    shown: list[float] = []

    def emit(event: Event) -> None:
        if isinstance(event, SentenceReady):
            shown.append(time.monotonic())

    pipe = VoicePipeline(
        chat=PacedChat(token_s),
        tools=ToolRegistry(),
        conversation=Conversation("You are Hark.", 0),
        sink=sink,
        emit=emit,
        voice=voice,
        options=PipelineOptions(first_clause_words=5),
    )
    await pipe.run_text("move my meeting with Sam")
    assert sink.first_sample_at is not None, "the turn was not heard"
    assert shown, "the turn showed nothing"
    return [(sink.first_sample_at - shown[0]) * 1000, float(len(fake.requests) - opened)]


async def measure(fake: FakeElevenLabs, runs: int, token_s: float) -> dict[str, list[float]]:
    def voice(transport: str) -> ElevenLabsVoice:
        settings = ElevenLabsSettings.model_validate({"base_url": fake.url, "transport": transport})
        return ElevenLabsVoice(settings, DEFAULT_KEY)

    http, ws = voice("http"), voice("websocket")
    results: dict[str, list[float]] = {
        k: [] for k in ("http_warm", "http_warm_word", "http_fresh", "ws_sentence")
    }
    results.update({"ws_stream": [], "ws_stream_word": []})
    for key in ("speaker_sentence", "speaker_stream"):
        results.update({key: [], f"{key}_connections": []})
    try:
        await http_sentence(http, 0.0)  # warm-up: imports, the pooled connection
        await ws_stream(ws, 0.0)
        await speaker_turn(fake, ws, 0.0)
        for _ in range(runs):  # alternate the paths, so drift hits them alike
            after_end, after_word = await http_sentence(http, token_s)
            results["http_warm"].append(after_end)
            results["http_warm_word"].append(after_word)
            fresh = voice("http")
            try:
                results["http_fresh"].append((await http_sentence(fresh, token_s))[0])
            finally:
                fresh.close()
            results["ws_sentence"].append((await ws_sentence(ws, token_s))[0])
            after_end, after_word = await ws_stream(ws, token_s)
            results["ws_stream"].append(after_end)
            results["ws_stream_word"].append(after_word)
            for key, path in (("speaker_sentence", SentenceOnly(ws)), ("speaker_stream", ws)):
                latency, connections = await speaker_turn(fake, path, token_s)
                results[key].append(latency)
                results[f"{key}_connections"].append(connections)
    finally:
        http.close()
        ws.close()
    return results


def report(results: dict[str, list[float]], args: argparse.Namespace) -> dict[str, object]:
    med = {k: round(statistics.median(v), 1) for k, v in results.items()}
    summary: dict[str, object] = {
        "bench": "elevenlabs_latency",
        "runs": args.runs,
        "first_chunk_delay_ms": args.first_chunk_ms,
        "token_ms": args.token_ms,
        "http_sentence_ms": med["http_warm"],
        "http_fresh_ms": med["http_fresh"],
        "ws_sentence_ms": med["ws_sentence"],
        "ws_stream_ms": med["ws_stream"],
        "http_from_first_word_ms": med["http_warm_word"],
        "ws_from_first_word_ms": med["ws_stream_word"],
        "ws_stream_saving_ms": round(med["http_warm"] - med["ws_stream"], 1),
        "added_http_ms": round(med["http_warm"] - args.first_chunk_ms, 1),
        "added_ws_stream_ms": round(med["ws_stream"] - args.first_chunk_ms, 1),
        "speaker_sentence_ms": med["speaker_sentence"],
        "speaker_stream_ms": med["speaker_stream"],
        "speaker_sentence_connections": med["speaker_sentence_connections"],
        "speaker_stream_connections": med["speaker_stream_connections"],
    }
    print(
        f"ElevenLabs first audio chunk, fake service answering after {args.first_chunk_ms:g} ms, "
        f"model writing a word every {args.token_ms:g} ms; median of {args.runs}"
    )
    print(f"{'path':44}{'after its text*':>20}{'after first word':>18}")
    rows = [
        ("HTTP, a request per sentence (warm pool)", "http_warm", "http_warm_word"),
        ("HTTP, first request of a fresh voice", "http_fresh", None),
        ("WebSocket, a connection per sentence", "ws_sentence", None),
        ("WebSocket, whole reply over one connection", "ws_stream", "ws_stream_word"),
    ]
    for label, end_key, word_key in rows:
        word = f"{med[word_key]:>15.1f} ms" if word_key else f"{'':>18}"
        print(f"{label:44}{med[end_key]:>17.1f} ms{word}")
    print("* the first sentence, or for the whole reply over one connection its first clause")
    print(f"{'Hark turn (pipeline and speaker)':44}{'after first piece':>20}{'connections':>18}")
    for label, key in (
        ("speaker, a connection per sentence", "speaker_sentence"),
        ("speaker, one stream per reply", "speaker_stream"),
    ):
        print(f"{label:44}{med[key]:>17.1f} ms{med[key + '_connections']:>18g}")
    print(
        f"streaming over the WebSocket adds {summary['added_ws_stream_ms']} ms to the service's "
        f"own delay; HTTP per sentence adds {summary['added_http_ms']} ms"
    )
    print(json.dumps(summary))
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--first-chunk-ms", type=float, default=150.0)
    parser.add_argument("--token-ms", type=float, default=60.0)
    args = parser.parse_args(argv)
    with FakeElevenLabs(first_chunk_delay_s=args.first_chunk_ms / 1000) as fake:
        results = asyncio.run(measure(fake, max(1, args.runs), args.token_ms / 1000))
    report(results, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
