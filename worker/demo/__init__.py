"""The demo's bundled sample feed: invented comments that `triage demo` replays.

`sample_feed.jsonl` holds Comment templates without timestamps; each has an
``offset_minutes`` (minutes relative to the moment of replay, negative for the past)
that the replay turns into ``created_at`` and ``received_at``.
`sample_feed_labels.jsonl` holds the expected labels of each resident's comment, by id,
so that the feed itself stays pure Comment templates.
"""

from __future__ import annotations

from pathlib import Path

SAMPLE_FEED = Path(__file__).resolve().with_name("sample_feed.jsonl")
SAMPLE_FEED_LABELS = Path(__file__).resolve().with_name("sample_feed_labels.jsonl")

__all__ = ["SAMPLE_FEED", "SAMPLE_FEED_LABELS"]
