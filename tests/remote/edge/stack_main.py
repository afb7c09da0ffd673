"""``python -m tests.remote.edge.stack_main LISTEN KEY_FILE CERT KEY``: the stack in a process.

Runs :func:`remote.server.stack.run_stack` with the stand-in app and its own signal handling,
exactly as ``hark server`` runs it with the real app, and prints ``ready URL`` to stderr.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from pathlib import Path

from remote.server.run import check_options
from remote.server.stack import run_stack
from tests.remote.edge.edge_app import EdgeApp


def main(argv: list[str]) -> int:
    logging.basicConfig(level=logging.INFO)
    listen, key_file, cert, key = argv
    options = check_options(
        listen, Path(key_file), tls_cert=Path(cert), tls_key=Path(key), startup_timeout_s=30
    )

    def ready(url: str) -> None:
        print(f"ready {url}", file=sys.stderr, flush=True)

    return asyncio.run(run_stack(options, EdgeApp(), on_ready=ready))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
