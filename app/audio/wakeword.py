"""Wake word detection: an openWakeWord model, run only near speech.

The model (``pyopen-wakeword``: a mel spectrogram, a speech embedding and a small classifier,
all TensorFlow Lite) costs a few milliseconds per 80 ms of audio: fine while someone talks,
wasteful in an empty room, where an always-on microphone spends most of its life. So
:class:`WakeWord` puts webrtcvad in front of it as a gate: frames reach the model only while
there is speech nearby, with a pre-roll (the frames just before the gate opened, so the
start of the word is not lost) and a hangover (the model's score peaks a little after the word
ends). In silence the only work per frame is one webrtcvad call.

Two costs are kept off the per-frame path. The feature extractor starts every stream by
filling eight seconds of history (about 90 embedding runs, most of a second), so it is started
once, at construction, and never reset afterwards. When the gate closes or the detector is
reset, the classifier's context is refilled with the embedding of silence instead (one cheap
run), so the next word is judged as if it came after a quiet pause, not glued to the last one.
When the gate opens, the pre-roll is scored a few frames per call rather than all at once, so
no single :meth:`WakeWord.feed` blocks the engine's loop for long.

The pretrained models that ship with ``pyopen-wakeword`` come from openWakeWord and are
licensed CC BY-NC-SA 4.0 (non-commercial).
"""

from __future__ import annotations

import logging
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import webrtcvad
from pyopen_wakeword import Model, OpenWakeWord, OpenWakeWordFeatures

from app.core.types import FRAME_BYTES, FRAME_MS, SAMPLE_RATE
from app.settings.schema import TalkSettings
from app.shared.errors import AudioCode, AudioError

log = logging.getLogger(__name__)

BUILTIN_MODELS: tuple[str, ...] = tuple(m.value for m in Model)
"""The wake words that ship with ``pyopen-wakeword`` (usable by name)."""

_TFLITE_MAGIC = b"TFL3"
"""A TensorFlow Lite file is a FlatBuffer whose identifier (bytes 4-8) is ``TFL3``."""
_EMBEDDING_SIZE = 96
"""openWakeWord's speech embedding has 96 features; a wake word model takes a window of them."""

_VAD_HANGOVER = {0: 4, 1: 4, 2: 3, 3: 3}
"""Frames webrtcvad goes on calling voiced after one voiced frame, per mode (as in
``app.audio.vad``): a gate needs a few more than that before it believes in speech."""


_WARMUP = 5
"""webrtcvad calls the first few frames of any stream voiced while it adapts; ignore them."""


