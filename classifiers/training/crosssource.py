"""Cross-source checks: train without one data set, then score the model on that data set.

A model that learnt a source's style instead of its category scores well on held-out
texts of the same source and badly here. Only the category a source is labelled for is
scored, with the thresholds of the model being checked. To keep the run to minutes on
two cores, each model is fitted on a seeded share of the remaining texts, and all share
one word-vector table (its word list comes from every text, so a held-out source's words
have vectors; no labels are involved).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from classifiers.training.dataset import Example, label_matrix
from classifiers.training.evaluation import score
from classifiers.training.pipeline import fit, word_table
from classifiers.training.sources import council, load_shared
from records import CATEGORIES

# Each held-out source and the categories it is evidence for.
HELD_OUT: dict[str, tuple[str, ...]] = {
    "olid": ("abusive",),
    "davidson": ("abusive",),
    "jigsaw": ("abusive",),
    "constraint": ("misinformation",),
    "coaid": ("misinformation",),
    "fixmystreet": ("service_request",),
    "youtube": ("spam",),
    "council": CATEGORIES,
}


def cross_source(
    shared: Path,
    thresholds: Mapping[str, float],
    *,
    seed: int = 0,
    sources: Sequence[str] = tuple(HELD_OUT),
    train_share: float = 0.5,
    max_test: int = 2000,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[str, dict[str, Any]]:
    """For each source: scores of a model trained on everything else (council examples too)."""
    everything = load_shared(shared, seed=seed) + council("train")
    rng = random.Random(seed)  # noqa: S311 - sampling, not security
    progress("building the word-vector table")
    table = word_table(everything, seed, cache_dir)
    results: dict[str, dict[str, Any]] = {}
    for source in sources:
        rest = [e for e in everything if e.source != source]
        rest = rng.sample(rest, round(len(rest) * train_share))
        progress(f"training without {source} on {len(rest)} texts")
        model = fit(rest, seed, table)
        test: list[Example] = [e for e in everything if e.source == source]
        if len(test) > max_test:
            test = rng.sample(test, max_test)
        proba = model.predict_proba([e.text for e in test])
        scores = score(label_matrix(test), proba, thresholds)
        results[source] = {c: scores[c].as_dict() for c in HELD_OUT[source]}
    return results
