"""The shipped recipe: both models fitted on one split, blended and cut on validation.

1. Split every source and label set 80/10/10 (seeded; see ``pipeline.split``).
2. Fit the linear model and fine-tune the transformer on the 80%.
3. On the validation 10%, through the very code that serves (the transformer saved,
   reloaded and quantised): fit the blend, choose each category's threshold on
   cross-validated blend scores, and the service-request cut for recall >= 0.95.
4. Score each part alone and the combination on the test 10% and on the held-out sets
   (council test file, BANKING77's and the customer-care tweets' own test splits).
5. Write ``model.json``: files and their SHA-256, base package version, thresholds,
   blend, figures, and the command and wall time of the run.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from classifiers import rules
from classifiers.blend import Blend, blend_inputs, rule_counts
from classifiers.shipped import FORMAT, LINEAR_DIR, META_FILE, TRANSFORMER_FILE, file_sha256
from classifiers.trained import MODEL_FILE
from classifiers.training.config import Progress, Recipe
from classifiers.training.dataset import Example, label_matrix, label_weights
from classifiers.training.evaluation import (
    choose_thresholds,
    recall_cut,
    scores_by_source,
    source_balanced,
)
from classifiers.training.pipeline import TrainResult, counts, fit, save, split, word_table
from records import CATEGORIES

if TYPE_CHECKING:
    from classifiers.transformer import Base, TransformerModel


__all__ = ["build", "fit_blend"]


def build(
    examples: Sequence[Example],
    recipe: Recipe,
    out_dir: Path,
    *,
    extra_tests: Mapping[str, Sequence[Example]] = {},
    command: str = "",
    cache_dir: Path | None = None,
    checkpoint_dir: Path | None = None,
    base: Base | None = None,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda _: None,
) -> dict[str, Any]:
    """Train, blend, score and save everything into ``out_dir``; return ``model.json``."""
    started = time.perf_counter()
    train_part, val_part, test_part = split(examples, recipe.seed, recipe.holdout)
    if recipe.transformer and not val_part:
        raise ValueError("the blend needs validation texts: give a holdout above 0")
    say(f"{len(train_part)} to train on, {len(val_part)} to validate, {len(test_part)} to test")

    say("fitting the linear model")
    table = word_table(train_part, recipe.seed, cache_dir) if recipe.word_vectors else None
    linear = fit(train_part, recipe.seed, table)
    out_dir.mkdir(parents=True, exist_ok=True)
    files: dict[str, str] = {}
    served: TransformerModel | None = None
    base_meta: dict[str, str] | None = None
    if recipe.transformer:
        from classifiers.training.finetune import finetune  # lazy: torch
        from classifiers.transformer import BASE_PACKAGE, Base, TransformerModel  # lazy: torch

        base = base or Base.installed()
        base_meta = {"package": BASE_PACKAGE, "version": base.version}
        say(f"fine-tuning the transformer ({recipe.finetune.epochs} epochs)")
        network = finetune(
            train_part, recipe.finetune, base=base, checkpoint_dir=checkpoint_dir, progress=progress
        )
        path = out_dir / TRANSFORMER_FILE
        files[TRANSFORMER_FILE] = network.save(path)
        # Scored through the serving path: saved as float16, reloaded, quantised.
        served = TransformerModel.load(
            path,
            files[TRANSFORMER_FILE],
            base=base,
            threads=recipe.finetune.threads,
            max_tokens=recipe.finetune.max_tokens,
        )

    say("scoring on the held-out texts")
    sets = {"validation": val_part, "test": test_part, **extra_tests}
    proba = {name: _part_proba(served, linear, texts) for name, texts in sets.items() if texts}
    Y, K = label_matrix(val_part), label_weights(val_part)
    B = source_balanced(K, [e.source for e in val_part]) if recipe.weigh_sources else K
    val = proba.get("validation", {})
    blend: Blend | None = None
    if served is not None:
        blend, val["combined"] = fit_blend(val, Y, B, seed=recipe.seed)
        for name, parts in proba.items():
            if name != "validation":
                parts["combined"] = blend.combine(
                    parts["transformer"], parts["linear"], parts["rules"]
                )
    default: dict[str, float] = dict.fromkeys(CATEGORIES, 0.5)
    thresholds = {p: choose_thresholds(Y, val[p], B) if val else default for p in recipe.parts}
    sr = CATEGORIES.index("service_request")
    review_rows = _review_rows(val_part, K[:, sr] == 1, recipe.review_source)
    review_cut = {
        p: min(
            thresholds[p]["service_request"],
            recall_cut(Y[review_rows, sr], val[p][review_rows, sr], recall=recipe.review_recall),
        )
        if val
        else thresholds[p]["service_request"]
        for p in recipe.parts
    }

    linear_meta = {
        "seed": recipe.seed,
        "holdout": recipe.holdout,
        "word_vectors": None
        if table is None
        else {"words": len(table[0]), "dims": int(table[1].shape[1])},
        "thresholds": thresholds["linear"],
    }
    save(TrainResult(linear, thresholds["linear"], linear_meta), out_dir / LINEAR_DIR)
    files[f"{LINEAR_DIR}/{MODEL_FILE}"] = file_sha256(out_dir / LINEAR_DIR / MODEL_FILE)
    scored = {
        name: {p: scores_by_source(sets[name], parts[p], thresholds[p]) for p in recipe.parts}
        for name, parts in proba.items()
        if name != "validation"
    }
    wall = round(time.perf_counter() - started, 1)
    recipe_meta = {
        **{k: v for k, v in asdict(recipe).items() if k != "finetune"},
        "finetune": asdict(recipe.finetune),
    }
    meta: dict[str, Any] = {
        "format": FORMAT,
        "trained_on": datetime.now(UTC).strftime("%Y.%m.%d"),
        "categories": list(CATEGORIES),
        "seed": recipe.seed,
        "holdout": recipe.holdout,
        "base": base_meta,
        "files": files,
        "recipe": recipe_meta,
        # What the thresholds and the blend were tuned on: the serving default.
        "serving": {"int8": True, "max_tokens": recipe.finetune.max_tokens} if served else None,
        "blend": blend.to_json() if blend is not None else None,
        "thresholds": thresholds,
        "review_cut": review_cut,
        "counts": counts(examples, train_part, val_part, test_part),
        "scores": scored,
        "runs": [
            *_earlier_runs(out_dir, recipe_meta),
            {"command": command, "wall_seconds": wall, "finished": _now()},
        ],
    }
    (out_dir / META_FILE).write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return meta


def _earlier_runs(out_dir: Path, recipe: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The runs recorded in ``out_dir`` by the same recipe (a resumed run adds to them)."""
    path = out_dir / META_FILE
    if not path.is_file():
        return []
    try:
        earlier = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return []
    if earlier.get("recipe") != json.loads(json.dumps(recipe)):
        return []
    runs: list[dict[str, Any]] = earlier.get("runs", [])
    return runs


