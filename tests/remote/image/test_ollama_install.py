"""The GPU box installs one pinned Ollama release, checked against its SHA-256 before unpacking.

``install_ollama`` from ``remote/image/onstart.sh`` runs for real in bash against a local HTTP
server (``HARK_OLLAMA_URL``) that serves a stand-in release archive; ``HARK_OLLAMA_SHA256``
(the override for mirrors that repackage) names the stand-in's hash.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

import pytest

from app.shared.protocol import Provisioning
from remote.server.provisioning import parse_state
from tests.support.servers import FakeService, TrackingHTTPServer

REPO = Path(__file__).resolve().parents[3]
SCRIPT = REPO / "remote" / "image" / "onstart.sh"
STAND_IN_VERSION = "ollama version is 0.0.0-stand-in"


def script_value(name: str) -> str:
    match = re.search(rf"^{name}=(\S+)$", SCRIPT.read_text(), re.MULTILINE)
    assert match, f"onstart.sh sets no {name}"
    return match.group(1)


RELEASE = script_value("OLLAMA_RELEASE")


def clean_path(extra: Path | None = None) -> str:
    """PATH without any real ``ollama`` (and with ``extra`` first)."""
    dirs = [d for d in os.environ["PATH"].split(os.pathsep) if not (Path(d) / "ollama").exists()]
    return os.pathsep.join([str(extra), *dirs] if extra else dirs)


def machine_arch() -> str:
    result = subprocess.run(
        ["bash", "-c", 'source "$1"; ollama_arch', "bash", str(SCRIPT)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, "these tests run on x86_64 or arm64"
    return result.stdout


def make_release(folder: Path, *, tampered: bool = False) -> str:
    """Write a stand-in ``ollama-linux-<arch>.tar.zst`` where the mirror serves it; its SHA-256
    (of the untampered file, so a tampered one no longer matches)."""
    tree = folder / "tree"
    (tree / "bin").mkdir(parents=True)
    (tree / "lib" / "ollama").mkdir(parents=True)
    stub = tree / "bin" / "ollama"
    stub.write_text(f"#!/bin/sh\necho '{STAND_IN_VERSION}'\n")
    stub.chmod(0o755)
    (tree / "lib" / "ollama" / "libggml-base.so").write_bytes(b"\x7fELF stand-in")
    tar = folder / "release.tar"
    with tarfile.open(tar, "w") as archive:
        archive.add(tree, arcname=".")
    target = folder / "www" / f"v{RELEASE}" / f"ollama-linux-{machine_arch()}.tar.zst"
    target.parent.mkdir(parents=True)
    subprocess.run(["zstd", "-q", "-o", str(target), str(tar)], check=True)
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    if tampered:
        data = bytearray(target.read_bytes())
        data[len(data) // 2] ^= 0xFF
        target.write_bytes(bytes(data))
    return digest


class Mirror(FakeService):
    """A static file server on 127.0.0.1 that records the paths asked for."""

    _name = "the mirror"
    _thread_name = "fake-mirror"

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.paths: list[str] = []

    def _make_server(self) -> TrackingHTTPServer:
        mirror = self

        class Handler(SimpleHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                mirror.paths.append(self.path)
                super().do_GET()

        handler = functools.partial(Handler, directory=str(self.root))
        return TrackingHTTPServer(("127.0.0.1", 0), handler)


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    (tmp_path / "www").mkdir()
    with Mirror(tmp_path / "www") as served:
        yield served


@pytest.fixture
def box(tmp_path: Path) -> dict[str, str]:
    """The box's environment: its home, state file and where Ollama goes, all under tmp."""
    return {
        "HOME": str(tmp_path / "root"),
        "HARK_HOME": str(tmp_path / "hark"),
        "STATE_FILE": str(tmp_path / "hark" / "state.json"),
        "HARK_OLLAMA_PREFIX": str(tmp_path / "prefix"),
        "PY": sys.executable,
    }


