"""Speech recognition on this computer with faster-whisper (CTranslate2 Whisper models).

``settings.model`` is either a faster-whisper model name (``base.en``, ``small``, ``large-v3`` …),
which is downloaded once from the Hugging Face Hub into ``settings.download_root`` (default:
Hark's cache directory) with its progress reported, a Hub repository id (``org/name``) of a
CTranslate2 Whisper model, or a local folder that holds ``model.bin``.

Language: a fixed code (default ``en``), or ``auto`` to detect, restricted to
``settings.languages`` when that list is set. English-only models (``*.en``) cannot do anything
but English: with ``auto`` Hark uses ``en`` and logs a warning (an English-only model can only
answer "English" anyway); an explicit non-English language, or a ``languages`` list without
``en``, is refused at load time with ``asr-language-unsupported``.

Silence and noise must not become text (Whisper likes to "hear" *Thank you.* in a quiet room),
so four guards stand in line: an energy gate skips near-silent input without running the
model; Silero VAD (``vad_filter``, shipped with faster-whisper) drops non-speech; segments
that Whisper itself rates as no-speech (``no_speech_prob`` above the threshold with a low
``avg_logprob``) are dropped; and a short list of well-known hallucinated phrases is removed
only when such a phrase is the whole of a low-confidence segment.

The model and faster-whisper's lazy segment generator run in a worker thread
(``asyncio.to_thread``); one lock serialises loading and transcription because there is one model.
"""

from __future__ import annotations

import asyncio
import logging
import re
import string
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from app.asr.download import Progress, hub_repo_id, known_model_names, snapshot
from app.asr.short_window import decode_short
from app.audio.resample import resample_pcm
from app.core.types import SAMPLE_RATE, BackendStatus, Transcript
from app.settings.schema import AsrSettings
from app.shared.errors import AsrCode, AsrError
from app.shared.paths import cache_dir

log = logging.getLogger(__name__)


SILENCE_DBFS = -55.0
"""If no 30 ms frame is louder than this (RMS, dBFS), the input is silence: no model runs."""
MIN_AUDIO_S = 0.1
"""Shorter input is too short to hold a word."""
LOG_PROB_THRESHOLD = -1.0
"""Whisper's own rule: no-speech only when the decoded text is also improbable."""
LOW_CONFIDENCE_LOGPROB = -0.8

HALLUCINATIONS = frozenset(
    {
        "thank you",
        "thank you very much",
        "thanks for watching",
        "thank you for watching",
        "thanks for listening",
        "thank you for listening",
        "please subscribe",
        "like and subscribe",
        "subscribe to my channel",
        "subtitles by the amaraorg community",
        "you",
        "bye",
    }
)
"""Phrases Whisper invents on silence or noise (learnt from video subtitles). Matched after
:func:`normalise` and dropped only when they are a whole low-confidence segment."""

_PUNCT = str.maketrans("", "", string.punctuation + "¿¡…“”‘’")
_PATH_LIKE = re.compile(r"^(?:[~./\\]|[A-Za-z]:[\\/])|[\\]|/.*/")


def normalise(text: str) -> str:
    """Lower case, no punctuation, single spaces: for comparing phrases, not for display."""
    return " ".join(text.lower().translate(_PUNCT).split())


def keep_segment(
    text: str, no_speech_prob: float, avg_logprob: float, no_speech_threshold: float
) -> bool:
    """Whether a decoded segment is speech worth keeping (see the module docstring)."""
    words = normalise(text)
    if not words:
        return False
    if no_speech_prob > no_speech_threshold and avg_logprob < LOG_PROB_THRESHOLD:
        return False
    low_confidence = (
        no_speech_prob > no_speech_threshold / 2 or avg_logprob < LOW_CONFIDENCE_LOGPROB
    )
    return not (low_confidence and words in HALLUCINATIONS)


