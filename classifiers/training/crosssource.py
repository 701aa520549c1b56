"""Cross-source checks: train without one data set, then score the model on that data set.

A model that learnt a source's style instead of its category scores well on held-out
texts of the same source and badly here. Only the categories a source is labelled for
are scored.

Fine-tuning once per left-out source would take hours on two cores, so this uses a
stated reduced recipe: the transformer part is the pretrained encoder left frozen, its
pooled vectors computed once for every text, with one logistic regression per category
on top (weighed as in fine-tuning); the linear model is fitted on a seeded half of the
remaining texts; the two are blended, and cut, on the remaining texts' validation part.
The full recipe reads better than this one, so these figures are a lower bound on how
the shipped model carries over.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from sklearn.linear_model import LogisticRegression

from classifiers import rules
from classifiers.blend import rule_counts
from classifiers.training.dataset import Example, label_matrix, label_weights
from classifiers.training.evaluation import choose_thresholds, score, source_balanced
from classifiers.training.pipeline import fit, split, word_table
from classifiers.training.recipe import fit_blend
from classifiers.training.sources import council, load_shared
from records import CATEGORIES

__all__ = ["HELD_OUT", "cross_source", "frozen_vectors", "mix", "seed_spread"]

# Each held-out source and the categories it is evidence for.
HELD_OUT: Mapping[str, tuple[str, ...]] = {
    "olid": ("abusive",),
    "davidson": ("abusive",),
    "jigsaw": ("abusive",),
    "constraint": ("misinformation",),
    "coaid": ("misinformation",),
    "fixmystreet": ("service_request",),
    "banking77": ("service_request",),
    "customer-care": ("service_request",),
    "youtube": ("spam",),
    "council": CATEGORIES,
}


def frozen_vectors(texts: Sequence[str], cache_dir: Path | None = None) -> np.ndarray:
    """Pooled vectors of the pretrained encoder for each text (cached by the texts)."""
    from classifiers.transformer import Base, Network, TransformerModel  # lazy: torch

    base = Base.installed()
    key = hashlib.sha256(("\n".join(texts) + base.version).encode()).hexdigest()[:16]
    cache = cache_dir / f"frozen-{key}.npy" if cache_dir is not None else None
    if cache is not None and cache.is_file():
        cached: np.ndarray = np.load(cache)
        return cached
    encoder = TransformerModel(Network.from_base(base), base.tokenizer(), "frozen")
    vectors = encoder.embed(texts, batch_size=64)
    if cache is not None:
        cache.parent.mkdir(parents=True, exist_ok=True)
        np.save(cache, vectors)
    return vectors


def _heads(
    X: np.ndarray, Y: np.ndarray, weights: np.ndarray, seed: int
) -> list[LogisticRegression]:
    heads = []
    for j in range(len(CATEGORIES)):
        rows = weights[:, j] > 0
        head = LogisticRegression(C=1.0, max_iter=2000, class_weight="balanced", random_state=seed)
        heads.append(head.fit(X[rows], Y[rows, j], sample_weight=weights[rows, j]))
    return heads


def _proba(heads: list[LogisticRegression], X: np.ndarray) -> np.ndarray:
    return np.column_stack([h.predict_proba(X)[:, 1] for h in heads])


class _Encoded:
    """Every text of the mix with its frozen-encoder vector, rule counts and word table."""

    def __init__(
        self,
        examples: Sequence[Example],
        seed: int,
        cache_dir: Path | None,
        progress: Callable[[str], None],
    ) -> None:
        self.examples = list(examples)
        progress(f"encoding {len(self.examples)} texts with the frozen encoder")
        self.vectors = frozen_vectors([e.text for e in self.examples], cache_dir)
        self.index = {id(e): i for i, e in enumerate(self.examples)}
        self.found = rule_counts([rules.find(e.text) for e in self.examples])
        progress("building the word-vector table")
        self.table = word_table(self.examples, seed, cache_dir)

    def parts(
        self, heads: list[LogisticRegression], linear: Any, part: Sequence[Example]
    ) -> dict[str, np.ndarray]:
        rows = np.asarray([self.index[id(e)] for e in part])
        return {
            "transformer": _proba(heads, self.vectors[rows]),
            "linear": linear.predict_proba([e.text for e in part]),
            "rules": self.found[rows],
        }


class _Reduced:
    """The reduced recipe fitted on one training part, blended and cut on its validation."""

    PARTS = (("transformer", "frozen_encoder"), ("linear", "linear"), ("combined", "combined"))

    def __init__(
        self,
        encoded: _Encoded,
        train: Sequence[Example],
        val: Sequence[Example],
        seed: int,
        linear_share: float,
        *,
        weigh_sources: bool = False,
    ) -> None:
        rng = random.Random(seed)  # noqa: S311 - sampling, not security
        rows = np.asarray([encoded.index[id(e)] for e in train])
        self.encoded = encoded
        self.heads = _heads(encoded.vectors[rows], label_matrix(train), label_weights(train), seed)
        self.linear = fit(
            rng.sample(list(train), round(len(train) * linear_share)), seed, encoded.table
        )
        on_val = encoded.parts(self.heads, self.linear, val)
        Y = label_matrix(val)
        B = label_weights(val)
        if weigh_sources:
            B = source_balanced(B, [e.source for e in val])
        self.blend, on_val["combined"] = fit_blend(on_val, Y, B, seed=seed)
        self.cuts = {part: choose_thresholds(Y, on_val[part], B) for part, _ in self.PARTS}

    def score(
        self, examples: Sequence[Example], categories: Sequence[str]
    ) -> dict[str, dict[str, Any]]:
        """Each part's scores (as dicts) for ``categories`` on ``examples``."""
        got = self.encoded.parts(self.heads, self.linear, examples)
        got["combined"] = self.blend.combine(got["transformer"], got["linear"], got["rules"])
        Y = label_matrix(examples)
        out: dict[str, dict[str, Any]] = {}
        for part, name in self.PARTS:
            scores = score(Y, got[part], self.cuts[part])
            out[name] = {c: scores[c].as_dict() for c in categories}
        return out


