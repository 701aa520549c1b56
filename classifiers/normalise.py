"""Text normalisation shared by training and serving, so both see the same words.

``normalise`` is for models: lower case, disguised swear words spelt out, links and
handles reduced to tokens. ``clean`` is the lighter step the rules use: it keeps
case, digits and links, so phone numbers and addresses can still be found.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = [
    "DISGUISED_WORDS",
    "EMAIL_PATTERN",
    "EMAIL_WORD",
    "HANDLE_WORD",
    "MAX_CHARS",
    "URL_PATTERN",
    "URL_WORD",
    "clean",
    "mask_contacts",
    "normalise",
]

MAX_CHARS = 4000
"""Longer texts are cut: the first few thousand characters carry the meaning."""

URL_WORD = "_url_"
HANDLE_WORD = "_user_"
EMAIL_WORD = "_email_"

# Format characters that hide inside words (zero-width space/joiners, bidi marks,
# soft hyphen, word joiner, byte-order mark).
_INVISIBLE = dict.fromkeys(
    [0x00AD, 0x180E, *range(0x200B, 0x2010), *range(0x202A, 0x202F), *range(0x2060, 0x2070), 0xFEFF]
)

# Linear time on any input: a match may start only where a run of its characters starts
# (the look-behinds), so a long run without a match is scanned once, not from each of its
# characters. bench/adversarial measures the worst cases.
URL_PATTERN = re.compile(
    r"(?:https?://|www\.)\S+"
    r"|(?<![a-z0-9.-])[a-z0-9-]+(?:\.[a-z0-9-]+)*"
    r"\.(?:com|co\.uk|org|net|uk|io|ly|gl|me|info|biz|xyz|gov\.uk)\b(?:/\S*)?",
    re.IGNORECASE,
)
EMAIL_PATTERN = re.compile(r"(?<![\w.+-])[\w.+-]+@[\w-]+(?:\.[\w-]+)*\.[a-z]{2,}\b", re.IGNORECASE)
_HANDLE = re.compile(r"(?<![\w@])@\w{1,30}(?![@\w])")
_REPEAT = re.compile(r"([^\d*#])\1{2,}")
_SPACE = re.compile(r"\s+")
# Unicode categories Cc, Cs, Co, Zl and Zp: control, surrogate, private use, line/paragraph.
_CONTROL = re.compile(
    "[\x00-\x1f\x7f-\x9f\ud800-\udfff\ue000-\uf8ff\U000f0000-\U0010ffff\u2028\u2029]"
)
# Three or more single letters in a row, split by spaces or light punctuation: "s h i t".
_SPACED = re.compile(r"(?<!\w)(?:[a-z][ .\-_*]){2,}[a-z](?!\w)")
# A word with a disguise in it: letters mixed with digits or symbols.
_WORDISH = re.compile(r"[\w@$!*#+|]+")
_EMOJI = re.compile(
    "[\U0001f000-\U0001faff\u2600-\u27bf\u2b00-\u2bff\u2300-\u23ff]",
)

_LEET = str.maketrans("013457@$!|+", "oieasta" + "siit")

# Words people disguise to get past filters. Only a disguised form that spells one of
# these is rewritten, so postcodes, times and model numbers are left alone.
DISGUISED_WORDS = frozenset(
    [
        "arse",
        "arsehole",
        "ass",
        "asshole",
        "bastard",
        "bellend",
        "bitch",
        "bollocks",
        "bullshit",
        "cock",
        "crap",
        "cunt",
        "damn",
        "dick",
        "dickhead",
        "douche",
        "fag",
        "faggot",
        "fuck",
        "fucker",
        "fucking",
        "fuckwit",
        "idiot",
        "jerk",
        "kill",
        "knob",
        "loser",
        "minger",
        "moron",
        "motherfucker",
        "nazi",
        "nigga",
        "nigger",
        "paedo",
        "pedo",
        "piss",
        "pissed",
        "prick",
        "retard",
        "scum",
        "scumbag",
        "shit",
        "shite",
        "shithead",
        "slag",
        "slut",
        "stupid",
        "twat",
        "wanker",
        "whore",
        "die",
        "dead",
        "hate",
        "scam",
        "bitcoin",
        "crypto",
        "whatsapp",
        "telegram",
        "casino",
        "viagra",
    ]
)
_FORMS = DISGUISED_WORDS | {w + "s" for w in DISGUISED_WORDS if not w.endswith("s")}
_SORTED_FORMS = tuple(sorted(_FORMS))


def clean(text: str) -> str:
    """NFKC, invisible and control characters removed, whitespace collapsed, length capped."""
    # Cap before NFKC as well as after, so a huge input costs no more than a long one.
    text = unicodedata.normalize("NFKC", text[: MAX_CHARS * 2]).translate(_INVISIBLE)
    text = _CONTROL.sub(" ", text)
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]


def mask_contacts(
    text: str, *, url: str = URL_WORD, email: str = EMAIL_WORD, handle: str = HANDLE_WORD
) -> str:
    """E-mail addresses, links and @handles replaced by one word each (in that order)."""
    text = EMAIL_PATTERN.sub(f" {email} ", text)
    text = URL_PATTERN.sub(f" {url} ", text)
    text = _HANDLE.sub(f" {handle} ", text)
    return _SPACE.sub(" ", text).strip()


def normalise(text: str) -> str:
    """The model's view of a text: cleaned, lower case, de-obfuscated, links as tokens."""
    text = mask_contacts(clean(text)).lower()
    text = _SPACED.sub(_join_spaced, text)
    text = _REPEAT.sub(r"\1\1", text)
    text = _WORDISH.sub(_undisguise, text)
    # Emoji stand apart as their own tokens; they carry tone.
    text = _EMOJI.sub(lambda m: f" {m.group(0)} ", text)
    return _SPACE.sub(" ", text).strip()[:MAX_CHARS]


def _join_spaced(match: re.Match[str]) -> str:
    joined = re.sub(r"[ .\-_*]", "", match.group(0))
    if len(joined) >= 4:
        return _known(joined) or joined
    return _known(joined) or match.group(0)


def _undisguise(match: re.Match[str]) -> str:
    word = match.group(0)
    core = word.rstrip("!?.")
    tail = word[len(core) :]
    if not core:
        return word
    if core.isalpha():
        return (_known(core) or core) + tail
    if core.startswith("_") or not any(ch.isalpha() for ch in core):
        return word
    plain = core.translate(_LEET)
    found = _known(plain)
    if found is None and ("*" in core[1:] or "#" in core[1:]):
        parts = re.split(r"[*#]", plain)
        pattern = re.compile("[a-z]".join(re.escape(part) for part in parts) + r"\Z")
        found = next((w for w in _SORTED_FORMS if pattern.match(w)), None)
    return (found or core) + tail


def _known(word: str) -> str | None:
    """The listed word this spells, allowing doubled letters ("shiit" -> "shit")."""
    if word in _FORMS:
        return word
    single = re.sub(r"(.)\1", r"\1", word)
    return single if single in _FORMS else None
