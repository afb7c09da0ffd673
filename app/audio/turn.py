"""Has the user finished? Smart Turn v3.2, an end-of-turn model that hears it in the audio.

A silence alone cannot tell "remind me to call… [thinking] …mum at five" from a finished
request, so the endpointer asks this model after a short silence. Smart Turn (Pipecat's, BSD-2)
is a small Whisper-encoder classifier: it takes the last 8 s of the utterance at 16 kHz (shorter
audio is padded with zeros at the *start*, so the end lines up), normalised to zero mean and unit
variance, as 80 × 800 Whisper log-mel features, and answers the probability that the turn is
complete (its output ``logits`` is already a sigmoid; above 0.5 means finished, as in Pipecat's
``local_smart_turn_v3.py``). The features come from faster-whisper's own extractor (``padding=0``
on exactly 8 s gives the same 800 frames as the reference implementation), so no
``transformers`` is needed. One inference takes tens of milliseconds on a CPU (more on a busy
one); the endpointer starts it as soon as a silence begins, on a thread of its own, so that the
answer is there by the time it is needed.

The session is tuned for that: one run at a time (sequential, one inter-op thread), every graph
optimisation, no busy-waiting pool threads (``allow_spinning`` off: on a small machine spinning
threads take the cores the audio loop and Whisper need, and measured no faster), and denormals as
zero (the quiet tail of an utterance makes tiny activations, which are slow on x86). The feature
extractor and the 8 s input buffer are made once and reused.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

from app.core.types import SAMPLE_RATE
from app.shared.errors import AudioCode, AudioError

log = logging.getLogger(__name__)

WINDOW_S = 8
"""How much of the utterance's end the model hears."""
THRESHOLD = 0.5
"""Above this probability the turn is complete (Pipecat's threshold)."""
_EPS = 1e-7


class SmartTurn:
    """The Smart Turn v3.2 ONNX model on onnxruntime; ``probability(pcm)`` is thread-safe.

    Loaded in the constructor (a fraction of a second). ``last_ms`` is how long the last
    inference took, features included, for the latency figures.
    """

    def __init__(self, model_path: Path, *, threads: int = 2, threshold: float = THRESHOLD):
        import onnxruntime as ort  # type: ignore[import-untyped]
        from faster_whisper.feature_extractor import FeatureExtractor

        options = ort.SessionOptions()
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        options.intra_op_num_threads = max(1, threads)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        options.add_session_config_entry("session.set_denormal_as_zero", "1")
        try:
            self._session: Any = ort.InferenceSession(
                str(model_path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise AudioError(
                AudioCode.TURN_MODEL_UNAVAILABLE,
                f"the end-of-turn model at {model_path} could not be loaded ({exc}); delete "
                "the file so that Hark downloads it again.",
            ) from exc
        self._features = FeatureExtractor(chunk_length=WINDOW_S)
        self._window = np.zeros(WINDOW_S * SAMPLE_RATE, dtype=np.float32)  # reused, under _lock
        self._lock = threading.Lock()  # one run at a time; the extractor is not re-entrant
        self.threshold = threshold
        self.last_ms = 0.0

    def probability(self, pcm: bytes) -> float:
        """The probability that the speech in ``pcm`` (16 kHz mono int16) is a finished turn."""
        n = WINDOW_S * SAMPLE_RATE
        samples = np.frombuffer(pcm[-2 * n :], dtype="<i2")
        with self._lock:
            started = time.perf_counter()
            x = self._window
            x[: n - len(samples)] = 0.0  # shorter audio: zeros at the start, the end lines up
            np.multiply(samples, 1 / 32768.0, out=x[n - len(samples) :], casting="unsafe")
            x -= x.mean()
            x /= np.sqrt(x.var() + _EPS)
            features = self._features(x, padding=0)
            batch = np.ascontiguousarray(features[None], dtype=np.float32)
            out = self._session.run(None, {"input_features": batch})
            self.last_ms = (time.perf_counter() - started) * 1000
        p = float(np.asarray(out[0]).reshape(-1)[0])
        log.debug("end-of-turn probability %.3f (%.0f ms)", p, self.last_ms)
        return p

    def complete(self, pcm: bytes) -> bool:
        """Whether the user has finished speaking, by the model."""
        return self.probability(pcm) > self.threshold
