"""Combining the parts per category: the transformer, the linear model and the rules.

One logistic regression per category over the parts' logits and three rule counts,
fitted on validation texts that neither model was trained on (stacking), so its output
is a calibrated probability. The coefficients are a handful of numbers kept in
``model.json``; serving needs only numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from classifiers.rules import Findings
from records import CATEGORIES

__all__ = ["FEATURES", "Blend", "blend_inputs", "logit", "rule_counts"]

FEATURES = ("transformer", "linear", "links", "spam_markers", "threat")
"""The inputs of each category's regression, in order."""


def logit(p: np.ndarray) -> np.ndarray:
    clipped = np.clip(np.asarray(p, dtype=np.float64), 1e-4, 1 - 1e-4)
    result: np.ndarray = np.log(clipped / (1 - clipped))
    return result


def rule_counts(findings: Sequence[Findings]) -> np.ndarray:
    """(n, 3): links (at most 3), spam markers (at most 4) and whether a threat was found."""
    return np.asarray(
        [[min(f.links, 3), min(len(f.spam_markers), 4), float(bool(f.threats))] for f in findings],
        dtype=np.float64,
    ).reshape(len(findings), 3)


def blend_inputs(
    transformer: np.ndarray, linear: np.ndarray, rules: np.ndarray, j: int
) -> np.ndarray:
    """The regression inputs of category ``j``: both logits, then the rule counts."""
    return np.column_stack([logit(transformer[:, j]), logit(linear[:, j]), rules])


@dataclass(frozen=True)
class Blend:
    """Per category, the coefficients over ``FEATURES`` and an intercept."""

    coef: Mapping[str, tuple[float, ...]]
    intercept: Mapping[str, float]

    def __post_init__(self) -> None:
        for category in CATEGORIES:
            if len(self.coef.get(category, ())) != len(FEATURES) or category not in self.intercept:
                raise ValueError(f"blend: {category} needs {len(FEATURES)} coefficients")

    def combine(self, transformer: np.ndarray, linear: np.ndarray, rules: np.ndarray) -> np.ndarray:
        """(n, 4) probabilities from the parts' (n, 4) probabilities and the rule counts."""
        out = np.zeros((len(rules), len(CATEGORIES)))
        for j, category in enumerate(CATEGORIES):
            z = blend_inputs(transformer, linear, rules, j) @ np.asarray(self.coef[category])
            out[:, j] = 1.0 / (1.0 + np.exp(-(z + self.intercept[category])))
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "features": list(FEATURES),
            "coef": {c: [round(v, 6) for v in self.coef[c]] for c in CATEGORIES},
            "intercept": {c: round(self.intercept[c], 6) for c in CATEGORIES},
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Blend:
        if list(data.get("features", ())) != list(FEATURES):
            raise ValueError(f"blend features {data.get('features')} are not {list(FEATURES)}")
        return cls(
            coef={c: tuple(float(v) for v in data["coef"][c]) for c in CATEGORIES},
            intercept={c: float(data["intercept"][c]) for c in CATEGORIES},
        )
