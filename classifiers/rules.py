"""Rules that need no training: spam markers, personal data, emergency and threat wording.

Everything here is a pure function of the text. Findings name the kind of thing found;
evidence shown to officers goes through :func:`redact` so personal data never leaves
the post it was written in.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from urllib.parse import urlsplit

from classifiers.normalise import EMAIL_PATTERN, URL_PATTERN, clean, normalise

RULES_VERSION = "rules-1"

# Link shorteners that hide where a link goes. X's own t.co wrapper is left out: every
# link posted there goes through it.
SHORTENERS = frozenset(
    {
        "bit.ly", "tinyurl.com", "goo.gl", "ow.ly", "is.gd", "buff.ly", "rebrand.ly",
        "cutt.ly", "shorturl.at", "tiny.cc", "rb.gy", "lnkd.in", "t.ly", "s.id", "v.gd",
        "shorte.st", "adf.ly", "bl.ink", "qr.ae", "tr.im", "soo.gd", "x.co", "wa.me",
    }
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Match:
    """One rule hit: the kind, and where it sits in the cleaned text."""

    kind: str
    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Findings:
    """What the rules found in one text.

    Personal data positions refer to ``text`` (cleaned, case kept); emergency and threat
    positions refer to ``normalised`` (lower case, disguises undone).
    """

    text: str
    normalised: str
    links: int
    shorteners: int
    spam_markers: tuple[str, ...]
    personal_data: tuple[Match, ...]
    emergency: tuple[Match, ...]
    threats: tuple[Match, ...]

    @property
    def personal_data_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.kind for m in self.personal_data))

    @property
    def emergency_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.kind for m in self.emergency))

    @property
    def threat_kinds(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(m.kind for m in self.threats))


def _rx(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE)


# --- personal data (searched in the cleaned text, case kept) -------------------------

_PHONE = _rx(r"(?<![\w+])(?:\+44\s?\(?0?\)?\s?|0044\s?|\(?0)\d{2,4}\)?(?:[\s-]?\d){6,8}(?!\d)")
_POSTCODE = _rx(r"\b[A-Z]{1,2}\d[A-Z\d]?\s*\d[ABD-HJLNP-UW-Z]{2}\b")
_HOUSE_NUMBER = _rx(
    r"(?:\b(?:no\.?|number|flat|house|apartment|apt\.?|unit)\s*\d{1,4}[a-z]?\b"
    r"|\b\d{1,4}[a-z]?,?\s+(?:[a-z'-]+\s+){0,3}"
    r"(?:road|rd|street|st|avenue|ave|lane|ln|close|drive|dr|way|court|ct|crescent|place|pl"
    r"|gardens|grove|terrace|hill|green|walk|mews|row|square|park|view|rise|end|croft)\b)"
)
_NI_NUMBER = _rx(r"\b[A-CEGHJ-PR-TW-Z][A-CEGHJ-NPR-TW-Z]\s?\d{2}\s?\d{2}\s?\d{2}\s?[A-D]\b")
_REFERENCE = _rx(
    r"\b(?:ref(?:erence)?|account|acc|a/c|case|claim|council\s+tax|booking|application|"
    r"customer)\s*(?:no\.?|number|num|id)?\s*[:#]?\s*(?=[a-z]{0,4}\d)[a-z]{0,4}[\d/-]{6,14}\b"
)
_CARD = re.compile(r"(?<!\d)(?:\d[ -]?){12,18}\d(?!\d)")

# --- emergency and threat wording (searched in the normalised, lower-case text) ----

_EMERGENCY: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("gas_leak", _rx(r"\bgas leak|\bsmell(?:s|ing)? (?:of )?gas\b|\bleaking gas\b")),
    (
        "flooding",
        _rx(
            r"\bflood(?:ed|ing|s)?\b|\bburst (?:water )?(?:main|pipe)\b"
            r"|\bwater (?:is )?(?:pouring|gushing|coming) (?:in|into|through)\b"
            r"|\bsewage (?:is )?(?:flooding|overflowing|everywhere|coming)"
        ),
    ),
    (
        "fire",
        _rx(
            r"\bon fire\b|\b(?:house|building|flat|car|bin|grass) fire\b|\bfire (?:in|at|near|on|"
            r"spreading)\b|\bflames\b|\bblaze\b|\bsmoke (?:is )?(?:pouring|coming|everywhere)"
        ),
    ),
    (
        "someone_hurt",
        _rx(
            r"\b(?:someone|somebody|a man|a woman|a child|a kid|a person|people|he|she|they)"
            r"(?: is| has| was|'s)?(?: been)? (?:hurt|injured|bleeding|unconscious|collapsed|"
            r"not breathing|hit by)\b|\bcall(?:ed)? (?:an |for an )?ambulance\b"
        ),
    ),
    (
        "danger_to_life",
        _rx(
            r"\bdanger to life\b|\bdangerous structure\b|\blive (?:wire|cable)s?\b"
            r"|\bexposed (?:wires|wiring|cables)\b"
            r"|\b(?:wall|tree|roof|building|scaffolding|ceiling) (?:is )?"
            r"(?:collapsing|about to (?:fall|collapse)|fell on|has collapsed)"
            r"|\bsinkhole\b|\bcarbon monoxide\b"
        ),
    ),
    (
        "child_at_risk",
        _rx(
            r"\b(?:child|children|kid|kids|baby|toddler)\b[^.!?]{0,20}\b(?:at risk|in danger|"
            r"left alone|abused|being hurt|neglected|missing)\b|\bsafeguarding\b|\bmissing child\b"
        ),
    ),
    (
        "self_harm",
        _rx(
            r"\bkill(?:ing)? myself\b|\bend (?:it all|my life)\b|\bsuicid|\bself[- ]harm"
            r"|\bwant to die\b|\btake my own life\b|\bhurt(?:ing)? myself\b"
            r"|\bno reason to live\b"
        ),
    ),
)

_THREATS: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "violence",
        _rx(
            r"\b(?:i|we)(?:'ll| will|'m going to| am going to| are going to|'re going to|m gonna|"
            r"'m gonna| gonna|'d| would) (?:kill|hurt|stab|shoot|smash|batter|beat|punch|burn|"
            r"slash|strangle|kick|knock|break|deal with|come for) (?:you|u|ya|him|her|them|"
            r"your|his|their|every)"
            r"|\bgive (?:you|u|him|her|them|that \w+(?: \w+)?) a (?:good )?"
            r"(?:hiding|kicking|beating)"
            r"|\b(?:knock|kick) (?:your|his|her|their) (?:teeth|head|face)"
        ),
    ),
    ("stalking", _rx(r"\b(?:i|we) know where (?:you|u|he|she|they) (?:live|work)s?\b")),
    ("intimidation", _rx(r"\bwatch your back\b|\byou(?:'ll| will) (?:regret|pay for) (?:this|it)")),
    (
        "wishing_harm",
        _rx(
            r"\bdeserves? to (?:die|be shot|be killed|be hanged|be strung up|be lynched)\b"
            r"|\b(?:should|ought to|needs? to) be (?:shot|killed|hanged|strung up|lynched)\b"
            r"|\bkill yourself\b|\bkys\b|\bhope (?:you|u|he|she|they) die"
        ),
    ),
    (
        "attack_on_property",
        _rx(
            r"\b(?:burn|blow up|bomb|torch) (?:down )?(?:the |your |their )?(?:council|offices|"
            r"town hall|house|home|car)\b"
        ),
    ),
)

# --- spam (searched in the cleaned text, case ignored) ------------------------------

_SPAM: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "money_lure",
        _rx(
            r"\b(?:earn|make|making|win|won|claim|paid|profit)\b[^.!?\n]{0,30}[£$€]\s?\d"
            r"|[£$€]\s?\d[\d,.]*k?\s*(?:a|per|every|/)\s*(?:day|week|hour|month)\b"
            r"|\bfree (?:money|cash|gift|iphone|prize|giveaway)|\byou(?:'ve| have) (?:won|been "
            r"selected)|\bclaim your (?:prize|reward|gift)|\bcash prize|\bwork(?:ing)? from home\b"
            r"|\bpassive income\b|\bget rich\b|\bloan (?:approved|offer)"
            r"|\bfinancial(?:ly)? free(?:dom)?\b|\bjoin my team\b|\bbe your own boss\b"
        ),
    ),
    (
        "phishing",
        _rx(
            r"\b(?:verify|confirm|update) your (?:bank|account|details|payment|card|identity)"
            r"|\bavoid (?:disconnection|prosecution|a penalty|penalties|suspension|a fine)\b"
            r"|\b(?:refund|rebate|grant|compensation)\b[^.!?\n]{0,60}\b(?:apply|claim|verify|"
            r"register)\b[^.!?\n]{0,15}\b(?:here|now|today|at|via)\b"
            r"|\b(?:your )?(?:account|parcel|package|licence|bill)\b[^.!?\n]{0,30}"
            r"\b(?:suspended|on hold|overdue|expired)\b"
        ),
    ),
    (
        "advert",
        _rx(
            r"\b\d{1,2}% off\b|\bfree delivery\b|\border (?:now|today|yours|on our)\b"
            r"|\b(?:discount|promo|voucher) code\b|\bdaily (?:deals|discounts)\b"
            r"|\blimited time offer\b|\bbuy (?:now|today)\b"
        ),
    ),
    (
        "dating_lure",
        _rx(
            r"\b(?:lonely|single|hot|horny) (?:and|&) (?:local|lonely|single)\b"
            r"|\blocal (?:singles|girls|ladies|women)\b|\bsee my (?:pics|photos|pictures)\b"
            r"|\b(?:check|visit) my profile\b"
            r"|\bfancy a (?:chat|date)\b[^.!?\n]{0,40}\b(?:profile|pics)\b"
        ),
    ),
    (
        "crypto",
        _rx(
            r"\bbitcoin|\bbtc\b|\bcrypto|\bforex\b|\bbinary options?\b|\bnft\b"
            r"|\binvestment (?:opportunity|platform|manager)|\btrading (?:account|expert|platform)"
            r"|\busdt\b|\bethereum\b"
        ),
    ),
    (
        "contact_off_platform",
        _rx(
            r"\b(?:whats\s?app|telegram|wa\.me|signal app|kik|snapchat)\b[^.!?\n]{0,25}"
            r"(?:\+?\d[\d ]{6,}|me\b|us\b|@)"
            r"|\b(?:contact|message|text|dm|inbox|reach|chat with|write to) (?:me|us|him|her)\b"
            r"[^.!?\n]{0,30}\b(?:whats\s?app|telegram|wa\.me|gmail|hotmail|\+\d)"
            r"|\binbox me\b|\bdm me for\b"
        ),
    ),
    (
        "self_promotion",
        _rx(
            r"\b(?:check out|subscribe to|visit|follow|like) (?:my|our) (?:new )?(?:channel|page|"
            r"profile|video|videos|website|site|account|music|song)\b|\bsubscribe\b|\bsub4sub\b"
            r"|\bfollow (?:for|4) follow\b|\bclick (?:the |this |my )?link\b"
            r"|\blink in (?:my )?bio\b"
            r"|\bplease (?:share|like) (?:my|this)\b|\bfollow @\w+ for\b"
        ),
    ),
)

_WORD = re.compile(r"\w+")

LURES = frozenset(
    {"money_lure", "crypto", "phishing", "contact_off_platform", "advert", "dating_lure"}
)


def find(text: str) -> Findings:
    """Run every rule over one text."""
    cleaned = clean(text)
    lowered = normalise(cleaned)
    urls = [m.group(0) for m in URL_PATTERN.finditer(cleaned)]
    shorteners = sum(1 for url in urls if _host(url) in SHORTENERS)
    markers = [kind for kind, pattern in _SPAM if pattern.search(cleaned)]
    if shorteners:
        markers.insert(0, "shortener")
    if len(urls) >= 2:
        markers.append("many_links")
    if _repetitive(lowered):
        markers.append("repeated_text")
    if urls and LURES.intersection(markers):
        markers.append("lure_link")  # a lure that points somewhere is the classic shape
    return Findings(
        text=cleaned,
        normalised=lowered,
        links=len(urls),
        shorteners=shorteners,
        spam_markers=tuple(markers),
        personal_data=_personal_data(cleaned),
        emergency=_matches(_EMERGENCY, lowered),
        threats=_matches(_THREATS, lowered),
    )


def redact(text: str) -> str:
    """The text with every piece of personal data replaced by its kind in brackets."""
    matches = sorted(_personal_data(text, all_postcodes=True), key=lambda m: m.start)
    out: list[str] = []
    pos = 0
    for match in matches:
        if match.start < pos:
            continue
        out.append(text[pos : match.start])
        out.append(f"[{match.kind.replace('_', ' ')}]")
        pos = match.end
    out.append(text[pos:])
    return "".join(out)


def excerpt(text: str, start: int = 0, end: int | None = None, width: int = 60) -> str:
    """A short, redacted piece of ``text`` around ``start:end`` for a reason's evidence."""
    end = start if end is None else end
    lo, hi = max(0, start - width), min(len(text), end + width)
    # Redact the whole text first so a phone number cut in half is still hidden.
    left, middle, right = text[:lo], text[lo:hi], text[hi:]
    piece = redact(_tail_word(left) + middle + _head_word(right)).strip()
    prefix = "…" if lo > 0 else ""
    suffix = "…" if hi < len(text) else ""
    return f"{prefix}{piece}{suffix}"


