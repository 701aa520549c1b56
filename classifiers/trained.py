"""The trained model: a multi-label text classifier with calibrated probabilities.

``MultiLabelTextClassifier`` is the scikit-learn estimator that ``triage train`` fits;
``TrainedModel`` is what serving loads from ``classifiers/model/``: the estimator (saved
with skops, never a bare pickle), the per-category thresholds chosen on held-out data and
the training metadata.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.special import expit
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.utils.validation import check_is_fitted

from classifiers.features import build_features
from records import CATEGORIES

__all__ = ["META_FILE", "MODEL_FILE", "ModelError", "MultiLabelTextClassifier", "TrainedModel"]

MODEL_FILE = "model.skops"
META_FILE = "model.json"

# The types of ours a saved model may contain (skops trusts scikit-learn's and numpy's own).
# Loading refuses any other type, so a tampered file cannot run code.
TRUSTED_TYPES: tuple[str, ...] = (
    "classifiers.trained.MultiLabelTextClassifier",
    "classifiers.trained.CompactLogisticRegression",
    "classifiers.features.CompactTfidf",
    "classifiers.features.HandFeatures",
    "classifiers.features.Normaliser",
    "classifiers.features.WordVectors",
)


class ModelError(RuntimeError):
    """The model directory is missing, incomplete or holds an untrusted file."""


class CompactLogisticRegression(LogisticRegression):  # type: ignore[misc]
    """LogisticRegression that saves its coefficients as float32, halving the file.

    Scores differ from float64 ones by about 1e-7, far below any threshold's precision.
    """

    def __getstate__(self) -> dict[str, Any]:
        state: dict[str, Any] = dict(super().__getstate__())
        if "coef_" in state:
            state["coef_"] = state["coef_"].astype(np.float32)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        state = dict(state)
        if "coef_" in state:
            state["coef_"] = np.asarray(state["coef_"], dtype=np.float64)
        super().__setstate__(state)


class MultiLabelTextClassifier(ClassifierMixin, BaseEstimator):  # type: ignore[misc]
    """One calibrated logistic regression per category over a shared text featuriser.

    ``C`` is the inverse regularisation strength, one value or one per category.
    ``fit(texts, Y)`` takes an (n, k) 0/1 indicator matrix; ``predict_proba`` returns
    (n, k) probabilities in ``classes_`` order. Each regression is fitted on all but a
    stratified ``calibration_share`` of the texts and Platt-scaled on that share, so its
    probabilities mean what they say although the regression weighs classes evenly.

    ``nb_smoothing`` names categories whose regression sees the TF-IDF columns scaled by
    their naive-Bayes log-count ratio (NB-SVM), with the given smoothing count: n-grams
    typical of one side start with larger values, so the penalty favours them. The scale
    is folded into the saved coefficients, so serving costs nothing more.
    """

    def __init__(
        self,
        features: Any = None,
        *,
        classes: Sequence[str] = CATEGORIES,
        C: float | Mapping[str, float] = 4.0,
        calibration_share: float = 0.15,
        max_iter: int = 2000,
        random_state: int | None = 0,
        nb_smoothing: Mapping[str, float] | None = None,
    ) -> None:
        self.features = features
        self.classes = classes
        self.C = C
        self.nb_smoothing = nb_smoothing
        self.calibration_share = calibration_share
        self.max_iter = max_iter
        self.random_state = random_state

    def fit(
        self, X: Sequence[str], Y: Any, sample_weight: Any = None, label_weights: Any = None
    ) -> MultiLabelTextClassifier:
        """Fit every category; ``label_weights`` (n, k) scales each row's weight per category
        (0 leaves it out)."""
        Y = np.asarray(Y)
        if Y.ndim == 1:
            Y = Y.reshape(-1, 1)
        if Y.shape[0] != len(X):
            raise ValueError(f"{len(X)} texts but {Y.shape[0]} label rows")
        classes = list(self.classes)
        if len(classes) != Y.shape[1]:
            raise ValueError(f"Y has {Y.shape[1]} columns but {len(classes)} classes are named")
        self.features_ = clone(self.features) if self.features is not None else _default_features()
        Z = self.features_.fit_transform(X)
        _drop_stop_words(self.features_)
        weights = np.ones(len(X)) if sample_weight is None else np.asarray(sample_weight, float)
        n_tfidf = leading_tfidf_columns(self.features_)[0]
        nb = dict(self.nb_smoothing or {})
        self.estimators_: list[CompactLogisticRegression] = []
        self.calibrators_: list[LogisticRegression] = []
        per_label = np.ones(Y.shape) if label_weights is None else np.asarray(label_weights, float)
        for j, name in enumerate(classes):
            y = Y[:, j].astype(int)
            rows = np.flatnonzero(per_label[:, j] > 0)
            row_weights = weights * per_label[:, j]
            if np.bincount(y[rows], minlength=2).min() < 2:
                raise ValueError(f"category {name!r} needs both positive and negative examples")
            fit_idx, cal_idx = train_test_split(
                rows,
                test_size=self.calibration_share,
                stratify=y[rows],
                random_state=self.random_state,
            )
            C = self.C.get(name, 4.0) if isinstance(self.C, Mapping) else self.C
            base = CompactLogisticRegression(
                C=C,
                class_weight="balanced",
                max_iter=self.max_iter,
                solver="liblinear",
                random_state=self.random_state,
            )
            if name in nb and n_tfidf:
                scale = _nb_scale(Z[fit_idx], y[fit_idx], row_weights[fit_idx], n_tfidf, nb[name])
                base.fit(
                    Z[fit_idx] @ sp.diags(scale), y[fit_idx], sample_weight=row_weights[fit_idx]
                )
                base.coef_ = base.coef_ * scale  # the same scores on unscaled features
            else:
                base.fit(Z[fit_idx], y[fit_idx], sample_weight=row_weights[fit_idx])
            # Platt scaling: a one-feature logistic regression on the held-back scores.
            platt = LogisticRegression(C=1e4)
            platt.fit(_scores(base, Z[cal_idx]), y[cal_idx], sample_weight=row_weights[cal_idx])
            self.estimators_.append(base)
            self.calibrators_.append(platt)
        self.classes_ = np.asarray(classes, dtype=object)
        return self

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        check_is_fitted(self, "estimators_")
        with config_context(assume_finite=True, skip_parameter_validation=True):
            Z = self.features_.transform(X)
        # The same arithmetic as LogisticRegression.predict_proba, without its per-call
        # input checks, which cost more than the sums for a batch of one.
        coef = np.vstack([est.coef_ for est in self.estimators_])
        intercept = np.concatenate([est.intercept_ for est in self.estimators_])
        scores = np.asarray(Z @ coef.T) + intercept
        slope = np.asarray([platt.coef_[0, 0] for platt in self.calibrators_])
        offset = np.asarray([platt.intercept_[0] for platt in self.calibrators_])
        proba: np.ndarray = expit(scores * slope + offset)
        return proba

    def predict(self, X: Sequence[str]) -> np.ndarray:
        return (self.predict_proba(X) >= 0.5).astype(int)

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        tags.classifier_tags.multi_label = True
        return tags


def _scores(estimator: LogisticRegression, Z: Any) -> np.ndarray:
    scores: np.ndarray = estimator.decision_function(Z).reshape(-1, 1)
    return scores


def _nb_scale(Z: Any, y: np.ndarray, weights: np.ndarray, width: int, alpha: float) -> np.ndarray:
    """Per-column factors: the log-count ratio for the first ``width`` columns, 1 after."""
    present = sp.csr_matrix(Z[:, :width], copy=True)
    present.data[:] = 1.0
    pos = alpha + np.asarray(present.T @ (weights * (y == 1))).ravel()
    neg = alpha + np.asarray(present.T @ (weights * (y == 0))).ravel()
    ratio = np.log((pos / pos.sum()) / (neg / neg.sum()))
    return np.concatenate([ratio, np.ones(Z.shape[1] - width)])


def leading_tfidf_columns(estimator: Any) -> tuple[int, bool]:
    """How many TF-IDF columns open a transformer's output, and whether that is all of it."""
    if isinstance(estimator, TfidfVectorizer):
        return len(estimator.vocabulary_), True
    if isinstance(estimator, Pipeline):
        return leading_tfidf_columns(estimator.steps[-1][1])
    if isinstance(estimator, FeatureUnion):
        total = 0
        for _, part in estimator.transformer_list:
            if part == "drop":
                continue
            width, whole = leading_tfidf_columns(part)
            total += width
            if not whole:
                return total, False
        return total, True
    return 0, False


