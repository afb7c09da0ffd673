"""A second opinion on "is this speech?": Silero VAD behind webrtcvad's cheap gate.

webrtcvad is a few microseconds a frame but calls much of what a microphone hears in a real
room voiced: fans, hum, keyboards, music. Silero VAD (MIT) is a small neural model that tells
speech from noise far better. It ships inside faster-whisper's wheel
(``faster_whisper/assets/silero_vad_v6.onnx``), so Hark has it offline with nothing to download.
:class:`SileroGate` runs it only on frames webrtcvad already called voiced, so a quiet room costs
nothing and speech costs one small inference (a fraction of a millisecond) per 30 ms frame.

Silero hears 512-sample windows (32 ms at 16 kHz), each with the 64 samples before it as context,
and carries an LSTM state (``h``, ``c``) from one window to the next. Hark's frames are 480
samples, so frames are buffered into windows and the remainder waits for the next frame; a frame
that completes no window is judged by the latest window (which ends at most 30 ms earlier).

Frames webrtcvad calls unvoiced are skipped, so the audio Silero hears has holes. Two rules keep
it honest across them:

* A voiced run always starts its first window 32 samples before the run's first frame, on the
  tail of the frame just before it (its context too), so the first voiced frame is judged at once
  on real, contiguous audio rather than on zero padding or on webrtcvad's word. Audio buffered
  before a hole is dropped, so no window ever splices two stretches of sound together.
* After ``reset_after_ms`` of skipped frames the LSTM state is cleared: it describes sound from
  before the hole, and a state that old would colour the next verdict. Shorter holes (webrtcvad
  flickering inside a word) keep the state, which still describes the speech just heard.

Both rules were measured (``python -m tests.bench.vad_compare``: six sentences in six noises at
20/10/5 dB, plus noise only). Starting a run on webrtcvad's word until a window is full let
every webrtcvad flicker through (false positives on noise 0 % → 6.8 %); zero padding and
reaching back scored the same overall, and reaching back keeps the window on real audio.
Clearing the state at every hole missed more speech (7.9 % of frames against 6.2 %); never
clearing it missed slightly less (5.8 %) but lets a verdict depend on sound of any age.
Silero needs about two windows of a fresh run to pass 0.5, so the gate says "speech" some
60 ms after webrtcvad does; the endpointer's pre-roll keeps that audio.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

import numpy as np

from app.core.types import FRAME_BYTES, FRAME_MS, FRAME_SAMPLES
from app.shared.errors import AudioCode, AudioError

log = logging.getLogger(__name__)

MODEL_NAME = "silero_vad_v6.onnx"
WINDOW = 512
"""Samples Silero hears per inference at 16 kHz (the only size it is trained for)."""
CONTEXT = 64
"""Samples of the audio before a window that go in with it."""
THRESHOLD = 0.5
"""Speech probability at or above which a frame is speech."""
RESET_AFTER_MS = 300
"""A hole of skipped frames at least this long clears Silero's state."""
_STATE = (1, 1, 128)
_LEAD = WINDOW - FRAME_SAMPLES  # 32: how far a run's first window reaches back


