"""Fetching faster-whisper models from the Hugging Face Hub, with visible progress.

A model is looked up in Hark's cache first (no network); only when it is missing is it
downloaded, and the Hub client's progress bars are turned into "Downloading Whisper base.en:
45 % of 145 MB" messages for the CLI and the GUI. The Hub endpoint is configurable (a mirror).
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tqdm import tqdm

from app.shared.errors import AsrCode, AsrError

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


_ALLOW_PATTERNS = [
    "config.json",
    "preprocessor_config.json",
    "model.bin",
    "tokenizer.json",
    "vocabulary.*",
]  # the files faster-whisper's own download_model fetches
_REPO_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def known_model_names() -> list[str]:
    """The model names faster-whisper can download (tiny, base.en, … large-v3, turbo)."""
    from faster_whisper.utils import available_models

    return list(available_models())


def hub_repo_id(name: str) -> str | None:
    """The Hub repository of a model name or ``org/name`` id; None if it is neither."""
    from faster_whisper import utils

    models: dict[str, str] = getattr(utils, "_MODELS", {})
    if name in models:
        return models[name]
    return name if _REPO_ID.match(name) else None


class _DownloadState:
    """What all the progress bars of one download have reported so far."""

    def __init__(self, label: str, report: Progress) -> None:
        self.label, self.report = label, report
        self.lock = threading.Lock()
        self.shown = -1
        self.seen_bytes = False

    def moved(self, bar: Any) -> None:
        total, done = bar.total or 0, bar.n or 0
        if total <= 0:
            return
        in_bytes = bar.unit == "B"
        with self.lock:
            if self.seen_bytes and not in_bytes:
                return  # a file-count bar says little once byte counts are known
            self.seen_bytes = self.seen_bytes or in_bytes
            percent = min(100, int(100 * done / total))
            if percent <= self.shown:
                return
            self.shown = percent
        size = f" of {total / 1e6:.0f} MB" if in_bytes and total >= 1e6 else ""
        self.report(f"Downloading Whisper {self.label}: {percent} %{size}")


class _NullFile:
    def write(self, _text: str) -> int:
        return 0

    def flush(self) -> None:
        return None


def progress_tqdm(label: str, report: Progress) -> type[Any]:
    """A tqdm class for ``huggingface_hub`` that reports whole percents through ``report``.

    It draws nothing and starts no monitor thread; percents only ever go up, from the byte
    counters when the Hub client has them (the file counter otherwise).
    """
    state = _DownloadState(label, report)

    class _Progress(tqdm):  # type: ignore[misc]
        monitor_interval = 0

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.pop("name", None)
            kwargs.update(disable=False, file=_NullFile())
            super().__init__(*args, **kwargs)

        def update(self, n: float | None = 1) -> bool | None:
            shown: bool | None = super().update(n)
            state.moved(self)
            return shown

    return _Progress


def snapshot(
    name: str, repo: str, root: Path, report: Progress, endpoint: str | None = None
) -> Path:
    """The local folder of Hub model ``repo``: from the cache, else downloaded with progress."""
    import huggingface_hub
    from huggingface_hub.errors import RepositoryNotFoundError

    kwargs: dict[str, Any] = {"cache_dir": str(root), "allow_patterns": _ALLOW_PATTERNS}
    try:
        cached = huggingface_hub.snapshot_download(repo, local_files_only=True, **kwargs)
        return Path(cached)
    except Exception as exc:  # not cached (or cached partly): download it
        log.debug("Whisper %s not in %s (%s)", name, root, type(exc).__name__)
    report(f"Downloading Whisper {name}")
    log.info("downloading Whisper %s from %s into %s", name, repo, root)
    try:
        path = huggingface_hub.snapshot_download(
            repo, endpoint=endpoint, tqdm_class=progress_tqdm(name, report), **kwargs
        )
    except RepositoryNotFoundError as exc:
        raise AsrError(
            AsrCode.MODEL_MISSING,
            f'there is no Whisper model "{name}" on the Hugging Face Hub; valid names: '
            f"{', '.join(known_model_names())}, or a folder with model.bin.",
        ) from exc
    except Exception as exc:
        raise AsrError(
            AsrCode.MODEL_DOWNLOAD,
            f'could not download Whisper model "{name}" ({_reason(exc)}). Hark needs '
            f"the internet once to fetch it into {root}; check the connection, or download "
            "the model elsewhere and set HARK_ASR__MODEL to its folder (the one with model.bin).",
        ) from exc
    return Path(path)


def _reason(exc: BaseException) -> str:
    """The root cause in a few words (the Hub client wraps connection errors twice)."""
    cause = exc.__cause__ or exc
    first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
    return f"{type(cause).__name__}: {first}"[:160].rstrip(": ")
