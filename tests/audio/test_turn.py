"""Semantic end of turn: the real Smart Turn v3.2 model behind the real webrtcvad endpointer,
on Piper speech. Finished requests end soon after a short silence; requests with a pause in
the middle are cut in two less often than by a silence timeout (how much less is measured
and printed: the benchmark has the full figure); the longest wait still ends a turn."""

from __future__ import annotations

import asyncio
import statistics
import threading
from pathlib import Path

import pytest

from app.audio.turn import SmartTurn
from app.audio.turn_loader import load_turn_model
from app.audio.vad import Endpointer
from app.core.types import Utterance
from app.settings.schema import AudioSettings
from app.shared.errors import AudioCode
from tests.audio.sound import frames_of
from tests.support.notices import Notices
from tests.support.pauses import finished_requests, paused_requests
from tests.support.servers import closed_port
from tests.support.speech import silence, speak_16k, speech_clip

pytestmark = pytest.mark.slow

SLACK_S = 0.07
"""Where the endpointer may place a turn's end against the measured end of speech: webrtcvad's
overhang is corrected in whole 30 ms frames, and the -45 dBFS bound is not webrtcvad's."""


class Timed:
    """The real model, noting how long each call took and on which thread it ran."""

    def __init__(self, model: SmartTurn) -> None:
        self.model = model
        self.ms: list[float] = []
        self.threads: list[str] = []

    def complete(self, pcm: bytes) -> bool:
        verdict = self.model.complete(pcm)
        self.ms.append(self.model.last_ms)
        self.threads.append(threading.current_thread().name)
        return verdict


def utterances(ep: Endpointer, pcm: bytes) -> list[Utterance]:
    found = [e for f in frames_of(pcm) for e in ep.feed(f) if isinstance(e, Utterance)]
    last = ep.flush()
    return found + ([last] if last is not None else [])


def test_the_model_hears_a_finished_request_and_one_that_trails_off(smart_turn: SmartTurn):
    done = smart_turn.probability(
        speak_16k("What is on my calendar tomorrow morning?") + silence(0.2)
    )
    trailing = smart_turn.probability(speak_16k("What is the weather like in, um") + silence(0.2))
    assert done > 0.5 > trailing, (done, trailing)
    assert 0 < smart_turn.last_ms < 2000


def test_finished_requests_end_after_the_short_silence(smart_turn: SmartTurn):
    timed = Timed(smart_turn)
    delays: list[float] = []
    checks = 0
    for clip in finished_requests():
        ep = Endpointer(turn=timed, turn_silence_ms=200)
        [utt] = utterances(ep, clip.pcm)
        delays.append(utt.detected_s - clip.speech_end_s)
        checks += ep.turn_checks
    stream_s = statistics.median(delays)
    model_ms = statistics.median(timed.ms)
    print(f"\nfinished requests: endpoint {stream_s * 1000:.0f} ms, model {model_ms:.0f} ms")
    assert checks == len(delays)  # one answer heeded per request
    assert set(timed.threads) == {"hark-turn"}  # never on the caller's thread
    assert 0.2 - SLACK_S <= stream_s <= 0.2 + SLACK_S
    assert max(delays) < 0.5  # every one by the model, none by the 2 s wait


def test_a_mid_sentence_pause_is_cut_in_two_less_often_than_by_silence(smart_turn: SmartTurn):
    clips = paused_requests()[:6]  # three phrasings, both kinds of pause (the bench: 24)
    cut = {"smart": 0, "silence": 0}
    for c in clips:
        cut["smart"] += len(utterances(Endpointer(turn=smart_turn), c.clip.pcm)) > 1
        cut["silence"] += len(utterances(Endpointer(), c.clip.pcm)) > 1
    print(f"\nfalse cut-offs over {len(clips)} paused requests: {cut}")
    assert cut["silence"] == len(clips)  # today's 450 ms hangover cuts every one
    assert cut["smart"] < cut["silence"]


@pytest.mark.parametrize("wait_ms", [900, 2000])
def test_the_longest_wait_still_ends_a_turn(smart_turn: SmartTurn, wait_ms: int):
    clip = speech_clip("What is the weather like in, um", 0.5, 3.0)  # the model: not finished
    ep = Endpointer(turn=smart_turn, turn_silence_ms=200, turn_max_wait_ms=wait_ms)
    [utt] = [e for f in frames_of(clip.pcm) for e in ep.feed(f) if isinstance(e, Utterance)]
    assert ep.turn_checks >= 1  # asked (at the comma, and after "um"), "not finished" each time
    assert abs(utt.detected_s - clip.speech_end_s - wait_ms / 1000) <= SLACK_S


