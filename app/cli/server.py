"""``hark server``: run the Hark server (Whisper and the Ollama API behind one port, with an
API key and TLS) on this machine, or make its API key file or a self-signed certificate.

The options are defined with the server (:mod:`remote.server.command`); the server itself
loads only when this command runs, and a desktop-only installation says it has none.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from app.shared.errors import ConfigCode, ConfigError
from remote.server.command import ServerArgs, add_arguments


def add_parser(sub: Any) -> argparse.ArgumentParser:
    """Add ``server`` to ``hark``'s subparsers."""
    server: argparse.ArgumentParser = sub.add_parser(
        "server",
        help="run the Hark server (Whisper + the Ollama API) behind TLS on this machine",
        description="Run the Hark server: Whisper and the Ollama API behind one port, with an "
        "API key and TLS (Caddy). Ctrl-C stops it.",
    )
    add_arguments(server)
    return server


def run(args: argparse.Namespace) -> int:
    """``hark server``: make a key/certificate, or run the server stack until Ctrl-C."""
    try:
        from remote.server import run as server_run
    except ModuleNotFoundError as exc:  # the desktop bundle, desktop-only installs
        raise ConfigError(
            ConfigCode.SERVER_NOT_INSTALLED,
            f"the Hark server is not part of this installation ({exc.name} is missing): "
            "scripts/setup server in Hark's folder on the machine that serves.",
        ) from exc

    options = ServerArgs.from_namespace(args)
    if options.make_key is not None or options.make_cert is not None:
        if options.make_key is not None:
            server_run.make_key(options.make_key, sys.stdout)
        if options.make_cert is not None:
            server_run.make_cert(options.make_cert, options.listen, sys.stdout)
        return 0
    # a server shows its requests and state, unless -v asked for more
    return server_run.serve(options, info_logs=args.verbose == 0)