def bundled_model() -> Path:
    """Where faster-whisper's wheel keeps Silero VAD, found without importing faster-whisper
    (which would load CTranslate2 just to learn a path)."""
    spec = importlib.util.find_spec("faster_whisper")
    if spec is None or not spec.submodule_search_locations:
        raise AudioError(
            AudioCode.SILERO_UNAVAILABLE,
            "the speech detector (Silero VAD) comes with faster-whisper, which is not "
            "installed; run `pip install faster-whisper`.",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "assets" / MODEL_NAME


def _check(frame: bytes) -> None:
    if len(frame) != FRAME_BYTES:
        raise AudioError(
            AudioCode.FRAME_SIZE,
            f"The speech detector takes 30 ms frames of 16 kHz mono int16 ({FRAME_BYTES} "
            f"bytes); got {len(frame)} bytes. Re-chunk the audio (FrameSource does this).",
        )


def _samples(frame: bytes) -> np.ndarray[Any, np.dtype[np.float32]]:
    return np.frombuffer(frame, dtype="<i2").astype(np.float32) / 32768.0


class SileroGate:
    """Silero VAD on a stream of 30 ms frames, behind webrtcvad; one caller at a time.

    ``runs`` counts inferences (for tests and the benchmark); ``last_probability`` is the
    latest window's speech probability (0 before any).
    """

    def __init__(
        self,
        model_path: Path,
        *,
        threshold: float = THRESHOLD,
        reset_after_ms: int = RESET_AFTER_MS,
    ) -> None:
        if not 0.0 < threshold < 1.0 or reset_after_ms < FRAME_MS:
            raise AudioError(
                AudioCode.VAD_SETTINGS,
                f"the speech detector's threshold must be between 0 and 1 (0.5 is usual) and "
                f"reset_after_ms at least {FRAME_MS}; got {threshold} and {reset_after_ms} ms.",
            )
        if not model_path.is_file():
            raise AudioError(
                AudioCode.SILERO_UNAVAILABLE,
                f"the speech detector's model (Silero VAD) is missing: there is no {model_path}. "
                "Reinstall faster-whisper (pip install --force-reinstall faster-whisper), "
                "which ships it.",
            )
        self._session = _open_session(model_path)
        self.threshold = threshold
        self.reset_after_ms = reset_after_ms
        self._reset_n = -(-reset_after_ms // FRAME_MS)
        self.runs = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything heard: state, buffered audio, the previous frame."""
        self._h = np.zeros(_STATE, dtype=np.float32)
        self._c = np.zeros(_STATE, dtype=np.float32)
        self._prev = bytes(FRAME_BYTES)  # the frame before the next one, skipped or not
        self._input: np.ndarray[Any, np.dtype[np.float32]] | None = None  # context + pending
        self._gap = 0
        self.last_probability = 0.0

    def is_speech(self, frame: bytes, cheap_voiced: bool) -> bool:
        """The gate: False at once (no inference) where webrtcvad said unvoiced, else whether
        Silero's probability for the latest window reaches the threshold."""
        if not cheap_voiced:
            self._skip(frame)
            return False
        return self.probability(frame) >= self.threshold

    def probability(self, frame: bytes) -> float:
        """Feed one 30 ms frame (16 kHz mono int16) and return the latest window's speech
        probability; a frame that starts a run is judged at once (see the module's notes)."""
        _check(frame)
        x = _samples(frame)
        if self._input is None:  # a run starts: reach back into the frame before it
            lead = _samples(self._prev[-2 * (CONTEXT + _LEAD) :])
            self._input = np.concatenate([lead, x])
        else:
            self._input = np.concatenate([self._input, x])
        self._gap = 0
        self._prev = frame
        while len(self._input) >= CONTEXT + WINDOW:
            self._run(self._input[: CONTEXT + WINDOW])
            self._input = self._input[WINDOW:]
        return self.last_probability

    def _skip(self, frame: bytes) -> None:
        _check(frame)
        self._input = None  # what was buffered would be spliced onto audio after the hole
        self._prev = frame
        self._gap += 1
        if self._gap == self._reset_n:
            self._h = np.zeros(_STATE, dtype=np.float32)
            self._c = np.zeros(_STATE, dtype=np.float32)

    def _run(self, window: np.ndarray[Any, np.dtype[np.float32]]) -> None:
        prob, self._h, self._c = self._session.run(
            None, {"input": window[None, :], "h": self._h, "c": self._c}
        )
        self.runs += 1
        self.last_probability = float(np.asarray(prob).reshape(-1)[0])


def _open_session(model_path: Path) -> Any:
    """One ONNX session on one thread, without busy-waiting: the model is tiny, and spinning
    pool threads would take the cores the audio loop and Whisper need."""
    import onnxruntime as ort  # type: ignore[import-untyped]

    options = ort.SessionOptions()
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.enable_cpu_mem_arena = False
    options.log_severity_level = 4
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    try:
        return ort.InferenceSession(
            str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors
        raise AudioError(
            AudioCode.SILERO_UNAVAILABLE,
            f"the speech detector's model (Silero VAD) at {model_path} could not be loaded "
            f"({exc}). Reinstall faster-whisper (pip install --force-reinstall faster-whisper), "
            "which ships it.",
        ) from exc


def load_silero_gate(
    threshold: float = THRESHOLD, reset_after_ms: int = RESET_AFTER_MS
) -> SileroGate:
    """The gate on the Silero model bundled with faster-whisper (loads in a few ms)."""
    path = bundled_model()
    gate = SileroGate(path, threshold=threshold, reset_after_ms=reset_after_ms)
    log.info("speech detector ready: Silero VAD, threshold=%.2f", threshold)
    return gate
