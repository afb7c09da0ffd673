"""Server overhead: what the Hark server and its TLS edge add to transcription and to a chat.

The edge runs in a process of its own, as ``hark server`` would: Caddy (TLS, a self-signed
certificate the client pins) → uvicorn → the Hark server app, with Whisper tiny.en on the CPU
(int8, beam 1) and the fake Ollama upstream. This process is the client.

(a) Transcription of the same clip of Piper speech: via the server (a WAV upload over a warm,
    pinned TLS connection with the API key) against faster-whisper in this process with the
    same model and options as the server's engine, given the same samples. Warm-up runs
    first, then the two alternate; medians. Target: server <= 1.05 x in-process + 15 ms.
(b) A streamed chat: the fake Ollama with a fixed first-token delay and per-token delay sends
    ``--tokens`` tokens; time to the first token and tokens/s over the stream, read straight
    from the fake (plain HTTP) against via Caddy + server (pinned TLS); warm connections,
    alternating, medians. Targets: throughput >= 0.9 x direct; first token <= direct + 10 ms.

    python -m tests.bench.server_overhead [--runs 5] [--chat-runs 5] [--tokens 100]
                                          [--first-token-ms 50] [--token-ms 10] [--warmup 2]

Timings are printed, not asserted. The last line is one JSON object, for comparing runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from app.asr.local import LOG_PROB_THRESHOLD
from app.shared.protocol import TRANSCRIPTIONS_PATH
from remote.server.audio import decode_audio
from remote.server.settings import ServerSettings
from tests.fakes.ollama import FakeOllama, tokenize
from tests.remote.load.edge import Edge, edge_process
from tests.remote.server.harness import wav_bytes
from tests.support.speech import RATE, WHISPER_THREADS, speech_clip, tiny_en_dir, words

SENTENCE = "Please move my dentist appointment to next Friday afternoon and tell Sam about it."
MODEL = "llama3.2:3b"
TEMPERATURES = [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
"""Whisper's fallback schedule, as the server's engine uses it when no temperature is sent."""
WARMUP = 2
"""Untimed runs each way before measuring (the server loads its model in the first)."""


def whisper_model() -> Any:
    """tiny.en as the server's engine loads it on the CPU."""
    from faster_whisper import WhisperModel

    return WhisperModel(
        str(tiny_en_dir()),
        device="cpu",
        compute_type="int8",
        cpu_threads=WHISPER_THREADS,
        num_workers=1,
    )


def transcribe_here(model: Any, audio: np.ndarray[Any, Any]) -> tuple[float, str]:
    """In-process faster-whisper with the server engine's options: (ms, text)."""
    s = ServerSettings()  # the server's defaults: beam size, no-speech threshold
    started = time.perf_counter()
    segments, _info = model.transcribe(
        audio,
        language="en",
        beam_size=s.whisper_beam_size,
        temperature=TEMPERATURES,
        vad_filter=True,
        condition_on_previous_text=False,
        no_speech_threshold=s.whisper_no_speech_threshold,
        log_prob_threshold=LOG_PROB_THRESHOLD,
    )
    text = " ".join(seg.text.strip() for seg in segments)  # decoding happens here
    return (time.perf_counter() - started) * 1000, text


def transcribe_via(client: httpx.Client, wav: bytes) -> tuple[float, str]:
    """The same clip through the edge: (ms, text)."""
    started = time.perf_counter()
    response = client.post(
        TRANSCRIPTIONS_PATH,
        files={"file": ("speech.wav", wav, "audio/wav")},
        data={"model": "whisper-1"},
    )
    ms = (time.perf_counter() - started) * 1000
    response.raise_for_status()
    return ms, str(response.json()["text"])


