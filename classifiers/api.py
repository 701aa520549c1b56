"""The classifier the worker and ``triage classify`` use: texts or Comments in, Verdicts out.

Scores come from the trained model, raised for ``abusive`` by detoxify's sub-scores and
for ``spam`` by the rules' markers; labels are scores at or over the policy's thresholds;
reasons, lanes and actions follow the policy file. See docs/classification.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import structlog

from classifiers import rules
from classifiers.detox import DetoxifyError, DetoxifyScorer, load_detoxify
from classifiers.normalise import normalise
from classifiers.policy import ClassificationPolicy, load_policy
from classifiers.shipped import ShippedModel
from classifiers.trained import ModelError
from records import CATEGORIES, Category, Comment, Lane, Reason, Signals, Verdict
from records.policy import PolicyError

__all__ = [
    "Classifier",
    "ClassifierError",
    "ClassifierSettings",
    "ProbabilityModel",
    "ToxicityScorer",
    "load",
]

log = structlog.get_logger(__name__)

DETOX_BATCH = 8
"""Texts per detoxify forward pass (length-sorted): measured best on 2 cores (bench/)."""


class ClassifierError(RuntimeError):
    """The classifier cannot start: no model, a bad policy, or detoxify required but absent."""


class ClassifierSettings(Protocol):
    """What :func:`load` reads from the settings (``worker.settings.Settings`` fits)."""

    @property
    def policy(self) -> Path: ...
    @property
    def model_dir(self) -> Path: ...
    @property
    def detoxify_checkpoint(self) -> Path | None: ...
    @property
    def detoxify_config_dir(self) -> Path | None: ...
    @property
    def require_detoxify(self) -> bool: ...
    @property
    def detoxify_quantize(self) -> bool: ...
    @property
    def detoxify_sha256(self) -> str | None: ...
    @property
    def torch_threads(self) -> int: ...
    @property
    def transformer_int8(self) -> bool: ...


class ProbabilityModel(Protocol):
    """The trained model's surface (``classifiers.shipped.ShippedModel`` fits).

    ``review_cut`` is the recall-first cut on the service-request score (see
    ``ClassificationPolicy.possible_query_cut``). ``findings`` are the rules' findings
    for the same texts, when the caller has them already.
    """

    version: str

    @property
    def thresholds(self) -> Mapping[Any, float]: ...

    @property
    def review_cut(self) -> float: ...

    def predict_proba(
        self, texts: Sequence[str], findings: Sequence[rules.Findings] | None = None
    ) -> Any: ...


class ToxicityScorer(Protocol):
    """Toxicity sub-scores per text (``classifiers.detox.DetoxifyScorer`` fits)."""

    version: str

    def score(self, texts: Sequence[str], batch_size: int = ...) -> list[dict[str, float]]: ...


Item = str | Comment


class Classifier:
    """Verdicts for batches of texts or Comments; safe to call from several threads."""

    def __init__(
        self,
        model: ProbabilityModel,
        policy: ClassificationPolicy,
        detoxify: ToxicityScorer | None = None,
    ) -> None:
        self.model = model
        self.policy = policy
        self.detoxify = detoxify
        thresholds = dict(model.thresholds)
        self.thresholds: dict[Category, float] = {
            c: policy.threshold(c, thresholds) for c in CATEGORIES
        }
        cut = policy.possible_query_cut
        self.query_cut = min(
            model.review_cut if cut is None else cut, self.thresholds["service_request"]
        )
        self.versions: dict[str, str] = {
            "trained": model.version,
            "policy": f"{policy.name}-{policy.version}",
            "rules": rules.RULES_VERSION,
        }
        if detoxify is not None:
            self.versions["detoxify"] = detoxify.version

    def classify(self, batch: Sequence[Item]) -> list[Verdict]:
        """One Verdict per item, in order. Same input and models, same Verdicts."""
        if not batch:
            return []
        texts = [item.text if isinstance(item, Comment) else item for item in batch]
        found = [rules.find(text) for text in texts]
        proba = self.model.predict_proba(texts, found)
        toxicity: list[dict[str, float]] = (
            self.detoxify.score([normalise(t) for t in texts], DETOX_BATCH)
            if self.detoxify is not None
            else [{} for _ in texts]
        )
        return [
            self._verdict(item, found[i], proba[i], toxicity[i]) for i, item in enumerate(batch)
        ]

    def _verdict(
        self, item: Item, found: rules.Findings, row: Any, tox: dict[str, float]
    ) -> Verdict:
        policy = self.policy
        message = isinstance(item, Comment) and item.kind == "direct_message"
        public = not message
        scores = {c: float(row[i]) for i, c in enumerate(CATEGORIES)}

        sources = [tox[name] for name in policy.abusive_sources if name in tox]
        if sources:
            scores["abusive"] = max(scores["abusive"], *sources)
        if found.threats:
            scores["abusive"] = max(scores["abusive"], policy.threat_abusive_score)
        scores["spam"] = max(scores["spam"], self._spam_rule_score(found.spam_markers))
        scores = {c: round(min(max(p, 0.0), 1.0), 4) for c, p in scores.items()}
        labels = tuple(c for c in CATEGORIES if scores[c] >= self.thresholds[c])
        # Fail safe: a message to the council, or a score near the line, may be a query.
        possible_query = "service_request" not in labels and (
            message or scores["service_request"] >= self.query_cut
        )

        reasons = self._reasons(found, labels, scores, tox, public=public)
        if possible_query and "possible_query" in policy.reasons:
            evidence = (
                "a direct message to the council"
                if message
                else f"service request score {scores['service_request']:.2f}, "
                f"under the label's {self.thresholds['service_request']:.2f}"
            )
            reasons = (*reasons, self._reason("possible_query", evidence, "service_request"))
        signal_names: set[str] = set()
        if found.emergency:
            signal_names.add("emergency")
        if found.threats or any(r.code == "threatening" for r in reasons):
            signal_names.add("threat")
        if found.personal_data and public:
            signal_names.add("personal_data")
        if possible_query:
            signal_names.add("possible_query")
        lanes: tuple[Lane, ...] = policy.lanes_for(set(labels), signal_names)
        actions = tuple(dict.fromkeys(a for r in reasons for a in policy.reasons[r.code].actions))
        return Verdict(
            labels=labels,
            scores=scores,
            signals=Signals(
                toxicity=tox,
                personal_data=found.personal_data_kinds,
                urgent=found.emergency_kinds,
                threats=found.threat_kinds,
                links=found.links,
                shorteners=found.shorteners,
                spam_markers=found.spam_markers,
            ),
            reasons=reasons,
            lane=lanes[0] if lanes else None,
            lanes=lanes,
            actions=actions,
            model=dict(self.versions),
            possible_query=possible_query,
        )

    def _reason(self, code: str, evidence: str, category: Category | None) -> Reason:
        return Reason(
            code=code,
            clause=self.policy.reasons[code].clause,
            evidence=evidence,
            category=category,
        )

    def _spam_rule_score(self, markers: Sequence[str]) -> float:
        chance_clean = 1.0
        for marker in markers:
            chance_clean *= 1.0 - self.policy.spam_markers.get(marker, 0.0)
        return 1.0 - chance_clean

    def _reasons(
        self,
        found: rules.Findings,
        labels: tuple[Category, ...],
        scores: dict[Category, float],
        tox: dict[str, float],
        *,
        public: bool,
    ) -> tuple[Reason, ...]:
        policy = self.policy
        out: dict[str, Reason] = {}

        def add(code: str, evidence: str, category: Category | None = None) -> None:
            if code not in out:
                out[code] = self._reason(code, evidence, category)

        for match in found.emergency:
            add("emergency", _evidence(match.kind, found.normalised, match))
        for match in found.threats:
            add("threatening", _evidence(match.kind, found.normalised, match), "abusive")
        if found.personal_data and public:
            kinds = ", ".join(k.replace("_", " ") for k in found.personal_data_kinds)
            add(
                "sensitive_personal_data",
                f"{kinds} in a public post: {rules.redact(found.text)}"[:240],
            )
        for category in labels:
            evidence = f"score {scores[category]:.2f}"
            if category == "spam" and found.spam_markers:
                evidence += "; markers: " + ", ".join(found.spam_markers)
            if category == "abusive" and tox:
                top = max(tox, key=lambda name: tox[name])
                evidence += f"; detoxify {top} {tox[top]:.2f}"
            add(policy.label_reasons[category], evidence, category)
        if "abusive" in labels:
            # The sub-scores name the kind of abuse (threat, discrimination, bad language).
            for name, rule in policy.toxicity_reasons.items():
                if tox.get(name, 0.0) >= rule.at:
                    add(rule.reason, f"detoxify {name} {tox[name]:.2f}", "abusive")
        return tuple(out.values())


def _evidence(kind: str, text: str, match: rules.Match) -> str:
    return f"{kind.replace('_', ' ')}: {rules.excerpt(text, match.start, match.end, 40)}"


def load(settings: ClassifierSettings) -> Classifier:
    """The classifier the settings describe: shipped model, policy, detoxify when configured."""
    try:
        policy = load_policy(Path(settings.policy))
    except PolicyError as exc:
        raise ClassifierError(str(exc)) from None
    try:
        model = ShippedModel.load(
            Path(settings.model_dir),
            threads=settings.torch_threads,
            int8=settings.transformer_int8,
        )
    except ModelError as exc:
        raise ClassifierError(str(exc)) from None
    if model.degraded is not None:
        log.warning(
            "transformer unavailable: classifying with the linear model alone",
            reason=model.degraded,
        )
    return Classifier(model, policy, _load_detoxify(settings))


def _load_detoxify(settings: ClassifierSettings) -> DetoxifyScorer | None:
    checkpoint, config_dir = settings.detoxify_checkpoint, settings.detoxify_config_dir
    try:
        if checkpoint is None or config_dir is None:
            raise DetoxifyError(
                "no detoxify weights configured "
                "(TRIAGE_DETOXIFY_CHECKPOINT and TRIAGE_DETOXIFY_CONFIG_DIR)"
            )
        try:
            return load_detoxify(
                Path(checkpoint),
                Path(config_dir),
                quantize=settings.detoxify_quantize,
                threads=settings.torch_threads,
                sha256=settings.detoxify_sha256,
            )
        except ImportError as exc:  # pragma: no cover - torch or detoxify is not installed
            raise DetoxifyError(f"detoxify is not installed ({exc.name})") from None
    except DetoxifyError as exc:
        if settings.require_detoxify:
            raise ClassifierError(f"detoxify is required but cannot be used: {exc}") from None
        log.warning(
            "detoxify unavailable: classifying with the trained model alone", reason=str(exc)
        )
        return None
