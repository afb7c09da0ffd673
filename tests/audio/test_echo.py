"""Echo cancellation on a digital echo path: the real WebRTC APM, webrtcvad and Piper speech.

Barge-in is the endpointer's ``SpeechStarted`` while Hark speaks. Hark's reply is played into
the canceller's reference and comes back into the microphone delayed, attenuated and smeared
by a room response, with noise and, in some runs, the user talking over it.
"""

from __future__ import annotations

import sys
import threading

import numpy as np
import pytest

from app.audio.echo import PIECE, EchoCanceller, canceller_for, load_apm
from app.core.types import FRAME_BYTES, SAMPLE_RATE
from app.settings.schema import AudioSettings
from app.shared.errors import AudioCode, AudioError
from tests.support import echo_path
from tests.support.echo_path import Room


@pytest.fixture(scope="module")
def minute_of_hark() -> bytes:
    return echo_path.hark_reply(60.0)


def test_hark_never_barges_in_on_its_own_voice_over_a_minute(minute_of_hark: bytes) -> None:
    room = Room(delay_ms=80, gain=0.7)
    cleaned = echo_path.run(minute_of_hark, room, EchoCanceller())
    raw = echo_path.run(minute_of_hark, room, None)
    assert cleaned.seconds >= 60
    assert cleaned.starts_s == []
    # the same room without the canceller: Hark's own voice keeps interrupting it
    assert len(raw.starts_s) >= 10


@pytest.mark.parametrize(
    ("delay_ms", "gain", "dac_error_ms"),
    [(40, 0.5, 0.0), (120, 1.0, 0.0), (5, 0.7, 25.0), (60, 0.7, -25.0), (300, 0.7, 0.0)],
)
def test_delays_levels_and_latency_errors_are_all_cancelled(
    minute_of_hark: bytes, delay_ms: float, gain: float, dac_error_ms: float
) -> None:
    reply = minute_of_hark[: 20 * SAMPLE_RATE * 2]
    room = Room(delay_ms=delay_ms, gain=gain, dac_error_ms=dac_error_ms)
    assert echo_path.run(reply, room, EchoCanceller()).starts_s == []
    assert echo_path.run(reply, room, None).starts_s != []


def test_the_user_talking_over_hark_barges_in_at_once(minute_of_hark: bytes) -> None:
    user, onset = echo_path.user_speech()
    reply = minute_of_hark[: 15 * SAMPLE_RATE * 2]
    at = 6.0
    run = echo_path.run(
        reply, Room(delay_ms=80, gain=0.7), EchoCanceller(), user=user, user_at_s=at
    )
    assert run.starts_s, "the user's speech was cancelled with the echo"
    delay = run.starts_s[0] - (at + onset)
    # min_speech_ms (240) plus a frame or two: the canceller adds nothing that matters
    assert 0.2 <= delay <= 0.45, delay
    assert abs(run.speech_at_s[0] - (at + onset)) < 0.15


def test_a_canceller_without_the_reference_cancels_nothing(minute_of_hark: bytes) -> None:
    """The reference is what makes it work: the same APM, never told what played, lets the
    echo through (so the runs above measure cancelling, not the APM's filters)."""
    reply = minute_of_hark[: 20 * SAMPLE_RATE * 2]
    room = Room(delay_ms=80, gain=0.7)
    deaf = EchoCanceller()
    mic = echo_path.microphone(reply, room)
    starts = 0
    from app.audio.vad import Endpointer
    from app.core.events import SpeechStarted

    endpointer = Endpointer()
    for i in range(0, len(mic) - 480, 480):
        frame = deaf.clean(mic[i : i + 480].tobytes(), i / SAMPLE_RATE)
        starts += sum(isinstance(x, SpeechStarted) for x in endpointer.feed(frame))
    assert starts >= 3


def test_reference_timestamps_that_jitter_are_one_continuous_signal() -> None:
    now = [100.0]
    echo = EchoCanceller(clock=lambda: now[0], lead_ms=0)
    tone = (np.sin(np.arange(3 * PIECE) * 0.3) * 8000).astype(np.int16)
    echo.play(tone[:PIECE], 100.0)
    echo.play(tone[PIECE : 2 * PIECE], 100.0 + 0.010 + 0.002)  # 2 ms late: still continuous
    echo.play(tone[2 * PIECE :], 100.0 + 0.020 - 0.003)
    timeline = echo._ref
    assert timeline.end == 3 * PIECE
    assert np.array_equal(timeline.read(0, 3 * PIECE), tone)
    # a real gap, once a second stamp confirms it, is silence; what is not yet played reads
    # as silence too
    echo.play(tone[:PIECE], 100.0 + 0.100)  # one stamp alone is not believed ...
    assert timeline.end == 4 * PIECE
    echo.play(tone[PIECE : 2 * PIECE], 100.0 + 0.110)  # ... the next one agrees
    gap_end = SAMPLE_RATE // 10 + PIECE
    assert timeline.end == gap_end + PIECE
    assert not timeline.read(4 * PIECE, gap_end - 4 * PIECE).any()
    assert np.array_equal(timeline.read(gap_end, PIECE), tone[PIECE : 2 * PIECE])
    assert not timeline.read(SAMPLE_RATE, PIECE).any()


def test_frames_must_be_whole_10ms_pieces() -> None:
    with pytest.raises(AudioError) as err:
        EchoCanceller().clean(bytes(FRAME_BYTES + 2), 0.0)
    assert err.value.code == AudioCode.FRAME_SIZE
    assert len(EchoCanceller().clean(bytes(FRAME_BYTES))) == FRAME_BYTES


def test_bad_canceller_settings_are_refused() -> None:
    with pytest.raises(AudioError) as err:
        EchoCanceller(lead_ms=-1)
    assert err.value.code == AudioCode.ECHO_SETTINGS


def test_playing_and_cleaning_from_two_threads_keeps_the_state_whole() -> None:
    echo = EchoCanceller()
    speech = np.frombuffer(echo_path.hark_reply(2.0), dtype="<i2")
    blocks = len(speech) // 480
    errors: list[BaseException] = []
    t0 = 50.0

    def player() -> None:
        try:
            for k in range(blocks):
                echo.play(speech[k * 480 : (k + 1) * 480], t0 + k * 0.03)
        except BaseException as exc:  # reported below
            errors.append(exc)

    thread = threading.Thread(target=player)
    thread.start()
    out = [
        echo.clean(speech[k * 480 : (k + 1) * 480].tobytes(), t0 + k * 0.03) for k in range(blocks)
    ]
    thread.join()
    assert errors == []
    assert echo.frames_cleaned == blocks
    assert echo.reference_samples == blocks * 480
    assert all(len(f) == FRAME_BYTES for f in out)


def test_the_setting_turns_it_off_and_a_missing_library_is_told_once(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    told: list[tuple[str, str]] = []
    assert (
        canceller_for(AudioSettings(echo_cancellation=False), lambda c, m: told.append((c, m)))
        is None
    )
    assert isinstance(canceller_for(AudioSettings()), EchoCanceller)
    monkeypatch.setitem(sys.modules, "livekit.rtc", None)  # as if the wheel could not load
    with pytest.raises(AudioError) as err:
        load_apm()
    assert err.value.code == AudioCode.ECHO_UNAVAILABLE
    assert canceller_for(AudioSettings(), lambda c, m: told.append((c, m))) is None
    assert [code for code, _ in told] == [AudioCode.ECHO_UNAVAILABLE]
    assert "headphones" in told[0][1]
