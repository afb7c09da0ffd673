"""``hark google``: connect, disconnect and inspect the Google account.

``login`` runs the browser sign-in (or, with ``--authorized-user FILE``, imports Google's
authorized-user JSON on a machine without a browser); ``logout`` revokes the sign-in at Google
and deletes it from the keyring; ``status [--json]`` says which account is connected and which
scopes the enabled features still lack. Results go to stdout, messages to stderr; nothing here
ever prints a token or the client secret.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from app.google.scopes import AccountStatus, short_scope
from app.settings.schema import GoogleSettings, Settings
from app.settings.secrets import SecretStore
from app.shared.errors import HarkError

if TYPE_CHECKING:  # the Google libraries load only for `hark google` (the GPU box has none)
    from app.google.auth import GoogleAccount

EXIT_OK = 0
EXIT_USAGE = 2
_DEFAULT_TIMEOUT_S: float = GoogleSettings.model_fields["login_timeout_s"].default


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``google`` and its ``login|logout|status`` actions to ``hark``'s subparsers."""
    google: argparse.ArgumentParser = sub.add_parser(
        "google",
        help="connect Hark to your Google account (Calendar, Gmail)",
        description="Connect Hark to your Google account. Hark asks only for the access that "
        "google.calendar and google.mail turn on; the sign-in is kept in the OS keyring.",
    )
    ops = google.add_subparsers(dest="google_command", metavar="ACTION", required=True)

    login = ops.add_parser("login", help="sign in through the browser (or import a sign-in)")
    login.add_argument(
        "--client-file",
        type=Path,
        metavar="FILE",
        help="the OAuth client JSON of your Google Cloud project (Desktop app); "
        "default: google.client_file",
    )
    login.add_argument(
        "--authorized-user",
        type=Path,
        metavar="FILE",
        help="import Google's authorized-user JSON instead of opening a browser "
        "(for machines without one)",
    )
    login.add_argument(
        "--no-browser", action="store_true", help="only print the URL; open it yourself"
    )
    login.add_argument(
        "--port",
        type=int,
        default=0,
        metavar="N",
        help="the local port Google redirects to (default: any free one)",
    )
    login.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        help=f"how long to wait for the browser (default {_DEFAULT_TIMEOUT_S:.0f})",
    )

    ops.add_parser("logout", help="revoke Hark's access at Google and forget the sign-in")

    status = ops.add_parser("status", help="the connected account and its access")
    status.add_argument("--json", action="store_true", help="print one JSON object")
    return google


def run(
    args: argparse.Namespace,
    settings: GoogleSettings | Settings,
    *,
    secrets: SecretStore | None = None,
    out: TextIO | None = None,
    err: TextIO | None = None,
) -> int:
    """Run ``hark google ACTION`` with the app's settings (or just their ``google`` section);
    returns the exit status (2: a problem the user can fix, printed as one line on stderr; with
    ``--debug`` the error propagates instead)."""
    from app.google.auth import GoogleAccount
    from app.google.login import DEFAULT_LOGIN_TIMEOUT_S

    stdout = out or sys.stdout
    stderr = err or sys.stderr
    google = settings.google if isinstance(settings, Settings) else settings
    account = GoogleAccount(google, secrets or SecretStore())
    if getattr(args, "timeout", None) is None:
        args.timeout = float(getattr(google, "login_timeout_s", DEFAULT_LOGIN_TIMEOUT_S))
    try:
        return _run(args, account, stdout, stderr)
    except HarkError as exc:
        if getattr(args, "debug", False):
            raise
        print(f"hark: {exc.message}", file=stderr)
        return EXIT_USAGE


def _run(args: argparse.Namespace, account: GoogleAccount, out: TextIO, err: TextIO) -> int:
    action = args.google_command
    if action == "status":
        status = account.status()
        if args.json:
            out.write(json.dumps(status.as_dict()) + "\n")
        else:
            out.write(describe(status))
        return EXIT_OK
    if action == "logout":
        existed = account.logout(on_warning=lambda m: print(f"hark: warning: {m}", file=err))
        print(
            "signed out: Hark's Google sign-in is revoked and deleted"
            if existed
            else "no Google account was connected",
            file=err,
        )
        return EXIT_OK
    if action == "login":
        if args.authorized_user is not None:
            status = account.import_authorized_user(args.authorized_user)
        else:

            def show(url: str) -> None:
                print(
                    "Open this address in a browser to let Hark use your Google account:", file=err
                )
                print(f"  {url}", file=err)
                print(
                    f"Waiting up to {args.timeout:.0f} s for Google's answer…", file=err, flush=True
                )

            status = account.login(
                args.client_file,
                open_browser=not args.no_browser,
                port=args.port,
                timeout_s=args.timeout,
                on_url=show,
            )
        out.write(describe(status))
        return EXIT_OK
    raise AssertionError(action)


def describe(status: AccountStatus) -> str:
    """The status as a few lines of text (never a token)."""
    if not status.connected:
        lines = ["Google: not connected."]
        if status.needed:
            lines.append(f"  your settings need: {_names(status.needed)}")
    else:
        who = f"as {status.email}" if status.email else "(Google did not say which address)"
        lines = [f"Google: connected {who}", f"  granted: {_names(status.granted) or 'nothing'}"]
        if status.missing:
            lines.append(f"  missing for your settings: {_names(status.missing)}")
        elif status.needed:
            lines.append("  everything your settings need is granted")
    if status.advice:
        lines.append(f"  {status.advice}")
    return "\n".join(lines) + "\n"


def _names(scopes: tuple[str, ...]) -> str:
    return ", ".join(short_scope(s) for s in scopes)