def mix(shared: Path, seed: int = 0) -> list[Example]:
    """The standard training mix: the public sets, sampled with ``seed``, and the council's."""
    return load_shared(shared, seed=seed) + council("train")


def cross_source(
    examples: Sequence[Example],
    *,
    seed: int = 0,
    held_out: Mapping[str, Sequence[str]] = HELD_OUT,
    linear_share: float = 0.5,
    max_test: int = 2000,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
    weigh_sources: bool = False,
) -> dict[str, dict[str, dict[str, Any]]]:
    """For each source of ``held_out``: each part's and the blend's scores on its
    categories when trained on everything else."""
    encoded = _Encoded(examples, seed, cache_dir, progress)
    rng = random.Random(seed)  # noqa: S311 - sampling, not security
    results: dict[str, dict[str, dict[str, Any]]] = {}
    for source in held_out:
        rest = [e for e in encoded.examples if e.source != source]
        held: list[Example] = [e for e in encoded.examples if e.source == source]
        if len(held) > max_test:
            held = rng.sample(held, max_test)
        train, val, _ = split(rest, seed, 0.1)
        progress(f"without {source}: {len(train)} texts to train on, {len(held)} to score")
        model = _Reduced(encoded, train, val, seed, linear_share, weigh_sources=weigh_sources)
        results[source] = model.score(held, held_out[source])
    return results


def seed_spread(
    examples: Sequence[Example],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    held_out: Mapping[str, Sequence[str]] = HELD_OUT,
    linear_share: float = 0.5,
    cache_dir: Path | None = None,
    progress: Callable[[str], None] = lambda _: None,
) -> dict[int, dict[str, dict[str, dict[str, Any]]]]:
    """The reduced recipe once per seed (split, sampling and fits), each scored on its own
    held-out part of every source: seed -> source -> part -> category -> scores.

    The texts are the same each time, so the frozen vectors are computed once.
    """
    encoded = _Encoded(examples, seeds[0], cache_dir, progress)
    spread: dict[int, dict[str, dict[str, dict[str, Any]]]] = {}
    for seed in seeds:
        train, val, test = split(encoded.examples, seed, 0.1)
        progress(f"seed {seed}: {len(train)} texts to train on, {len(test)} to score")
        model = _Reduced(encoded, train, val, seed, linear_share)
        spread[seed] = {
            source: model.score(held, categories)
            for source, categories in held_out.items()
            if (held := [e for e in test if e.source == source])
        }
    return spread
