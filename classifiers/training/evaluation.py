"""Per-category scores of a model on labelled examples, and thresholds chosen from them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_auc_score

from classifiers.training.dataset import Example, label_matrix
from records import CATEGORIES

__all__ = [
    "CategoryScore",
    "choose_thresholds",
    "confusions",
    "format_report",
    "recall_cut",
    "score",
    "scores_by_source",
    "source_balanced",
]


@dataclass(frozen=True)
class CategoryScore:
    """Precision, recall, F1, ROC AUC and the confusion counts of one category."""

    category: str
    threshold: float
    support: int
    tp: int
    fp: int
    fn: int
    tn: int
    auc: float | None

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    @property
    def macro_f1(self) -> float:
        """Mean of the F1 of "is" and "is not" (the OffensEval measure)."""
        neg_p = self.tn / (self.tn + self.fn) if self.tn + self.fn else 0.0
        neg_r = self.tn / (self.tn + self.fp) if self.tn + self.fp else 0.0
        neg_f1 = 2 * neg_p * neg_r / (neg_p + neg_r) if neg_p + neg_r else 0.0
        return (self.f1 + neg_f1) / 2

    def as_dict(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 4),
            "support": self.support,
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "macro_f1": round(self.macro_f1, 4),
            "auc": None if self.auc is None else round(self.auc, 4),
            "confusion": {"tp": self.tp, "fp": self.fp, "fn": self.fn, "tn": self.tn},
        }


def score(
    Y: np.ndarray, proba: np.ndarray, thresholds: Mapping[str, float] | None = None
) -> dict[str, CategoryScore]:
    """Scores for each category, cutting probabilities at the given thresholds."""
    thresholds = thresholds or {}
    out: dict[str, CategoryScore] = {}
    for j, category in enumerate(CATEGORIES):
        y, p = Y[:, j].astype(bool), proba[:, j]
        cut = thresholds.get(category, 0.5)
        hit = p >= cut
        auc = float(roc_auc_score(y, p)) if 0 < y.sum() < len(y) else None
        out[category] = CategoryScore(
            category,
            cut,
            int(y.sum()),
            tp=int((hit & y).sum()),
            fp=int((hit & ~y).sum()),
            fn=int((~hit & y).sum()),
            tn=int((~hit & ~y).sum()),
            auc=auc,
        )
    return out


def source_balanced(weights: np.ndarray, sources: Sequence[str]) -> np.ndarray:
    """``weights`` (n, 4) rescaled so that, per category, every source's rows weigh the same
    in total (a source of weak negatives still a fifth of one), at the same mean weight.

    Weighed by count, a cut or a blend serves the largest sources (OLID's 1,300 validation
    tweets outweigh 110 tweets to organisations) and carries over worse to a source it
    has not seen; weighed by source, each register has an equal say.
    """
    out = np.asarray(weights, dtype=np.float64).copy()
    names = np.asarray(sources)
    for j in range(out.shape[1]):
        rows = out[:, j] > 0
        present = np.unique(names[rows])
        for name in present:
            mine = rows & (names == name)
            out[mine, j] *= rows.sum() / (len(present) * mine.sum())
    return out


def choose_thresholds(
    Y: np.ndarray, proba: np.ndarray, weights: np.ndarray | None = None
) -> dict[str, float]:
    """Per category, the cut that maximises F1 on held-out data (0.5 when it has no positives).

    ``weights`` (n, 4) weigh each row's label per category (a weak negative counts less).
    Cuts are kept within [0.05, 0.95]: beyond that a small validation set is overfitted.
    """
    out: dict[str, float] = {}
    for j, category in enumerate(CATEGORIES):
        w = np.ones(len(Y)) if weights is None else weights[:, j]
        rows = w > 0
        y, p = Y[rows, j], proba[rows, j]
        if y.sum() == 0 or y.sum() == len(y):
            out[category] = 0.5
            continue
        precision, recall, cuts = precision_recall_curve(y, p, sample_weight=w[rows])
        f1 = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
        best = int(np.argmax(f1[:-1]))
        out[category] = float(np.clip(cuts[best], 0.05, 0.95))
    return out


def recall_cut(y: np.ndarray, p: np.ndarray, recall: float) -> float:
    """The highest cut that keeps at least ``recall`` of the positives at or above it."""
    positives = np.sort(p[y.astype(bool)])
    if len(positives) == 0:
        return 0.5
    missed = int(np.floor((1.0 - recall) * len(positives)))
    return float(positives[min(missed, len(positives) - 1)])


def confusions(
    Y: np.ndarray, proba: np.ndarray, thresholds: Mapping[str, float]
) -> list[dict[str, Any]]:
    """Which categories get mistaken for which: true category against predicted labels."""
    cut = np.asarray([thresholds.get(c, 0.5) for c in CATEGORIES])
    predicted = proba >= cut
    rows = []
    for i, true_cat in enumerate([*CATEGORIES, "none"]):
        mask = Y[:, i].astype(bool) if i < len(CATEGORIES) else ~Y.astype(bool).any(axis=1)
        counts: dict[str, int] = {
            c: int(predicted[mask, j].sum()) for j, c in enumerate(CATEGORIES)
        }
        counts["none"] = int((~predicted[mask].any(axis=1)).sum())
        rows.append({"true": true_cat, "n": int(mask.sum()), "predicted": counts})
    return rows


def format_report(
    scores: dict[str, CategoryScore], confusion: Sequence[dict[str, Any]] | None = None
) -> str:
    """A plain-text table for the terminal."""
    lines = [
        f"{'category':<16}{'thresh':>7}{'n':>7}{'prec':>7}{'recall':>7}{'f1':>7}"
        f"{'mF1':>7}{'auc':>7}{'tp':>6}{'fp':>6}{'fn':>6}",
    ]
    for s in scores.values():
        auc = "-" if s.auc is None else f"{s.auc:.3f}"
        lines.append(
            f"{s.category:<16}{s.threshold:>7.2f}{s.support:>7}{s.precision:>7.3f}"
            f"{s.recall:>7.3f}{s.f1:>7.3f}{s.macro_f1:>7.3f}{auc:>7}{s.tp:>6}{s.fp:>6}{s.fn:>6}"
        )
    if confusion:
        lines += ["", "confusions (rows: true category, columns: predicted labels)"]
        head = "".join(f"{c[:12]:>14}" for c in [*CATEGORIES, "none"])
        lines.append(f"{'true':<16}{'n':>6}{head}")
        for row in confusion:
            cells = "".join(f"{row['predicted'][c]:>14}" for c in [*CATEGORIES, "none"])
            lines.append(f"{row['true']:<16}{row['n']:>6}{cells}")
    return "\n".join(lines)


def scores_by_source(
    examples: Sequence[Example], proba: np.ndarray, thresholds: Mapping[str, float]
) -> dict[str, Any]:
    """Scores over all the examples and for each source on its own.

    A source says something only about the categories it has positives of. For its texts
    with no label, ``false_alarm_rate_on_none`` is the share that got any label and
    ``service_request_on_none`` the share taken for a request; ``exact_label_set`` is the
    share of its texts whose labels came out exactly right (all four categories).
    """
    Y = label_matrix(examples)
    out: dict[str, Any] = {"all": {c: s.as_dict() for c, s in score(Y, proba, thresholds).items()}}
    cut = np.asarray([thresholds.get(c, 0.5) for c in CATEGORIES])
    predicted = proba >= cut
    for source in sorted({e.source for e in examples}):
        idx = np.asarray([e.source == source for e in examples])
        per = score(Y[idx], proba[idx], thresholds)
        out[source] = {c: s.as_dict() for c, s in per.items() if s.support > 0}
        out[source]["exact_label_set"] = round(
            float((predicted[idx] == Y[idx].astype(bool)).all(axis=1).mean()), 4
        )
        negatives = ~Y[idx].astype(bool).any(axis=1)
        if negatives.any():
            flagged = predicted[idx][negatives]
            out[source]["false_alarm_rate_on_none"] = round(float(flagged.any(axis=1).mean()), 4)
            out[source]["service_request_on_none"] = round(float(flagged[:, 0].mean()), 4)
    return out