def decode_ms(wav: bytes, runs: int) -> float:
    """Median time the server's audio decoder takes for the upload: part of its overhead."""
    limit = ServerSettings().max_audio_s
    decode_audio(wav, limit)  # warm-up: the first decode loads the codecs
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        decode_audio(wav, limit)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def bench_transcription(edge: Edge, runs: int, warmup: int) -> dict[str, Any]:
    clip = speech_clip(SENTENCE, lead_silence_s=0.3, trail_silence_s=0.3)
    wav = wav_bytes(clip.pcm, RATE)
    audio = np.frombuffer(clip.pcm, "<i2").astype(np.float32) / 32768.0
    model = whisper_model()
    here: list[float] = []
    via: list[float] = []
    texts: dict[str, str] = {}
    with httpx.Client(
        base_url=edge.url, headers=edge.auth, verify=edge.ssl_context(), timeout=120
    ) as client:
        for _ in range(warmup):  # loads the server's model; warms both and the connection
            transcribe_via(client, wav)
            transcribe_here(model, audio)
        for _ in range(runs):
            ms, texts["server"] = transcribe_via(client, wav)
            via.append(ms)
            ms, texts["in_process"] = transcribe_here(model, audio)
            here.append(ms)
    here_ms, via_ms = statistics.median(here), statistics.median(via)
    return {
        "clip_s": round(clip.duration_s, 2),
        "runs": runs,
        "in_process_ms": here_ms,
        "server_ms": via_ms,
        "ratio": via_ms / here_ms,
        "overhead_ms": via_ms - here_ms,
        "target_ms": 1.05 * here_ms + 15.0,
        "decode_ms": decode_ms(wav, max(3, runs)),
        "met": via_ms <= 1.05 * here_ms + 15.0,
        "words_match": all(words(t) == words(SENTENCE) for t in texts.values()),
        "same_text": words(texts["server"]) == words(texts["in_process"]),
        "in_process_runs_ms": here,
        "server_runs_ms": via,
    }


def stream_chat(client: httpx.Client, fake: FakeOllama, text: str) -> tuple[float, float, int]:
    """One streamed chat: (ms to the first token, tokens/s after it, tokens received)."""
    fake.reply(text)
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Go on."}], "stream": True}
    started = time.perf_counter()
    times: list[float] = []
    with client.stream("POST", "/api/chat", json=body) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if not line.strip():
                continue
            chunk = json.loads(line)
            if "error" in chunk:
                raise RuntimeError(f"the stream broke: {chunk['error']}")
            if not chunk.get("done"):
                times.append(time.perf_counter())
    first_ms = (times[0] - started) * 1000
    span = times[-1] - times[0]
    rate = (len(times) - 1) / span if span > 0 else float("inf")
    return first_ms, rate, len(times)


def bench_chat(edge: Edge, fake: FakeOllama, runs: int, tokens: int, warmup: int) -> dict[str, Any]:
    text = " ".join(f"word{i}" for i in range(tokens))
    assert len(tokenize(text)) == tokens
    results: dict[str, list[tuple[float, float, int]]] = {"direct": [], "via": []}
    with (
        httpx.Client(base_url=fake.url, timeout=60) as direct,
        httpx.Client(
            base_url=edge.url, headers=edge.auth, verify=edge.ssl_context(), timeout=60
        ) as via,
    ):
        for _ in range(warmup):
            stream_chat(direct, fake, text)
            stream_chat(via, fake, text)
        for _ in range(runs):
            results["direct"].append(stream_chat(direct, fake, text))
            results["via"].append(stream_chat(via, fake, text))

    def med(kind: str, i: int) -> float:
        return statistics.median(r[i] for r in results[kind])

    complete = all(r[2] == tokens for rs in results.values() for r in rs)
    direct_first, via_first = med("direct", 0), med("via", 0)
    direct_rate, via_rate = med("direct", 1), med("via", 1)
    return {
        "runs": runs,
        "tokens": tokens,
        "complete": complete,
        "direct_first_token_ms": direct_first,
        "via_first_token_ms": via_first,
        "first_token_diff_ms": via_first - direct_first,
        "direct_tokens_per_s": direct_rate,
        "via_tokens_per_s": via_rate,
        "throughput_ratio": via_rate / direct_rate,
        "met": via_rate >= 0.9 * direct_rate and via_first - direct_first <= 10.0,
    }


