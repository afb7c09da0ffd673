"""The wheel a deploy sends: this Hark's own code, reproducible, and what pip expects."""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import sys
import zipfile
from pathlib import Path

import pytest

from remote.deploy import code as code_module
from remote.deploy.code import build_wheel, current_code, sha256_file


def test_the_same_code_makes_the_same_wheel(tmp_path: Path) -> None:
    first, second = build_wheel(tmp_path / "a"), build_wheel(tmp_path / "b")
    assert first.sha256 == second.sha256 == sha256_file(second.path)
    assert first.path.read_bytes() == second.path.read_bytes()
    other = build_wheel(tmp_path / "c", version="9.9.9")
    assert other.sha256 != first.sha256
    assert other.path.name == "hark_assistant-9.9.9-py3-none-any.whl"


def test_the_wheel_holds_the_code_the_box_needs_and_a_true_record(tmp_path: Path) -> None:
    bundle = build_wheel(tmp_path)
    with zipfile.ZipFile(bundle.path) as wheel:
        names = set(wheel.namelist())
        for needed in (
            "app/__init__.py",
            "remote/server/app.py",
            "remote/image/onstart.sh",
            "remote/image/boxboot.py",
            "remote/image/requirements-server.lock",
            "remote/image/requirements-cuda.lock",
        ):
            assert needed in names
        assert not [n for n in names if "__pycache__" in n or n.endswith((".pyc", ".whl"))]
        info = f"hark_assistant-{bundle.version}.dist-info"
        record = list(csv.reader(io.StringIO(wheel.read(f"{info}/RECORD").decode())))
        assert {row[0] for row in record} == names
        for name, digest, size in record:
            if name.endswith("RECORD"):
                continue
            data = wheel.read(name)
            expected = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
            assert digest == "sha256=" + expected.decode()
            assert int(size) == len(data)
        assert b"hark = app.cli.main:run" in wheel.read(f"{info}/entry_points.txt")


def test_a_bundle_sends_the_wheel_it_was_built_with(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    shipped = build_wheel(tmp_path / "bundle" / "wheel", version="2.0.0")
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path / "bundle"), raising=False)
    found = current_code(tmp_path / "cache")
    assert found.path == shipped.path
    assert found.sha256 == shipped.sha256
    assert found.version == "2.0.0"
    assert not (tmp_path / "cache").exists()


def test_without_the_source_there_is_a_clear_message(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(code_module, "_package_files", lambda: iter([]))
    with pytest.raises(FileNotFoundError, match="no code to send to a GPU box"):
        code_module.wheel_bytes()
