"""Barge-in through a real PulseAudio loop (a null sink, its monitor as the microphone).

Hark's real player and microphone over PortAudio and ALSA's pulse plugin, a private PulseAudio
started for the test and stopped after (tests/bench/echo_pulse.py does the work). On Hark's
first reply after start-up (a freshly opened speaker stream) and on the next one (the stream
kept open, as Hark does with a canceller), the canceller's microphone starts speech only for
the user, while the raw one hears Hark.

Left out of the default run (``-m loudspeaker`` runs it): it plays in real time through a sound
server, and on a loaded machine underruns can let one false barge-in through.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.bench import echo_pulse

pytestmark = [
    pytest.mark.slow,
    pytest.mark.loudspeaker,
    pytest.mark.skipif(
        shutil.which("pulseaudio") is None, reason="needs pulseaudio (scripts/setup dev)"
    ),
]


def test_the_user_barges_in_over_the_loudspeaker_and_hark_never_does(tmp_path: Path) -> None:
    r = echo_pulse.one_run(tmp_path, seconds=12.0, user_after_s=5.0)
    assert r["false_second_without"] >= 1  # the raw microphone is fooled by Hark's voice
    assert r["false_first_with"] == 0  # the first reply, on a fresh speaker stream
    assert r["false_second_with"] == 0
    assert r["detect_ms"] is not None
    assert 150 <= r["detect_ms"] <= 700
