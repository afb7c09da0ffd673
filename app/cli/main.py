"""The ``hark`` command line: ask, listen, doctor, config, secret, server, remote, google, audit.

The parser and the dispatch; each subcommand has its module in ``app.cli``, with its part of
the parser (``add_parser``) and what it does (``run``). Every command reads the settings once
and passes them down. Errors that a user can fix are printed as one clear message (no
traceback) with exit status 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from app import __version__
from app.cli import (
    ask,
    audit,
    config,
    doctor,
    google,
    listen,
    remote,
    secret,
    server,
    tray,
)
from app.compose.build import with_deployment
from app.settings.load import load_settings
from app.settings.schema import Settings
from app.shared.errors import HarkError

log = logging.getLogger("hark")

EXIT_USAGE = 2


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="hark",
        description="Hark: a voice assistant that you own. Talk to it; it answers out loud.",
    )
    p.add_argument("--version", action="version", version=f"hark {__version__}")
    p.add_argument("-v", "--verbose", action="count", default=0, help="more log output")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    for command in (ask, listen, tray, doctor, config, secret, server, remote, audit, google):
        command.add_parser(sub)
    return p


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    level = logging.WARNING - 10 * min(args.verbose, 2)
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s")
    if args.verbose < 2:  # a line per HTTP request only in debug output
        logging.getLogger("httpx").setLevel(logging.WARNING)
        logging.getLogger("faster_whisper").setLevel(logging.WARNING)
    try:
        settings = load_settings()
        if args.command in (None, "tray"):
            return tray.run(settings, build_parser().print_help)
        if args.command not in ("remote", "ask", "listen"):  # the engine follows it itself
            settings = with_deployment(settings)
        return _dispatch(args, settings)
    except HarkError as exc:
        if args.debug:
            raise
        print(f"hark: {exc.message}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace, settings: Settings) -> int:
    if args.command == "ask":
        return ask.run(args, settings)
    if args.command == "listen":
        return listen.run(args, settings)
    if args.command == "doctor":
        return doctor.run(args, settings)
    if args.command == "config":
        return config.run(args.action, settings)
    if args.command == "secret":
        return secret.run(args.action, args.name)
    if args.command == "server":
        return server.run(args)
    if args.command == "google":
        return google.run(args, settings.google)
    if args.command == "audit":
        return audit.run(args, settings)
    if args.command == "remote":
        return remote.run(args, settings.llm.model)
    raise AssertionError(args.command)