def _tail_word(text: str) -> str:
    match = re.search(r"\S*$", text)
    return match.group(0) if match else ""


def _head_word(text: str) -> str:
    match = re.match(r"\S*", text)
    return match.group(0) if match else ""


def _host(url: str) -> str:
    if "://" not in url:
        url = "http://" + url
    try:
        host = urlsplit(url).hostname or ""
    except ValueError:
        return ""
    return host.removeprefix("www.")


def _matches(rules: tuple[tuple[str, re.Pattern[str]], ...], text: str) -> tuple[Match, ...]:
    found = []
    for kind, pattern in rules:
        match = pattern.search(text)
        if match:
            found.append(Match(kind, match.start(), match.end()))
    return tuple(found)


def _personal_data(text: str, *, all_postcodes: bool = False) -> tuple[Match, ...]:
    found: list[Match] = []
    found += [Match("email", m.start(), m.end()) for m in EMAIL_PATTERN.finditer(text)]
    found += [Match("phone", m.start(), m.end()) for m in _PHONE.finditer(text)]
    found += [Match("ni_number", m.start(), m.end()) for m in _NI_NUMBER.finditer(text)]
    found += [Match("reference", m.start(), m.end()) for m in _REFERENCE.finditer(text)]
    found += [
        Match("card_number", m.start(), m.end())
        for m in _CARD.finditer(text)
        if _luhn(re.sub(r"\D", "", m.group(0)))
    ]
    # A postcode alone places a pothole; with a house number it places a person.
    postcodes = list(_POSTCODE.finditer(text))
    houses = list(_HOUSE_NUMBER.finditer(text))
    if postcodes and (houses or all_postcodes):
        found += [Match("address", m.start(), m.end()) for m in houses]
        found += [Match("postcode", m.start(), m.end()) for m in postcodes]
    return tuple(_drop_overlaps(found))


def _drop_overlaps(matches: list[Match]) -> list[Match]:
    kept: list[Match] = []
    for match in matches:  # earlier kinds win (an e-mail is not also a reference)
        if all(match.end <= k.start or match.start >= k.end for k in kept):
            kept.append(match)
    return kept


def _luhn(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = int(ch) * (2 if i % 2 else 1)
        total += n - 9 if n > 9 else n
    return len(digits) >= 13 and total % 10 == 0


def _repetitive(text: str) -> bool:
    words = _WORD.findall(text)
    if len(words) < 12:
        return False
    top = Counter(words).most_common(1)[0][1]
    return len(set(words)) / len(words) < 0.35 or top >= max(6, len(words) // 3)
