"""A Python module run in a child process that says when it is ready and lives until told.

The child prints one line to stdout when it is ready and serves until its stdin closes (so it
never outlives the parent, whatever happens to the parent) or it is killed. Used to run
FakeOllama (to be killed mid-stream) and the whole edge (for the overhead benchmark) apart
from the process that measures them.
"""

from __future__ import annotations

import select
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
"""The repository root (where ``tests`` is importable from)."""


class Child:
    """``python -m MODULE ARGS...`` started and waited for; ``ready_line`` is its first line."""

    def __init__(self, module: str, *args: str, timeout: float = 30.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        readable, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if readable else ""
        if not line.strip():
            self.kill()
            raise RuntimeError(
                f"{module} did not say it was ready within {timeout:g} s "
                f"(exit status {self.proc.returncode})"
            )
        self.ready_line = line.strip()

    def stop(self, timeout: float = 30.0) -> int:
        """Close its stdin (it shuts down cleanly) and wait; kill it if it will not end."""
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
        self._close_pipes()
        return self.proc.returncode

    def kill(self) -> None:
        """SIGKILL: the process dies at once, its sockets closed by the kernel."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self._close_pipes()

    def _close_pipes(self) -> None:
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None and not pipe.closed:
                pipe.close()
