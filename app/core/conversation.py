"""Short conversation memory: the system prompt plus the last N exchanges.

Only the user's words and Hark's final replies are kept across turns; tool calls and their
results live only inside the turn that made them (they can be large and are stale later).
"""

from __future__ import annotations

from collections import deque

from app.core.types import ChatMessage


class Conversation:
    """Holds the system prompt and a bounded history of (user, assistant) exchanges."""

    def __init__(self, system_prompt: str, max_turns: int = 6) -> None:
        self.system_prompt = system_prompt
        self._turns: deque[tuple[str, str]] = deque(maxlen=max_turns if max_turns > 0 else 0)

    def messages_for(self, user_text: str) -> list[ChatMessage]:
        """The messages to send for a new user request."""
        msgs = [ChatMessage("system", self.system_prompt)]
        for user, assistant in self._turns:
            msgs.append(ChatMessage("user", user))
            msgs.append(ChatMessage("assistant", assistant))
        msgs.append(ChatMessage("user", user_text))
        return msgs

    def remember(self, user_text: str, reply: str) -> None:
        if self._turns.maxlen and user_text.strip() and reply.strip():
            self._turns.append((user_text, reply))

    def clear(self) -> None:
        self._turns.clear()

    def __len__(self) -> int:
        return len(self._turns)