def choose_language(
    probabilities: Sequence[tuple[str, float]], allowed: Sequence[str]
) -> tuple[str, float]:
    """The most probable language among ``allowed`` (all languages when it is empty)."""
    ranked = sorted(probabilities, key=lambda item: item[1], reverse=True)
    for code, prob in ranked:
        if not allowed or code in allowed:
            return code, prob
    if allowed:
        return allowed[0], 0.0
    raise ValueError("no language probabilities to choose from")


def resolve_device(device: str, compute_type: str, cuda_devices: int) -> tuple[str, str]:
    """``auto`` → CUDA with float16 when a GPU is visible, else CPU with int8."""
    if device == "auto":
        device = "cuda" if cuda_devices > 0 else "cpu"
    elif device == "cuda" and cuda_devices == 0:
        raise AsrError(
            AsrCode.CUDA_UNAVAILABLE,
            "the ASR device is set to cuda, but CTranslate2 sees no CUDA GPU (is the NVIDIA "
            "driver installed, with the CUDA 12 and cuDNN 9 libraries?). Set "
            "HARK_ASR__DEVICE=auto or cpu to run on the CPU.",
        )
    if compute_type == "auto":
        compute_type = "float16" if device == "cuda" else "int8"
    return device, compute_type


def loudest_frame_dbfs(audio: np.ndarray[Any, np.dtype[np.float32]]) -> float:
    """RMS level (dBFS) of the loudest 30 ms frame of float samples in [-1, 1]."""
    hop = SAMPLE_RATE * 30 // 1000
    n = len(audio) // hop
    frames = audio[: n * hop].reshape(n, hop) if n else audio[None, :]
    rms = float(np.sqrt(np.max(np.mean(np.square(frames, dtype=np.float64), axis=1))))
    return 20 * float(np.log10(rms)) if rms > 0 else float("-inf")


