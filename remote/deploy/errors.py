"""The stable codes of the deploy area: renting a server, running it, upgrading it.

They travel in :class:`remote.vast.errors.DeployError` (the deployer, the service, the upgrade)
or :class:`app.shared.errors.HarkError` (the deployed server while Hark runs); Vast.ai's own
failures keep their :class:`remote.vast.errors.VastCode`. A code is named after its value.
"""

from __future__ import annotations

from enum import StrEnum


class DeployCode(StrEnum):
    """What went wrong (or where things stand) with Hark's rented server."""

    DEPLOY_NO_OFFERS = "deploy-no-offers"
    """No Vast.ai offer can run the model under the price cap."""
    DEPLOY_FAILED = "deploy-failed"
    """No server came up on any machine tried; each was destroyed."""
    DEPLOY_KEPT = "deploy-kept"
    """The server did not come up and its instance was kept as asked (it still bills)."""
    DEPLOY_DESTROY_FAILED = "deploy-destroy-failed"
    """A failed instance could not be destroyed: the user must destroy it."""
    DEPLOY_KEY_REFUSED = "deploy-key-refused"
    """The box refused the key Hark just made: it is not the server Hark set up."""
    DEPLOY_PROVISIONING_FAILED = "deploy-provisioning-failed"
    """The box's start-up script failed (see ``hark remote logs``)."""
    DEPLOY_CODE_REFUSED = "deploy-code-refused"
    """Hark's code could not be packed, or the box waits for (or got) other code."""

    REMOTE_NONE = "remote-none"
    """No Hark instance and no record: nothing to act on."""
    REMOTE_AMBIGUOUS = "remote-ambiguous"
    """Several Hark instances and no record saying which one is current."""
    REMOTE_GONE = "remote-gone"
    """The instance no longer exists on Vast.ai."""
    REMOTE_START_FAILED = "remote-start-failed"
    """The instance died while starting."""
    REMOTE_START_TIMEOUT = "remote-start-timeout"
    """The instance did not run with its port open (or did not stop) within the limit."""
    REMOTE_UPGRADE_FAILED = "remote-upgrade-failed"
    """The running box could not be given this Hark's code."""

    SERVER_STOPPED = "server-stopped"
    """The deployed server is stopped, or Hark has no Vast.ai key to check or start it."""
    SERVER_START_FAILED = "server-start-failed"
    """The deployed server is dead, or was not ready in ``remote.start_timeout_s``."""
    SERVER_STARTING = "server-starting"
    """A status, not a failure: the deployed server is on its way up."""
    SERVER_UNCHECKED = "server-unchecked"
    """A status, not a failure: the deployed server is checked when it is first used."""
