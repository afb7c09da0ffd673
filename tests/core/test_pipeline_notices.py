"""A speaker or voice that keeps failing is told once, not after every turn, and told again
only after a reply was heard in between."""

from __future__ import annotations

from app.core.events import NoticeRaised
from app.shared.errors import AudioError
from tests.core.scripted import ScriptedChat, make, words


async def test_no_output_device_is_told_once_not_after_every_turn() -> None:
    chat = ScriptedChat(*(words(f"Reply number {n}.") for n in range(5)))
    pipe, rec, sink = make(chat)
    sink.fail_with = AudioError("audio-no-output-device", "No output device was found.")
    for n in range(3):
        result = await pipe.run_text(f"request {n}")
        assert result.reply == f"Reply number {n}."  # the reply still comes, as text
    assert [n.code for n in rec.of(NoticeRaised)] == ["audio-no-output-device"]

    sink.fail_with = None  # a speaker came back: the next reply is heard
    await pipe.run_text("request 3")
    assert sink.pcm
    sink.fail_with = AudioError("audio-no-output-device", "No output device was found.")
    await pipe.run_text("request 4")  # gone again: that is news, so it is told
    assert [n.code for n in rec.of(NoticeRaised)] == ["audio-no-output-device"] * 2
