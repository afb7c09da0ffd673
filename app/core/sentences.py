"""Cut a streamed reply into sentences, so the voice can start before the model finishes.

The splitter is conservative: it waits for sentence punctuation followed by whitespace, skips
common abbreviations, decimals and initials, and keeps very short fragments attached to the
next sentence (speaking "Sure." alone costs a TTS round trip for little gain, but a long first
sentence delays the first audio, so the first cut is allowed earlier than the rest).
"""

from __future__ import annotations

import re

_ABBREVIATIONS = frozenset(
    {
        "mr",
        "mrs",
        "ms",
        "dr",
        "prof",
        "sr",
        "jr",
        "st",
        "vs",
        "etc",
        "e.g",
        "i.e",
        "a.m",
        "p.m",
        "approx",
        "no",
        "inc",
        "ltd",
        "co",
        "jan",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "mon",
        "tue",
        "wed",
        "thu",
        "fri",
        "sat",
        "sun",
    }
)
_END = re.compile(r"[.!?…]+[\"')\]]*(?=\s)|[\n]{2,}|[:;](?=\s*\n)|\n(?=\s*[-*•\d])")
_MARKDOWN = re.compile(r"(\*\*|__|`+|^#+\s*|^\s*[-*•]\s+)", re.MULTILINE)


class SentenceSplitter:
    """Feed text pieces as they stream in; get whole sentences out as soon as they are done."""

    def __init__(self, min_chars: int = 12, first_min_chars: int = 4) -> None:
        self._buf = ""
        self._min = min_chars
        self._first_min = first_min_chars
        self._emitted = 0

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        start = 0
        for match in _END.finditer(self._buf):
            end = match.end()
            candidate = self._buf[start:end]
            if self._is_abbreviation(self._buf[:end]):
                continue
            limit = self._first_min if not out and self._emitted == 0 else self._min
            if len(candidate.strip()) < limit:
                continue
            out.append(candidate)
            start = end
        self._buf = self._buf[start:]
        cleaned = [s for s in (clean_for_speech(c) for c in out) if s]
        self._emitted += len(cleaned)
        return cleaned

    def flush(self) -> list[str]:
        rest, self._buf = self._buf, ""
        text = clean_for_speech(rest)
        if text:
            self._emitted += 1
            return [text]
        return []

    @staticmethod
    def _is_abbreviation(text: str) -> bool:
        stripped = text.rstrip()
        if not stripped.endswith("."):
            return False
        word = re.split(r"\s", stripped[:-1])[-1].lower().lstrip("(\"'")
        if word in _ABBREVIATIONS:
            return True
        # a single letter before the dot is an initial ("J. R. R. Tolkien"), not an end; decimals
        # ("3.5") never get here because no whitespace follows their dot
        return len(word) == 1 and word.isalpha()


def clean_for_speech(text: str) -> str:
    """Strip markdown the model may write, and collapse whitespace, for the voice."""
    text = _MARKDOWN.sub("", text)
    return " ".join(text.split())


def split_all(text: str) -> list[str]:
    """All sentences of a finished text (the same rules as streaming)."""
    splitter = SentenceSplitter()
    return splitter.feed(text) + splitter.flush()
