"""``python -m tests.remote.load.edge_main WORKDIR OLLAMA_URL``: the whole edge in a process.

Runs :func:`tests.remote.load.edge.running_edge` (Caddy → uvicorn → the Hark server app) in a
process of its own, as ``hark server`` would run, so that a benchmark measures the server
without sharing an interpreter with it. Prints ``{"url": ..., "cert": ...}`` as one line when
ready (the API key stays in ``WORKDIR/api-keys``) and serves until its stdin closes.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from tests.remote.load.edge import running_edge


def main(argv: list[str]) -> int:
    workdir, ollama_url = Path(argv[0]), argv[1]
    with running_edge(workdir, ollama_url) as edge:
        print(json.dumps({"url": edge.url, "cert": str(edge.cert)}), flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
