"""The exact Hark a deploy sends to its GPU box: one wheel, named by its SHA-256.

``hark-assistant`` is not on any package index, and a box must never install Hark by name
(whoever claimed the name would get root on every box). So the deployer takes the code it is
running itself and packs it into a wheel; only that wheel's SHA-256 and version go into the
instance's environment, and the wheel travels over the pinned TLS channel (see
``remote/image/bootstrap.sh``), where the box checks the hash before installing anything.

The wheel is reproducible: the same code gives the same bytes (sorted entries, fixed
timestamps and modes), so a stopped box that starts again sees the hash it installed and skips
the install, and a desktop that is now a different Hark sees another hash and sends its code.

Where the code comes from:

- a checkout, an editable install or a wheel install: the ``app`` and ``remote`` packages on
  disk (without ``__pycache__``);
- a PyInstaller bundle, which holds no ``.py`` files: the wheel built with the bundle
  (``<bundle>/wheel/*.whl``, made by ``packaging/hark.spec`` through :func:`build_wheel`).
"""

from __future__ import annotations

import base64
import hashlib
import io
import sys
import zipfile
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import app
import remote
from app import __version__

DIST = "hark_assistant"
PACKAGES = (app, remote)
_EPOCH = (1980, 1, 1, 0, 0, 0)
_SKIP_DIRS = frozenset({"__pycache__"})
_SKIP_SUFFIXES = (".pyc", ".pyo", ".whl", ".part")


@dataclass(frozen=True, slots=True)
class CodeBundle:
    """One Hark wheel: where it is, its SHA-256 (hex) and the version it carries."""

    path: Path
    sha256: str
    version: str
    size: int

    @property
    def short(self) -> str:
        """The first 12 hex digits of the hash, for messages."""
        return self.sha256[:12]

    def describe(self) -> str:
        return f"Hark {self.version} (code {self.short})"


async def stream_wheel(code: CodeBundle, on_sent: Callable[[int], None]) -> AsyncIterator[bytes]:
    """The wheel's bytes for an upload body, calling ``on_sent(bytes so far)`` after each piece."""
    sent = 0
    with code.path.open("rb") as f:
        while chunk := f.read(256 * 1024):
            sent += len(chunk)
            yield chunk
            on_sent(sent)


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _package_files() -> Iterator[tuple[str, Path]]:
    """(name in the wheel, file) for every file of Hark's packages, sorted."""
    found: list[tuple[str, Path]] = []
    for package in PACKAGES:
        root = Path(package.__file__ or "").resolve().parent
        for path in root.rglob("*"):
            rel = path.relative_to(root.parent)
            if not path.is_file() or path.name.endswith(_SKIP_SUFFIXES):
                continue
            if any(part in _SKIP_DIRS or part.startswith(".") for part in rel.parts):
                continue
            found.append((rel.as_posix(), path))
    return iter(sorted(found))


def _record_hash(data: bytes) -> str:
    raw = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + raw.decode("ascii")


def _metadata(version: str) -> dict[str, bytes]:
    info = f"{DIST}-{version}.dist-info"
    return {
        f"{info}/METADATA": (
            "Metadata-Version: 2.1\n"
            "Name: hark-assistant\n"
            f"Version: {version}\n"
            "Summary: Hark, an open desktop voice assistant (the code a GPU box runs)\n"
            "Requires-Python: >=3.11\n"
        ).encode(),
        f"{info}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: hark\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{info}/entry_points.txt": b"[console_scripts]\nhark = app.cli.main:run\n",
        f"{info}/top_level.txt": b"app\nremote\n",
    }


def wheel_bytes(version: str = __version__) -> bytes:
    """The reproducible wheel of the running Hark's source, as bytes."""
    entries: list[tuple[str, bytes]] = [(n, p.read_bytes()) for n, p in _package_files()]
    if not any(name == "remote/image/onstart.sh" for name, _ in entries):
        raise FileNotFoundError(
            "Hark's source is not here (no remote/image/onstart.sh beside the code), so there "
            "is no code to send to a GPU box; use Hark from a checkout or its bundle"
        )
    entries += sorted(_metadata(version).items())
    record_name = f"{DIST}-{version}.dist-info/RECORD"
    record = "".join(f"{n},{_record_hash(d)},{len(d)}\n" for n, d in entries)
    record += f"{record_name},,\n"
    entries.append((record_name, record.encode()))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=_EPOCH)
            info.external_attr = (0o100755 if name.endswith(".sh") else 0o100644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data, compresslevel=9)
    return out.getvalue()


def wheel_name(version: str = __version__) -> str:
    return f"{DIST}-{version}-py3-none-any.whl"


def build_wheel(folder: Path, version: str = __version__) -> CodeBundle:
    """Write the wheel of the running Hark into ``folder`` (made if missing) and describe it."""
    data = wheel_bytes(version)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / wheel_name(version)
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)
    return CodeBundle(path, hashlib.sha256(data).hexdigest(), version, len(data))


def shipped_wheel() -> Path | None:
    """The wheel a PyInstaller bundle carries (``<bundle>/wheel/``), if this is one."""
    bundle = getattr(sys, "_MEIPASS", None)
    if not bundle:
        return None
    wheels = sorted((Path(bundle) / "wheel").glob(f"{DIST}-*.whl"))
    return wheels[-1] if wheels else None


def current_code(cache: Path) -> CodeBundle:
    """This Hark's code for a box: the bundle's wheel, or one built into ``cache``."""
    shipped = shipped_wheel()
    if shipped is not None:
        version = shipped.name.split("-")[1]
        return CodeBundle(shipped, sha256_file(shipped), version, shipped.stat().st_size)
    return build_wheel(cache)


def main(argv: list[str] | None = None) -> int:
    """``python -m remote.deploy.code FOLDER``: write this Hark's wheel there, print its hash."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m remote.deploy.code FOLDER", file=sys.stderr)
        return 2
    bundle = build_wheel(Path(args[0]))
    print(f"{bundle.sha256}  {bundle.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
