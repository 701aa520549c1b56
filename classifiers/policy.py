"""The classification part of the council's policy file: thresholds, reasons, lanes, actions.

The file is YAML with one top-level section per part of the product; this module reads
and validates only ``classification`` and ignores the rest. Errors name the key.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from records import CATEGORIES, Category, Lane
from records.policy import PolicyInvalid, invalid, read_policy, sections

SECTION = "classification"

Signal = Literal["emergency", "threat", "personal_data", "possible_query"]

LANE_ORDER: tuple[Lane, ...] = ("urgent", "moderation", "response")
"""Most pressing first: a verdict's ``lane`` is the first lane that applies."""

REQUIRED_REASONS: tuple[str, ...] = (
    # The kinds of unacceptable post the council's policy lists.
    "rude_or_abusive",
    "threatening",
    "misleading",
    "discriminatory",
    "defamatory",
    "contempt_of_court",
    "illegal_or_inciting",
    "inappropriate_material",
    "spam",
    # What the classifier itself gives.
    "service_request",
    "emergency",
    "sensitive_personal_data",
    "bad_language",
)

SPAM_MARKERS: tuple[str, ...] = (
    "shortener",
    "money_lure",
    "crypto",
    "phishing",
    "advert",
    "dating_lure",
    "contact_off_platform",
    "self_promotion",
    "many_links",
    "repeated_text",
    "lure_link",
)


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ReasonRule(_Strict):
    clause: str = Field(min_length=1)
    description: str = Field(min_length=1)
    actions: tuple[str, ...] = ()


class ToxicityReason(_Strict):
    at: float = Field(gt=0, le=1)
    reason: str


class LaneRule(_Strict):
    labels: tuple[Category, ...] = ()
    signals: tuple[Signal, ...] = ()


class ClassificationPolicy(_Strict):
    """What turns scores and signals into labels, reasons, lanes and actions."""

    name: str = Field(min_length=1)
    version: str = Field(min_length=1)
    thresholds: dict[Category, float | None] = Field(default_factory=dict)
    # The recall-first cut on the service-request score at which a comment may still be a
    # query (None: the cut the model was tuned with).
    possible_query_cut: float | None = Field(default=None, gt=0, lt=1)
    abusive_sources: tuple[str, ...] = ()
    toxicity_reasons: dict[str, ToxicityReason] = Field(default_factory=dict)
    spam_markers: dict[str, float] = Field(default_factory=dict)
    threat_abusive_score: float = Field(default=0.9, ge=0, le=1)
    label_reasons: dict[Category, str]
    lanes: dict[Lane, LaneRule]
    reasons: dict[str, ReasonRule]
    actions: dict[str, str]

    @model_validator(mode="after")
    def _consistent(self) -> ClassificationPolicy:
        problems = [*self._threshold_problems(), *self._reference_problems()]
        if problems:
            raise ValueError("; ".join(problems))
        return self

    def _threshold_problems(self) -> list[str]:
        problems = [
            f"thresholds.{category}: must be between 0 and 1 (got {value})"
            for category, value in self.thresholds.items()
            if value is not None and not 0 < value < 1
        ]
        for marker, weight in self.spam_markers.items():
            if marker not in SPAM_MARKERS:
                problems.append(f"spam_markers.{marker}: unknown marker (known: {SPAM_MARKERS})")
            elif not 0 <= weight < 1:
                problems.append(f"spam_markers.{marker}: weight must be in [0, 1)")
        return problems

    def _reference_problems(self) -> list[str]:
        problems = [
            f"reasons.{code}: missing (every listed kind needs a reason)"
            for code in REQUIRED_REASONS
            if code not in self.reasons
        ]
        problems += [
            f"reasons.{code}.actions: unknown action {action!r}"
            for code, rule in self.reasons.items()
            for action in rule.actions
            if action not in self.actions
        ]
        for category in CATEGORIES:
            label_reason = self.label_reasons.get(category)
            if label_reason is None:
                problems.append(f"label_reasons.{category}: missing")
            elif label_reason not in self.reasons:
                problems.append(f"label_reasons.{category}: unknown reason {label_reason!r}")
        problems += [
            f"toxicity_reasons.{score}.reason: unknown reason {tox.reason!r}"
            for score, tox in self.toxicity_reasons.items()
            if tox.reason not in self.reasons
        ]
        return problems

    def threshold(self, category: Category, model_thresholds: dict[str, float]) -> float:
        """The policy's threshold for a category, else the trained model's, else 0.5."""
        value = self.thresholds.get(category)
        if value is not None:
            return value
        return float(model_thresholds.get(category, 0.5))

    def lanes_for(self, labels: set[str], signals: set[str]) -> tuple[Lane, ...]:
        """Every lane whose labels or signals are present, most pressing first."""
        return tuple(
            lane
            for lane in LANE_ORDER
            if (rule := self.lanes.get(lane)) is not None
            and (labels.intersection(rule.labels) or signals.intersection(rule.signals))
        )


def load_policy(path: Path) -> ClassificationPolicy:
    """Read and validate the ``classification`` section of a policy file."""
    return parse_policy(read_policy(path), source=f"policy file {path}")


def parse_policy(raw: Any, source: str = "policy file") -> ClassificationPolicy:
    """Validate an already-parsed policy document (a mapping of sections)."""
    section = sections(raw, source).get(SECTION)
    if not isinstance(section, dict):
        raise PolicyInvalid(f"{source}: missing the {SECTION!r} section (a mapping)")
    try:
        return ClassificationPolicy.model_validate(section)
    except ValidationError as exc:
        raise invalid(source, exc, (SECTION,)) from None
