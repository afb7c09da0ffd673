"""Which Vast.ai machines can run a Hark server for a given model, cheapest first.

The GPU memory a model needs comes from a small table of common Ollama models (4-bit
quantised, as Ollama ships them by default, plus working memory for a few thousand tokens of
context); a model not in the table is sized from the parameter count in its tag (``:14b``),
and one without a readable size is given 16 GB. Whisper large-v3-turbo on CUDA (float16)
adds about 2 GB. Besides memory, a machine must be reliable, have enough direct ports (the
server's port plus one Vast.ai takes for SSH), a recent enough CUDA, a fast download (the
model is pulled on first start) and the disk asked for.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from remote.vast.models import Offer, OfferQuery

MODEL_VRAM_GB: dict[str, float] = {
    "llama3.2:1b": 4.0,
    "llama3.2": 8.0,
    "llama3.2:3b": 8.0,
    "llama3.1": 12.0,
    "llama3.1:8b": 12.0,
    "llama3:8b": 12.0,
    "qwen2.5:7b": 12.0,
    "qwen3:8b": 12.0,
    "mistral": 12.0,
    "mistral:7b": 12.0,
    "gemma2:9b": 14.0,
    "gemma3:12b": 16.0,
    "qwen2.5:14b": 16.0,
    "qwen2.5:32b": 28.0,
    "llama3.1:70b": 48.0,
    "llama3.3:70b": 48.0,
    "llama3.3": 48.0,
}
"""GPU memory (GB) a model needs in Ollama's default quantisation, context included."""
UNKNOWN_MODEL_VRAM_GB = 16.0
WHISPER_VRAM_GB = 2.0
"""Whisper large-v3-turbo, float16 on CUDA, with its working memory."""
MIN_RELIABILITY = 0.98
MIN_CUDA = "12.8"
MIN_INET_DOWN_MBPS = 200.0
"""A 5 GB model then pulls in under four minutes."""
SSH_PORTS = 1
"""Direct ports Vast.ai takes besides ours (see ``remote.vast.client.DEFAULT_RUNTYPE``)."""

_SIZE = re.compile(r":(?:.*?[-_])?(\d+(?:\.\d+)?)b(?:$|[-_])", re.IGNORECASE)


def model_vram_gb(model: str) -> float:
    """GPU memory (GB) ``model`` needs: the table, else ~0.7 GB per billion parameters + 2."""
    name = model.strip().lower()
    if name in MODEL_VRAM_GB:
        return MODEL_VRAM_GB[name]
    match = _SIZE.search(name)
    if match:
        billions = float(match.group(1))
        return float(max(4, math.ceil(billions * 0.7 + 2)))
    return UNKNOWN_MODEL_VRAM_GB


def offer_query(
    model: str,
    *,
    max_dph: float | None = None,
    ports: int = 1,
    disk_gb: float = 40.0,
    whisper: bool = True,
    min_reliability: float = MIN_RELIABILITY,
    min_cuda: str = MIN_CUDA,
    min_inet_down: float = MIN_INET_DOWN_MBPS,
    limit: int = 20,
    exclude_machine_ids: Iterable[int] = (),
) -> OfferQuery:
    """The offer search for a server running ``model`` (and Whisper, unless ``whisper=False``)."""
    need_gb = model_vram_gb(model) + (WHISPER_VRAM_GB if whisper else 0.0)
    return OfferQuery(
        min_gpu_ram_mb=need_gb * 1024,
        min_reliability=min_reliability,
        min_direct_ports=ports + SSH_PORTS,
        min_cuda=min_cuda,
        max_dph=max_dph,
        min_inet_down=min_inet_down,
        min_disk_gb=disk_gb,
        limit=limit,
        storage_gb=disk_gb,
        exclude_machine_ids=tuple(exclude_machine_ids),
    )


def rank_offers(offers: Iterable[Offer], query: OfferQuery) -> list[Offer]:
    """``offers`` that meet ``query`` (as far as they say), cheapest first, then most reliable.

    Vast.ai filters already; this guards against rows that do not match (loose JSON) and
    breaks price ties by reliability.
    """

    def fits(offer: Offer) -> bool:
        checks = (
            (offer.gpu_ram_mb, query.min_gpu_ram_mb),
            (offer.reliability, query.min_reliability),
            (offer.direct_port_count, query.min_direct_ports),
            (offer.inet_down_mbps, query.min_inet_down),
        )
        if any(have is not None and need is not None and have < need for have, need in checks):
            return False
        price, cap = offer.dph_total, query.max_dph
        if price is not None and cap is not None and price > cap:
            return False
        cuda, want = offer.cuda_max_good, query.min_cuda
        if cuda is not None and want is not None and cuda + 1e-9 < float(want):
            return False
        return offer.machine_id is None or offer.machine_id not in query.exclude_machine_ids

    def key(offer: Offer) -> tuple[float, float]:
        price = math.inf if offer.dph_total is None else offer.dph_total
        return (price, -(offer.reliability or 0.0))

    return sorted((o for o in offers if fits(o)), key=key)