def _review_rows(examples: Sequence[Example], known: np.ndarray, source: str) -> np.ndarray:
    """The validation rows the recall-first cut is chosen on: ``source``'s, when it has
    enough requests to say anything (ten), else every row labelled for requests."""
    mine = known & np.asarray([e.source == source for e in examples], dtype=bool)
    asks = np.asarray(["service_request" in e.labels for e in examples], dtype=bool)
    return mine if (mine & asks).sum() >= 10 else known


def _part_proba(
    transformer: TransformerModel | None, linear: Any, examples: Sequence[Example]
) -> dict[str, np.ndarray]:
    texts = [e.text for e in examples]
    out = {"linear": linear.predict_proba(texts)}
    if transformer is not None:
        out["transformer"] = transformer.predict_proba(texts)
        out["rules"] = rule_counts([rules.find(t) for t in texts])
    return out


def fit_blend(
    parts: Mapping[str, np.ndarray], Y: np.ndarray, weights: np.ndarray, *, seed: int = 0
) -> tuple[Blend, np.ndarray]:
    """The blend fitted on all of ``parts`` (rows weighed by ``label_weights``), and 5-fold
    cross-validated blend scores.

    The thresholds are chosen on the cross-validated scores: scores of a blend fitted on
    the same texts would be a little too sure of themselves.
    """
    coef: dict[str, tuple[float, ...]] = {}
    intercept: dict[str, float] = {}
    out = np.zeros(Y.shape)
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=seed)
    for j, category in enumerate(CATEGORIES):
        X = blend_inputs(parts["transformer"], parts["linear"], parts["rules"], j)
        rows = np.flatnonzero(weights[:, j] > 0)
        y, w = Y[rows, j], weights[rows, j]
        whole = LogisticRegression(C=1.0, max_iter=1000).fit(X[rows], y, sample_weight=w)
        coef[category] = tuple(float(v) for v in whole.coef_[0])
        intercept[category] = float(whole.intercept_[0])
        out[:, j] = whole.predict_proba(X)[:, 1]
        for fit_rows, held_rows in folds.split(rows, y):
            fold = LogisticRegression(C=1.0, max_iter=1000).fit(
                X[rows[fit_rows]], y[fit_rows], sample_weight=w[fit_rows]
            )
            out[rows[held_rows], j] = fold.predict_proba(X[rows[held_rows]])[:, 1]
    return Blend(coef, intercept), out


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
