"""Bring a running box up to this Hark: send its code, then restart the instance.

A box runs the wheel it was deployed with (its SHA-256 is in ``/status`` as ``code``). When
the desktop is now another Hark, :func:`upgrade` says so, sends this Hark's wheel to the running
server (``PUT /box/code`` with the key and the hash, over the pinned certificate), which keeps
it as the box's expected code, then stops and starts the instance: the box's bootstrap finds
the new wheel on its disk, checks its hash and installs it (the locked dependencies only when
they changed). The same code is never sent twice.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from app.shared.protocol import AUTH_HEADER, BEARER, CODE_HASH_HEADER, CODE_UPLOAD_PATH, STATUS_PATH
from remote.deploy.code import CodeBundle, stream_wheel
from remote.deploy.errors import DeployCode
from remote.deploy.records import Deployment
from remote.deploy.service import RemoteService
from remote.vast.errors import DeployError


async def running_code(deployment: Deployment, key: str, *, timeout_s: float = 15) -> str | None:
    """The SHA-256 of the code the box runs (None: it does not say: an older Hark box)."""
    from app.shared.tls import pinned_ssl_context

    async with httpx.AsyncClient(
        verify=pinned_ssl_context(deployment.cert_pem), timeout=timeout_s, trust_env=False
    ) as http:
        try:
            reply = await http.get(
                deployment.url + STATUS_PATH, headers={AUTH_HEADER: f"{BEARER} {key}"}
            )
            code = reply.json().get("code") if reply.status_code == 200 else None
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            raise DeployError(
                DeployCode.REMOTE_UPGRADE_FAILED,
                f"the server at {deployment.url} did not answer ({type(exc).__name__}); "
                "start it first (`hark remote start`)",
            ) from exc
    sha = code.get("sha256") if isinstance(code, dict) else None
    return str(sha) if sha else None


def _quarters(code: CodeBundle, say: Callable[[str], None]) -> Callable[[int], None]:
    """Progress in words at each quarter of the upload."""
    shown = [-1]

    def on_sent(sent: int) -> None:
        percent = 100 * sent // max(1, code.size)
        if percent // 25 != shown[0]:
            shown[0] = percent // 25
            say(f"sending {code.describe()}: {percent} %")

    return on_sent


async def send_code(
    deployment: Deployment, key: str, code: CodeBundle, say: Callable[[str], None]
) -> None:
    """Upload ``code`` to the running box as its code for the next start."""
    from app.shared.tls import pinned_ssl_context

    async with httpx.AsyncClient(
        verify=pinned_ssl_context(deployment.cert_pem), timeout=120, trust_env=False
    ) as http:
        try:
            reply = await http.put(
                deployment.url + CODE_UPLOAD_PATH,
                content=stream_wheel(code, _quarters(code, say)),
                headers={
                    AUTH_HEADER: f"{BEARER} {key}",
                    CODE_HASH_HEADER: code.sha256,
                    "Content-Length": str(code.size),
                    "Content-Type": "application/octet-stream",
                },
            )
        except httpx.HTTPError as exc:
            raise DeployError(
                DeployCode.REMOTE_UPGRADE_FAILED,
                f"sending the code broke off ({type(exc).__name__}); the box keeps its old "
                "code: try `hark remote upgrade` again",
            ) from exc
    if reply.status_code != 202:
        raise DeployError(
            DeployCode.REMOTE_UPGRADE_FAILED,
            f"the server did not take the code (HTTP {reply.status_code}); it keeps running "
            "its old code. A box deployed by an older Hark cannot be upgraded: deploy anew",
        )


async def upgrade(
    service: RemoteService,
    instance_id: int | None,
    key: str,
    code: CodeBundle,
    say: Callable[[str], None],
    *,
    start_timeout_s: float = 900,
    poll_s: float = 5,
) -> bool:
    """Make the box run ``code``; False when it already does. Restarts the instance."""
    chosen = await service.resolve(instance_id)
    record = service.records.get(chosen)
    if record is None or not record.url:
        raise DeployError(
            DeployCode.REMOTE_UPGRADE_FAILED,
            f"Hark has no record of instance {chosen}'s address; deploy anew",
        )
    running = await running_code(record, key)
    if running == code.sha256:
        say(f"instance {chosen} already runs {code.describe()}")
        return False
    old = f"code {running[:12]}" if running else "an unknown code"
    say(f"instance {chosen} runs {old}; this is {code.describe()}: sending this Hark's code")
    await send_code(record, key, code, say)
    say(f"restarting instance {chosen} so that it installs the new code")
    await service.stop(chosen)
    await service.wait_stopped(chosen, timeout_s=start_timeout_s, poll_s=poll_s)
    await service.start(chosen, on_progress=say, timeout_s=start_timeout_s, poll_s=poll_s)
    return True
