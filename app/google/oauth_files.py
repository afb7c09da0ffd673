"""The OAuth JSON files a user gives Hark: the client secrets file of their own Google Cloud
project (a *Desktop app* client, its ``installed`` section) and Google's authorized-user file;
read and checked with messages that say how to get a right one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from app.shared.errors import GoogleCode, GoogleError

CLIENT_HOWTO = (
    "Get one in the Google Cloud console: APIs & Services → Credentials → Create credentials → "
    "OAuth client ID → Application type 'Desktop app' → Download JSON; then set google.client_file "
    "to that file (or pass --client-file FILE)."
)
REQUIRED_FIELDS = ("client_id", "client_secret", "refresh_token")
"""What an authorized-user sign-in (a file, or the one kept in the keyring) must hold."""


def load_client_file(path: Path | None) -> dict[str, Any]:
    """The ``installed`` section of an OAuth client secrets JSON, checked, with a message
    that says how to get a right one when it is not."""
    if path is None:
        raise GoogleError(
            GoogleCode.CLIENT_FILE_MISSING,
            "Hark needs your OAuth client file to sign in to Google. " + CLIENT_HOWTO,
        )
    data = read_json(path, "OAuth client file")
    if "installed" not in data:
        if "web" in data:
            raise GoogleError(
                GoogleCode.CLIENT_WEB,
                f"{path} is for a 'Web application' OAuth client; Hark signs in as a desktop "
                "program and needs a 'Desktop app' client. " + CLIENT_HOWTO,
            )
        raise GoogleError(
            GoogleCode.CLIENT_FILE_INVALID,
            f"{path} is not an OAuth client file (it has no 'installed' section). " + CLIENT_HOWTO,
        )
    client = data["installed"]
    absent = [
        k
        for k in ("client_id", "client_secret")
        if not isinstance(client, dict) or not isinstance(client.get(k), str) or not client[k]
    ]
    if absent:
        raise GoogleError(
            GoogleCode.CLIENT_FILE_INVALID,
            f"{path} lacks {', '.join(absent)}; download it again. " + CLIENT_HOWTO,
        )
    return dict(client)


def read_json(path: Path, what: str) -> dict[str, Any]:
    """The JSON object in ``path`` (``what`` names the file in messages), or a GoogleError."""
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        code = GoogleCode.CLIENT_FILE_MISSING if "client" in what else GoogleCode.FILE_MISSING
        hint = " " + CLIENT_HOWTO if "client" in what else ""
        raise GoogleError(code, f"the {what} {path} does not exist.{hint}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise GoogleError(
            GoogleCode.FILE_UNREADABLE, f"cannot read the {what} {path}: {exc}"
        ) from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise GoogleError(
            GoogleCode.FILE_INVALID,
            f"the {what} {path} is not valid JSON ({exc.msg}, line "
            f"{exc.lineno}). Download it again rather than editing it.",
        ) from None
    if not isinstance(data, dict):
        raise GoogleError(GoogleCode.FILE_INVALID, f"the {what} {path} is not a JSON object.")
    return data
