"""Worker-thread hygiene for the voice tests: the voices' threads (``hark-tts-...``) must end
when a voice is closed or a stream abandoned; a test fails if one is still running."""

from __future__ import annotations

import threading


def join_voice_threads(prefix: str = "hark-tts-", timeout: float = 5.0) -> None:
    """Wait for the voices' worker threads to end; fail if one is still running."""
    for thread in threading.enumerate():
        if thread.name.startswith(prefix):
            thread.join(timeout)
            assert not thread.is_alive(), f"{thread.name} is still running"
