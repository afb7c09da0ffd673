"""Properties of the splitter over generated replies, cut into random stream pieces: the pieces
always hold the reply's words in order (nothing lost, nothing cut mid-word), and how the reply
streams in never changes where it is cut."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.core.sentences import SentenceSplitter

WORDS = [
    "the",
    "meeting",
    "is",
    "at",
    "5:30",
    "3,000",
    "1.5",
    "e.g.,",
    "Dr.",
    "J.",
    "https://example.org/a,b;c",
    "bob@mail.example.com",
    "well-known",
    "May",
    "5,",
    "2025",
    "9",
    "-",
    "—",
    "yes,",
    "no;",
    "note:",
    "done.",
    "why?",
    "wow!",
    "(really),",
    '"quoted",',
]

replies = st.lists(st.sampled_from(WORDS), min_size=1, max_size=40).map(" ".join)


def bare(text: str) -> list[str]:
    return [w for w in text.split() if w != "-"]


def pieces_of(text: str, cuts: list[int], words: int) -> list[str]:
    splitter = SentenceSplitter(first_clause_words=words)
    out: list[str] = []
    last = 0
    for cut in [*sorted({c % (len(text) + 1) for c in cuts}), len(text)]:
        out += splitter.feed(text[last:cut])
        last = cut
    return out + splitter.flush()


@settings(max_examples=150, deadline=None)
@given(replies, st.lists(st.integers(min_value=0, max_value=500), max_size=20), st.integers(0, 8))
def test_pieces_joined_are_the_reply_and_no_word_is_cut(
    text: str, cuts: list[int], words: int
) -> None:
    pieces = pieces_of(text, cuts, words)
    # a lone "-" that opens a piece reads as a list bullet, which the voice leaves out
    assert bare(" ".join(pieces)) == bare(text)
    assert all(p == p.strip() and p for p in pieces)


@settings(max_examples=150, deadline=None)
@given(replies, st.lists(st.integers(min_value=0, max_value=500), max_size=20), st.integers(1, 8))
def test_how_the_reply_streams_in_does_not_move_the_cuts(
    text: str, cuts: list[int], words: int
) -> None:
    assert pieces_of(text, cuts, words) == pieces_of(text, [], words)


@settings(max_examples=100, deadline=None)
@given(replies, st.integers(1, 8))
def test_the_first_piece_has_enough_words_or_is_a_whole_sentence(text: str, words: int) -> None:
    first = pieces_of(text, [], words)[0]
    whole = pieces_of(text, [], 0)[0]
    assert first == whole or (
        len(first.split()) >= words and first[-1] in ",;:-–—" and whole.startswith(first)
    )
