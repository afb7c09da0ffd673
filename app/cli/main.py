"""The ``hark`` command line: ask, listen, doctor, config, secret, server, remote, google, audit.

Every command reads the settings once and passes them down. Errors that a user can fix are
printed as one clear message (no traceback) with exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from app import __version__
from app.cli import audit as audit_cli
from app.cli.google import add_parser as add_google_parser
from app.core.events import (
    BackendStatusChanged,
    Event,
    ListeningTimedOut,
    NoticeRaised,
    ReplyTextReceived,
    ServerStateChanged,
    SpeechStarted,
    ToolCallStarted,
    TranscriptReady,
    TurnFailed,
    TurnFinished,
    TurnResult,
    WakeWordDetected,
)
from app.core.ports import Confirmer
from app.core.types import Utterance
from app.settings.load import load_settings
from app.settings.schema import Settings
from app.settings.secrets import SECRET_NAMES, SecretStore
from app.shared.errors import AudioCode, AudioError, ConfigCode, ConfigError, HarkError, LlmCode
from app.shared.paths import config_path

log = logging.getLogger("hark")

EXIT_USAGE = 2
EXIT_TURN_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hark",
        description="Hark: a voice assistant that you own. Talk to it; it answers out loud.",
    )
    p.add_argument("--version", action="version", version=f"hark {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    ask = sub.add_parser("ask", help="one turn from text or a WAV file")
    src = ask.add_mutually_exclusive_group(required=True)
    src.add_argument("text", nargs="?", help="what to ask")
    src.add_argument("--wav", type=Path, help="a WAV file with the spoken request (any rate)")
    ask.add_argument("--json", action="store_true", help="print one JSON object")
    ask.add_argument("--out", type=Path, help="write the spoken reply to this WAV file")
    ask.add_argument("--no-voice", action="store_true", help="text reply only")

    listen = sub.add_parser("listen", help="talk through the microphone, turn after turn")
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

    sub.add_parser("tray", help="the desktop app (also what `hark` alone starts)")
    doctor = sub.add_parser("doctor", help="check audio, models, server and keyring")
    doctor.add_argument("--json", action="store_true", help="print the checks as JSON")

    config = sub.add_parser("config", help="show or create the settings file")
    config.add_argument("action", choices=["show", "path", "init"])

    secret = sub.add_parser("secret", help="store API keys in the OS keyring")
    secret.add_argument("action", choices=["set", "delete", "status"])
    secret.add_argument("name", nargs="?", choices=sorted(SECRET_NAMES))
    _add_server_parser(sub)
    _add_remote_parser(sub)
    audit_cli.add_parser(sub)
    add_google_parser(sub)
    return p


def _add_remote_parser(sub: Any) -> None:
    from app.cli.remote import add_parser

    add_parser(sub)


def _add_server_parser(sub: Any) -> None:
    server = sub.add_parser(
        "server",
        help="run the Hark server (Whisper + the Ollama API) behind TLS on this machine",
        description="Run the Hark server: Whisper and the Ollama API behind one port, with an "
        "API key and TLS (Caddy). Ctrl-C stops it.",
    )
    server.add_argument("--listen", metavar="HOST:PORT", help="e.g. 0.0.0.0:8443")
    server.add_argument(
        "--api-key-file", type=Path, metavar="FILE", help="API keys, one per line (chmod 600)"
    )
    server.add_argument("--tls-cert", type=Path, metavar="C", help="certificate (PEM) to serve")
    server.add_argument("--tls-key", type=Path, metavar="K", help="its private key (PEM)")
    server.add_argument(
        "--domain", metavar="NAME", help="get certificates for NAME automatically (ACME)"
    )
    server.add_argument("--acme-email", metavar="EMAIL", help="contact for the ACME account")
    server.add_argument(
        "--no-tls", action="store_true", help="plain HTTP, on a loopback address only"
    )
    server.add_argument(
        "--insecure-public",
        action="store_true",
        help="allow --no-tls on a public address (the API key travels in clear text)",
    )
    server.add_argument("--ollama-url", metavar="URL", help="default http://127.0.0.1:11434")
    server.add_argument("--whisper-model", metavar="NAME_OR_DIR", help="default: auto")
    server.add_argument("--data-dir", type=Path, metavar="DIR", help="Caddy's storage")
    server.add_argument(
        "--startup-timeout", type=float, default=120.0, metavar="S", help="default 120"
    )
    server.add_argument(
        "--make-key", type=Path, metavar="FILE", help="write a new API key file, then exit"
    )
    server.add_argument(
        "--make-cert",
        type=Path,
        metavar="DIR",
        help="write a self-signed certificate + key (for --listen's address), then exit",
    )


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:  # a line per HTTP request only in debug output
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        if args.command in (None, "tray"):
            return _tray(settings)
        if args.command not in ("remote", "ask", "listen"):  # the engine follows it itself
            from app.compose import with_deployment

            settings = with_deployment(settings)
        return _dispatch(args, settings)
    except HarkError as exc:
        if args.debug:
            raise
        print(f"hark: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "ask":
        return asyncio.run(_ask(args, settings))
    if args.command == "listen":
        return asyncio.run(_listen(args, settings))
    if args.command == "doctor":
        from app.doctor.checks import run_doctor

        return asyncio.run(run_doctor(settings, as_json=args.json))
    if args.command == "config":
        return _config(args.action, settings)
    if args.command == "secret":
        return _secret(args.action, args.name)
    if args.command == "server":
        return _server(args)
    if args.command == "google":
        from app.cli.google import run as google_run

        return google_run(args, settings.google)
    if args.command == "audit":
        return audit_cli.run(args, settings)
    if args.command == "remote":
        from app.cli.remote import run as remote_run

        return remote_run(args, settings.llm.model)
    raise AssertionError(args.command)


def _tray(settings: Settings) -> int:
    """``hark`` alone: the desktop app (the tray), or help where it cannot run."""
    try:
        from app.gui.app import run_gui
    except ImportError as exc:  # a server-only install has no Qt
        build_parser().print_help()
        print(
            f"\nThe desktop app is not installed here ({exc.name} is missing): "
            'scripts/setup desktop in Hark\'s folder. Meanwhile: `hark ask "…"`, `hark listen`.'
        )
        return 0
    return run_gui(settings)


def _server(args: argparse.Namespace) -> int:
    """``hark server``: make a key/certificate, or run the server stack until Ctrl-C."""
    try:
        from remote.server import run as server_run
    except ModuleNotFoundError as exc:  # the desktop bundle, desktop-only installs
        raise ConfigError(
            ConfigCode.SERVER_NOT_INSTALLED,
            f"the Hark server is not part of this installation ({exc.name} is missing): "
            "scripts/setup server in Hark's folder on the machine that serves.",
        ) from exc

    if args.make_key is not None or args.make_cert is not None:
        if args.make_key is not None:
            server_run.make_key(args.make_key, sys.stdout)
        if args.make_cert is not None:
            server_run.make_cert(args.make_cert, args.listen, sys.stdout)
        return 0
    if args.listen is None or args.api_key_file is None:
        raise ConfigError(
            ConfigCode.SERVER_ARGS_MISSING,
            "give --listen HOST:PORT and --api-key-file FILE (see `hark server --help`).",
        )
    if args.verbose == 0:
        logging.getLogger().setLevel(logging.INFO)  # a server shows its requests and state
    return server_run.serve(
        args.listen,
        args.api_key_file,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        no_tls=args.no_tls,
        ollama_url=args.ollama_url,
        whisper_model=args.whisper_model,
        domain=args.domain,
        acme_email=args.acme_email,
        insecure_public=args.insecure_public,
        data_dir=args.data_dir,
        startup_timeout_s=args.startup_timeout,
    )


class _Printer:
    """Shows engine events in a terminal; quiet on stdout when JSON is wanted."""

    def __init__(self, json_mode: bool) -> None:
        self.json_mode = json_mode
        self._replying = False
        self._progress_open = False

    @property
    def out(self) -> TextIO:
        return sys.stdout

    @property
    def err(self) -> TextIO:
        return sys.stderr

    def __call__(self, event: Event) -> None:
        if isinstance(
            event, (NoticeRaised | BackendStatusChanged | ServerStateChanged, TurnFailed)
        ):
            self._end_line()
            print(f"hark: {event.message}", file=self.err)
        elif self.json_mode:
            return
        elif isinstance(event, SpeechStarted):
            print("… listening", file=self.err)
        elif isinstance(event, WakeWordDetected):
            print(f"… yes? ({event.model}, {event.score:.2f})", file=self.err)
        elif isinstance(event, ListeningTimedOut):
            print("(nothing heard; say the wake word again)", file=self.err)
        elif isinstance(event, TranscriptReady):
            print(f"you: {event.text or '(nothing heard)'}", file=self.out)
        elif isinstance(event, ToolCallStarted):
            self._end_line()
            print(f"  [{event.name}]", file=self.err)
        elif isinstance(event, ReplyTextReceived):
            if not self._replying:
                print("hark: ", end="", file=self.out)
                self._replying = True
            print(event.text, end="", file=self.out, flush=True)
        elif isinstance(event, TurnFinished):
            self._end_line()

    def _end_line(self) -> None:
        if self._replying:
            print(file=self.out)
            self._replying = False

    def progress(self, message: str) -> None:
        """Percent updates overwrite one line; other steps get a line each."""
        if "%" in message:
            print(f"\r{message}\033[K", end="", file=self.err, flush=True)
            self._progress_open = True
        else:
            print(("\n" if self._progress_open else "") + message, file=self.err, flush=True)
            self._progress_open = False


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


async def _ask(args: argparse.Namespace, settings: Settings) -> int:
    from app.compose import build_engine

    printer = _Printer(args.json)
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
        confirmer=_terminal_confirmer(),
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


async def _utterance_from_wav(path: Path, settings: Settings) -> Utterance:
    """The speech in a WAV file as one utterance (several pauses are joined)."""
    from app.audio.capture import WavFileSource
    from app.audio.vad import Endpointer, utterances

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


async def _listen(args: argparse.Namespace, settings: Settings) -> int:
    from app.audio.capture import MicrophoneSource, WavFileSource
    from app.audio.vad import Endpointer
    from app.compose import build_engine
    from app.core.listen_loop import ListenLoop
    from app.core.ports import FrameSource
    from app.llm.health import LlmMonitor

    printer = _Printer(False)
    engine = build_engine(
        settings,
        lambda e: emit(e),
        speak=not args.no_voice,
        progress=printer.progress,
        confirmer=_terminal_confirmer(),
    )
    load = getattr(engine.transcriber, "load", None)
    if load is not None:
        await load()

    def emit(event: Event) -> None:
        printer(event)
        if isinstance(event, TurnFailed) and event.code in ("llm-unreachable", LlmCode.TIMEOUT):
            monitor.report_failure(event.code, event.message)

    monitor = LlmMonitor(engine.chat, printer, settings.llm.retry_interval_s)
    monitor_task = asyncio.create_task(monitor.run())
    if engine.server is not None:  # stops the rented server when nobody talks to it
        watch_task = asyncio.create_task(engine.server.watch())
        monitor_task.add_done_callback(lambda _: watch_task.cancel())
    source: FrameSource
    if args.wav is not None:
        source = WavFileSource(
            args.wav, realtime=True, trailing_silence_ms=settings.audio.hangover_ms + 300
        )
    else:
        device = args.device if args.device is not None else settings.audio.input_device
        source = MicrophoneSource(_device_arg(device))
    wake = None
    wake_word = args.wake_word or settings.talk.wake_word
    if wake_word:
        from app.audio.wakeword import WakeWord

        sensitivity = settings.talk.wake_sensitivity
        if args.wake_sensitivity is not None:
            sensitivity = args.wake_sensitivity
        wake = await asyncio.to_thread(WakeWord, wake_word, sensitivity=sensitivity)
    loop_ = ListenLoop(
        source,
        Endpointer.from_settings(settings.audio),
        engine.pipeline,
        emit,
        barge_in=not args.no_barge_in,
        push_to_talk=args.push_to_talk,
        wake=wake,
        skip_ms=settings.talk.skip_ms,
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
        await engine.aclose()
    return 0


def _terminal_confirmer() -> Confirmer | None:
    """Ask on the terminal when there is one; without, actions that need a yes are not done."""
    if not sys.stdin or not sys.stdin.isatty():
        return None
    from app.safety.terminal_confirm import TerminalConfirmer

    return TerminalConfirmer()


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


def _config(action: str, settings: Settings) -> int:
    from app.settings.load import write_default_config

    path = config_path()
    if action == "path":
        print(path)
    elif action == "show":
        print(f"# {path}{'' if path.exists() else ' (not created yet: defaults)'}")
        print(json.dumps(settings.public_dump(), indent=2))
    else:
        if path.exists():
            raise ConfigError(ConfigCode.CONFIG_EXISTS, f"{path} already exists; edit it instead.")
        write_default_config(path)
        print(f"wrote {path}")
    return 0


def _secret(action: str, name: str | None) -> int:
    store = SecretStore()
    names = [name] if name else sorted(SECRET_NAMES)
    if action == "status":
        for n in names:
            print(f"{n}: {store.source(n) or 'not set'}")
        return 0
    if name is None:
        raise ConfigError(
            ConfigCode.SECRET_NAME_MISSING, f"name the secret: one of {', '.join(names)}"
        )
    if action == "set":
        value = getpass.getpass(f"{name}: ") if sys.stdin.isatty() else sys.stdin.readline()
        store.set(name, value)
        print(f"{name} stored in the keyring")
    else:
        print(f"{name} {'deleted' if store.delete(name) else 'was not set'}")
    return 0
