"""The Vast.ai wizard's collaborators: how it makes a Vast.ai client and a deployer.

The wizard takes both as factories so tests (and a proxy setup) can give their own: FakeVast's
URL and a deployer on a simulated clock. The defaults are the real Vast.ai and the deployer
as ``hark remote deploy`` builds it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from app.settings.secrets import SecretStore
    from remote.deploy.deployer import Deployer
    from remote.deploy.options import DeployProgress
    from remote.deploy.records import RecordStore
    from remote.vast.client import VastClient

MakeVast = Callable[[str], "VastClient"]
"""A Vast.ai client for an API key (called on the engine loop)."""
MakeDeployer = Callable[
    ["VastClient", "RecordStore", Callable[["DeployProgress"], None]], "Deployer"
]
"""A deployer on that client and record store, reporting to the progress callback."""


def default_make_vast(key: str) -> VastClient:
    """The real Vast.ai (``HARK_VAST__*`` / ``VAST_URL`` may point elsewhere)."""
    from remote.vast.client import VastClient
    from remote.vast.settings import VastSettings

    return VastClient(key, VastSettings())


def default_make_deployer(secrets: SecretStore) -> MakeDeployer:
    """The real deployer: records and certificates in Hark's data directory."""
    from remote.deploy.deployer import Deployer

    def make(
        vast: VastClient, records: RecordStore, on_progress: Callable[[DeployProgress], None]
    ) -> Deployer:
        return Deployer(vast, records, secrets, on_progress=on_progress)

    return make