def run(
    script: str, env: dict[str, str], path: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", f'source "$1"; {script}', "bash", str(SCRIPT)],
        env={"PATH": path or clean_path(), **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_pinned_release_is_checked_and_unpacked(tmp_path: Path, mirror: Mirror, box):
    digest = make_release(tmp_path)
    env = {**box, "HARK_OLLAMA_URL": mirror.url + "/", "HARK_OLLAMA_SHA256": digest}
    result = run("install_ollama && command -v ollama && ollama --version", env)
    assert result.returncode == 0, result.stderr
    prefix = Path(box["HARK_OLLAMA_PREFIX"])
    assert result.stdout.splitlines() == [str(prefix / "bin" / "ollama"), STAND_IN_VERSION]
    assert (prefix / "lib" / "ollama" / "libggml-base.so").exists()
    assert mirror.paths == [f"/v{RELEASE}/ollama-linux-{machine_arch()}.tar.zst"]
    assert list(Path(box["HARK_HOME"]).iterdir()) == []  # the download is gone
    # A restart finds it installed: nothing is downloaded again.
    again = run("install_ollama && ollama --version", env)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == STAND_IN_VERSION
    assert len(mirror.paths) == 1


def test_a_tampered_release_installs_nothing(tmp_path: Path, mirror: Mirror, box):
    digest = make_release(tmp_path, tampered=True)
    env = {**box, "HARK_OLLAMA_URL": mirror.url, "HARK_OLLAMA_SHA256": digest}
    result = run("install_ollama", env)
    assert result.returncode == 1
    expected = (
        f"the Ollama {RELEASE} download from {mirror.url}/v{RELEASE}/ollama-linux-"
        f"{machine_arch()}.tar.zst is not the file its SHA-256 pins (damaged or replaced), so "
        "nothing was installed"
    )
    assert expected in result.stderr
    status = parse_state(Path(box["STATE_FILE"]).read_text())
    assert status.state == Provisioning.FAILED
    assert status.detail.startswith(expected)
    assert not Path(box["HARK_OLLAMA_PREFIX"]).exists()
    assert [p.name for p in Path(box["HARK_HOME"]).iterdir()] == ["state.json"]


def test_the_pinned_sum_applies_when_no_mirror_sum_is_given(tmp_path: Path, mirror: Mirror, box):
    make_release(tmp_path)  # a stand-in is not the real release: the pinned sum rejects it
    result = run("install_ollama", {**box, "HARK_OLLAMA_URL": mirror.url})
    assert result.returncode == 1
    assert "is not the file its SHA-256 pins" in result.stderr
    assert len(mirror.paths) == 1
    assert not (Path(box["HARK_OLLAMA_PREFIX"]) / "bin").exists()


def test_the_pinned_sums_are_sha256_values():
    assert re.fullmatch(r"\d+\.\d+\.\d+", RELEASE)
    for name in ("OLLAMA_SHA256_AMD64", "OLLAMA_SHA256_ARM64"):
        assert re.fullmatch(r"[0-9a-f]{64}", script_value(name)), name
    assert script_value("OLLAMA_SHA256_AMD64") != script_value("OLLAMA_SHA256_ARM64")


def test_an_ollama_on_path_is_used_as_it_is(tmp_path: Path, mirror: Mirror, box):
    shipped = tmp_path / "image-bin"
    shipped.mkdir()
    (shipped / "ollama").write_text("#!/bin/sh\necho 'ollama version is 0.9.0'\n")
    (shipped / "ollama").chmod(0o755)
    env = {**box, "HARK_OLLAMA_URL": mirror.url}
    result = run("install_ollama && ollama --version", env, path=clean_path(shipped))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ollama version is 0.9.0"
    assert mirror.paths == []


def test_a_missing_release_says_where_it_looked(mirror: Mirror, box):
    result = run("install_ollama", {**box, "HARK_OLLAMA_URL": mirror.url})
    assert result.returncode == 1
    url = f"{mirror.url}/v{RELEASE}/ollama-linux-{machine_arch()}.tar.zst"
    assert f"could not download Ollama {RELEASE} from {url}" in result.stderr
    assert [p.name for p in Path(box["HARK_HOME"]).iterdir()] == ["state.json"]


def test_an_unsupported_architecture_fails_clearly(tmp_path: Path, mirror: Mirror, box):
    fake = tmp_path / "fake-bin"
    fake.mkdir()
    (fake / "uname").write_text("#!/bin/sh\necho riscv64\n")
    (fake / "uname").chmod(0o755)
    env = {**box, "HARK_OLLAMA_URL": mirror.url}
    result = run("install_ollama", env, path=clean_path(fake))
    assert result.returncode == 1
    assert "Ollama has no Linux build for this machine (riscv64)" in result.stderr
    assert mirror.paths == []


def test_the_manuals_name_the_pinned_release():
    for manual in (REPO / "README.md", REPO / "remote" / "image" / "README.md"):
        text = manual.read_text(encoding="utf-8")
        assert f"release {RELEASE}" in text, manual
        assert f"/v{RELEASE}/ollama-linux-amd64.tar.zst" in text, manual
