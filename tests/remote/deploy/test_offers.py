"""Offer filters from the model, and ranking; checked against the fake Vast.ai's search too."""

from __future__ import annotations

import pytest

from remote.deploy.offers import (
    UNKNOWN_MODEL_VRAM_GB,
    WHISPER_VRAM_GB,
    model_vram_gb,
    offer_query,
    rank_offers,
)
from remote.vast.client import VastClient
from remote.vast.models import Offer
from tests.fakes.vast import FakeVast


@pytest.mark.parametrize(
    ("model", "gb"),
    [
        ("llama3.2:3b", 8.0),
        ("llama3.1:8b", 12.0),
        ("LLaMA3.1:8B", 12.0),
        ("llama3.3:70b", 48.0),
        ("qwen2.5:72b-instruct-q4_K_M", 53.0),
        ("phi3:3.8b", 5.0),
        ("something-new", UNKNOWN_MODEL_VRAM_GB),
        ("mixtral:8x7b", UNKNOWN_MODEL_VRAM_GB),
    ],
)
def test_model_sizes(model: str, gb: float) -> None:
    assert model_vram_gb(model) == gb


def test_query_for_a_model() -> None:
    query = offer_query("llama3.1:8b", max_dph=0.5, disk_gb=50)
    body = query.to_api()
    assert query.min_gpu_ram_mb == (12.0 + WHISPER_VRAM_GB) * 1024
    assert body["gpu_ram"] == {"gte": 14336.0}
    assert body["reliability"] == {"gte": 0.98}
    assert body["direct_port_count"] == {"gte": 2}  # ours + the one SSH takes
    assert body["cuda_max_good"] == {"gte": "12.8"}
    assert body["dph_total"] == {"lte": 0.5}
    assert body["disk_space"] == {"gte": 50}
    assert body["inet_down"]["gte"] >= 100
    assert body["allocated_storage"] == 50
    assert "dph_total" not in offer_query("m").to_api()
    assert offer_query("m", whisper=False).min_gpu_ram_mb == UNKNOWN_MODEL_VRAM_GB * 1024


def test_ranking_drops_misfits_and_orders_by_price_then_reliability() -> None:
    query = offer_query("llama3.2:3b", max_dph=1.0, exclude_machine_ids=[9])
    offers = [
        Offer(1, dph_total=0.30, reliability=0.99, gpu_ram_mb=24000),
        Offer(2, dph_total=0.30, reliability=0.999, gpu_ram_mb=24000),
        Offer(3, dph_total=0.10, gpu_ram_mb=4000),  # too little memory
        Offer(4, dph_total=2.00, gpu_ram_mb=24000),  # too dear
        Offer(5, dph_total=0.05, gpu_ram_mb=24000, cuda_max_good=12.2),  # CUDA too old
        Offer(6, dph_total=0.05, gpu_ram_mb=24000, machine_id=9),  # failed us before
        Offer(7, dph_total=None, gpu_ram_mb=24000),
        Offer(8, dph_total=0.20, direct_port_count=1),
    ]
    assert [o.id for o in rank_offers(offers, query)] == [2, 1, 7]


async def test_search_on_the_fake_finds_the_machines_that_fit(
    fake: FakeVast, vast: VastClient
) -> None:
    fake.add_offer(id=50, gpu_ram=12288, dph_total=0.05)  # too small for 8b + Whisper
    fake.add_offer(id=51, gpu_ram=16384, dph_total=0.12)
    query = offer_query("llama3.1:8b")
    found = rank_offers(await vast.search_offers(query), query)
    ids = [o.id for o in found]
    assert ids[0] == 51
    assert 50 not in ids
    assert 1002 not in ids
    assert 1004 not in ids
    prices = [o.dph_total for o in found]
    assert prices == sorted(prices)
