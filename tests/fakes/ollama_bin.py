"""An ``ollama`` executable for tests of the GPU box: the real CLI's commands over FakeOllama.

The box's start-up script runs ``ollama serve`` and Hark's deploy tests run that script, so
they need a program named ``ollama`` on PATH. :func:`write_ollama_stub` writes one::

    bin_dir = write_ollama_stub(tmp_path / "bin").parent  # bin_dir/ollama
    env = {"PATH": f"{bin_dir}:{os.environ['PATH']}", "OLLAMA_HOST": "127.0.0.1:41234"}
    subprocess.Popen(["ollama", "serve"], env=env)         # FakeOllama on that port

What it does, as the real CLI does:

- ``ollama serve``: serves :class:`tests.fakes.ollama.FakeOllama` on ``$OLLAMA_HOST``
  (``host:port``, default ``127.0.0.1:11434``; it always binds 127.0.0.1) until SIGTERM or
  SIGINT, then exits 0. It logs ``Listening on 127.0.0.1:PORT (version X)`` on stderr once it
  accepts connections (a test can wait for that line). Models it knows: those pulled before,
  kept in ``$OLLAMA_MODELS/stand-in-models.txt`` (so a restarted server still has them), plus
  ``$HARK_FAKE_OLLAMA_MODELS`` (comma-separated). ``HARK_FAKE_OLLAMA_REFUSE`` (comma-separated)
  names models whose pull fails as for a model the registry lacks.
- ``ollama pull MODEL``: pulls through the served ``/api/pull`` and prints the CLI's progress
  lines (``pulling manifest``, ``pulling 1a2b3c4d5e6f: 100% ▕██…▏ 4.0 MB``, ``verifying sha256
  digest``, ``writing manifest``, ``success``); ``Error: …`` and status 1 when the pull fails.
- ``ollama --version`` / ``-v``: ``ollama version is X`` (the server's version when one
  answers, else the CLI's two warning lines, as the real one prints).

No model runs: chats answer as FakeOllama does (``You said: …``).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from tests.fakes.ollama import FakeOllama

VERSION = "0.6.8"
DEFAULT_HOST = "127.0.0.1:11434"
MODELS_FILE = "stand-in-models.txt"
REPO = Path(__file__).resolve().parents[2]
_BAR = 18


def write_ollama_stub(bin_dir: Path) -> Path:
    """Write an executable ``bin_dir/ollama`` (made if missing) that runs this module with the
    current Python; returns its path. Put ``bin_dir`` first on PATH."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    stub = bin_dir / "ollama"
    stub.write_text(
        f"#!{sys.executable}\n"
        "import sys\n"
        f"sys.path.insert(0, {str(REPO)!r})\n"
        "from tests.fakes.ollama_bin import main\n"
        "sys.exit(main(sys.argv[1:]))\n",
        encoding="utf-8",
    )
    stub.chmod(0o755)
    return stub


def parse_host(value: str | None) -> tuple[str, int]:
    """``OLLAMA_HOST`` as the real CLI reads it: ``[scheme://]host[:port]``."""
    text = (value or DEFAULT_HOST).strip()
    text = text.split("://", 1)[-1].rstrip("/")
    host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    return host or "127.0.0.1", int(port or 11434)


def _base_url() -> str:
    host, port = parse_host(os.environ.get("OLLAMA_HOST"))
    if host in ("0.0.0.0", "::", "[::]"):
        host = "127.0.0.1"
    return f"http://{host}:{port}"


def _env_list(name: str) -> list[str]:
    return [m.strip() for m in os.environ.get(name, "").split(",") if m.strip()]


class _StandInServer(FakeOllama):
    """FakeOllama that remembers pulled models in ``$OLLAMA_MODELS`` (as Ollama keeps them)."""

    def __init__(self, models_file: Path | None, **kwargs: Any) -> None:
        self.models_file = models_file
        known = _env_list("HARK_FAKE_OLLAMA_MODELS")
        if models_file is not None and models_file.exists():
            known += [m for m in models_file.read_text().split() if m not in known]
        super().__init__(models=known, **kwargs)
        for name in _env_list("HARK_FAKE_OLLAMA_REFUSE"):
            self.refuse_pull(name)

    def add_model(self, name: str) -> None:
        super().add_model(name)
        if self.models_file is not None:
            self.models_file.parent.mkdir(parents=True, exist_ok=True)
            with self.models_file.open("a", encoding="utf-8") as f:
                f.write(name + "\n")


def serve() -> int:
    _, port = parse_host(os.environ.get("OLLAMA_HOST"))
    models_dir = os.environ.get("OLLAMA_MODELS")
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server = _StandInServer(
        Path(models_dir) / MODELS_FILE if models_dir else None, port=port, version=VERSION
    )
    try:
        server.start()
    except OSError as exc:
        print(f"Error: listen tcp 127.0.0.1:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    print(
        f'level=INFO source=routes.go msg="Listening on 127.0.0.1:{server.port} '
        f'(version {VERSION})"',
        file=sys.stderr,
        flush=True,
    )
    try:
        stop.wait()
    finally:
        server.stop()
    return 0


def _size(n: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} B"


def progress_line(line: dict[str, Any]) -> str:
    """One ``/api/pull`` progress object as the real CLI shows it."""
    status = str(line.get("status", ""))
    total = int(line.get("total") or 0)
    if not line.get("digest") or not total:
        return status
    completed = int(line.get("completed") or 0)
    filled = _BAR * completed // total
    bar = "█" * filled + " " * (_BAR - filled)
    return f"{status}: {100 * completed // total:3d}% ▕{bar}▏ {_size(total)}"


def pull(model: str) -> int:
    body = json.dumps({"model": model, "stream": True}).encode()
    request = urllib.request.Request(
        _base_url() + "/api/pull", body, {"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            for raw in response:
                line = json.loads(raw)
                if "error" in line:
                    print(f"Error: {line['error']}", file=sys.stderr)
                    return 1
                print(progress_line(line), flush=True)
    except urllib.error.HTTPError as exc:
        print(f"Error: {json.loads(exc.read() or b'{}').get('error', exc.reason)}", file=sys.stderr)
        return 1
    except OSError:
        print("Error: could not connect to ollama app, is it running?", file=sys.stderr)
        return 1
    return 0


def version() -> int:
    try:
        with urllib.request.urlopen(_base_url() + "/api/version", timeout=5) as response:
            print(f"ollama version is {json.load(response)['version']}")
    except OSError:
        print("Warning: could not connect to a running Ollama instance")
        print(f"Warning: client version is {VERSION}")
    return 0


def main(argv: list[str]) -> int:
    """The ``ollama`` command line (the part Hark's box uses)."""
    if argv in (["--version"], ["-v"], ["version"]):
        return version()
    if argv == ["serve"]:
        return serve()
    if len(argv) == 2 and argv[0] == "pull":
        return pull(argv[1])
    print(f"Error: unknown command {' '.join(argv)!r} for the ollama stand-in", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
