"""The language model: Ollama's streaming chat API, and a monitor of its availability."""

from __future__ import annotations

from app.llm.health import LlmMonitor
from app.llm.ollama import OllamaChat, model_available
from app.shared.tls import pinned_ssl_context

__all__ = ["LlmMonitor", "OllamaChat", "model_available", "pinned_ssl_context"]
