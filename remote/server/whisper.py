"""The server's transcription engine: any audio file in, Whisper segments out.

Uploads are decoded by :func:`remote.server.audio.decode_audio` (PyAV, any container).

The model is faster-whisper (CUDA float16 when there is a GPU, CPU int8 otherwise), loaded on
first use (or at start-up with ``whisper_preload``) and freed by :class:`IdleUnloader` after
``whisper_idle_unload_s`` without work, so an idle GPU box gives its memory to Ollama. The
same guards as Hark's local recogniser keep silence and noise from becoming text: an energy
gate, Silero VAD (``vad_filter``) and Whisper's own no-speech rating
(:func:`app.asr.local.keep_segment`).

Everything blocking runs in worker threads (``asyncio.to_thread``); the engine holds no
asyncio objects, so it may serve several event loops (tests share one loaded model).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any, Protocol

from app.asr.download import hub_repo_id, known_model_names, snapshot
from app.asr.local import (
    LOG_PROB_THRESHOLD,
    MIN_AUDIO_S,
    SILENCE_DBFS,
    keep_segment,
    loudest_frame_dbfs,
    resolve_device,
)
from app.core.types import SAMPLE_RATE
from app.shared.errors import AsrError, HarkError
from app.shared.paths import cache_dir
from app.shared.protocol import ErrorCode
from remote.server.audio import Audio, decode_audio
from remote.server.settings import ServerSettings, resolve_whisper_model

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class TranscribeOptions:
    """What a request may choose; ``None`` means the model's own default."""

    language: str | None = None
    prompt: str | None = None
    temperature: float | None = None


@dataclass(frozen=True, slots=True)
class Segment:
    """One kept piece of speech, with the fields OpenAI's ``verbose_json`` shows."""

    id: int
    seek: int
    start: float
    end: float
    text: str
    tokens: tuple[int, ...]
    temperature: float
    avg_logprob: float
    compression_ratio: float
    no_speech_prob: float


@dataclass(frozen=True, slots=True)
class TranscriptionResult:
    """The text, its language, the audio length and the segments it came from."""

    text: str
    language: str | None
    duration_s: float
    segments: tuple[Segment, ...] = ()


@dataclass(frozen=True, slots=True)
class EngineStatus:
    """What ``/status`` and ``/healthz`` say about the engine."""

    model: str
    state: str
    """``unloaded``, ``loading``, ``ready`` or ``failed`` (the last load attempt failed)."""
    device: str | None = None
    compute_type: str | None = None
    detail: str | None = None
    """The last progress line of a download/load, or why loading failed."""

    @property
    def loaded(self) -> bool:
        return self.state == "ready"


class TranscriptionEngine(Protocol):
    """What the server needs from a speech recogniser (the real one is :class:`WhisperEngine`).

    Errors are :class:`~app.shared.errors.AsrError` with the codes ``bad-audio`` (400),
    ``too-large`` (413), ``bad-request`` (400) or ``whisper-unavailable`` (503).
    """

    def status(self) -> EngineStatus: ...

    async def load(self) -> None: ...

    async def transcribe(self, data: bytes, options: TranscribeOptions) -> TranscriptionResult: ...

    async def unload_if_idle(self, idle_s: float) -> bool: ...


def _model_path(settings: ServerSettings, name: str, report: Callable[[str], None]) -> Path:
    folder = Path(name).expanduser()
    if folder.is_dir():
        if not (folder / "model.bin").is_file():
            raise AsrError(
                ErrorCode.WHISPER_UNAVAILABLE,
                f"the Whisper model folder {folder} holds no model.bin; it must be a "
                "CTranslate2 Whisper model",
            )
        return folder
    repo = hub_repo_id(name) if not name.startswith(("/", ".", "~")) else None
    if repo is None:
        raise AsrError(
            ErrorCode.WHISPER_UNAVAILABLE,
            f'Whisper model "{name}" is neither a folder with model.bin nor a known model; set '
            f"HARK_SERVER__WHISPER_MODEL to one of {', '.join(known_model_names())} or a folder",
        )
    root = settings.whisper_download_root or cache_dir() / "whisper"
    return snapshot(name, repo, root, report, endpoint=settings.whisper_hub_endpoint)


