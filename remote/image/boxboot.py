"""The GPU box's bootstrap: the first thing an instance runs, before any of Hark is installed.

Standard library only; the onstart ``hark remote deploy`` sends unpacks this file and runs it
with the image's Python 3.11+ (``remote/deploy/bootstrap.py``). It carries this file without
docstrings, comments and annotations so that it fits in Vast.ai's 4048 characters.

1. **Secrets leave the environment.** The API key, the TLS pair (``HARK_TLS_*_B64_0..``) and
   Vast.ai's ``CONTAINER_API_KEY`` go into 0600 files under ``$HARK_HOME/secrets``; then the
   process runs itself again with ``execve`` and an environment without them, so no process
   of the box keeps them (``/proc/PID/environ`` is the environment a program was started
   with). When the instance's variables are not in the environment, ``/etc/environment`` is
   read as data (``NAME=value`` lines of HARK_*, CONTAINER_*, OLLAMA_*), never executed.
2. **Hark's code, pinned by hash.** ``HARK_CODE_SHA256`` names the wheel the deployer is
   (``$HARK_HOME/code/expected`` overrides it after an upgrade). Unless that wheel is on the
   disk already (a restart), the box holds its public port over TLS with the deployer's
   pinned certificate and takes exactly one authenticated upload, keeping it only if its
   SHA-256 matches. Hark is never installed by name.
3. **The start-up script** comes out of that verified wheel (``remote/image/onstart.sh``) and
   replaces this process: it installs the locked dependencies and the wheel, then serves.

What the port answers meanwhile (the deployer reads it like the server's own routes):

- ``GET /healthz`` (no key) → 503 ``{"status": "provisioning", "waiting": [...]}``;
- ``GET /status`` (key) → ``{"provisioning": {"state": "awaiting-code", "sha256": …}}``;
- ``PUT /box/code`` (key, ``Content-Length``) → 200 once the body's hash matches; a cut or
  mismatching upload is thrown away (400) and the box keeps waiting.

``boxboot.py status`` takes no upload and reports the box's state file instead: onstart.sh runs
it while the dependencies install, and any failure ends in it, so a deploy learns at once why
a box cannot start (``{"state": "failed", "detail": …}``) instead of waiting out its limits.
Nothing secret is ever printed.
"""

import base64
import hashlib
import hmac
import json
import os
import re
import ssl
import sys
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

HOME = Path(os.environ.get("HARK_HOME", "/workspace/hark"))
S = HOME / "secrets"
CODE = HOME / "code"
SECRET = re.compile(r"HARK_API_KEY|CONTAINER_API_KEY|HARK_TLS_\w+")
TAKE = [False]
ETC = Path("/etc/environment")


def say(message: str) -> None:
    line = time.strftime("%FT%TZ bootstrap: ", time.gmtime()) + message + "\n"
    sys.stderr.write(line)
    with (HOME / "logs/onstart.log").open("a") as log:
        log.write(line)


def write(path: Path, data: bytes, mode: int = 0o600) -> None:
    part = path.with_name(path.name + ".part")
    part.write_bytes(data)
    part.chmod(mode)
    part.replace(path)


def state(name: str, detail: str) -> None:
    write(HOME / "state.json", json.dumps({"state": name, "detail": detail}).encode(), 0o644)


def clean_env(**extra: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not SECRET.fullmatch(k)} | extra


def fail(message: str) -> None:
    say("FAILED: " + message)
    state("failed", message)
    if (S / "tls.key").is_file() and (S / "api-keys").is_file():
        os.execve(sys.executable, [sys.executable, __file__, "status"], clean_env())
    sys.exit(1)


class Handler(BaseHTTPRequestHandler):
    timeout = 60

    def setup(self) -> None:
        super().setup()
        self.connection.do_handshake()  # here, not in accept(): a stalled client holds nothing

    def reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def refuse(self, status: int, code: str, message: str = "") -> None:
        self.reply(status, {"error": {"message": message or code, "code": code}})

    def authorised(self) -> bool:
        given = self.headers.get("Authorization", "").encode()
        keys = (S / "api-keys").read_text().split()
        if any(hmac.compare_digest(given, b"Bearer " + k.encode()) for k in keys):
            return True
        self.refuse(401, "unauthorized")
        return False

    def do_GET(self) -> None:
        if self.path == "/healthz":
            self.reply(503, {"status": "provisioning", "waiting": ["setup"]})
        elif self.authorised() and self.path == "/status":
            try:
                box = json.loads((HOME / "state.json").read_text())
            except (OSError, ValueError):
                box = {"state": "starting", "detail": "setting up"}
            if TAKE[0]:
                box["sha256"] = os.environ["HARK_CODE_SHA256"]
            self.reply(200, {"version": None, "provisioning": box})
        elif self.path != "/status":
            self.refuse(503, "provisioning")

    def do_PUT(self) -> None:
        if not self.authorised():
            return
        if self.path != "/box/code" or not TAKE[0]:
            self.refuse(404, "not-found")
            return
        want, size = os.environ["HARK_CODE_SHA256"], int(self.headers.get("Content-Length") or 0)
        if not 0 < size <= 1 << 28:
            self.refuse(413, "too-large")
            return
        part, digest, left = CODE / "upload.part", hashlib.sha256(), size
        with part.open("wb") as f:
            while left and (block := self.rfile.read(min(left, 1 << 20))):
                digest.update(block)
                f.write(block)
                left -= len(block)
        if left or digest.hexdigest() != want:
            part.unlink()
            why = f"cut after {size - left} of {size} bytes" if left else "a wrong SHA-256"
            say("refused an upload: " + why)
            self.refuse(400, "upload-cut" if left else "code-hash-mismatch", why)
            return
        part.replace(CODE / f"{want}.whl")
        state("starting", "Hark's code received")
        self.reply(200, {"received": want})
        TAKE[0] = False


