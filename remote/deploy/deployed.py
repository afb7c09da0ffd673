"""Hark's own Vast.ai server while Hark runs (``remote.use_deployment``).

The server Hark deployed costs money only while it runs, so Hark treats it like a light it
switches on when needed and off when nobody is in the room:

- :class:`DeployedServer` knows the current deployment (its record), starts it when a turn
  needs it and it is stopped (telling the user "starting" until it answers ready), and stops it
  after ``remote.idle_stop_minutes`` in which neither Hark nor anyone else used it. The server's
  own idle stop (``hark remote deploy --idle-stop``) covers the time Hark is closed.
- :class:`ServerTranscriber` and :class:`ServerChat` are the engine's transcriber and chat
  model for such a server: before each use they make sure it runs, and they rebuild the real
  clients when a restart gave it a new address (Vast.ai maps new host ports on every start).

State changes go out as :class:`~app.core.events.ServerStateChanged` events, which the tray
and the command line show.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, suppress
from typing import Any

from app.core.events import ServerStateChanged
from app.core.ports import ChatModel, Emit, Transcriber
from app.core.types import BackendStatus, ChatDelta, ChatMessage, ToolSpec, Transcript
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.errors import AsrCode, AsrError, HarkError, LlmCode, LlmError
from app.shared.paths import data_dir
from remote.deploy.errors import DeployCode
from remote.deploy.records import Deployment, RecordStore, records_folder

log = logging.getLogger(__name__)

UNREACHABLE_CODES = frozenset({AsrCode.REMOTE_UNREACHABLE, LlmCode.UNREACHABLE})
"""A request that failed this way may mean the server was stopped behind Hark's back."""

Service = Any
"""A :class:`remote.deploy.service.RemoteService` (typed loosely to keep imports light)."""
ServiceFactory = Callable[[], AbstractAsyncContextManager[Service]]
Sleep = Callable[[float], Awaitable[None]]


def records() -> RecordStore:
    return RecordStore(records_folder())


def pin(settings: Settings, record: Deployment) -> Settings:
    """``settings`` pointed at ``record``'s server, its certificate written where Hark pins it."""
    cert = data_dir() / "servers" / f"{record.instance_id}.pem"
    if not cert.is_file() or cert.read_text(encoding="ascii") != record.cert_pem:
        cert.parent.mkdir(parents=True, exist_ok=True)
        cert.write_text(record.cert_pem, encoding="ascii")
    remote = settings.remote.model_copy(update={"url": record.url, "ca_cert": cert})
    return settings.model_copy(update={"remote": remote})


def vast_service_factory(secrets: SecretStore) -> ServiceFactory | None:
    """Opens a RemoteService with the Vast.ai key from the keyring (None: no key stored)."""
    key = secrets.get("vast-api-key")
    if not key:
        return None

    def open_vast() -> AbstractAsyncContextManager[Service]:
        from remote.deploy.service import open_service

        return open_service(key, lambda: secrets.get("server-api-key"), records())

    return open_vast


