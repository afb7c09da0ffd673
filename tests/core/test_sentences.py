from __future__ import annotations

from app.core.sentences import SentenceSplitter, clean_for_speech, split_all


def stream(text: str, piece: int = 3) -> list[str]:
    s = SentenceSplitter()
    out: list[str] = []
    for i in range(0, len(text), piece):
        out += s.feed(text[i : i + piece])
    return out + s.flush()


def test_sentences_come_out_as_soon_as_they_end():
    s = SentenceSplitter()
    assert s.feed("Sure. It is ") == ["Sure."]
    assert s.feed("sunny today. And") == ["It is sunny today."]
    assert s.flush() == ["And"]


def test_abbreviations_initials_and_decimals_do_not_end_a_sentence():
    text = "Dr. Smith met J. R. Tolkien at 3.5 p.m. in St. Louis today. Then they left!"
    assert stream(text) == [
        "Dr. Smith met J. R. Tolkien at 3.5 p.m. in St. Louis today.",
        "Then they left!",
    ]


def test_short_fragments_join_the_next_sentence_after_the_first():
    assert split_all("Okay. Yes. No. This is a longer one.") == [
        "Okay.",
        "Yes. No. This is a longer one.",
    ]


def test_markdown_is_not_read_aloud():
    assert clean_for_speech("**Bold** and `code` here") == "Bold and code here"
    assert split_all("Your options:\n- first option\n- second option\n\nPick one.") == [
        "Your options:",
        "first option",
        "second option",
        "Pick one.",
    ]


def test_piece_size_does_not_change_the_result():
    text = "One sentence here. Another one follows! And a question? Fine."
    assert stream(text, 1) == stream(text, 7) == split_all(text)
