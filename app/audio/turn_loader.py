"""Putting the end-of-turn model into an endpointer without holding anything up.

Loading from Hark's cache takes a fraction of a second and happens at once. When the model is
not there yet it is downloaded in a background thread; the endpointer meanwhile ends turns after
a silence (``hangover_ms``) and the user is told so once, and again (once) if the download
fails: a missing model costs speed, never a turn or a traceback.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from app.audio import turn_model
from app.shared.errors import AudioCode, HarkError

log = logging.getLogger(__name__)

Notice = Callable[[str, str], None]


class TakesTurnModel(Protocol):
    """What the loader needs of the endpointer: its silences, and a place for the model."""

    hangover_ms: int
    turn_silence_ms: int
    turn: Any


def _log_notice(code: str, message: str) -> None:
    log.warning("%s: %s", code, message)


def load_turn_model(
    endpointer: TakesTurnModel,
    url: str,
    notice: Notice | None = None,
    progress: Callable[[str], None] | None = None,
) -> threading.Thread | None:
    """Give ``endpointer`` the Smart Turn model: now if cached, else after a background
    download (the thread is returned, so a caller can join it)."""
    say = notice or _log_notice
    cached = turn_model.cached_model()
    if cached is not None:
        _attach(endpointer, cached, say)
        return None
    say(
        AudioCode.TURN_MODEL_UNAVAILABLE,
        "The end-of-turn model is not downloaded yet; until it is, a turn ends after "
        f"{endpointer.hangover_ms} ms of silence.",
    )

    def fetch() -> None:
        try:
            report = progress or (lambda msg: log.info("%s", msg))
            path = turn_model.ensure_model(turn_model.source_url(url), report)
        except HarkError as exc:
            say(exc.code, f"{exc.message} Turns end after a silence for now.")
            return
        except Exception as exc:  # never a traceback from a background thread
            log.exception("end-of-turn model download failed")
            say(
                AudioCode.TURN_MODEL_DOWNLOAD,
                f"The end-of-turn model could not be fetched ({exc}).",
            )
            return
        _attach(endpointer, path, say)

    thread = threading.Thread(target=fetch, name="turn-model-download", daemon=True)
    thread.start()
    return thread


def _attach(endpointer: TakesTurnModel, path: Path, say: Notice) -> None:
    from app.audio.turn import SmartTurn

    try:
        endpointer.turn = SmartTurn(path)
    except HarkError as exc:
        say(exc.code, f"{exc.message} Turns end after a silence for now.")
    else:
        log.info("End of turn: Smart Turn v3.2 after %d ms of silence", endpointer.turn_silence_ms)
