"""The listening loop as the user configured it, for the tray app and ``hark listen`` alike."""

from __future__ import annotations

from app.compose.build import Engine
from app.core.early import EarlyTranscripts
from app.core.listen_loop import ListenLoop
from app.core.ports import Emit, Endpointing, FrameSource, WakeDetector


def build_listen_loop(
    engine: Engine,
    source: FrameSource,
    endpointer: Endpointing,
    emit: Emit,
    *,
    barge_in: bool,
    push_to_talk: bool,
    wake: WakeDetector | None,
) -> ListenLoop:
    """The loop of ``engine``'s pipeline over ``source``, with the early transcriptions and
    the joining of a resumed request that ``[audio]`` asks for."""
    audio = engine.settings.audio
    early = None
    if audio.transcribe_early and engine.transcriber is not None:
        early = EarlyTranscripts(engine.transcriber, emit)
    return ListenLoop(
        source,
        endpointer,
        engine.pipeline,
        emit,
        barge_in=barge_in,
        push_to_talk=push_to_talk,
        wake=wake,
        skip_ms=engine.settings.talk.skip_ms,
        early=early,
        join_within_s=audio.join_within_ms / 1000,
    )
