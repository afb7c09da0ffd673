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


# --- the first clause ------------------------------------------------------------------------


def clauses(text: str, piece: int = 3, words: int = 4) -> list[str]:
    s = SentenceSplitter(first_clause_words=words)
    out: list[str] = []
    for i in range(0, len(text), piece):
        out += s.feed(text[i : i + piece])
    return out + s.flush()


def test_the_first_piece_ends_at_the_first_clause_after_enough_words():
    text = "Your first meeting is tomorrow, at nine thirty in room four. Bring the notes."
    assert clauses(text) == [
        "Your first meeting is tomorrow,",
        "at nine thirty in room four.",
        "Bring the notes.",
    ]


def test_only_the_first_piece_is_a_clause_the_rest_are_sentences():
    text = "Sure thing, I can do that, right away. Then, after lunch, we talk. Fine, bye."
    pieces = clauses(text, words=2)
    assert pieces == [
        "Sure thing,",
        "I can do that, right away.",
        "Then, after lunch, we talk.",
        "Fine, bye.",
    ]


def test_too_few_words_wait_for_the_sentence_end():
    assert clauses("Yes, it is. And more follows here.", words=4) == [
        "Yes, it is.",
        "And more follows here.",
    ]


def test_zero_means_whole_sentences():
    text = "Your first meeting is tomorrow, at nine thirty. Bring the notes."
    assert (
        clauses(text, words=0)
        == stream(text)
        == [
            "Your first meeting is tomorrow, at nine thirty.",
            "Bring the notes.",
        ]
    )


def test_semicolons_colons_and_dashes_are_boundaries():
    assert clauses("Here is what I found: three flights today. Ok.")[0] == ("Here is what I found:")
    assert clauses("The shop is open late today; it closes at ten. Ok.")[0] == (
        "The shop is open late today;"
    )
    assert clauses("I checked your calendar twice — nothing is booked. Ok.")[0] == (
        "I checked your calendar twice —"
    )


def test_numbers_times_dates_and_ranges_are_never_cut():
    assert clauses("You have 3,000 unread messages and 1,250 drafts, sadly. Ok.")[0] == (
        "You have 3,000 unread messages and 1,250 drafts,"
    )
    assert clauses("The train leaves at 5:30 from platform two, on time. Ok.")[0] == (
        "The train leaves at 5:30 from platform two,"
    )
    assert clauses("It was on May 5, 2025 in Paris, I think. Ok.")[0] == (
        "It was on May 5, 2025 in Paris,"
    )
    assert clauses("The office is open 9 - 5 on weekdays, not weekends. Ok.")[0] == (
        "The office is open 9 - 5 on weekdays,"
    )


def test_abbreviations_urls_and_addresses_are_never_cut():
    assert clauses("Some fruits are sweet, e.g., apples and pears, really. Ok.", words=5)[0] == (
        "Some fruits are sweet, e.g., apples and pears,"
    )
    assert clauses("Open https://example.org/a,b;c:d?e=1 in a browser, please. Ok.")[0] == (
        "Open https://example.org/a,b;c:d?e=1 in a browser,"
    )
    assert clauses("Write to first.last@mail.example.com today, she said. Ok.")[0] == (
        "Write to first.last@mail.example.com today,"
    )


def test_a_boundary_waits_for_what_follows_it():
    s = SentenceSplitter(first_clause_words=4)
    assert s.feed("It was on May 5,") == []
    assert s.feed(" ") == []  # "2025" may follow: not decided yet
    assert s.feed("2025 in Paris, the") == ["It was on May 5, 2025 in Paris,"]
    assert s.feed(" end.") == []
    assert s.flush() == ["the end."]
