"""The stack (Caddy in front of uvicorn) run by ``run_stack`` in the test's own event loop:
started and waited for until it says it is ready, and finished by setting its stop event."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from remote.server.stack import ServeOptions, run_stack
from tests.remote.edge.edge_app import EdgeApp


@dataclass
class RunningStack:
    """A stack run by ``run_stack`` in this event loop."""

    options: ServeOptions
    app: EdgeApp
    task: asyncio.Task[int]
    stop: asyncio.Event
    urls: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return self.urls[0]

    @property
    def port(self) -> int:
        return self.options.listen.port


async def start_stack(
    options: ServeOptions, app: EdgeApp, *, timeout: float = 30.0
) -> RunningStack:
    """Start ``run_stack`` and wait until it says it is ready (or has ended)."""
    stop, ready = asyncio.Event(), asyncio.Event()
    urls: list[str] = []

    def on_ready(url: str) -> None:
        urls.append(url)
        ready.set()

    task = asyncio.create_task(run_stack(options, app, stop=stop, on_ready=on_ready))
    waiter = asyncio.create_task(ready.wait())
    await asyncio.wait({task, waiter}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    waiter.cancel()
    return RunningStack(options, app, task, stop, urls)


async def finish(stack: RunningStack, timeout: float = 30.0) -> int:
    """Ask the stack to stop and wait for it to end; returns its exit status."""
    stack.stop.set()
    return await asyncio.wait_for(stack.task, timeout)