class DeployedServer:
    """Starts the deployed server on demand and stops it when idle; see the module docstring.

    ``service`` opens a RemoteService (None: no Vast.ai key, so Hark can neither start nor stop
    the server and says how to do it by hand). ``monotonic`` and ``sleep`` pace the waits.
    """

    def __init__(
        self,
        settings: Settings,
        record: Deployment,
        *,
        service: ServiceFactory | None,
        emit: Emit,
        monotonic: Callable[[], float] = time.monotonic,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self.settings = settings
        self.record = record
        self._service = service
        self._emit = emit
        self._monotonic = monotonic
        self._sleep = sleep
        self._lock = asyncio.Lock()
        self._ready = False
        """Known to run and answer; the first use asks Vast.ai (the record may be stale: the
        server stops itself when idle while Hark is closed)."""
        self._last_used = monotonic()
        self.state = record.state or "unknown"

    @property
    def url(self) -> str:
        return self.record.url

    @property
    def ready(self) -> bool:
        return self._ready

    def pinned_settings(self) -> Settings:
        return pin(self.settings, self.record)

    def touch(self) -> None:
        """Someone used the server now (every turn calls it)."""
        self._last_used = self._monotonic()

    def invalidate(self) -> None:
        """A request failed as if the server were gone: check with Vast.ai before the next use."""
        self._ready = False

    def _say(self, state: str, message: str) -> None:
        if state != self.state or state == "starting":
            log.info("Hark server %s: %s", self.record.instance_id, state)
        self.state = state
        self._emit(ServerStateChanged(state, message))

    async def ensure_ready(self) -> str:
        """The server's URL once it runs and is ready, starting it first when it is stopped."""
        self.touch()
        if self._ready:
            return self.url
        async with self._lock:
            if not self._ready:
                await self._bring_up()
            self.touch()
            return self.url

    async def _bring_up(self) -> None:
        if self._service is None and self.state != "unverified":
            # Nothing to ask: trust the record once; a failed request marks it unreachable.
            self.state, self._ready = "unverified", True
            return
        if self._service is None:
            self.state = "ready"
            raise HarkError(
                DeployCode.SERVER_STOPPED,
                f"the Hark server {self.record.label} is not answering and Hark has no Vast.ai "
                "key to check or start it: run `hark remote start`, or store the key with "
                "`hark secret set vast-api-key` so Hark starts it when needed",
            )
        deadline = self._monotonic() + self.settings.remote.start_timeout_s
        async with self._service() as service:
            status = await service.status(self.record.instance_id)
            if status.state == "gone" or status.state in ("exited", "offline", "unknown"):
                self._say("failed", f"the Hark server {self.record.label} is {status.state}")
                raise HarkError(
                    DeployCode.SERVER_START_FAILED,
                    f"the Hark server {self.record.label} is {status.state} on Vast.ai; see "
                    "`hark remote status`, or destroy it and deploy a new one",
                )
            if status.state != "running":
                await self._start(service)
                status = await service.status(self.record.instance_id)
            while not (status.server is not None and status.server.ready):
                detail = status.server.detail if status.server else None
                self._say("starting", f"Hark server starting: {detail or status.state}")
                if self._monotonic() >= deadline:
                    self._say("failed", "the Hark server did not become ready in time")
                    raise HarkError(
                        DeployCode.SERVER_START_FAILED,
                        f"the Hark server {self.record.label} was not ready after "
                        f"{self.settings.remote.start_timeout_s:.0f} s (remote.start_timeout_s); "
                        "see `hark remote status` and `hark remote logs`",
                    )
                await self._sleep(self.settings.remote.poll_s)
                status = await service.status(self.record.instance_id)
            self._adopt(service, status.url)
        self._ready = True
        self._say("ready", f"Hark server ready at {self.url}")

    async def _start(self, service: Service) -> None:
        self._say(
            "starting",
            f"Starting your Hark server {self.record.label} "
            f"(${self.record.dph_total:.3f}/hour); this takes a minute or two",
        )
        try:
            record = await service.start(
                self.record.instance_id,
                on_progress=lambda message: self._say("starting", f"Hark server: {message}"),
                timeout_s=self.settings.remote.start_timeout_s,
                poll_s=self.settings.remote.poll_s,
            )
        except HarkError as exc:
            self._say("failed", exc.message)
            raise
        if record is not None:
            self.record = record

    def _adopt(self, service: Service, url: str) -> None:
        current = service.records.get(self.record.instance_id)
        if current is not None:
            self.record = current
        if url and url != self.record.url:
            host, _, port = url.removeprefix("https://").rpartition(":")
            self.record = self.record.with_address(host, int(port))
        ready = self.record.with_state("ready")
        service.records.save(ready)
        self.record = ready

    # --- idle stop -------------------------------------------------------------------------

    async def stop_if_idle(self) -> bool:
        """Stop the server when Hark and the server itself were idle long enough.

        Returns True when it stopped it. The server's ``/status`` idle time counts other
        users of the same server too (another computer's Hark), so it is never stopped under
        someone.
        """
        limit_s = self.settings.remote.idle_stop_minutes * 60
        if limit_s <= 0 or self._service is None or self.state in ("stopped", "failed"):
            return False
        if self._monotonic() - self._last_used < limit_s:
            return False
        async with self._lock, self._service() as service:
            status = await service.status(self.record.instance_id)
            if status.state != "running":
                self._ready = False
                self.state = "stopped" if status.state in ("stopped", "stopping") else "failed"
                return False
            idle = status.server.idle_s if status.server else None
            if idle is not None and idle < limit_s:
                return False
            self._say("stopping", "Stopping the idle Hark server")
            await service.stop(self.record.instance_id)
            self._ready = False
        minutes = self.settings.remote.idle_stop_minutes
        self._say(
            "stopped",
            f"Stopped the Hark server after {minutes} idle minutes so it does not bill; it "
            "starts again when you talk",
        )
        return True

    async def stop(self) -> None:
        """Stop the server now (the tray's Remote server → Stop); it starts again on use."""
        if self._service is None:
            raise HarkError(
                DeployCode.SERVER_STOPPED,
                "Hark has no Vast.ai key to stop the server with: store it with "
                "`hark secret set vast-api-key`, or run `hark remote stop`",
            )
        async with self._lock, self._service() as service:
            self._say("stopping", "Stopping the Hark server")
            await service.stop(self.record.instance_id)
            self._ready = False
        self._say("stopped", "Stopped the Hark server; it starts again when you talk")

    async def watch(self, interval_s: float = 60.0) -> None:
        """Run until cancelled: check for idleness every ``interval_s``; errors are logged."""
        while True:
            await self._sleep(interval_s)
            try:
                await self.stop_if_idle()
            except HarkError as exc:
                log.warning("idle check of the Hark server failed: %s", exc.code)


class _Follower:
    """Keeps one client built for the server's current address, rebuilding it on a change."""

    def __init__(self, server: DeployedServer, make: Callable[[Settings], Any], close: str) -> None:
        self.server = server
        self._make = make
        self._close = close
        self._url: str | None = None
        self._inner: Any = None

    async def current(self) -> Any:
        url = await self.server.ensure_ready()
        if url != self._url or self._inner is None:
            await self.aclose()
            self._inner = self._make(self.server.pinned_settings())
            self._url = url
        return self._inner

    async def aclose(self) -> None:
        inner, self._inner = self._inner, None
        close = getattr(inner, self._close, None) if inner is not None else None
        if close is not None:
            with suppress(Exception):
                result = close()
                if asyncio.iscoroutine(result):
                    await result


class ServerTranscriber:
    """The Transcriber port for the deployed server: starts it if needed, follows its address."""

    def __init__(self, server: DeployedServer, make: Callable[[Settings], Transcriber]) -> None:
        self._follow = _Follower(server, make, "aclose")

    async def transcribe(self, pcm: bytes, sample_rate: int) -> Transcript:
        for attempt in (1, 2):
            try:
                inner: Transcriber = await self._follow.current()
                return await inner.transcribe(pcm, sample_rate)
            except HarkError as exc:
                if attempt == 1 and exc.code in UNREACHABLE_CODES:
                    self._follow.server.invalidate()
                    continue
                if isinstance(exc, AsrError):
                    raise
                raise AsrError(exc.code, exc.message) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def aclose(self) -> None:
        await self._follow.aclose()


class ServerChat:
    """The ChatModel port for the deployed server: starts it if needed, follows its address."""

    def __init__(self, server: DeployedServer, make: Callable[[Settings], ChatModel]) -> None:
        self._follow = _Follower(server, make, "aclose")

    async def stream_chat(
        self, messages: Sequence[ChatMessage], tools: Sequence[ToolSpec]
    ) -> AsyncGenerator[ChatDelta, None]:
        for attempt in (1, 2):
            started = False
            try:
                inner: ChatModel = await self._follow.current()
                stream = inner.stream_chat(messages, tools)
                try:
                    async for delta in stream:
                        started = True
                        yield delta
                finally:
                    await stream.aclose()
                return
            except HarkError as exc:
                if attempt == 1 and not started and exc.code in UNREACHABLE_CODES:
                    self._follow.server.invalidate()
                    continue
                if isinstance(exc, LlmError):
                    raise
                raise LlmError(exc.code, exc.message) from exc

    async def check(self) -> BackendStatus:
        server = self._follow.server
        if server.state in ("stopped", "stopping"):
            return BackendStatus(
                False,
                DeployCode.SERVER_STOPPED,
                "the Hark server is stopped; it starts when you talk",
            )
        if server.state == "starting":
            return BackendStatus(False, DeployCode.SERVER_STARTING, "the Hark server is starting")
        if not server.ready:
            return BackendStatus(
                False, DeployCode.SERVER_UNCHECKED, "the Hark server is checked when you first talk"
            )
        try:
            inner: ChatModel = await self._follow.current()
        except HarkError as exc:
            return BackendStatus(False, exc.code, exc.message)
        return await inner.check()

    async def aclose(self) -> None:
        await self._follow.aclose()
