"""``hark listen``: talk through the microphone (or a recording played in real time), turn
after turn: always listening, push-to-talk (Enter) or after a wake word, with barge-in.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from app.cli.printer import Printer
from app.cli.terminal import terminal_confirmer
from app.compose.build import build_endpointer, build_engine, build_microphone
from app.compose.listen import build_listen_loop
from app.compose.warm import preload, warm_llm
from app.core.events import Event, TurnFailed
from app.core.ports import FrameSource
from app.llm.health import LlmMonitor
from app.settings.schema import Settings
from app.shared.errors import LlmCode


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``listen`` to ``hark``'s subparsers."""
    listen: argparse.ArgumentParser = sub.add_parser(
        "listen", help="talk through the microphone, turn after turn"
    )
    listen.add_argument(
        "--push-to-talk",
        action="store_true",
        help="press Enter to talk instead of always listening",
    )
    listen.add_argument(
        "--no-barge-in",
        action="store_true",
        help="don't let new speech interrupt Hark (speakers without echo cancellation)",
    )
    listen.add_argument("--device", help="microphone name or index (overrides the settings)")
    listen.add_argument(
        "--wav",
        type=Path,
        help="listen to a recording instead of the microphone (played in real "
        "time; Hark stops at its end)",
    )
    listen.add_argument("--no-voice", action="store_true", help="text replies only")
    listen.add_argument(
        "--wake-word",
        metavar="NAME",
        help="wait for a wake word before each request: hey_jarvis, alexa, okay_nabu, "
        "hey_mycroft, hey_rhasspy or a .tflite file (overrides talk.wake_word)",
    )
    listen.add_argument(
        "--wake-sensitivity",
        type=float,
        metavar="0.05-0.95",
        help="higher hears the wake word more readily (overrides talk.wake_sensitivity)",
    )
    return listen


def _last_turn_ms(settings: Settings) -> int:
    """The longest silence that may still end the recording's last turn."""
    audio = settings.audio
    return audio.turn_max_wait_ms if audio.end_of_turn == "smart" else audio.hangover_ms


def run(args: argparse.Namespace, settings: Settings) -> int:
    """Run ``hark listen`` until Ctrl-C (or the end of ``--wav``)."""
    return asyncio.run(_listen(args, settings))


async def _listen(args: argparse.Namespace, settings: Settings) -> int:
    # the audio stack (numpy, PortAudio, webrtcvad) loads only for the commands that listen
    from app.audio.capture import WavFileSource

    printer = Printer(False)
    engine = build_engine(
        settings,
        lambda e: emit(e),
        speak=not args.no_voice,
        progress=printer.progress,
        confirmer=terminal_confirmer(),
    )
    warm_task = asyncio.create_task(warm_llm(engine))  # the model loads while Hark starts
    await preload(engine)  # Whisper and the local voice now, not at the first turn

    def emit(event: Event) -> None:
        printer(event)
        if isinstance(event, TurnFailed) and event.code in (LlmCode.UNREACHABLE, LlmCode.TIMEOUT):
            monitor.report_failure(event.code, event.message)

    monitor = LlmMonitor(engine.chat, printer, settings.llm.retry_interval_s)
    monitor_task = asyncio.create_task(monitor.run())
    if engine.server is not None:  # stops the rented server when nobody talks to it
        watch_task = asyncio.create_task(engine.server.watch())
        monitor_task.add_done_callback(lambda _: watch_task.cancel())
    source: FrameSource
    if args.wav is not None:
        source = WavFileSource(
            args.wav, realtime=True, trailing_silence_ms=_last_turn_ms(settings) + 300
        )
    else:
        device = args.device if args.device is not None else settings.audio.input_device
        source = build_microphone(settings, engine, _device_arg(device))
    wake = None
    wake_word = args.wake_word or settings.talk.wake_word
    if wake_word:
        from app.audio.wakeword import WakeWord  # the wake-word model: only when asked for

        sensitivity = settings.talk.wake_sensitivity
        if args.wake_sensitivity is not None:
            sensitivity = args.wake_sensitivity
        wake = await asyncio.to_thread(WakeWord, wake_word, sensitivity=sensitivity)
    loop_ = build_listen_loop(
        engine,
        source,
        build_endpointer(settings, emit, printer.progress),  # the end-of-turn model loads now
        emit,
        barge_in=not args.no_barge_in,
        push_to_talk=args.push_to_talk,
        wake=wake,
    )
    if args.push_to_talk:
        print("Press Enter, then speak; Ctrl-C quits.", file=sys.stderr)
        _watch_enter(loop_)
    elif wake is not None:
        said = wake.name.replace("_", " ")
        print(f"Say '{said}', then your request. Ctrl-C quits.", file=sys.stderr)
    elif args.wav is None:
        print("Listening — just speak. Ctrl-C quits.", file=sys.stderr)
    try:
        await loop_.run()
    finally:
        monitor_task.cancel()
        warm_task.cancel()
        await engine.aclose()
    return 0


def _watch_enter(loop_: Any) -> None:
    """Arm one utterance per Enter key press (stdin read on the event loop)."""
    aio = asyncio.get_running_loop()

    def on_line() -> None:
        if not sys.stdin.readline():
            aio.remove_reader(sys.stdin)
            return
        loop_.arm()
        print("… speak now", file=sys.stderr)

    aio.add_reader(sys.stdin, on_line)


def _device_arg(device: str | int | None) -> str | int | None:
    if isinstance(device, str) and device.isdigit():
        return int(device)
    return device
