"""The shipped model as serving loads it: its parts, their blend and the thresholds.

``classifiers/model/`` holds ``model.json`` (what was trained, how, the thresholds, the
blend and the SHA-256 of every file), ``transformer.safetensors`` and ``linear/`` (the
scikit-learn model with its own metadata). Every file is checked against its SHA-256
before it is read.

Without torch or the base package the transformer cannot run: the model then serves the
linear part alone, with the linear part's own thresholds, and says why in
``degraded`` so that the caller can warn once.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from classifiers import rules
from classifiers.blend import Blend, rule_counts
from classifiers.trained import ModelError, TrainedModel
from records import CATEGORIES

__all__ = [
    "FORMAT",
    "LINEAR_DIR",
    "META_FILE",
    "TRANSFORMER_FILE",
    "Part",
    "ShippedModel",
    "file_sha256",
]

FORMAT = 2
META_FILE = "model.json"
LINEAR_DIR = "linear"
TRANSFORMER_FILE = "transformer.safetensors"


class Part(Protocol):
    """A model that gives (n, 4) probabilities for texts."""

    version: str

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray: ...


def file_sha256(path: Path) -> str:
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


class ShippedModel:
    """Blended probabilities of the transformer, the linear model and the rules.

    ``thresholds`` label a category; ``review_cut`` is the lower, recall-first cut on
    the service-request probability at which a comment still opens a reply case.
    """

    def __init__(
        self,
        linear: Part,
        *,
        transformer: Part | None,
        blend: Blend | None,
        thresholds: Mapping[str, float],
        review_cut: float,
        info: Mapping[str, Any],
        degraded: str | None = None,
    ) -> None:
        if (transformer is None) != (blend is None):
            raise ValueError("a transformer needs a blend, and a blend a transformer")
        self.linear = linear
        self.transformer = transformer
        self.blend = blend
        self.thresholds = {c: float(thresholds[c]) for c in CATEGORIES}
        self.review_cut = float(review_cut)
        self.info = dict(info)
        self.degraded = degraded
        parts = [linear.version] if transformer is None else [transformer.version, linear.version]
        self.version = "+".join(parts)

    @property
    def parts(self) -> tuple[str, ...]:
        return ("linear",) if self.transformer is None else ("transformer", "linear", "rules")

    @classmethod
    def load(
        cls,
        model_dir: Path,
        *,
        threads: int = 2,
        transformer: bool = True,
        int8: bool = True,
        base: Any = None,
    ) -> ShippedModel:
        """Read a model directory; ``transformer=False`` serves the linear part alone.

        ``base`` is the pretrained encoder (``classifiers.transformer.Base``; default: the
        installed package's).
        """
        meta = _read_meta(model_dir)
        files: dict[str, str] = meta.get("files", {})
        for name, digest in files.items():
            path = model_dir / name
            if not path.is_file():
                raise ModelError(f"{path}: missing (model.json lists it)")
            if name != TRANSFORMER_FILE and file_sha256(path) != digest:
                raise ModelError(f"{path}: SHA-256 differs from model.json; the file was altered")
        linear = TrainedModel.load(model_dir / LINEAR_DIR)
        alone = {
            "thresholds": meta["thresholds"]["linear"],
            "review_cut": meta["review_cut"]["linear"],
            "info": meta,
        }
        if TRANSFORMER_FILE not in files:
            return cls(linear, transformer=None, blend=None, **alone)
        if not transformer:
            return cls(linear, transformer=None, blend=None, **alone, degraded="switched off")
        part, reason = _load_transformer(
            model_dir, meta, files[TRANSFORMER_FILE], threads, int8=int8, base=base
        )
        if part is None:
            return cls(linear, transformer=None, blend=None, **alone, degraded=reason)
        return cls(
            linear,
            transformer=part,
            blend=Blend.from_json(meta["blend"]),
            thresholds=meta["thresholds"]["combined"],
            review_cut=meta["review_cut"]["combined"],
            info=meta,
        )

    def predict_proba(
        self, texts: Sequence[str], findings: Sequence[rules.Findings] | None = None
    ) -> np.ndarray:
        """(n, 4) probabilities in ``records.CATEGORIES`` order."""
        if len(texts) == 0:
            return np.zeros((0, len(CATEGORIES)))
        parts = self.predict_parts(texts, findings)
        return parts.get("combined", parts["linear"])

    def predict_parts(
        self, texts: Sequence[str], findings: Sequence[rules.Findings] | None = None
    ) -> dict[str, np.ndarray]:
        """Each part's (n, 4) probabilities ("linear", "transformer") and "combined"."""
        out = {"linear": self.linear.predict_proba(texts)}
        if self.transformer is not None and self.blend is not None:
            found = findings if findings is not None else [rules.find(t) for t in texts]
            out["transformer"] = self.transformer.predict_proba(texts)
            out["combined"] = self.blend.combine(
                out["transformer"], out["linear"], rule_counts(found)
            )
        return out


def _read_meta(model_dir: Path) -> dict[str, Any]:
    path = model_dir / META_FILE
    if not path.is_file():
        raise ModelError(
            f"no trained model in {model_dir} (expected {META_FILE}; build one with `triage train`)"
        )
    try:
        meta: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ModelError(f"{path}: not JSON ({exc.msg})") from None
    if meta.get("format") != FORMAT:
        raise ModelError(
            f"{path}: model format {meta.get('format')!r}, this code reads {FORMAT}; "
            "retrain it with `triage train`"
        )
    return meta


def _load_transformer(
    model_dir: Path, meta: Mapping[str, Any], sha256: str, threads: int, *, int8: bool, base: Any
) -> tuple[Part | None, str | None]:
    """The transformer part, or None and why it cannot run here."""
    try:
        from classifiers.transformer import TransformerError, TransformerModel  # lazy: torch
    except ImportError as exc:
        return None, f"{exc.name or 'torch'} is not installed"
    try:
        return (
            TransformerModel.load(
                model_dir / TRANSFORMER_FILE,
                sha256,
                base=base,
                base_version=(meta.get("base") or {}).get("version"),
                threads=threads,
                quantize=int8,
                max_tokens=int((meta.get("serving") or {}).get("max_tokens", 128)),
            ),
            None,
        )
    except TransformerError as exc:
        return None, str(exc)