class LocalWhisper:
    """The Transcriber port on faster-whisper, loaded lazily (or now, with :meth:`load`).

    ``progress`` receives human-readable status lines ("Downloading Whisper base.en: 45 %")
    on the event loop that awaited :meth:`load`/:meth:`transcribe`. ``hub_endpoint`` points
    downloads at a Hugging Face Hub mirror (default: the Hub, or ``HF_ENDPOINT``).
    """

    def __init__(
        self,
        settings: AsrSettings,
        progress: Progress | None = None,
        *,
        hub_endpoint: str | None = None,
    ) -> None:
        self._settings = settings
        self._progress = progress
        self._hub_endpoint = hub_endpoint
        self._lock = threading.Lock()
        self._model: Any = None
        self._device: str | None = None
        self._compute_type: str | None = None
        self._fixed_language: str | None = None
        self._allowed: tuple[str, ...] = ()

    @property
    def loaded(self) -> bool:
        """True once the model is in memory."""
        return self._model is not None

    @property
    def device(self) -> str | None:
        """``cpu`` or ``cuda`` once loaded."""
        return self._device

    @property
    def compute_type(self) -> str | None:
        """The CTranslate2 compute type in use once loaded (``int8``, ``float16`` …)."""
        return self._compute_type

    async def load(self) -> None:
        """Load (downloading first if need be) now, so that the first utterance is not slow."""
        report = self._reporter()
        await asyncio.to_thread(self._load_locked, report)

    async def check(self) -> BackendStatus:
        """Load the model and say whether speech recognition is usable (for ``hark doctor``)."""
        try:
            await self.load()
        except AsrError as exc:
            return BackendStatus(ok=False, code=exc.code, message=exc.message)
        return BackendStatus(
            ok=True,
            code="ok",
            message=f"Whisper {self._settings.model} on {self._device} ({self._compute_type})",
        )

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        """Transcribe int16 mono PCM at any rate; silence or noise gives ``text == ""``."""
        if sample_rate <= 0:
            raise AsrError(AsrCode.BAD_AUDIO, f"sample rate must be positive, not {sample_rate}")
        report = self._reporter()
        return await asyncio.to_thread(self._transcribe_locked, pcm, sample_rate, report)

    # --- worker thread ---------------------------------------------------------------------

    def _reporter(self) -> Progress:
        """A progress function that may be called from any thread; delivers on this loop."""
        callback = self._progress
        if callback is None:
            return lambda _message: None
        loop = asyncio.get_running_loop()

        def deliver(message: str) -> None:
            loop.call_soon_threadsafe(callback, message)

        return deliver

    def _load_locked(self, report: Progress) -> None:
        with self._lock:
            self._ensure_loaded(report)

    def _ensure_loaded(self, report: Progress) -> None:
        if self._model is not None:
            return
        import ctranslate2
        from faster_whisper import WhisperModel

        s = self._settings
        path = self._model_path(report)
        cuda = ctranslate2.get_cuda_device_count() if s.device != "cpu" else 0
        device, compute_type = resolve_device(s.device, s.compute_type, cuda)
        report(f"Loading Whisper {s.model} on {device} ({compute_type})")
        started = time.monotonic()
        try:
            model = WhisperModel(
                str(path), device=device, compute_type=compute_type, cpu_threads=s.cpu_threads
            )
        except (RuntimeError, ValueError, OSError) as exc:
            raise AsrError(
                AsrCode.MODEL_LOAD,
                f"could not load the Whisper model in {path}: {exc}. The folder may be "
                "incomplete or not a CTranslate2 Whisper model; delete it to download it again, "
                "or set HARK_ASR__MODEL to another model.",
            ) from exc
        self._configure_language(bool(model.model.is_multilingual), model.supported_languages)
        self._model, self._device, self._compute_type = model, device, compute_type
        log.info(
            "Whisper ready: model=%s device=%s compute=%s in %.2f s",
            s.model,
            device,
            compute_type,
            time.monotonic() - started,
        )
        report(f"Whisper {s.model} ready")

    def _model_path(self, report: Progress) -> Path:
        name = self._settings.model.strip()
        folder = Path(name).expanduser()
        if folder.is_dir():
            if not (folder / "model.bin").is_file():
                raise AsrError(
                    AsrCode.MODEL_MISSING,
                    f"the Whisper model folder {folder} holds no model.bin; it must be a "
                    "CTranslate2 Whisper model (a faster-whisper model from the Hugging Face "
                    "Hub, or one converted with ct2-transformers-converter).",
                )
            return folder
        path_like = bool(_PATH_LIKE.search(name))
        repo = None if path_like else hub_repo_id(name)
        if repo is None:
            what = (
                f"the Whisper model folder {folder} does not exist"
                if path_like
                else f'Whisper model "{name}" is neither a known model name nor a folder with '
                "model.bin"
            )
            raise AsrError(
                AsrCode.MODEL_MISSING,
                f"{what}. Set [asr] model (or HARK_ASR__MODEL) to a folder with model.bin or to "
                f"one of the names: {', '.join(known_model_names())}.",
            )
        root = self._settings.download_root or cache_dir() / "whisper"
        return snapshot(name, repo, root, report, endpoint=self._hub_endpoint)

    def _configure_language(self, multilingual: bool, supported: Sequence[str]) -> None:
        s = self._settings
        language = s.language.strip().lower()
        allowed = tuple(code.strip().lower() for code in s.languages if code.strip())
        if not multilingual:
            if language == "auto" and (not allowed or "en" in allowed):
                log.warning("Whisper %s is English-only; language auto means en", s.model)
                language = "en"
            elif language != "en" or (allowed and "en" not in allowed):
                wanted = language if language != "auto" else ", ".join(allowed)
                raise AsrError(
                    AsrCode.LANGUAGE_UNSUPPORTED,
                    f'Whisper model "{s.model}" understands English only, but the language is '
                    f"set to {wanted}. Set HARK_ASR__LANGUAGE=en, or choose a multilingual model "
                    f'such as "{s.model.removesuffix(".en")}".',
                )
        unknown = [c for c in (*allowed, language) if c != "auto" and c not in supported]
        if unknown:
            raise AsrError(
                AsrCode.LANGUAGE_UNKNOWN,
                f"Whisper does not know the language code(s) {', '.join(unknown)}; use codes "
                "such as en, de, fr, es, or auto.",
            )
        if language == "auto" and len(allowed) == 1:
            language = allowed[0]
        self._fixed_language = None if language == "auto" else language
        self._allowed = allowed

    def _transcribe_locked(self, pcm: bytes, sample_rate: int, report: Progress) -> Transcript:
        pcm = pcm[: len(pcm) - len(pcm) % 2]
        audio_s = len(pcm) / 2 / sample_rate
        with self._lock:
            self._ensure_loaded(report)
            started = time.monotonic()
            if sample_rate != SAMPLE_RATE:
                pcm = resample_pcm(pcm, sample_rate, SAMPLE_RATE)
            audio = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768.0
            result = self._run_model(audio, audio_s)
        log.debug(
            "ASR: %.2f s of audio, %d characters, in %.2f s",
            audio_s,
            len(result.text),
            time.monotonic() - started,
        )
        return result

    def _run_model(
        self, audio: np.ndarray[Any, np.dtype[np.float32]], audio_s: float
    ) -> Transcript:
        language = self._fixed_language
        if len(audio) < MIN_AUDIO_S * SAMPLE_RATE or loudest_frame_dbfs(audio) < SILENCE_DBFS:
            return Transcript(text="", language=language, audio_s=audio_s)
        speech = speech_only(audio)
        if speech is None:  # Silero VAD found no speech
            return Transcript(text="", language=language, audio_s=audio_s)
        if language is None and self._allowed:
            language = self._detect_allowed(speech)
        threshold = self._settings.no_speech_threshold
        if self._settings.fitted_window and language is not None:
            short = decode_short(self._model, speech, language, self._settings.beam_size)
            if short is not None:
                keep = keep_segment(short.text, short.no_speech_prob, short.avg_logprob, threshold)
                text = " ".join(short.text.split()) if keep else ""
                return Transcript(
                    text=text,
                    language=language,
                    audio_s=audio_s,
                    no_speech_prob=short.no_speech_prob,
                )
            log.debug("ASR: the fitted window did not hold; decoding in the standard window")
        segments, info = self._model.transcribe(
            speech,
            language=language,
            beam_size=self._settings.beam_size,
            vad_filter=False,  # speech_only() already kept the speech
            condition_on_previous_text=False,
            no_speech_threshold=threshold,
            log_prob_threshold=LOG_PROB_THRESHOLD,
        )
        kept: list[str] = []
        kept_probs: list[float] = []
        all_probs: list[float] = []
        for seg in segments:  # the lazy generator: decoding happens here, in this thread
            all_probs.append(float(seg.no_speech_prob))
            if keep_segment(seg.text, seg.no_speech_prob, seg.avg_logprob, threshold):
                kept.append(seg.text.strip())
                kept_probs.append(float(seg.no_speech_prob))
        probs = kept_probs or all_probs
        text = " ".join(" ".join(kept).split())
        return Transcript(
            text=text,
            language=language or (info.language if text else None),
            audio_s=audio_s,
            no_speech_prob=max(probs) if probs else None,
        )

    def _detect_allowed(self, speech: np.ndarray[Any, np.dtype[np.float32]]) -> str:
        """Detect the language among ``settings.languages`` from the speech."""
        _, _, probabilities = self._model.detect_language(audio=speech)
        code, prob = choose_language(probabilities, self._allowed)
        log.debug("language %s (p=%.2f) among %s", code, prob, ",".join(self._allowed))
        return code


def speech_only(
    audio: np.ndarray[Any, np.dtype[np.float32]],
) -> np.ndarray[Any, np.dtype[np.float32]] | None:
    """The parts of ``audio`` Silero VAD takes for speech, joined; ``None`` when there are none
    (the same cut faster-whisper's ``vad_filter`` makes)."""
    from faster_whisper.vad import VadOptions, collect_chunks, get_speech_timestamps

    chunks = get_speech_timestamps(audio, VadOptions())
    if not chunks:
        return None
    pieces, _ = collect_chunks(audio, chunks)
    return np.concatenate(pieces).astype(np.float32, copy=False)
