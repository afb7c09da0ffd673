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
        try:
            import keyring
            from keyring.errors import KeyringError

            try:
                value: str | None = keyring.get_password(KEYRING_SERVICE, name)
            except KeyringError as exc:
                log.warning(
                    "keyring unavailable (%s); secret %s not read", type(exc).__name__, name
                )
                return None
        except ImportError:  # pragma: no cover - keyring is a hard dependency
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
        except KeyringError as exc:
            raise ConfigError(
                ConfigCode.KEYRING_UNAVAILABLE,
                f"could not store {name} in the OS keyring ({type(exc).__name__}). Install and "
                "unlock a keyring (GNOME Keyring, KWallet), or set the environment variable "
                f"{SECRET_NAMES.get(name, '')} instead.",
            ) from None

    def delete(self, name: str) -> bool:
        self._check(name)
        import keyring
        from keyring.errors import KeyringError, PasswordDeleteError

        try:
            keyring.delete_password(KEYRING_SERVICE, name)
        except PasswordDeleteError:
            return False
        except KeyringError as exc:
            raise ConfigError(
                ConfigCode.KEYRING_UNAVAILABLE,
                f"could not reach the OS keyring: {type(exc).__name__}",
            ) from None
        return True

    def source(self, name: str) -> str | None:
        """Where ``name`` would be read from (``environment`` / ``keyring``), never the value."""
        env_name = SECRET_NAMES.get(name)
        if env_name and self._env.get(env_name):
            return f"environment ({env_name})"
        return "keyring" if self.get(name) else None


def backend_description() -> str:
    """Which keyring backend is active, for ``hark doctor``."""
    import keyring

    kr = keyring.get_keyring()
    return f"{type(kr).__module__}.{type(kr).__name__}"