def serve(take: bool) -> None:
    """Answer on the public port: until a good upload when ``take``, else for ever."""
    TAKE[0] = take
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(S / "tls.pem", S / "tls.key")
    address = (os.environ.get("HARK_BIND", "0.0.0.0"), int(os.environ.get("HARK_PORT", "8443")))
    server = ThreadingHTTPServer(address, Handler)
    server.timeout = 1
    server.socket = tls.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
    say(f"answering on port {address[1]}")
    while TAKE[0] or not take:
        server.handle_request()
    server.server_close()


def secrets_to_files() -> None:
    env = os.environ
    if "HARK_API_KEY" not in env and ETC.is_file():
        for line in ETC.read_text().splitlines():
            found = re.match(r"(?:export\s+)?((?:HARK|CONTAINER|OLLAMA)_\w*)=(.*)", line)
            if found:
                value = found[2][1:-1] if re.fullmatch(r"\".*\"|'.*'", found[2]) else found[2]
                env.setdefault(found[1], value)
    if env.get("HARK_API_KEY"):
        write(S / "api-keys", env["HARK_API_KEY"].replace(",", "\n").encode() + b"\n")
    if env.get("CONTAINER_API_KEY"):
        write(S / "vast-instance-key", env["CONTAINER_API_KEY"].encode() + b"\n")
    for part, name in (("CERT", "tls.pem"), ("KEY", "tls.key")):
        chunks, i = [], 0
        while f"HARK_TLS_{part}_B64_{i}" in env:
            chunks.append(env[f"HARK_TLS_{part}_B64_{i}"])
            i += 1
        if chunks:
            try:
                write(S / name, base64.b64decode("".join(chunks), validate=True))
            except ValueError:
                fail(f"HARK_TLS_{part}_B64_* is not base64")
    write(HOME / "steps.tsv", b"", 0o644)


def start() -> None:
    if not (S / "api-keys").is_file():
        fail("no HARK_API_KEY")
    try:
        want = (CODE / "expected").read_text().strip()
    except OSError:
        want = os.environ.get("HARK_CODE_SHA256", "")
    if not re.fullmatch("[0-9a-f]{64}", want):
        fail("no HARK_CODE_SHA256")
    os.environ["HARK_CODE_SHA256"] = want
    wheel = CODE / f"{want}.whl"
    if wheel.is_file() and hashlib.file_digest(wheel.open("rb"), "sha256").hexdigest() != want:
        wheel.unlink()
    if not wheel.is_file():
        if not (S / "tls.key").is_file():
            fail("no HARK_TLS_KEY_B64_0..")
        state("awaiting-code", "waiting for Hark's code")
        began = time.monotonic()
        serve(take=True)
        with (HOME / "steps.tsv").open("a") as steps:
            steps.write(f"code upload\t{time.monotonic() - began:.1f}\n")
    script = Path(__file__).with_name("onstart.sh")
    try:
        write(script, zipfile.ZipFile(wheel).read("remote/image/onstart.sh"), 0o700)
    except (KeyError, zipfile.BadZipFile):
        fail("no onstart.sh in the wheel")
    box = {"HARK_CODE_WHEEL": str(wheel), "HARK_BOX_BIN": str(script.parent), "PY3": sys.executable}
    os.execve("/bin/bash", ["bash", str(script)], clean_env(HARK_HOME=str(HOME), **box))


def main() -> None:
    for folder in (S, CODE, HOME / "logs"):
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    if sys.argv[1:] == ["status"]:
        serve(take=False)
    elif not os.environ.get("HARK_BOOT_CLEAN"):
        secrets_to_files()
        # the same program again, started without the secrets in its environment
        os.execve(sys.executable, [sys.executable, __file__], clean_env(HARK_BOOT_CLEAN="1"))
    else:
        start()


if __name__ == "__main__":
    os.umask(0o077)
    main()
