"""Secrets in the OS keyring (service ``hark``), with environment variables as overrides.

Secrets never live in the settings file; ``hark doctor`` says where each one comes from, never
its value.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping

from app.shared.errors import ConfigCode, ConfigError

log = logging.getLogger(__name__)

KEYRING_SERVICE = "hark"


SECRET_NAMES: dict[str, str] = {
    "elevenlabs-api-key": "ELEVENLABS_API_KEY",
    "server-api-key": "HARK_SERVER_API_KEY",
    "llm-token": "HARK_LLM_TOKEN",
    "llm-api-key": "OPENAI_API_KEY",
    "vast-api-key": "VAST_API_KEY",
}
"""Known secrets and the environment variable that may supply each instead of the keyring."""


class SecretStore:
    """Secrets in the OS keyring (service ``hark``), with environment variables as overrides.

    The keyring backend is whatever ``keyring`` picks (Secret Service, macOS Keychain, Windows
    Credential Locker); tests select a file backend. Values are never logged.
    """

    def __init__(self, env: Mapping[str, str] | None = None) -> None:
        self._env = os.environ if env is None else env

    @staticmethod
    def _check(name: str) -> None:
        if name not in SECRET_NAMES and not name.startswith("google-"):
            known = ", ".join(sorted(SECRET_NAMES))
            raise ConfigError(ConfigCode.SECRET_UNKNOWN, f"unknown secret {name!r}; known: {known}")

    def get(self, name: str) -> str | None:
        self._check(name)
        env_name = SECRET_NAMES.get(name)
        if env_name and self._env.get(env_name):
            return self._env[env_name]
        import keyring
        from keyring.errors import KeyringError

        try:
            value: str | None = keyring.get_password(KEYRING_SERVICE, name)
        except (KeyringError, EOFError, OSError) as exc:
            log.warning("secret %s not read: %s", name, _why_unusable(exc))
            return None
        return value or None

    def set(self, name: str, value: str) -> None:
        self._check(name)
        if not value.strip():
            raise ConfigError(
                ConfigCode.SECRET_EMPTY, f"the value for {name} is empty; nothing stored"
            )
        import keyring
        from keyring.errors import KeyringError

        try:
            keyring.set_password(KEYRING_SERVICE, name, value.strip())
        except (KeyringError, EOFError, OSError) as exc:
            raise _unusable(f"could not store {name}", name, exc) from None

    def delete(self, name: str) -> bool:
        self._check(name)
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, name)
        except PasswordDeleteError:
            return False
        except (KeyringError, EOFError, OSError) as exc:
            raise _unusable(f"could not delete {name}", name, exc) from None
        return True

    def source(self, name: str) -> str | None:
        """Where ``name`` would be read from (``environment`` / ``keyring``), never the value."""
        env_name = SECRET_NAMES.get(name)
        if env_name and self._env.get(env_name):
            return f"environment ({env_name})"
        return "keyring" if self.get(name) else None


def _why_unusable(exc: BaseException) -> str:
    if isinstance(exc, EOFError):  # keyrings.alt's encrypted file asks for its own password
        return (
            f"the keyring in use ({backend_description()}) asks for its password, and there "
            "is no terminal to ask on"
        )
    return f"the OS keyring could not be used ({type(exc).__name__})"


def _unusable(what: str, name: str, exc: BaseException) -> ConfigError:
    """A keyring that cannot be used, told with the ways out (never a traceback)."""
    env_name = SECRET_NAMES.get(name)
    instead = (
        f", or set the environment variable {env_name} instead"
        if env_name
        else " (this secret has no environment variable)"
    )
    return ConfigError(
        ConfigCode.KEYRING_UNAVAILABLE,
        f"{what}: {_why_unusable(exc)}. Unlock a desktop keyring (GNOME Keyring, KWallet), or "
        f"run the command in a terminal where the keyring can ask for its password{instead}.",
    )


def backend_description() -> str:
    """Which keyring backend is active, for ``hark doctor``."""
    import keyring

    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"