class WhisperEngine:
    """faster-whisper behind :class:`TranscriptionEngine`; see the module docstring.

    ``clock`` (monotonic seconds) times the idle unload, so tests can move it.
    """

    def __init__(
        self, settings: ServerSettings, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._settings = settings
        self._clock = clock
        self._load_lock = threading.Lock()  # one load (or unload) at a time
        self._lock = threading.Lock()  # guards the fields below
        self._model: Any = None
        self._active = 0
        self._last_used = clock()
        self._state = "unloaded"
        self._detail: str | None = None
        self._device: str | None = None
        self._compute_type: str | None = None
        name = settings.whisper_model.strip()
        auto = name.lower() == "auto"
        self._name = resolve_whisper_model(name, self._pick_device()) if auto else name

    # --- the protocol ------------------------------------------------------------------------

    def status(self) -> EngineStatus:
        with self._lock:
            return EngineStatus(
                self.shown_name, self._state, self._device, self._compute_type, self._detail
            )

    @property
    def model_name(self) -> str:
        """The configured model, with ``auto`` resolved for this machine."""
        return self._name

    @property
    def shown_name(self) -> str:
        """The model as answers name it: a folder by its last part only (answers never show
        where the server keeps its files)."""
        return shown_model_name(self._name)

    async def load(self) -> None:
        """Load (downloading first if need be) now rather than on the first request."""
        await asyncio.to_thread(self._load_sync)

    async def transcribe(self, data: bytes, options: TranscribeOptions) -> TranscriptionResult:
        """Decode ``data`` (any audio file) and transcribe it; see the protocol for errors."""
        return await asyncio.to_thread(self._transcribe_sync, data, options)

    async def unload_if_idle(self, idle_s: float) -> bool:
        """Free the model if nothing used it for ``idle_s``; True when it was freed."""
        return await asyncio.to_thread(self._unload_sync, idle_s)

    # --- worker threads ----------------------------------------------------------------------

    def _pick_device(self) -> str:
        wanted = self._settings.whisper_device
        if wanted != "auto":
            return wanted
        return "cuda" if _cuda_devices(wanted) > 0 else "cpu"

    def _report(self, message: str) -> None:
        with self._lock:
            self._detail = message

    def _load_sync(self) -> None:
        with self._load_lock:
            if self._model is None:
                self._load_model()

    def _acquire(self) -> Any:
        """The model, loaded if need be and counted as in use (so it cannot be unloaded)."""
        with self._load_lock:
            if self._model is None:
                self._load_model()
            with self._lock:
                self._active += 1
                return self._model

    def _load_model(self) -> None:
        from faster_whisper import WhisperModel

        s = self._settings
        name = self.model_name
        with self._lock:
            self._state, self._detail = "loading", f"loading Whisper {name}"
        started = time.monotonic()
        try:
            device, compute = resolve_device(
                s.whisper_device, s.whisper_compute_type, _cuda_devices(s.whisper_device)
            )
            path = _model_path(s, name, self._report)
            model = WhisperModel(
                str(path),
                device=device,
                compute_type=compute,
                cpu_threads=s.whisper_cpu_threads,
                num_workers=s.whisper_concurrency,
            )
        except Exception as exc:
            message = exc.message if isinstance(exc, HarkError) else f"{type(exc).__name__}: {exc}"
            with self._lock:
                self._state, self._detail = "failed", message
            log.error("Whisper %s could not be loaded: %s", name, message)
            raise AsrError(
                ErrorCode.WHISPER_UNAVAILABLE,
                f"the server's Whisper model is not available: {message}",
            ) from exc
        with self._lock:
            self._model, self._device, self._compute_type = model, device, compute
            self._state, self._detail = "ready", None
            self._last_used = self._clock()
        log.info(
            "Whisper ready: model=%s device=%s compute=%s in %.2f s",
            name,
            device,
            compute,
            time.monotonic() - started,
        )

    def _unload_sync(self, idle_s: float) -> bool:
        if not self._load_lock.acquire(blocking=False):
            return False  # loading right now: certainly not idle
        try:
            with self._lock:
                idle_for = self._clock() - self._last_used
                if self._model is None or self._active or idle_for < idle_s:
                    return False
                self._model = None
                self._state, self._device, self._compute_type = "unloaded", None, None
        finally:
            self._load_lock.release()
        gc.collect()  # CTranslate2 frees the weights (and GPU memory) with the last reference
        log.info("Whisper %s unloaded after %.0f s idle", self.model_name, idle_for)
        return True

    def _transcribe_sync(self, data: bytes, options: TranscribeOptions) -> TranscriptionResult:
        audio = decode_audio(data, self._settings.max_audio_s)
        duration = len(audio) / SAMPLE_RATE
        if len(audio) < MIN_AUDIO_S * SAMPLE_RATE or loudest_frame_dbfs(audio) < SILENCE_DBFS:
            return TranscriptionResult("", options.language, duration)
        model = self._acquire()
        try:
            return self._run_model(model, audio, options)
        finally:
            with self._lock:
                self._active -= 1
                self._last_used = self._clock()

    def _run_model(
        self, model: Any, audio: Audio, options: TranscribeOptions
    ) -> TranscriptionResult:
        s = self._settings
        language = _check_language(model, self.shown_name, options.language)
        temperature: Any = (
            options.temperature if options.temperature else [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
        )
        started = time.monotonic()
        segments, info = model.transcribe(
            audio,
            language=language,
            beam_size=s.whisper_beam_size,
            temperature=temperature,
            initial_prompt=options.prompt or None,
            vad_filter=True,
            condition_on_previous_text=False,
            no_speech_threshold=s.whisper_no_speech_threshold,
            log_prob_threshold=LOG_PROB_THRESHOLD,
        )
        kept: list[Segment] = []
        for seg in segments:  # the lazy generator: decoding happens here, in this thread
            if keep_segment(
                seg.text, seg.no_speech_prob, seg.avg_logprob, s.whisper_no_speech_threshold
            ):
                kept.append(
                    Segment(
                        id=len(kept),
                        seek=int(seg.seek),
                        start=round(float(seg.start), 3),
                        end=round(float(seg.end), 3),
                        text=seg.text.strip(),
                        tokens=tuple(int(t) for t in seg.tokens),
                        temperature=float(seg.temperature or 0.0),
                        avg_logprob=float(seg.avg_logprob),
                        compression_ratio=float(seg.compression_ratio),
                        no_speech_prob=float(seg.no_speech_prob),
                    )
                )
        text = " ".join(" ".join(seg.text for seg in kept).split())
        log.debug(
            "transcribed %.2f s of audio into %d characters in %.2f s",
            len(audio) / SAMPLE_RATE,
            len(text),
            time.monotonic() - started,
        )
        return TranscriptionResult(text, info.language, float(info.duration), tuple(kept))


def _cuda_devices(wanted: str) -> int:
    if wanted == "cpu":
        return 0
    import ctranslate2

    return int(ctranslate2.get_cuda_device_count())


def shown_model_name(name: str) -> str:
    """``/srv/models/whisper-large-v3`` → ``whisper-large-v3``; a model name stays as it is."""
    if "/" in name.replace("\\", "/") and not hub_repo_id(name):
        return PurePath(name.replace("\\", "/")).name or name
    return name


def _check_language(model: Any, name: str, language: str | None) -> str | None:
    supported = list(model.supported_languages)
    code = (language or "").strip().lower() or None
    if code is None:
        return None if len(supported) > 1 else "en"
    if code not in supported:
        if len(supported) == 1:
            message = (
                f'this server\'s Whisper model "{name}" understands {supported[0]} only, not '
                f"{code}; leave the language out or send {supported[0]}"
            )
        else:
            message = f"unknown language code {code!r}; use an ISO 639-1 code such as en, de, fr"
        raise AsrError(ErrorCode.BAD_REQUEST, message)
    return code


class IdleUnloader:
    """Frees the engine's model after ``idle_s`` without work; run :meth:`run` as a task.

    It looks every ``interval_s`` (and at once on :meth:`wake`); ``unloaded`` is set each
    time it freed the model.
    """

    def __init__(
        self, engine: TranscriptionEngine, idle_s: float, interval_s: float | None = None
    ) -> None:
        self.engine = engine
        self.idle_s = idle_s
        self.interval_s = interval_s if interval_s is not None else min(30.0, max(1.0, idle_s / 10))
        self.unloads = 0
        self.unloaded = asyncio.Event()
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Look now instead of at the next interval."""
        self._wake.set()

    async def run(self) -> None:
        """Look, unload when idle, repeat (until cancelled)."""
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self.interval_s)
            self._wake.clear()
            try:
                freed = await self.engine.unload_if_idle(self.idle_s)
            except Exception:
                log.exception("the idle check of the Whisper model failed")
                continue
            if freed:
                self.unloads += 1
                self.unloaded.set()
