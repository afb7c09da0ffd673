"""LocalWhisper without running the model: model resolution, errors, filters, progress."""

from __future__ import annotations

import re
import threading
from pathlib import Path

import numpy as np
import pytest

from app.asr.download import known_model_names, progress_tqdm
from app.asr.local import (
    SILENCE_DBFS,
    LocalWhisper,
    choose_language,
    keep_segment,
    loudest_frame_dbfs,
    normalise,
    resolve_device,
)
from app.settings.schema import AsrSettings
from app.shared.errors import AsrError


async def test_missing_model_folder(tmp_path: Path) -> None:
    w = LocalWhisper(AsrSettings(model=str(tmp_path / "no-such-model")))
    with pytest.raises(AsrError) as err:
        await w.load()
    assert err.value.code == "asr-model-missing"
    assert "no-such-model" in err.value.message
    assert "does not exist" in err.value.message
    assert "base.en" in err.value.message  # lists the valid names
    assert not w.loaded


async def test_folder_without_model_bin(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(AsrError) as err:
        await LocalWhisper(AsrSettings(model=str(tmp_path))).load()
    assert err.value.code == "asr-model-missing"
    assert "model.bin" in err.value.message


async def test_unknown_model_name_fails_before_any_download(dead_hub: str) -> None:
    w = LocalWhisper(AsrSettings(model="tiny.xx"), hub_endpoint=dead_hub)
    with pytest.raises(AsrError) as err:
        await w.load()
    assert err.value.code == "asr-model-missing"
    assert 'Whisper model "tiny.xx" is neither a known model name' in err.value.message
    assert "HARK_ASR__MODEL" in err.value.message


async def test_download_failure_says_what_to_do(tmp_path: Path, dead_hub: str) -> None:
    seen: list[str] = []
    w = LocalWhisper(
        AsrSettings(model="base.en", download_root=tmp_path / "cache"),
        progress=seen.append,
        hub_endpoint=dead_hub,
    )
    status = await w.check()
    assert not status.ok
    assert status.code == "asr-model-download"
    assert "internet once" in status.message
    assert "HARK_ASR__MODEL" in status.message
    assert re.search(r"\((ConnectError|OfflineModeIsEnabled): ", status.message)  # the cause
    assert seen == ["Downloading Whisper base.en"]
    assert not w.loaded


async def test_a_corrupt_model_file_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"not a model")
    (tmp_path / "config.json").write_text("{}")
    w = LocalWhisper(AsrSettings(model=str(tmp_path), device="cpu"))
    with pytest.raises(AsrError) as err:
        await w.load()
    assert err.value.code == "asr-model-load"
    assert str(tmp_path) in err.value.message
    assert err.value.__cause__ is not None


async def test_bad_sample_rate(tmp_path: Path) -> None:
    w = LocalWhisper(AsrSettings(model=str(tmp_path)))
    with pytest.raises(AsrError) as err:
        await w.transcribe(b"\0\0" * 100, 0)
    assert err.value.code == "asr-bad-audio"


def test_known_model_names() -> None:
    names = known_model_names()
    assert {"tiny.en", "base.en", "small", "large-v3"} <= set(names)


# --- device ---------------------------------------------------------------------------------


def test_auto_device_prefers_cuda_float16() -> None:
    assert resolve_device("auto", "auto", cuda_devices=1) == ("cuda", "float16")


def test_auto_device_falls_back_to_cpu_int8() -> None:
    assert resolve_device("auto", "auto", cuda_devices=0) == ("cpu", "int8")


def test_explicit_device_and_compute_type_are_honoured() -> None:
    assert resolve_device("cpu", "float32", cuda_devices=2) == ("cpu", "float32")
    assert resolve_device("cuda", "int8_float16", cuda_devices=1) == ("cuda", "int8_float16")


def test_cuda_without_a_gpu_is_a_clear_error() -> None:
    with pytest.raises(AsrError) as err:
        resolve_device("cuda", "auto", cuda_devices=0)
    assert err.value.code == "asr-cuda-unavailable"
    assert "HARK_ASR__DEVICE" in err.value.message


# --- filters --------------------------------------------------------------------------------


def test_normalise() -> None:
    assert normalise("  Thanks for WATCHING!  ") == "thanks for watching"
    assert normalise("¿Qué?") == "qué"


def test_keeps_confident_speech() -> None:
    assert keep_segment(" Schedule a meeting.", 0.05, -0.3, 0.6)


def test_keeps_a_confident_thank_you() -> None:
    # People do thank their assistant: only a doubtful "Thank you." is dropped.
    assert keep_segment(" Thank you.", 0.05, -0.3, 0.6)