def run(
    runs: int,
    chat_runs: int,
    tokens: int,
    first_token_ms: float,
    token_ms: float,
    warmup: int = WARMUP,
) -> dict[str, Any]:
    """Start the fake Ollama and the edge (in its own process), measure both, stop both."""
    with (
        tempfile.TemporaryDirectory(prefix="hark-bench-") as tmp,
        FakeOllama(
            models=[MODEL], first_token_delay_s=first_token_ms / 1000, token_delay_s=token_ms / 1000
        ) as fake,
        edge_process(Path(tmp), fake.url) as edge,
    ):
        transcription = bench_transcription(edge, runs, warmup)
        chat = bench_chat(edge, fake, chat_runs, tokens, warmup)
    return {
        "bench": "server_overhead",
        "threads": WHISPER_THREADS,
        "warmup": warmup,
        "fake_llm": {"first_token_ms": first_token_ms, "token_ms": token_ms},
        "transcription": transcription,
        "chat": chat,
    }


def print_report(s: dict[str, Any]) -> None:
    t, c = s["transcription"], s["chat"]
    print(f"{'':34}{'in-process/direct':>18}{'via Caddy+server':>18}{'diff':>10}{'ratio':>8}")
    print(
        f"{'transcription ms (median)':34}{t['in_process_ms']:>18.1f}{t['server_ms']:>18.1f}"
        f"{t['overhead_ms']:>+10.1f}{t['ratio']:>8.3f}"
    )
    print(
        f"{'chat first token ms (median)':34}{c['direct_first_token_ms']:>18.1f}"
        f"{c['via_first_token_ms']:>18.1f}{c['first_token_diff_ms']:>+10.1f}"
        f"{c['via_first_token_ms'] / c['direct_first_token_ms']:>8.3f}"
    )
    print(
        f"{'chat tokens/s (median)':34}{c['direct_tokens_per_s']:>18.1f}"
        f"{c['via_tokens_per_s']:>18.1f}"
        f"{c['via_tokens_per_s'] - c['direct_tokens_per_s']:>+10.1f}"
        f"{c['throughput_ratio']:>8.3f}"
    )
    met = {True: "met", False: "NOT met"}
    print(
        f"transcription of {t['clip_s']} s of speech, {t['runs']} runs, {s['threads']} threads: "
        f"server {t['server_ms']:.1f} ms = {t['ratio']:.3f} x in-process "
        f"{t['overhead_ms']:+.1f} ms (target <= 1.05 x in-process + 15 ms = "
        f"{t['target_ms']:.1f} ms: {met[t['met']]}); of the overhead, decoding the WAV "
        f"upload takes {t['decode_ms']:.1f} ms; words right: {t['words_match']}, "
        f"same text both ways: {t['same_text']}"
    )
    print(
        f"streamed chat, {c['tokens']} tokens, {c['runs']} runs, fake first token "
        f"{s['fake_llm']['first_token_ms']:g} ms, {s['fake_llm']['token_ms']:g} ms/token: "
        f"throughput {c['throughput_ratio']:.3f} x direct (target >= 0.9), first token "
        f"{c['first_token_diff_ms']:+.1f} ms (target <= +10 ms): {met[c['met']]}; "
        f"all tokens arrived: {c['complete']}"
    )
    print(json.dumps(_rounded(s)))


def _rounded(value: Any) -> Any:
    if isinstance(value, float):
        return round(value, 3)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=5, help="transcriptions each way")
    p.add_argument("--chat-runs", type=int, default=5, help="streamed chats each way")
    p.add_argument("--tokens", type=int, default=100)
    p.add_argument("--first-token-ms", type=float, default=50.0)
    p.add_argument("--token-ms", type=float, default=10.0)
    p.add_argument("--warmup", type=int, default=WARMUP, help="untimed runs each way first")
    args = p.parse_args(argv)
    if min(args.runs, args.chat_runs, args.warmup) < 1 or args.tokens < 2:
        p.error("--runs, --chat-runs and --warmup must be at least 1, --tokens at least 2")
    summary = run(
        args.runs, args.chat_runs, args.tokens, args.first_token_ms, args.token_ms, args.warmup
    )
    print_report(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
