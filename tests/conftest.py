"""Test-wide isolation (no test reads or writes the real user's settings, keyring or caches),
and the fixtures tests in several packages use: the Whisper tiny.en model folder, and the
self-signed certificate a Hark server (or an Ollama where one would be) presents."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.speech import tiny_en_dir
from tests.support.tls import CertPair, self_signed

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_LEAKY = (
    "OLLAMA_HOST",
    "ELEVENLABS_API_KEY",
    "HARK_SERVER_API_KEY",
    "HARK_LLM_TOKEN",
    "VAST_URL",
    "VAST_API_KEY",
)


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh HOME/XDG tree, a file keyring inside it, and no HARK_* from the outside."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("HARK_") or name in _LEAKY:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    import keyring
    from keyrings.alt.file import PlaintextKeyring

    previous = keyring.get_keyring()
    keyring.set_keyring(PlaintextKeyring())
    yield home
    keyring.set_keyring(previous)


@pytest.fixture(scope="session", name="tiny_en_dir")
def _tiny_en_dir() -> Path:
    """The CTranslate2 folder of Whisper tiny.en shipped in a PyPI package."""
    return tiny_en_dir()


@pytest.fixture(scope="session")
def server_cert() -> CertPair:
    """The Hark server's self-signed certificate. It names a host that is not 127.0.0.1: the
    pin, not the name, must carry the trust."""
    return self_signed("hark-server", dns="hark-server.invalid")
