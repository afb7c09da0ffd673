"""Test-wide isolation (no test reads or writes the real user's settings, keyring or caches),
and the fixtures tests in several packages use: the Whisper tiny.en model folder, and the
self-signed certificate a Hark server (or an Ollama where one would be) presents."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.llm.real_server import real_llm  # noqa: F401  (a fixture for tests/llm and tests/cli)
from tests.support.speech import tiny_en_dir
from tests.support.tls import CertPair, self_signed

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

_LEAKY = (
    "OLLAMA_HOST",
    "ELEVENLABS_API_KEY",
    "HARK_SERVER_API_KEY",
    "HARK_LLM_TOKEN",
    "OPENAI_API_KEY",
    "VAST_URL",
    "VAST_API_KEY",
)


TURN_WHEEL_GLOB = "pipecat_ai-1.14.0-*.whl"
"""The wheel holding the end-of-turn model, fetched into .testdata/ by `scripts/setup ...,dev`."""


@pytest.fixture(scope="session")
def turn_wheel() -> Path:
    """The pipecat-ai wheel (with the Smart Turn model) that scripts/setup downloaded once."""
    found = sorted((Path(__file__).parent.parent / ".testdata").glob(TURN_WHEEL_GLOB))
    if not found:
        pytest.fail(
            "the end-of-turn model's wheel is missing from .testdata/; "
            "run `scripts/setup desktop,server,dev` once (it downloads it)"
        )
    return found[0]


@pytest.fixture(scope="session")
def turn_model_file(turn_wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Smart Turn v3.2 ONNX file, extracted (and checked) once per test session."""
    from app.audio.turn_model import MODEL_NAME, extract_model

    target = tmp_path_factory.mktemp("turn-model") / MODEL_NAME
    extract_model(turn_wheel, target, str(turn_wheel))
    return target


@pytest.fixture
def turn_model_cached(isolated_home: Path, turn_model_file: Path) -> Path:
    """This test's Hark cache holds the end-of-turn model (a link), as after a first run."""
    folder = isolated_home / ".cache" / "hark" / "turn"
    folder.mkdir(parents=True)
    (folder / turn_model_file.name).symlink_to(turn_model_file)
    return folder


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """A fresh HOME/XDG tree, a file keyring inside it, and no HARK_* from the outside.

    The end-of-turn model's download goes to a port on 127.0.0.1 that refuses it, so the default
    ``end_of_turn = "smart"`` falls back to silence (as before) without the internet, unless
    a test asks for ``turn_model_cached``."""
    home = tmp_path_factory.mktemp("home")
    for name in list(os.environ):
        if name.startswith("HARK_") or name in _LEAKY:
            monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local/share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "keyrings.alt.file.PlaintextKeyring")
    monkeypatch.setenv("HARK_TURN_MODEL_URL", "http://127.0.0.1:1/offline-in-tests.whl")
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
