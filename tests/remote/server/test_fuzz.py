"""Fuzz the server from its own OpenAPI schema (schemathesis): no 5xx, no hang, key enforced.

Every operation gets a bounded number of generated requests against the real app under real
uvicorn, FakeOllama upstream and Whisper tiny.en behind the transcription route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error

from app.shared.protocol import HEALTH_PATH
from remote.server.app import create_app
from remote.server.whisper import WhisperEngine
from tests.fakes.ollama import FakeOllama
from tests.remote.server.harness import AUTH, make_settings
from tests.support.servers import serve

EXAMPLES = 25
REQUEST_TIMEOUT_S = 15  # a hang fails the test instead of stalling the run


def _fuzz(operation: Any, examples: int, check: Any) -> None:
    @given(case=operation.as_strategy())
    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    def run(case: Any) -> None:
        check(case)

    run()


@pytest.mark.slow
def test_fuzz_every_operation_with_the_key(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama, tmp_path: Path
) -> None:
    settings = make_settings(
        tiny_en_dir, fake.url, rate_limit_per_minute=0, box_code_dir=tmp_path / "code"
    )
    app = create_app(settings, engine=shared_engine)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 13
    statuses: list[int] = []
    with serve(app) as url:

        def check(case: Any) -> None:
            response = case.call(base_url=url, headers=AUTH, timeout=REQUEST_TIMEOUT_S)
            statuses.append(response.status_code)
            case.validate_response(response, checks=[not_a_server_error])

        for operation in operations:
            _fuzz(operation, EXAMPLES, check)
    assert len(statuses) >= len(operations)
    assert all(s < 500 for s in statuses)
    assert any(200 <= s < 300 for s in statuses)
    assert any(400 <= s < 500 for s in statuses)


@pytest.mark.slow
def test_fuzz_without_the_key_gets_nothing_but_401(
    tiny_en_dir: Path, shared_engine: WhisperEngine, fake: FakeOllama
) -> None:
    app = create_app(make_settings(tiny_en_dir, fake.url), engine=shared_engine)
    schema = schemathesis.openapi.from_dict(app.openapi())
    operations = [result.ok() for result in schema.get_all_operations()]
    calls_before = len(fake.calls)
    with serve(app) as url:

        def check(case: Any) -> None:
            response = case.call(base_url=url, timeout=REQUEST_TIMEOUT_S)
            if case.operation.path == HEALTH_PATH:
                assert response.status_code == 200
            else:
                assert response.status_code == 401, (case.operation.path, response.text)

        for operation in operations:
            _fuzz(operation, 4, check)
    healthz_probes = [c for c in fake.calls[calls_before:] if c != "GET /api/version"]
    assert healthz_probes == []  # nothing but /healthz's own probe reached Ollama
