"""``GET /healthz`` (no key: only "ok" or what is not ready) and ``GET /status`` (with a key).

``/healthz`` is for load balancers, Docker and the deployer's wait loop: it names the parts
that are not ready (``provisioning`` until the state file says ready, ``ollama`` when it does
not answer, ``whisper`` while the start-up load runs or when loading failed) and nothing else —
no versions, no model names — because anyone may call it. ``/status`` is the full picture
for the owner.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
import subprocess
from dataclasses import asdict
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from app import __version__
from app.shared.protocol import HEALTH_PATH, STATUS_PATH
from remote.server.context import ServerContext, context
from remote.server.provisioning import read_state, read_steps

log = logging.getLogger(__name__)

PROBE_TIMEOUT_S = 3.0
NVIDIA_SMI_TIMEOUT_S = 5.0
_GPU_QUERY = ("--query-gpu=name,memory.total,memory.used", "--format=csv,noheader,nounits")


async def _ollama_get(ctx: ServerContext, path: str) -> Any:
    response = await ctx.http.get(ctx.settings.ollama_url + path, timeout=PROBE_TIMEOUT_S)
    response.raise_for_status()
    return response.json()


async def ollama_reachable(ctx: ServerContext) -> bool:
    """Whether Ollama answers ``/api/version``."""
    try:
        await _ollama_get(ctx, "/api/version")
    except (httpx.HTTPError, ValueError):
        return False
    return True


async def ollama_summary(ctx: ServerContext) -> dict[str, Any]:
    """Ollama's version and the models it has, or ``reachable: false``."""
    try:
        version, tags = await asyncio.gather(
            _ollama_get(ctx, "/api/version"), _ollama_get(ctx, "/api/tags")
        )
    except (httpx.HTTPError, ValueError) as exc:
        return {"reachable": False, "error": type(exc).__name__, "models": []}
    models = [
        str(m.get("name") or m.get("model"))
        for m in (tags.get("models") or [] if isinstance(tags, dict) else [])
        if isinstance(m, dict)
    ]
    return {
        "reachable": True,
        "version": version.get("version") if isinstance(version, dict) else None,
        "models": models,
    }


def parse_nvidia_smi(output: str) -> list[dict[str, Any]]:
    """``name, total MiB, used MiB`` lines → ``[{"name", "memory_total_mib", ...}]``."""
    gpus = []
    for line in output.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) != 3 or not parts[0]:
            continue
        try:
            total, used = int(float(parts[1])), int(float(parts[2]))
        except ValueError:
            continue
        gpus.append({"name": parts[0], "memory_total_mib": total, "memory_used_mib": used})
    return gpus


def gpu_info(command: str) -> list[dict[str, Any]] | None:
    """The GPUs as ``nvidia-smi`` sees them; None without nvidia-smi or when it fails."""
    exe = shutil.which(command)
    if exe is None:
        return None
    try:
        done = subprocess.run(
            [exe, *_GPU_QUERY],
            capture_output=True,
            text=True,
            timeout=NVIDIA_SMI_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("nvidia-smi failed: %s", type(exc).__name__)
        return None
    if done.returncode != 0:
        log.warning("nvidia-smi exited with status %d", done.returncode)
        return None
    return parse_nvidia_smi(done.stdout)


async def healthz(request: Request) -> JSONResponse:
    """``{"status": "ok"}`` (200), or the parts that are not ready (503)."""
    ctx = context(request)
    waiting: list[str] = []
    state = read_state(ctx.settings.state_file)
    if state is not None and state.state != "ready":
        waiting.append("provisioning")
    health = ctx.health
    if not (await health.reachable() if health is not None else await ollama_reachable(ctx)):
        waiting.append("ollama")
    if ctx.preloading or ctx.engine.status().state == "failed":
        waiting.append("whisper")
    if waiting:
        return JSONResponse({"status": "not-ready", "not_ready": waiting}, status_code=503)
    return JSONResponse({"status": "ok"})


async def status(request: Request) -> JSONResponse:
    """Version, uptime, Ollama, Whisper, the GPU, the queue, activity and provisioning."""
    ctx = context(request)
    ollama, gpus = await asyncio.gather(
        ollama_summary(ctx), asyncio.to_thread(gpu_info, ctx.settings.nvidia_smi)
    )
    engine = ctx.engine.status()
    provisioning = read_state(ctx.settings.state_file)
    idle = ctx.activity.idle_s()
    return JSONResponse(
        {
            "version": __version__,
            "uptime_s": round(ctx.clock() - ctx.started_at, 1),
            "last_request_s_ago": None if idle is None else round(idle, 1),
            "ollama": ollama,
            "whisper": {
                "model": engine.model,
                "state": engine.state,
                "loaded": engine.loaded,
                "device": engine.device,
                "compute_type": engine.compute_type,
                "detail": engine.detail,
            },
            "queue": {
                "running": ctx.queue.running,
                "waiting": ctx.queue.waiting,
                "concurrency": ctx.queue.concurrency,
                "max_queue": ctx.queue.max_waiting,
            },
            "gpu": gpus,
            "provisioning": None if provisioning is None else provisioning.as_dict(),
            "boot_steps": [asdict(s) for s in read_steps(ctx.settings.state_file)],
            "code": {"version": __version__, "sha256": ctx.settings.code_sha256},
        }
    )


def add_routes(app: FastAPI) -> None:
    """Add ``/healthz`` and ``/status`` to ``app``."""
    app.get(HEALTH_PATH, summary="Ready or not (no key needed)")(healthz)
    app.get(STATUS_PATH, summary="What the server is doing")(status)
