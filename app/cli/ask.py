"""``hark ask``: one turn from text or a WAV file, printed as it streams or as one JSON object
(``--json``: transcript, reply, tool calls, timings), with the spoken reply played or written
to a WAV file (``--out``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from app.cli.printer import Printer
from app.cli.terminal import terminal_confirmer
from app.compose.build import build_engine
from app.core.events import TurnResult
from app.core.types import Utterance
from app.settings.schema import Settings
from app.shared.errors import AudioCode, AudioError

EXIT_TURN_FAILED = 1


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``ask`` to ``hark``'s subparsers."""
    ask: argparse.ArgumentParser = sub.add_parser("ask", help="one turn from text or a WAV file")
    src = ask.add_mutually_exclusive_group(required=True)
    src.add_argument("text", nargs="?", help="what to ask")
    src.add_argument("--wav", type=Path, help="a WAV file with the spoken request (any rate)")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--out", type=Path, help="write the spoken reply to this WAV file")
    ask.add_argument("--no-voice", action="store_true", help="text reply only")
    return ask


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``hark ask``; exit status 1 when the turn failed."""
    return asyncio.run(_ask(args, settings))


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    printer = Printer(args.json)
    utterance = None
    if args.wav is not None:
        utterance = await _utterance_from_wav(args.wav, settings)
    speak = not args.no_voice
    engine = build_engine(
        settings,
        printer,
        out=args.out,
        speak=speak,
        with_asr=utterance is not None,
        progress=printer.progress,
        confirmer=terminal_confirmer(),
    )
    try:
        if utterance is not None:
            result = await engine.pipeline.run_voice(utterance)
        else:
            result = await engine.pipeline.run_text(args.text)
    finally:
        await engine.aclose()
    audio_out = args.out if args.out is not None and args.out.exists() else None
    if args.json:
        print(json.dumps(_result_json(result, audio_out), ensure_ascii=False))
    elif utterance is not None and not result.transcript:
        print("hark: no words were recognised in that recording.", file=sys.stderr)
    return EXIT_TURN_FAILED if result.error_code else 0


def _result_json(result: TurnResult, audio_out: Path | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "transcript": result.transcript,
        "reply": result.reply,
        "tool_calls": [
            {"name": c.name, "arguments": c.arguments, "ok": c.ok, "result": c.result}
            for c in result.tool_calls
        ],
        "timings_ms": result.timings.as_dict(),
        "audio_out": str(audio_out) if audio_out is not None else None,
    }
    if result.error_code:
        data["error"] = {"code": result.error_code, "message": result.error_message}
    return data


async def _utterance_from_wav(path: Path, settings: Settings) -> Utterance:
    """The speech in a WAV file as one utterance (several pauses are joined)."""
    # the audio stack (numpy, webrtcvad) loads only when there is audio to read
    from app.audio.capture import WavFileSource
    from app.audio.utterances import utterances
    from app.audio.vad import Endpointer

    source = WavFileSource(path, trailing_silence_ms=settings.audio.hangover_ms + 300)
    found = [u async for u in utterances(source, Endpointer.from_settings(settings.audio))]
    if not found:
        raise AudioError(
            AudioCode.NO_SPEECH,
            f"no speech was found in {path}; check that it is a recording of a voice "
            "(try playing it) and not silence.",
        )
    first, last = found[0], found[-1]
    pcm = b"".join(u.pcm for u in found)
    return Utterance(pcm, first.start_s, last.end_s, last.detected_s)
