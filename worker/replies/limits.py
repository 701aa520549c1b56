"""How long a reply each platform takes, counted as the platform counts, so that the tool
refuses an over-long reply before it is queued rather than the platform after.

Where the figures come from:
- X: a post holds 280 characters by X's weighting: code points in four ranges (Latin-1
  and the general punctuation X lists) weigh 1, every other code point 2, and every URL
  23 whatever its length, after NFC normalisation (docs.x.com/fundamentals/counting-
  characters). X points to its twitter-text library; its Python port needs setuptools'
  pkg_resources at import, so the few rules are applied here instead. An emoji sequence
  joined by ZWJ weighs 2 on X but more here: such a reply is refused a little early,
  never sent too long.
- Mastodon: 500 characters by default, set per server (the instance's
  ``configuration.statuses.max_characters`` in GET /api/v2/instance), so it is the
  setting TRIAGE_MASTODON_MAX_CHARACTERS; a URL counts as 23 there too
  (``characters_reserved_per_url``).
- Facebook comments 8,000 and Instagram comments 2,200 characters: Meta's Graph API
  reference for POST /{comment-id}/comments and /{ig-comment-id}/replies states none, so
  these are the limits social-posting tools apply to those endpoints (for example the
  per-platform maximums listed by HighLevel's Social Planner API).
- Private messages: Messenger (Facebook and Instagram private replies) takes 2,000
  characters of text, as Messenger SDKs enforce (TEXT_MESSAGE_MAX_CHARS); an X direct
  message 10,000; a private Mastodon reply is a direct status, with the status limit.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["URL_WEIGHT", "X_LIMIT", "limit_for", "too_long", "weighted_length"]

X_LIMIT = 280
URL_WEIGHT = 23
_X_LIGHT = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
_URL = re.compile(r"https?://\S+", re.IGNORECASE)
_PUBLIC = {"facebook": 8_000, "instagram": 2_200, "x": X_LIMIT}
_PRIVATE = {"facebook": 2_000, "instagram": 2_000, "x": 10_000}


def _x_weight(char: str) -> int:
    point = ord(char)
    return 1 if any(low <= point <= high for low, high in _X_LIGHT) else 2


def weighted_length(platform: str, text: str) -> int:
    """The reply's length as ``platform`` counts it (URLs as 23 on X and Mastodon)."""
    text = unicodedata.normalize("NFC", text)
    if platform not in ("x", "mastodon"):
        return len(text)
    urls = _URL.findall(text)
    rest = _URL.sub("", text)
    if platform == "x":
        return len(urls) * URL_WEIGHT + sum(_x_weight(c) for c in rest)
    return len(urls) * URL_WEIGHT + len(rest)


def limit_for(platform: str, *, private: bool, mastodon_max: int) -> int | None:
    """The most a reply may hold on ``platform`` (None: no limit known)."""
    if platform == "mastodon":
        return mastodon_max
    return (_PRIVATE if private else _PUBLIC).get(platform)


def too_long(platform: str, text: str, *, private: bool, mastodon_max: int) -> str | None:
    """Why the reply is too long for the platform, or None when it fits."""
    limit = limit_for(platform, private=private, mastodon_max=mastodon_max)
    if limit is None:
        return None
    length = weighted_length(platform, text)
    if length <= limit:
        return None
    where = "a private message" if private and platform != "mastodon" else "a reply"
    counted = " as the platform counts them" if platform in ("x", "mastodon") else ""
    return (
        f"the reply is {length:,} characters{counted}, and {where} on {platform} takes at most "
        f"{limit:,}: shorten it by {length - limit:,}"
    )
