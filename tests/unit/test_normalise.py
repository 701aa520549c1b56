"""Text normalisation: what the trained model and detoxify see of a text."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers import clean, normalise
from classifiers.normalise import (
    EMAIL_PATTERN,
    EMAIL_WORD,
    HANDLE_WORD,
    MAX_CHARS,
    URL_PATTERN,
    URL_WORD,
)


def test_nfkc_folds_lookalike_characters():
    """Full-width and other compatibility forms become their plain letters."""
    assert normalise("ｆｕｌｌ ｗｉｄｔｈ") == "full width"


def test_zero_width_and_control_characters_are_removed():
    """Invisible characters inside a word do not split it, and control characters go."""
    assert normalise("he\u200bllo\u00ad wo\ufeffrld\x00\x07!") == "hello world !"
    assert clean("line\none\r\ttwo") == "line one two"


@pytest.mark.parametrize(
    ("disguised", "plain"),
    [
        ("you 1d10t", "you idiot"),
        ("sh1t service", "shit service"),
        ("b@stard", "bastard"),
        ("s h i t council", "shit council"),
        ("f*ck off", "fuck off"),
        ("what the f**k", "what the fuck"),
        ("b!tch", "bitch"),
        ("shiiiiit", "shit"),
        ("bunch of tw*ts", "bunch of twats"),
        ("lazy f***ers", "lazy fuckers"),
    ],
)
def test_disguised_words_are_spelt_out(disguised, plain):
    """Digits, symbols, spacing and stretching used to hide a listed word are undone."""
    assert normalise(disguised) == plain


@pytest.mark.parametrize("text", ["sg6 3jf", "10am", "m25 j8", "1st floor", "#council", "a b c"])
def test_ordinary_mixed_tokens_are_left_alone(text):
    """Postcodes, times, road numbers and hashtags are not mistaken for disguises."""
    assert normalise(text) == text


def test_repeated_characters_are_squeezed_but_digits_are_not():
    """Stretched letters shrink to two; numbers keep every digit."""
    assert normalise("Soooo goooood!!!!") == "soo good!!"
    assert normalise("01462 474000") == "01462 474000"


def test_links_handles_and_emails_become_tokens():
    """URLs, @handles and e-mail addresses are replaced by fixed words."""
    out = normalise("see https://bit.ly/x1 and www.example.org, ask @NHDC_help or jo@example.com")
    assert out == f"see {URL_WORD} and {URL_WORD} ask {HANDLE_WORD} or {EMAIL_WORD}"


def test_emoji_are_kept_as_separate_tokens():
    """Emoji carry tone, so they stay, standing apart from the words around them."""
    assert normalise("great👍thanks😀") == "great 👍 thanks 😀"


def test_output_is_capped():
    """A very long text is cut to the maximum length."""
    assert len(normalise("word " * 10_000)) <= MAX_CHARS
    assert len(clean("x" * 100_000)) <= MAX_CHARS


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=3000))
def test_any_string_normalises_to_a_bounded_string(text):
    """No string crashes normalisation, and the result is bounded and free of control characters."""
    out = normalise(text)
    assert isinstance(out, str)
    assert len(out) <= MAX_CHARS
    assert not any(ord(ch) < 32 for ch in out)
    assert out == out.strip()


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=200))
def test_normalising_twice_changes_nothing_more(text):
    """Normalisation is stable: what it produces is already normal."""
    once = normalise(text)
    assert normalise(once) == once


@pytest.mark.parametrize(
    ("text", "links"),
    [
        ("see example.com/bins for the dates", ["example.com/bins"]),
        ("book at www.north-herts.gov.uk today", ["www.north-herts.gov.uk"]),
        ("the council.community hub opens", []),  # a word that starts with a top-level domain
        ("a.a.a.a.a.a.a.a", []),
    ],
)
def test_links_end_at_a_known_top_level_domain(text, links):
    """A link is a dotted name ending in a known top-level domain, not a prefix of a word."""
    assert [m.group(0) for m in URL_PATTERN.finditer(text)] == links


def test_email_addresses_are_found_whole():
    """The whole address is one match, however many dots and plus signs it has."""
    text = "write to a.b+bins@mail.example.co.uk or x@y"
    assert [m.group(0) for m in EMAIL_PATTERN.finditer(text)] == ["a.b+bins@mail.example.co.uk"]
