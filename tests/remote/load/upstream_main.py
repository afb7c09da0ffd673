"""``python -m tests.remote.load.upstream_main TOKEN_MS``: FakeOllama in a process of its own.

A test kills this process (SIGKILL) in the middle of a streamed chat to see what the Hark server
does when Ollama dies under it. It prints ``ready PORT`` once it listens on 127.0.0.1 and serves
until it is killed or its stdin closes (so it never outlives the test process).
"""

from __future__ import annotations

import sys

from tests.fakes.ollama import FakeOllama

MODEL = "llama3.2:3b"


def main(argv: list[str]) -> int:
    token_ms = float(argv[0]) if argv else 50.0
    with FakeOllama(models=[MODEL], token_delay_s=token_ms / 1000) as fake:
        print(f"ready {fake.port}", flush=True)
        sys.stdin.read()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
