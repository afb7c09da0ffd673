"""The endpointer handing out the utterance so far, for transcribing it before the turn ends:
once when a silence begins, and every so often while a long request goes on."""

from __future__ import annotations

from collections.abc import Callable

from app.audio.vad import Endpointer
from app.core.types import SpeechSoFar, Utterance
from app.settings.schema import AudioSettings
from tests.audio.sound import Speech
from tests.audio.test_vad import CALENDAR, MESSAGE, WEATHER, run, scene, utts


def so_far(events: list[tuple[float, object]]) -> list[tuple[float, SpeechSoFar]]:
    return [(t, e) for t, e in events if isinstance(e, SpeechSoFar)]


def test_at_the_first_silence_the_whole_utterance_so_far_is_handed_out(
    speech: Callable[[str], Speech],
) -> None:
    pcm, [(_, true_end)] = scene([1.0, speech(CALENDAR), 1.5])
    events = run(Endpointer(so_far_at_pause=True), pcm)
    [(at_s, look)] = so_far(events)
    [utt] = utts(events)
    assert look.paused
    assert look.start_s == utt.start_s  # the same utterance
    assert look.pcm.startswith(utt.pcm)  # all of its audio, then only the silence after it
    assert len(look.pcm) - len(utt.pcm) <= 2 * 16_000 * 0.1
    assert true_end < at_s < true_end + 0.2  # as soon as the silence began
    assert at_s < utt.detected_s - 0.2  # well before the turn ended


def test_each_pause_of_a_request_is_handed_out_once(speech: Callable[[str], Speech]) -> None:
    pcm, _ = scene([1.0, speech(CALENDAR), 0.35, speech(MESSAGE), 1.5])
    events = run(Endpointer(so_far_at_pause=True, hangover_ms=600), pcm)
    looks = so_far(events)
    assert len(utts(events)) == 1
    assert len(looks) == 2
    first, second = (look for _, look in looks)
    assert second.pcm.startswith(first.pcm[: len(first.pcm) // 2])  # the same utterance, grown
    assert len(second.pcm) > len(first.pcm)


def test_a_long_request_is_handed_out_while_it_goes_on(speech: Callable[[str], Speech]) -> None:
    pcm, [(true_start, true_end)] = scene([1.0, speech(WEATHER), 1.5])
    events = run(Endpointer(so_far_at_pause=True, so_far_every_ms=1000), pcm)
    looks = so_far(events)
    during = [(t, look) for t, look in looks if not look.paused]
    assert len(during) >= int(true_end - true_start) - 1  # about one per second of speech
    assert all(true_start < t < true_end + 0.1 for t, _ in during)
    sizes = [len(look.pcm) for _, look in during]
    assert sizes == sorted(sizes)
    assert [look.paused for _, look in looks][-1]  # and the pause at the end


def test_nothing_is_handed_out_unless_asked_for(speech: Callable[[str], Speech]) -> None:
    pcm, _ = scene([1.0, speech(WEATHER), 1.5])
    assert so_far(run(Endpointer(), pcm)) == []
    quiet = AudioSettings(transcribe_early=False)
    assert (
        so_far(
            run(Endpointer.from_settings(quiet.model_copy(update={"end_of_turn": "silence"})), pcm)
        )
        == []
    )
    on = AudioSettings(end_of_turn="silence")
    assert so_far(run(Endpointer.from_settings(on), pcm))


def test_a_click_is_never_handed_out(speech: Callable[[str], Speech]) -> None:
    click = b"\x00\x40" * 160 + b"\x00\xc0" * 160  # 20 ms: too short to be speech
    pcm, _ = scene([1.0, click, 1.0])
    events = run(Endpointer(so_far_at_pause=True, so_far_every_ms=300), pcm)
    assert so_far(events) == []
    assert not [e for _, e in events if isinstance(e, Utterance)]
