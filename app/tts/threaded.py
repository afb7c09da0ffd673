"""Drive a blocking iterator on a worker thread and consume it from the event loop.

The ElevenLabs SDK and Piper both hand out audio through plain, blocking generators. Running
each ``next()`` on the loop would freeze the engine, and collecting the whole generator in
``asyncio.to_thread`` would wait for the last chunk before the first could be played. Instead a
dedicated thread walks the generator and posts every item to the loop the moment it exists.

Closing the async side (``aclose``, a cancelled task, barge-in) sets a stop flag: the thread
stops after the read it is in, closes the blocking generator itself (so the HTTP response or
model run is released on the thread that owns it) and ends. A daemon thread is used rather
than the loop's default executor so a slow read can never hold up the loop's shutdown.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterator
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")

_ITEM = 0
_END = 1
_ERROR = 2

_counter = itertools.count(1)


async def aclose_iterator(iterator: AsyncIterator[object]) -> None:
    """Close an async iterator if it can be closed (async generators can; plain ones may not).

    ``async for`` never closes what it walks when it is left early, so without this a stopped
    reply would leave the voice's worker or subprocess running until garbage collection.
    """
    aclose = getattr(iterator, "aclose", None)
    if aclose is not None:
        await aclose()


async def iterate_in_thread(
    make_iterator: Callable[[], Iterator[T]], *, name: str
) -> AsyncGenerator[T, None]:
    """Yield the items of ``make_iterator()`` as a worker thread produces them.

    ``make_iterator`` itself runs on the worker too, so slow setup (loading a model, opening a
    connection) never blocks the loop. Exceptions raised on the worker are re-raised here,
    unchanged. The thread is named ``hark-tts-<name>-<n>`` so tests can find and join it.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, object]] = asyncio.Queue()
    stop = threading.Event()

    def post(kind: int, payload: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, payload))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            stop.set()

    def work() -> None:
        iterator: Iterator[T] | None = None
        try:
            iterator = make_iterator()
            for item in iterator:
                if stop.is_set():
                    break
                post(_ITEM, item)
            else:
                post(_END, None)
        except Exception as exc:
            if not stop.is_set():
                post(_ERROR, exc)
            else:
                log.debug("%s worker ended after close: %s", name, type(exc).__name__)
        finally:
            close = getattr(iterator, "close", None)
            if close is not None:
                try:
                    close()
                except Exception as exc:
                    log.debug("%s: closing the source failed: %s", name, type(exc).__name__)

    thread = threading.Thread(target=work, name=f"hark-tts-{name}-{next(_counter)}", daemon=True)
    thread.start()
    try:
        while True:
            kind, payload = await queue.get()
            if kind == _END:
                return
            if kind == _ERROR:
                assert isinstance(payload, Exception)
                raise payload
            yield payload  # type: ignore[misc]  # _ITEM payloads are T by construction
    finally:
        stop.set()
