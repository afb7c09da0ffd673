"""Cut a streamed reply into sentences, so the voice can start before the model finishes.

The splitter is conservative: it waits for sentence punctuation followed by whitespace, skips
common abbreviations, decimals and initials, and keeps very short fragments attached to the
next sentence (speaking "Sure." alone costs a TTS round trip for little gain, but a long first
sentence delays the first audio, so the first cut is allowed earlier than the rest).

With ``first_clause_words`` set, the *first* piece of a reply may end at a clause boundary
instead: a comma, semicolon, colon or dash followed by a space, once at least that many words
came before it. The voice then starts after a few words rather than a whole first sentence,
and the rest of the reply goes on sentence by sentence. A boundary is never taken inside a
word or a number ("3,000", "5:30", "May 5, 2025", "9 - 5"), after an abbreviation that
introduces something ("e.g.,"), or inside a URL or an e-mail address (their punctuation is
never followed by a space).
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
_CLAUSE = re.compile(r"(?<=\S)(?:[,;:]|[ \t]+[-–—]{1,2}|[–—])(?=\s)")
"""A clause boundary: the text up to its end is the first piece (see the module docstring)."""
_INTRODUCERS = frozenset({"e.g", "i.e", "eg", "ie", "viz", "cf", "vs", "incl", "approx"})


class SentenceSplitter:
    """Feed text pieces as they stream in; get whole sentences out as soon as they are done.

    ``first_clause_words`` > 0 lets the first piece end at a clause boundary after at least
    that many words (0: the first piece is a whole sentence, like the rest).
    """

    def __init__(
        self, min_chars: int = 12, first_min_chars: int = 4, *, first_clause_words: int = 0
    ) -> None:
        self._buf = ""
        self._min = min_chars
        self._first_min = first_min_chars
        self._clause_words = max(0, first_clause_words)
        self._emitted = 0

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        start = 0
        while True:
            first = not out and self._emitted == 0
            end = self._sentence_end(start, first)
            if first and self._clause_words:
                clause = self._clause_end(start, end)
                if clause is not None:
                    end = clause
            if end is None:
                break
            out.append(self._buf[start:end])
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

    def _sentence_end(self, start: int, first: bool) -> int | None:
        """Where the sentence that starts at ``start`` ends, once it has (else None)."""
        limit = self._first_min if first else self._min
        for match in _END.finditer(self._buf, start):
            end = match.end()
            if self._is_abbreviation(self._buf[:end]):
                continue
            if len(self._buf[start:end].strip()) < limit:
                continue
            return end
        return None

    def _clause_end(self, start: int, before: int | None) -> int | None:
        """The first clause boundary after enough words, before the sentence end ``before``."""
        for match in _CLAUSE.finditer(self._buf, start, before or len(self._buf)):
            end = match.end()
            head = self._buf[start : match.start()]
            if len(clean_for_speech(head).split()) < self._clause_words:
                continue
            after = self._buf[end:].lstrip()
            if not after:  # what follows decides ("May 5," + "2025"): wait for it
                return None
            if _between_digits(self._buf[: match.start()], after):
                continue
            word = head.split()[-1].rstrip(".").lower().lstrip("(\"'")
            if word in _INTRODUCERS or (word in _ABBREVIATIONS and head.rstrip().endswith(".")):
                continue
            return end
        return None

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


def _between_digits(before: str, after: str) -> bool:
    """A boundary between two digits ("May 5, 2025", "9 - 5") belongs to the numbers."""
    before = before.rstrip()
    return bool(before) and before[-1].isdigit() and after[0].isdigit()


def clean_for_speech(text: str) -> str:
    """Strip markdown the model may write, and collapse whitespace, for the voice."""
    text = _MARKDOWN.sub("", text)
    return " ".join(text.split())


def split_all(text: str, *, first_clause_words: int = 0) -> list[str]:
    """All pieces of a finished text (the same rules as streaming)."""
    splitter = SentenceSplitter(first_clause_words=first_clause_words)
    return splitter.feed(text) + splitter.flush()
