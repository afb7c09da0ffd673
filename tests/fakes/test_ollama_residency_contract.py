"""Contract test for what the fake Ollama keeps in memory: the official ``ollama`` client must
accept its load, unload, ``keep_alive``, ``num_predict`` and ``/api/ps`` answers, and the
fake must read ``keep_alive`` as Ollama's ``api.Duration`` does."""

from __future__ import annotations

import math
import ssl
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import ollama
import pytest

from tests.fakes.ollama import FakeOllama
from tests.fakes.ollama_residency import BadKeepAlive, Residency, parse_keep_alive

MODEL = "llama3.2:3b"
SYSTEM = {"role": "system", "content": "You are Hark, a voice assistant."}
_TLS = ssl.create_default_context()


@pytest.fixture
def fake() -> Iterator[FakeOllama]:
    with FakeOllama(models=[MODEL]) as server:
        yield server


@pytest.fixture
def client(fake: FakeOllama) -> Iterator[ollama.Client]:
    c = ollama.Client(host=fake.url, timeout=10, verify=_TLS)
    yield c
    c.close()


def test_no_messages_loads_the_model_and_ps_lists_it(
    fake: FakeOllama, client: ollama.Client
) -> None:
    resp = client.chat(MODEL, messages=[], keep_alive="30m")
    assert resp.done is True
    assert resp.done_reason == "load"
    assert resp.message.content == ""
    assert fake.residency.loads == 1
    assert fake.requests == []  # a load is no turn
    running = client.ps().models
    assert [m.model for m in running] == [MODEL]
    expires = running[0].expires_at
    assert expires is not None
    left = expires - datetime.now(UTC)
    assert timedelta(minutes=29) < left <= timedelta(minutes=30)


def test_keep_alive_zero_unloads_and_minus_one_keeps_for_ever(
    fake: FakeOllama, client: ollama.Client
) -> None:
    client.chat(MODEL, messages=[], keep_alive=-1)
    forever = client.ps().models[0].expires_at
    assert forever is not None
    assert forever - datetime.now(UTC) > timedelta(days=365)
    resp = client.chat(MODEL, messages=[], keep_alive=0)
    assert resp.done_reason == "unload"
    assert client.ps().models == []


def test_the_warm_up_request_is_accepted_and_writes_one_token(
    fake: FakeOllama, client: ollama.Client
) -> None:
    fake.reply("This scripted reply is for the first real turn.")
    resp = client.chat(
        MODEL, messages=[SYSTEM], options={"num_predict": 1}, keep_alive="30m", stream=False
    )
    assert resp.done is True
    assert resp.done_reason == "length"
    assert resp.eval_count == 1
    assert fake.warmups[0]["options"] == {"num_predict": 1}
    assert fake.requests == []
    assert fake.pending == 1  # the warm-up took no scripted turn
    assert fake.residency.loads == 1
    assert fake.residency.prefills == 1


def test_a_loaded_model_with_its_prompt_cached_costs_nothing_more(
    fake: FakeOllama, client: ollama.Client
) -> None:
    hi = {"role": "user", "content": "hi"}
    client.chat(MODEL, messages=[SYSTEM], options={"num_predict": 1}, keep_alive="30m")
    client.chat(MODEL, messages=[SYSTEM, hi], keep_alive="30m")
    client.chat(MODEL, messages=[{"role": "system", "content": "Another prompt."}, hi])
    assert fake.residency.loads == 1
    assert fake.residency.prefills == 2  # the first system prompt, then the other one


def test_a_bad_keep_alive_is_ollamas_400(client: ollama.Client) -> None:
    with pytest.raises(ollama.ResponseError) as info:
        client.chat(MODEL, messages=[], keep_alive="soon")
    assert info.value.status_code == 400
    assert 'time: invalid duration "soon"' in info.value.error


def test_keep_alive_reads_as_ollamas_duration() -> None:
    assert parse_keep_alive(None) == 300
    assert parse_keep_alive("30m") == 1800
    assert parse_keep_alive("1h30m") == 5400
    assert parse_keep_alive("1.5s") == 1.5
    assert parse_keep_alive("0") == 0
    assert parse_keep_alive(90) == 90
    assert parse_keep_alive(2.9) == 2  # whole seconds, as Go's int(t)
    assert parse_keep_alive(-1) == math.inf
    assert parse_keep_alive("-5m") == math.inf
    for bad, message in (
        ("5", 'time: missing unit in duration "5"'),
        ("", 'time: invalid duration ""'),
        ("5 m", 'time: unknown unit " m" in duration "5 m"'),
        ("m5", 'time: invalid duration "m5"'),
    ):
        with pytest.raises(BadKeepAlive) as info:
            parse_keep_alive(bad)
        assert str(info.value) == message
    with pytest.raises(BadKeepAlive):
        parse_keep_alive(True)


def test_a_model_unloads_when_its_keep_alive_runs_out() -> None:
    now = [100.0]
    memory = Residency(clock=lambda: now[0])
    assert memory.admit(MODEL, 60, "sys", 2.0, 0.5) == 2.5  # cold: load and prompt
    now[0] += 59
    assert memory.admit(MODEL, 60, "sys", 2.0, 0.5) == 0.0  # warm and cached
    now[0] += 61
    assert memory.running() == {}
    assert memory.admit(MODEL, 60, "sys", 2.0, 0.5) == 2.5  # loaded again, cache gone
    assert memory.loads == 2
