"""Fixtures for the end-to-end tests: one edge (Caddy → uvicorn → the app) for the package.

The edge runs one transcription at a time with one more waiting (``max_queue=1``), so a burst
of requests meets the documented 503 busy answer. Upstream is one FakeOllama; each test gets
it back with its delays reset.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.ollama import FakeOllama
from tests.remote.load.edge import CONCURRENCY, MAX_QUEUE, MODEL, Edge, running_edge


@pytest.fixture(scope="package")
def upstream() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL]) as server:
        yield server


@pytest.fixture(scope="package")
def edge(tmp_path_factory: pytest.TempPathFactory, upstream: FakeOllama) -> Iterator[Edge]:
    with running_edge(
        tmp_path_factory.mktemp("edge"),
        upstream.url,
        whisper_concurrency=CONCURRENCY,
        max_queue=MAX_QUEUE,
    ) as running:
        yield running


@pytest.fixture
def fake(upstream: FakeOllama) -> Iterator[FakeOllama]:
    """The package's FakeOllama, with no delays; they are reset after the test."""
    upstream.first_token_delay_s = upstream.token_delay_s = 0.0
    yield upstream
    upstream.first_token_delay_s = upstream.token_delay_s = 0.0
