"""``hark secret`` where the only keyring is one that asks for its own password (keyrings.alt's
encrypted file, what ``keyring`` picks without a Secret Service) and there is no terminal to ask
on: a clear message with the ways out, never a traceback. The real command, in a session of its
own (no controlling terminal), the value piped in."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.settings.secrets import SecretStore
from app.shared.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def hark(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON_KEYRING_BACKEND": "keyrings.alt.file.EncryptedKeyring"}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        start_new_session=True,  # no /dev/tty: getpass falls back to the (empty) input
        timeout=60,
        check=False,
    )


def test_storing_a_secret_says_why_it_cannot_and_what_to_do() -> None:
    done = hark("secret", "set", "elevenlabs-api-key", stdin="sk-abc123\n")
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "EOFError" not in done.stderr
    assert "asks for its password" in done.stderr
    assert "ELEVENLABS_API_KEY" in done.stderr
    assert "sk-abc123" not in done.stdout + done.stderr


@pytest.mark.filterwarnings("ignore::getpass.GetPassWarning")
def test_the_google_sign_in_without_a_usable_keyring_is_told_not_raised(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # In-process, where reading the password prompt's answer fails (pytest holds the input).
    import keyring
    from keyrings.alt.file import EncryptedKeyring

    monkeypatch.setattr(EncryptedKeyring, "file_path", str(Path(os.environ["HOME"]) / "kr.cfg"))
    keyring.set_keyring(EncryptedKeyring())
    store = SecretStore(env={})
    with pytest.raises(ConfigError) as info:
        store.set("google-token", '{"refresh_token": "r"}')
    assert info.value.code == "keyring-unavailable"
    assert "no environment variable" in info.value.message
    assert "refresh_token" not in info.value.message
    assert store.get("google-token") is None  # reading fails quietly: a warning in the log
