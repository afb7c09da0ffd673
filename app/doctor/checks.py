"""The check-up: every check of what Hark needs, in order (:func:`collect`), each saying how to
fix what is wrong. ``hark doctor`` prints them (``app.cli.doctor``) and the desktop's Check-up
window shows them as they come in.

Each check is independent and never raises; a check that is not ``required`` (warnings,
fallbacks) does not fail the check-up. Nothing secret is shown: only where a secret comes from.
The checks by area: :mod:`app.doctor.speech`, :mod:`app.doctor.llm_server` and
:mod:`app.doctor.accounts`.
"""

from __future__ import annotations

from collections.abc import Callable

from app.doctor.accounts import check_google, check_keyring
from app.doctor.check import Check
from app.doctor.llm_server import check_llm, check_remote
from app.doctor.speech import check_asr, check_audio, check_tts
from app.settings.schema import Settings
from app.settings.secrets import SecretStore
from app.shared.paths import config_path


def check_config(settings: Settings) -> Check:
    """Where the settings come from: the file, or the defaults."""
    path = config_path()
    where = (
        str(path) if path.exists() else f"defaults (no file yet; `hark config init` makes {path})"
    )
    return Check("settings", "ok", where)


async def collect(
    settings: Settings,
    secrets: SecretStore | None = None,
    on_check: Callable[[Check], None] | None = None,
) -> list[Check]:
    """Every check, in order; ``on_check`` hears each one as soon as it is done (the desktop
    app's Check my setup window fills in row by row)."""
    secrets = secrets or SecretStore()
    checks: list[Check] = []

    def add(*found: Check) -> None:
        for check in found:
            checks.append(check)
            if on_check is not None:
                on_check(check)

    add(check_config(settings))
    add(*check_audio(settings))
    add(check_asr(settings))
    if settings.remote.url is not None:
        add(await check_remote(settings, secrets))
    add(await check_llm(settings, secrets))
    add(*check_tts(settings, secrets))
    add(await check_google(settings, secrets))
    add(check_keyring())
    return checks