def test_silence_mode_is_the_hangover_as_before():
    ep = Endpointer.from_settings(AudioSettings(end_of_turn="silence", hangover_ms=450))
    assert ep.turn is None
    assert not ep.model_due
    clip = speech_clip("Turn off the lights in the kitchen.", 0.5, 1.0)
    [utt] = utterances(ep, clip.pcm)
    assert abs(utt.detected_s - clip.speech_end_s - 0.45) <= SLACK_S


@pytest.mark.usefixtures("turn_model_cached")
def test_smart_mode_loads_the_cached_model():
    ep = Endpointer.from_settings(AudioSettings(turn_silence_ms=150, turn_max_wait_ms=1500))
    assert isinstance(ep.turn, SmartTurn)
    assert (ep.turn_silence_ms, ep.turn_max_wait_ms) == (150, 1500)


def test_model_due_announces_the_frame_that_waits_for_the_model(smart_turn: SmartTurn):
    timed = Timed(smart_turn)
    ep = Endpointer(turn=timed)
    due: list[bool] = []
    for frame in frames_of(speech_clip("What time is it in Tokyo?", 0.5, 1.0).pcm):
        due.append(ep.model_due)
        checks = ep.turn_checks
        ep.feed(frame)
        if ep.turn_checks > checks and not due[-1]:
            assert ep.turn_waited_s < 0.03, "a feed waited for the model unannounced"
    assert ep.turn_checks == 1
    assert sum(due) <= 1  # only the frame at the short silence, and only if the answer is late


def test_without_the_model_turns_end_after_silence_and_the_user_is_told(
    isolated_home: Path, monkeypatch: pytest.MonkeyPatch
):
    notices = Notices()
    ep = Endpointer(hangover_ms=450)
    with closed_port() as port:  # a first run with no way to download
        monkeypatch.setenv("HARK_TURN_MODEL_URL", f"http://127.0.0.1:{port}/m.whl")
        thread = load_turn_model(ep, "https://pypi.invalid/never-used.whl", notices)
        assert thread is not None
        thread.join(timeout=30)
    assert not thread.is_alive()
    assert not (isolated_home / ".cache").exists()  # nothing written
    codes = [code for code, _ in notices.got]
    assert codes == [AudioCode.TURN_MODEL_UNAVAILABLE, AudioCode.TURN_MODEL_DOWNLOAD]
    assert "450 ms of silence" in notices.got[0][1]
    assert ep.turn is None
    clip = speech_clip("What time is it in Tokyo?", 0.5, 1.0)
    [utt] = utterances(ep, clip.pcm)
    assert abs(utt.detected_s - clip.speech_end_s - 0.45) <= SLACK_S


def test_bad_turn_times_are_refused():
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="turn_max_wait_ms"):
        AudioSettings(turn_silence_ms=800, turn_max_wait_ms=600)
    with pytest.raises(ValidationError):
        AudioSettings(end_of_turn="sometimes")  # type: ignore[arg-type]


def test_end_of_turn_comes_from_the_environment(tmp_path: Path):
    from app.settings.load import load_settings

    env = {"HARK_AUDIO__END_OF_TURN": "silence", "HARK_AUDIO__TURN_MAX_WAIT_MS": "1500"}
    settings = load_settings(tmp_path / "none.toml", env=env)
    assert settings.audio.end_of_turn == "silence"
    assert settings.audio.turn_max_wait_ms == 1500
    assert load_settings(tmp_path / "none.toml", env={}).audio.end_of_turn == "smart"


async def test_the_composed_endpointer_tells_the_engine_on_its_loop():
    from app.compose.build import build_endpointer
    from app.core.events import Event, NoticeRaised
    from app.settings.schema import Settings

    got: list[tuple[str, bool]] = []
    failed = asyncio.Event()
    loop_thread = threading.current_thread()

    def emit(event: Event) -> None:
        assert isinstance(event, NoticeRaised)
        got.append((event.code, threading.current_thread() is loop_thread))
        if event.code == AudioCode.TURN_MODEL_DOWNLOAD:
            failed.set()

    ep = build_endpointer(Settings(), emit)  # no model cached, and the download is refused
    await asyncio.wait_for(failed.wait(), timeout=30)
    assert got == [(AudioCode.TURN_MODEL_UNAVAILABLE, True), (AudioCode.TURN_MODEL_DOWNLOAD, True)]
    assert isinstance(ep, Endpointer)
    assert ep.turn is None