@pytest.mark.parametrize("phrase", [" Thank you.", "Thanks for watching!", " you"])
def test_drops_hallucinated_phrases_when_doubtful(phrase: str) -> None:
    assert not keep_segment(phrase, 0.45, -0.4, 0.6)  # likely no speech
    assert not keep_segment(phrase, 0.05, -0.95, 0.6)  # improbable text


def test_keeps_other_text_even_when_doubtful() -> None:
    assert keep_segment(" Call Bob.", 0.45, -0.95, 0.6)


def test_drops_what_whisper_itself_calls_no_speech() -> None:
    assert not keep_segment(" Call Bob.", 0.8, -1.2, 0.6)
    assert keep_segment(" Call Bob.", 0.8, -0.5, 0.6)  # probable text stays (Whisper's rule)


def test_drops_empty_and_punctuation_only_segments() -> None:
    assert not keep_segment("   ", 0.0, -0.1, 0.6)
    assert not keep_segment(" ...", 0.0, -0.1, 0.6)


def test_energy_gate_levels() -> None:
    assert loudest_frame_dbfs(np.zeros(16_000, dtype=np.float32)) == float("-inf")
    t = np.arange(16_000, dtype=np.float32) / 16_000
    tone = (0.1 * np.sqrt(2) * np.sin(2 * np.pi * 440 * t)).astype(np.float32)  # RMS 0.1
    assert loudest_frame_dbfs(tone) == pytest.approx(-20.0, abs=0.2)
    quiet = np.zeros(16_000, dtype=np.float32)
    quiet[8_000:8_480] = tone[:480]  # one loud 30 ms frame in silence
    assert loudest_frame_dbfs(quiet) > SILENCE_DBFS
    assert loudest_frame_dbfs(tone[:100]) == pytest.approx(-20.0, abs=1.0)  # shorter than a frame


# --- language -------------------------------------------------------------------------------

PROBS = [("en", 0.2), ("de", 0.5), ("fr", 0.25), ("nl", 0.05)]


def test_choose_language_unrestricted_takes_the_best() -> None:
    assert choose_language(PROBS, []) == ("de", 0.5)


def test_choose_language_restricted_takes_the_best_allowed() -> None:
    assert choose_language(PROBS, ["en", "fr"]) == ("fr", 0.25)
    assert choose_language(PROBS, ["nl"]) == ("nl", 0.05)


def test_choose_language_falls_back_to_the_first_allowed() -> None:
    assert choose_language(PROBS, ["ja", "ko"]) == ("ja", 0.0)


# --- download progress ----------------------------------------------------------------------


def _driven_like_the_hub_client(messages: list[str]) -> None:
    bar_class = progress_tqdm("base.en", messages.append)
    # huggingface_hub passes name= and disable= to tqdm subclasses; bars start with total 0.
    with bar_class(
        desc="Downloading bytes",
        total=0,
        initial=0,
        unit="B",
        unit_scale=True,
        name="huggingface_hub.snapshot_download",
        disable=True,
    ) as data:
        files = bar_class(total=5, desc="Fetching 5 files", unit="it")
        data.total = 145_000_000
        data.refresh()
        data.update(1_000_000)  # 0 %
        data.update(64_000_000)  # 44 %
        data.update(300)  # still 44 %: not repeated
        files.update(4)  # small files done first: a file count says little next to bytes
        data.update(79_000_000)  # 99 %
        data.update(1_000_000)  # 100 %
        files.update(1)
        files.close()


def test_progress_reports_whole_percents_once() -> None:
    messages: list[str] = []
    before = set(threading.enumerate())
    _driven_like_the_hub_client(messages)
    assert messages == [
        "Downloading Whisper base.en: 0 % of 145 MB",
        "Downloading Whisper base.en: 44 % of 145 MB",
        "Downloading Whisper base.en: 99 % of 145 MB",
        "Downloading Whisper base.en: 100 % of 145 MB",
    ]
    assert set(threading.enumerate()) == before  # no tqdm monitor thread left behind


def test_progress_counts_files_when_no_byte_counts_come() -> None:
    messages: list[str] = []
    bar = progress_tqdm("small", messages.append)(total=4, desc="Fetching 4 files")
    for _ in range(4):
        bar.update(1)
    bar.close()
    assert messages == [f"Downloading Whisper small: {p} %" for p in (25, 50, 75, 100)]


def test_progress_never_goes_back() -> None:
    messages: list[str] = []
    bar_class = progress_tqdm("tiny", messages.append)
    first = bar_class(total=100, unit="B")
    second = bar_class(total=100, unit="B")
    first.update(60)
    second.update(30)  # a second byte bar behind the first: nothing new to say
    second.update(40)
    assert messages == [
        "Downloading Whisper tiny: 60 %",
        "Downloading Whisper tiny: 70 %",
    ]
    first.close()
    second.close()
