"""Rules that need no training: spam markers, personal data, emergency and threat wording."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from classifiers.rules import excerpt, find, redact


def test_links_and_shorteners_are_counted():
    """Every link counts; links through a shortening service count again as shorteners."""
    found = find("Win big at https://bit.ly/abc and www.example.org today")
    assert found.links == 2
    assert found.shorteners == 1
    assert "shortener" in found.spam_markers
    assert "many_links" in found.spam_markers


@pytest.mark.parametrize(
    ("text", "marker"),
    [
        ("Earn £500 a day working from home, ask me how", "money_lure"),
        ("Congratulations you have won a cash prize", "money_lure"),
        ("Best bitcoin investment platform, returns guaranteed", "crypto"),
        ("Message me on WhatsApp +44 7700 900123 for details", "contact_off_platform"),
        ("Check out my channel and subscribe please", "self_promotion"),
        ("buy now buy now buy now buy now buy now buy now buy now", "repeated_text"),
        ("Your parcel is on hold, confirm your details to avoid a fine", "phishing"),
        ("Massive sale, 60% off everything and free delivery", "advert"),
        ("Lonely and local? see my pics", "dating_lure"),
        ("Claim your prize today at www.example.org", "lure_link"),
    ],
)
def test_spam_markers(text, marker):
    """Each kind of spam lure is named by its marker."""
    assert marker in find(text).spam_markers


def test_an_ordinary_report_has_no_spam_markers():
    """A plain service request carries no spam evidence."""
    found = find("The bins on Norton Road were not collected on Tuesday, can someone help?")
    assert found.spam_markers == ()
    assert found.links == 0


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Ring me on 07700 900123 please", "phone"),
        ("my number is +44 1462 474000", "phone"),
        ("email me at jo.bloggs@example.com", "email"),
        ("I live at 12 Bury Road, SG6 3JF", "address"),
        ("my NI number is AB 12 34 56 C", "ni_number"),
        ("council tax account number 12345678 is wrong", "reference"),
        ("paid with 4111 1111 1111 1111", "card_number"),
    ],
)
def test_personal_data_is_found_by_kind(text, kind):
    """Phone numbers, e-mail, home addresses, NI, reference and card numbers are found."""
    assert kind in find(text).personal_data_kinds


def test_a_postcode_without_a_house_number_is_not_personal_data():
    """A postcode alone places a problem, not a person."""
    assert find("Fly-tipping near SG6 3JF again").personal_data == ()


def test_a_card_shaped_number_failing_luhn_is_not_a_card():
    """Sixteen digits that fail the card checksum are not reported as a card."""
    assert "card_number" not in find("order 1234 5678 9012 3456").personal_data_kinds


def test_redact_hides_every_kind_it_finds():
    """Redaction replaces personal data with its kind and keeps the rest of the text."""
    text = "Call 07700 900123 or jo@example.com, I'm at 4 High Street SG6 3JF"
    out = redact(text)
    assert "900123" not in out
    assert "jo@example.com" not in out
    assert "SG6 3JF" not in out
    assert out.startswith("Call [phone] or [email]")


def test_excerpt_is_short_and_redacted():
    """Evidence is a window around the match with personal data hidden."""
    text = "filler " * 40 + "call 07700 900123 there is a smell of gas" + " filler" * 40
    start = text.index("smell")
    piece = excerpt(text, start, start + 12, width=30)
    assert "smell of gas" in piece
    assert "900123" not in piece
    assert len(piece) < 120


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("There's a strong smell of gas in our street", "gas_leak"),
        ("The road is flooded and water is coming into the houses", "flooding"),
        ("The bin store is on fire!", "fire"),
        ("Someone has been hurt by the fallen sign", "someone_hurt"),
        ("Exposed wires hanging from the lamp post", "danger_to_life"),
        ("Two kids left alone in the flat, I think they are at risk", "child_at_risk"),
        ("I can't cope any more, I want to end it all", "self_harm"),
    ],
)
def test_emergency_wording_is_found(text, kind):
    """Wording of danger now is named by its kind."""
    assert kind in find(text).emergency_kinds


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("I'm going to kill you", "violence"),
        ("I know where you live", "stalking"),
        ("watch your back", "intimidation"),
        ("you deserve to die", "wishing_harm"),
        ("someone should burn down the council offices", "attack_on_property"),
        ("i'm gonna k1ll you", "violence"),
        ("I'll knock his teeth out", "violence"),
        ("that officer should be strung up", "wishing_harm"),
    ],
)
def test_threats_are_found(text, kind):
    """Threats of harm, including disguised ones, are named by their kind."""
    assert kind in find(text).threat_kinds


@pytest.mark.parametrize(
    "text",
    [
        "The council killed off the fireworks display, what a shame. Bins missed again",
        "We'll get you a reply by Friday",
        "The council needs to hang the Christmas lights earlier",
        "This daft idea should die a quiet death",
    ],
)
def test_ordinary_words_are_not_emergencies_or_threats(text):
    """Posts that merely use risky-sounding words do not trip the rules."""
    found = find(text)
    assert found.emergency == ()
    assert found.threats == ()


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_rules_never_crash(text):
    """No string makes the rules or the redaction fail."""
    found = find(text)
    assert found.links >= found.shorteners >= 0
    assert isinstance(redact(text), str)
