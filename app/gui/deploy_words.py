"""The Remote server menu's answers in the user's words (the terminal's ``hark remote``
prints its own, with instance numbers and commands)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.shared.errors import HarkError
from remote.deploy.errors import DeployCode
from remote.vast.errors import VastCode

if TYPE_CHECKING:
    from remote.deploy.status import RemoteStatus

_STATES = {
    "running": "is running",
    "starting": "is starting",
    "stopping": "is stopping",
    "stopped": "is stopped: its disk is kept (a small storage charge), and Start brings it back",
    "gone": "no longer exists on Vast.ai: Destroy… forgets it here, Deploy… makes a new one",
}
_ERRORS: dict[str, str] = {
    DeployCode.REMOTE_NONE: (
        "No Hark server is deployed yet. Use Remote server ▸ Deploy to Vast.ai… to rent one."
    ),
    DeployCode.REMOTE_AMBIGUOUS: (
        "Your Vast.ai account has several Hark servers and this computer does not know which "
        "one it uses. Destroy the ones you do not need at cloud.vast.ai, or deploy a new one here."
    ),
    DeployCode.REMOTE_GONE: (
        "That server no longer exists on Vast.ai. Destroy… forgets it here; Deploy… makes a "
        "new one."
    ),
    DeployCode.REMOTE_START_FAILED: (
        "The Hark server did not start on its machine. Destroy it and deploy again (Vast.ai "
        "hosts sometimes fail)."
    ),
    DeployCode.REMOTE_START_TIMEOUT: (
        "The Hark server was not up in time; it may still be starting. Look again with Status "
        "in a minute, or Stop it so it does not bill."
    ),
    VastCode.AUTH: (
        "Vast.ai refused the API key. Deploy to Vast.ai… takes a new key on its first page."
    ),
    VastCode.UNREACHABLE: "Vast.ai did not answer. Check the internet connection and try again.",
    VastCode.RATE_LIMITED: "Vast.ai asked Hark to slow down. Try again in a minute.",
    VastCode.SERVER: "Vast.ai had a problem answering. Try again in a minute.",
}


def _duration(seconds: float) -> str:
    minutes = int(seconds // 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


def describe_status(status: RemoteStatus) -> str:
    """Where the server is, what it costs, and whether it is ready, in a few sentences."""
    what = " ".join(
        part
        for part in (
            status.gpu_name or "",
            f"${status.dph_total:.3f}/hour" if status.dph_total is not None else "",
        )
        if part
    )
    name = status.label or "Your Hark server"
    state = _STATES.get(
        status.state,
        f"is not running (Vast.ai says {status.state}); if it does not come back, destroy it "
        "and deploy again",
    )
    lines = [f"{name}{f' ({what})' if what else ''} {state}."]
    if status.state == "running" and status.url:
        lines.append(f"Address: {status.url}")
    facts = []
    if status.uptime_s is not None:
        facts.append(f"up for {_duration(status.uptime_s)}")
    if status.cost_so_far is not None:
        facts.append(f"about ${status.cost_so_far:.2f} so far")
    if facts:
        lines.append(", ".join(facts).capitalize() + ".")
    server = status.server
    if server is not None:
        if not server.reachable:
            lines.append("The Hark server on it does not answer yet.")
        elif server.provisioning in ("starting", "pulling-model"):
            lines.append(f"It is still being set up ({server.detail or server.provisioning}).")
        elif server.provisioning == "failed":
            lines.append(f"Setting it up failed: {server.detail or 'no detail'}.")
        else:
            model = {
                True: "the model is ready",
                False: "the model is not pulled yet",
                None: "the model's state is unknown",
            }[server.model_pulled]
            idle = (
                "no requests yet"
                if server.idle_s is None
                else f"last request {_duration(server.idle_s)} ago"
            )
            lines.append(f"It answers: {model}, {idle}.")
    return "\n".join(lines)


def error_words(error: BaseException) -> str:
    """What went wrong with a Remote server action, and what to do."""
    if isinstance(error, HarkError):
        return _ERRORS.get(error.code) or error.message.replace("`", "")
    return "Something went wrong talking to Vast.ai. Try again; Check my setup may say more."
