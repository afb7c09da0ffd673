"""What a deploy is asked for and what it reports: its options, its time limits, its progress.

The command line, the GUI's deploy wizard and the :class:`~remote.deploy.deployer.Deployer`
share these small values; the deployer's module docstring describes the steps they name.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Step = Literal["creating", "booting", "address", "tls", "upload", "provisioning", "ready"]
DEFAULT_IMAGE = "vastai/base-image:cuda-12.8.1-cudnn-devel-ubuntu24.04"
"""Vast.ai's own image on NVIDIA's CUDA 12.8 + cuDNN 9 (layers most hosts have cached), with
Python 3.12: nothing of CUDA or Python is installed at run time (README, "Deploy to Vast.ai")."""
DEFAULT_MODEL = "llama3.1:8b"


@dataclass(frozen=True, slots=True)
class DeployProgress:
    """One visible step of a deploy; ``fraction`` (0–1) when the step knows how far it is."""

    step: Step
    message: str
    fraction: float | None = None


@dataclass(frozen=True, slots=True)
class DeployTimeouts:
    """How long each step may take (seconds) and how often to look; all settable."""

    boot_s: float = 900.0
    """Create → running (the image is pulled on the host)."""
    address_s: float = 120.0
    """Running → public IP and host port shown."""
    tls_s: float = 900.0
    """Address → the server answers over TLS (the bootstrap installs Hark, Ollama…)."""
    provisioning_s: float = 3600.0
    """TLS → the model is pulled and the server says ready."""
    poll_s: float = 5.0
    probe_s: float = 10.0
    """One HTTP probe of the server."""
    max_offers: int = 3
    """Machines to try before giving up."""
    destroy_attempts: int = 3

    def __post_init__(self) -> None:
        for name in ("boot_s", "address_s", "tls_s", "provisioning_s", "probe_s"):
            if not getattr(self, name) > 0:
                raise ValueError(f"deploy timeout {name} must be more than 0 seconds")
        if not self.poll_s >= 0:
            raise ValueError("deploy poll_s must be 0 seconds or more")
        if self.max_offers < 1 or self.destroy_attempts < 1:
            raise ValueError("max_offers and destroy_attempts must be at least 1")


DEFAULT_IDLE_STOP_MINUTES = 30.0
"""Half an hour without a request stops a rented server: it costs only its disk then."""


@dataclass(frozen=True, slots=True)
class DeployOptions:
    """What to deploy: ``offer_id`` pins one offer (no other is tried); ``keep`` keeps a
    failed instance for inspection."""

    model: str = DEFAULT_MODEL
    max_dph: float | None = None
    offer_id: int | None = None
    keep: bool = False
    disk_gb: float = 40.0
    port: int = 8443
    image: str = DEFAULT_IMAGE
    whisper_model: str | None = None
    idle_stop_minutes: float = DEFAULT_IDLE_STOP_MINUTES
    """The server stops its own instance after so long without a request (0: never)."""