def _frames(ms: float) -> int:
    """Milliseconds to a whole number of 30 ms frames, rounding up."""
    return max(0, -(-round(ms) // FRAME_MS))


def threshold_for(sensitivity: float) -> float:
    """The score a detection needs: higher sensitivity, lower bar (``1 - sensitivity``)."""
    if not 0.0 < sensitivity < 1.0:
        raise AudioError(
            AudioCode.WAKE_SETTINGS,
            f"Wake word sensitivity must be between 0 and 1 (e.g. 0.5); got {sensitivity}.",
        )
    return 1.0 - sensitivity


class WakeWord:
    """Listens for one wake word in 30 ms frames; :meth:`feed` returns the score when it fires.

    ``model`` is a built-in name (:data:`BUILTIN_MODELS`) or the path of an openWakeWord
    ``.tflite`` classifier. ``gated=False`` scores every frame (for comparison and benchmarks).
    After a detection the detector stays quiet for ``refractory_s`` of stream time, so one
    spoken wake word fires once. Counters (``frames_seen``, ``frames_scored``, ``detections``,
    ``last_score``) say how much work the model did and what it last thought.

    Not thread-safe: make one call at a time (the listening loop does, from its own task).
    """

    def __init__(
        self,
        model: str = "hey_jarvis",
        *,
        sensitivity: float = 0.5,
        gated: bool = True,
        vad_aggressiveness: int = 2,
        preroll_ms: int = 600,
        hangover_ms: int = 900,
        refractory_s: float = 2.0,
        catchup_frames: int = 3,
    ) -> None:
        if vad_aggressiveness not in _VAD_HANGOVER:
            raise AudioError(
                AudioCode.WAKE_SETTINGS,
                f"VAD aggressiveness must be 0, 1, 2 or 3; got {vad_aggressiveness}.",
            )
        if catchup_frames < 2:
            raise AudioError(
                AudioCode.WAKE_SETTINGS,
                f"catchup_frames must be at least 2 to catch up on the pre-roll; got "
                f"{catchup_frames}.",
            )
        self.threshold = threshold_for(sensitivity)
        self.sensitivity = sensitivity
        self.gated = gated
        self.refractory_s = refractory_s
        try:
            self._oww, self._name = _load_model(model)
            self._features = OpenWakeWordFeatures.from_builtin()
        except OSError as exc:  # the bundled TensorFlow Lite library would not load
            raise AudioError(
                AudioCode.WAKE_UNAVAILABLE,
                f"The wake word engine cannot run on this computer ({exc}); use the hotkey "
                "instead (unset talk.wake_word).",
            ) from exc
        self._quiet = self._warm_up()
        self._vad_mode = vad_aggressiveness
        self._vad = webrtcvad.Vad(vad_aggressiveness)
        self._start_voiced = _VAD_HANGOVER[vad_aggressiveness] + 2
        self._recent: deque[bool] = deque(maxlen=self._start_voiced + 2)
        self._preroll: deque[bytes] = deque(maxlen=_frames(preroll_ms) + 1)
        self._pending: deque[bytes] = deque()
        self._hangover_n = max(1, _frames(hangover_ms))
        self._refractory_n = _frames(refractory_s * 1000)
        self._catchup = catchup_frames
        self._open = False
        self._last_voiced = 0
        self._quiet_until = 0
        self._vad_from = 0
        self.frames_seen = 0
        self.frames_scored = 0
        self.detections = 0
        self.last_score = 0.0
        log.info(
            "Wake word ready: model=%s threshold=%.2f gated=%s", self._name, self.threshold, gated
        )

    @classmethod
    def from_settings(cls, talk: TalkSettings) -> WakeWord:
        """The detector the user configured in ``[talk]`` (``wake_word``, ``wake_sensitivity``).

        Loading takes up to a second (the feature extractor's start): call it off the loop.
        """
        if not talk.wake_word:
            raise AudioError(
                AudioCode.WAKE_MODEL,
                "No wake word is set: set talk.wake_word to one of "
                f"{', '.join(BUILTIN_MODELS)} or the path of a .tflite model.",
            )
        return cls(talk.wake_word, sensitivity=talk.wake_sensitivity)

    @property
    def name(self) -> str:
        """The model's name (``hey_jarvis``, or a model file's stem)."""
        return self._name

    @property
    def gate_open(self) -> bool:
        """Whether the next :meth:`feed` runs the model (speech nearby, or not gated).

        While it is ``False`` a call costs one webrtcvad run (tens of microseconds); while it
        is ``True`` a call may take milliseconds, so the listening loop makes it in a worker
        thread.
        """
        return self._open or not self.gated

    def feed(self, frame: bytes) -> float | None:
        """Take one 30 ms frame of 16 kHz mono int16; return the score if the word was heard."""
        if len(frame) != FRAME_BYTES:
            raise AudioError(
                AudioCode.FRAME_SIZE,
                f"The wake word detector takes 30 ms frames of 16 kHz mono int16 ({FRAME_BYTES} "
                f"bytes); got {len(frame)} bytes. Re-chunk the audio (FrameSource does this).",
            )
        self.frames_seen += 1
        closing = False
        if not self.gated:
            self._pending.append(frame)
        elif not self._open:
            voiced = self._voiced(frame)
            self._preroll.append(frame)
            if not (voiced and sum(self._recent) >= self._start_voiced):
                return None
            self._open = True
            self._last_voiced = self.frames_seen
            self._pending.extend(self._preroll)
            self._preroll.clear()
            log.debug("Wake gate opened at frame %d", self.frames_seen)
            return None  # the model starts on the next call: this one stays cheap
        else:
            self._pending.append(frame)
            if self._voiced(frame):
                self._last_voiced = self.frames_seen
            elif self.frames_seen - self._last_voiced >= self._hangover_n:
                closing = True
        score = self._score(len(self._pending) if closing else self._catchup)
        if closing:
            self._close_gate()
        if score is None or score < self.threshold or self.frames_seen < self._quiet_until:
            return None
        self.detections += 1
        self._quiet_until = self.frames_seen + self._refractory_n
        log.info("Wake word %s heard (score %.3f)", self._name, score)
        return score

    def reset(self) -> None:
        """Forget the audio heard so far (after a detection's turn, or a pause)."""
        self._pending.clear()
        self._preroll.clear()
        self._recent.clear()
        self._open = False
        self._quiet_until = 0
        self._vad = webrtcvad.Vad(self._vad_mode)  # re-learns the room's noise from here
        self._vad_from = self.frames_seen
        self._refill_quiet()

    def _voiced(self, frame: bytes) -> bool:
        voiced = bool(self._vad.is_speech(frame, SAMPLE_RATE))
        voiced = voiced and self.frames_seen - self._vad_from > _WARMUP
        self._recent.append(voiced)
        return voiced

    def _score(self, limit: int) -> float | None:
        """Run the model on up to ``limit`` pending frames; the best score they gave, if any."""
        best: float | None = None
        for _ in range(min(limit, len(self._pending))):
            chunk = self._pending.popleft()
            self.frames_scored += 1
            for features in self._features.process_streaming(chunk):
                for p in self._oww.process_streaming(features):
                    self.last_score = float(p)
                    best = self.last_score if best is None else max(best, self.last_score)
        return best

    def _close_gate(self) -> None:
        self._open = False
        self._recent.clear()
        self._refill_quiet()
        log.debug("Wake gate closed at frame %d", self.frames_seen)

    def _refill_quiet(self) -> None:
        """Make the classifier's context a quiet pause: one cheap run, no feature restart."""
        self._oww.reset()
        windows = int(self._oww.input_windows)
        quiet = np.repeat(self._quiet, windows, axis=2)
        for _ in self._oww.process_streaming(quiet):
            pass

    def _warm_up(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Start the feature extractor (its 8 s history fill) and keep silence's embedding."""
        embeddings = list(self._features.process_streaming(bytes(FRAME_BYTES)))
        if not embeddings:
            raise AudioError(
                AudioCode.WAKE_MODEL, "The wake word feature extractor produced no features."
            )
        quiet: np.ndarray[Any, np.dtype[np.float32]] = np.asarray(
            embeddings[-1], dtype=np.float32
        ).reshape(1, 1, 1, _EMBEDDING_SIZE)
        return quiet

    def close(self) -> None:
        """Free the TensorFlow Lite interpreters now rather than at garbage collection."""
        self._oww.close()
        self._features.close()


def _load_model(model: str) -> tuple[OpenWakeWord, str]:
    """A built-in model by name, or a model file, checked before TensorFlow Lite sees it.

    TensorFlow Lite crashes the whole process on a missing or malformed file, so the file is
    checked here first and any problem becomes an :class:`AudioError` that says what to do.
    """
    if model in BUILTIN_MODELS:
        return OpenWakeWord.from_builtin(Model(model)), model
    path = Path(model).expanduser()
    choices = f"use one of {', '.join(BUILTIN_MODELS)}, or the path of an openWakeWord .tflite"
    if path.suffix != ".tflite" and not path.exists():
        raise AudioError(
            AudioCode.WAKE_MODEL, f"Unknown wake word model {model!r}: {choices} model file."
        )
    try:
        with path.open("rb") as fh:
            header = fh.read(8)
    except OSError as exc:
        raise AudioError(
            AudioCode.WAKE_MODEL,
            f"Cannot read the wake word model {str(path)!r} ({exc.strerror}): {choices} file.",
        ) from exc
    if header[4:8] != _TFLITE_MAGIC:
        raise AudioError(
            AudioCode.WAKE_MODEL,
            f"{str(path)!r} is not a TensorFlow Lite model: {choices} model file.",
        )
    oww = OpenWakeWord.from_model(path)
    lib, tensor = oww.lib, oww.input_tensor
    shape = [
        int(lib.TfLiteTensorDim(tensor, i)) for i in range(int(lib.TfLiteTensorNumDims(tensor)))
    ]
    if len(shape) != 3 or shape[2] != _EMBEDDING_SIZE:
        oww.close()
        raise AudioError(
            AudioCode.WAKE_MODEL,
            f"{str(path)!r} is not an openWakeWord wake word model (its input is {shape}, "
            f"not [1, windows, {_EMBEDDING_SIZE}]): {choices} model file.",
        )
    return oww, path.stem
