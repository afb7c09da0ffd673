"""LlmMonitor: reports the LLM down, retries on its own clock, reports it up again."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from app.core.events import BackendStatusChanged, Event
from app.core.types import BackendStatus, ChatDelta, ChatMessage, ToolSpec
from app.llm.health import LlmMonitor
from app.llm.ollama import OllamaChat
from app.settings.schema import LlmSettings
from tests.fakes.ollama import FakeOllama

MODEL = "llama3.2:3b"
STEP = 5.0  # seconds a test waits for the monitor before failing


class ManualClock:
    """The monitor's ``wait``: each wait blocks until the test lets it go; no real time passes."""

    def __init__(self) -> None:
        self._waits: asyncio.Queue[tuple[float, asyncio.Future[None]]] = asyncio.Queue()
        self._held: asyncio.Future[None] | None = None

    async def wait(self, seconds: float) -> None:
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        await self._waits.put((seconds, fut))
        await fut

    async def requested(self) -> float:
        """Block until the monitor starts waiting; return how long it asked to wait."""
        seconds, self._held = await asyncio.wait_for(self._waits.get(), STEP)
        return seconds

    def go(self) -> None:
        """Let the wait that :meth:`requested` saw finish (the interval has "passed")."""
        assert self._held is not None
        self._held.set_result(None)
        self._held = None

    @property
    def idle(self) -> bool:
        return self._waits.empty()


class Events:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[Event] = asyncio.Queue()
        self.seen: list[Event] = []

    def emit(self, event: Event) -> None:
        self.seen.append(event)
        self.queue.put_nowait(event)

    async def next(self) -> BackendStatusChanged:
        event = await asyncio.wait_for(self.queue.get(), STEP)
        assert isinstance(event, BackendStatusChanged)
        return event


@pytest.fixture
async def running() -> AsyncIterator[list[asyncio.Task[None]]]:
    tasks: list[asyncio.Task[None]] = []
    yield tasks
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


async def test_model_pulled_later_is_noticed_by_the_retry(
    running: list[asyncio.Task[None]],
) -> None:
    with FakeOllama(models=[]) as fake:
        chat = OllamaChat(LlmSettings(host=fake.url, model=MODEL, timeout_s=5))
        events, clock = Events(), ManualClock()
        monitor = LlmMonitor(chat, events.emit, retry_interval_s=12.5)
        running.append(asyncio.create_task(monitor.run(wait=clock.wait)))

        down = await events.next()
        assert down == BackendStatusChanged("llm", False, down.message)
        assert f"ollama pull {MODEL}" in down.message
        assert monitor.status.code == "llm-model-missing"

        assert await clock.requested() == 12.5
        clock.go()
        assert await clock.requested() == 12.5  # retried, model still missing: no new event
        assert len(events.seen) == 1
        fake.add_model(MODEL)
        clock.go()
        up = await events.next()
        assert up.ok
        assert up.backend == "llm"
        assert monitor.status.ok
        assert len(events.seen) == 2
        await chat.aclose()


async def test_server_started_later_is_found_by_recheck(
    running: list[asyncio.Task[None]],
) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    chat = OllamaChat(LlmSettings(host=f"http://127.0.0.1:{port}", model=MODEL, timeout_s=5))
    events, clock = Events(), ManualClock()
    monitor = LlmMonitor(chat, events.emit, retry_interval_s=30)
    running.append(asyncio.create_task(monitor.run(wait=clock.wait)))

    down = await events.next()
    assert not down.ok
    assert "did not answer" in down.message
    assert monitor.status.code == "llm-unreachable"

    with FakeOllama(models=[MODEL], port=port):
        status = await monitor.recheck()
        assert status.ok
        up = await events.next()
    assert up.ok
    assert monitor.status.ok
    await chat.aclose()


async def test_reported_failure_restarts_the_retries(running: list[asyncio.Task[None]]) -> None:
    with FakeOllama(models=[MODEL]) as fake:
        chat = OllamaChat(LlmSettings(host=fake.url, model=MODEL, timeout_s=5))
        events, clock = Events(), ManualClock()
        monitor = LlmMonitor(chat, events.emit, retry_interval_s=7)
        running.append(asyncio.create_task(monitor.run(wait=clock.wait)))
        assert (await events.next()).ok
        assert clock.idle  # up: no retrying

        monitor.report_failure("llm-unreachable", "Ollama at x did not answer")
        down = await events.next()
        assert not down.ok
        assert down.message == "Ollama at x did not answer"
        assert await clock.requested() == 7  # the loop woke up to retry...
        clock.go()
        assert (await events.next()).ok  # ...and found the server fine
        await chat.aclose()


class ExplodingChat:
    """A ChatModel whose check() raises (a bug elsewhere must not kill the monitor)."""

    async def stream_chat(
        self, messages: list[ChatMessage], tools: list[ToolSpec]
    ) -> AsyncIterator[ChatDelta]:
        yield ChatDelta(done=True)

    async def check(self) -> BackendStatus:
        raise RuntimeError("boom")


async def test_a_check_that_raises_counts_as_down() -> None:
    events = Events()
    monitor = LlmMonitor(ExplodingChat(), events.emit, retry_interval_s=1)
    assert monitor.status.code == "llm-unchecked"
    status = await monitor.recheck()
    assert not status.ok
    assert "boom" in status.message
    assert not (await events.next()).ok


async def test_with_watch_s_a_model_lost_while_up_is_noticed_without_a_turn(
    running: list[asyncio.Task[None]],
) -> None:
    with FakeOllama(models=[MODEL]) as fake:
        chat = OllamaChat(LlmSettings(host=fake.url, model=MODEL, timeout_s=5))
        events, clock = Events(), ManualClock()
        monitor = LlmMonitor(chat, events.emit, retry_interval_s=3, watch_s=10)
        running.append(asyncio.create_task(monitor.run(wait=clock.wait)))

        assert (await events.next()).ok
        assert await clock.requested() == 10  # up: it looks again after watch_s
        clock.go()
        assert await clock.requested() == 10  # still up: no new event
        assert len(events.seen) == 1
        fake.models.clear()  # gone while nobody talks
        clock.go()
        down = await events.next()
        assert not down.ok
        assert await clock.requested() == 3  # down: the retry interval again
        await chat.aclose()