def _drop_stop_words(estimator: Any) -> None:
    """Forget the terms a vectoriser left out: only inspection uses them, and they are big."""
    if hasattr(estimator, "stop_words_"):
        del estimator.stop_words_
    for child in getattr(estimator, "transformer_list", []):
        _drop_stop_words(child[1])
    for step in getattr(estimator, "steps", []):
        _drop_stop_words(step[1])


def _default_features() -> Any:
    return build_features()


class TrainedModel:
    """The shipped model as serving uses it: probabilities, thresholds, version, metadata.

    Loading checks every type in the file against a fixed trusted list. Prediction holds
    no mutable state, so one instance can serve several threads.
    """

    def __init__(
        self,
        estimator: MultiLabelTextClassifier,
        thresholds: dict[str, float],
        version: str,
        info: dict[str, Any],
    ) -> None:
        names = [str(c) for c in estimator.classes_]
        if names != list(CATEGORIES):
            raise ModelError(f"model classes {names} are not {list(CATEGORIES)}")
        self.estimator = estimator
        self.thresholds: dict[str, float] = {c: float(thresholds.get(c, 0.5)) for c in CATEGORIES}
        self.version = version
        self.info = info

    @classmethod
    def load(cls, model_dir: Path) -> TrainedModel:
        """Read ``model.skops`` and ``model.json`` from a directory."""
        model_path, meta_path = model_dir / MODEL_FILE, model_dir / META_FILE
        if not model_path.is_file() or not meta_path.is_file():
            raise ModelError(
                f"no trained model in {model_dir} (expected {MODEL_FILE} and {META_FILE}; "
                "build one with `triage train`)"
            )
        import skops.io as sio  # lazy: its type scan imports torch where it is installed

        raw = model_path.read_bytes()
        untrusted = [t for t in sio.get_untrusted_types(data=raw) if t not in TRUSTED_TYPES]
        if untrusted:
            raise ModelError(f"{model_path} holds types that are not trusted: {untrusted}")
        estimator = sio.loads(raw, trusted=list(TRUSTED_TYPES))
        if not isinstance(estimator, MultiLabelTextClassifier):
            raise ModelError(f"{model_path} does not hold a MultiLabelTextClassifier")
        try:
            meta = json.loads(meta_path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            raise ModelError(f"{meta_path}: not JSON ({exc.msg})") from None
        try:  # a model saved by other feature code fails here, not on the first comment
            estimator.predict_proba(["a short check"])
        except (ValueError, AttributeError, KeyError) as exc:
            raise ModelError(
                f"{model_path} does not fit this version of the code ({exc}); "
                "retrain it with `triage train`"
            ) from None
        digest = hashlib.sha256(raw).hexdigest()[:8]
        version = f"sk-{meta.get('trained_on', 'unknown')}-{digest}"
        return cls(estimator, meta.get("thresholds", {}), version, meta)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """(n, 4) calibrated probabilities in ``records.CATEGORIES`` order."""
        if len(texts) == 0:
            return np.zeros((0, len(CATEGORIES)))
        return self.estimator.predict_proba(list(texts))

    def labels(self, texts: Sequence[str]) -> list[list[str]]:
        """The categories over their thresholds, for each text."""
        proba = self.predict_proba(texts)
        cut = np.asarray([self.thresholds[c] for c in CATEGORIES])
        return [[c for c, hit in zip(CATEGORIES, row >= cut, strict=True) if hit] for row in proba]
