"""The ``moderation:`` and ``messages:`` sections of the policy file, validated."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from records.policy import invalid, read_policy, sections

__all__ = [
    "DEFAULT_MESSAGES",
    "MessageTemplates",
    "ModerationConfig",
    "ModerationPolicy",
    "load_moderation_config",
    "parse_moderation_config",
]


class ModerationPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    # A second unacceptable post within this many days suggests a block.
    strike_window_days: int = Field(default=180, ge=1, le=3650)
    # Toxicity sub-scores at or above these make a post "extreme" (consider a block at once).
    extreme_signals: dict[str, float] = Field(
        default_factory=lambda: {"threat": 0.5, "severe_toxicity": 0.5, "identity_attack": 0.6}
    )
    # Reason codes (from the classification section) that are extreme on their own.
    extreme_reasons: tuple[str, ...] = ("threatening", "discriminatory")
    # Signals and reason codes that suggest a crime: consider a police report.
    crime_signals: dict[str, float] = Field(default_factory=lambda: {"threat": 0.5})
    crime_reasons: tuple[str, ...] = ("threatening", "illegal_or_inciting")
    # Audit records older than this are dropped from exports and views. Blocks must
    # outlive their 12-month appeal date, hence the minimum.
    audit_retention_days: int = Field(default=2190, ge=400, le=36500)
    # Automatic actions: none by default. "hide" records (and, with connector actions
    # enabled, hides) posts scoring at least auto_hide_score for abusive or spam.
    auto_actions: tuple[Literal["hide"], ...] = ()
    auto_hide_score: float = Field(default=0.98, gt=0.5, le=1.0)
    # Connectors may hide posts or send messages only after an officer's decision, and
    # only when this is true.
    connector_actions_enabled: bool = False

    @field_validator("extreme_signals", "crime_signals")
    @classmethod
    def _scores(cls, value: dict[str, float]) -> dict[str, float]:
        for name, threshold in value.items():
            if not 0.0 < threshold <= 1.0:
                raise ValueError(f"{name}: threshold must be in (0, 1]")
        return value


class MessageTemplates(BaseModel):
    """Jinja2 templates for the messages officers send (plain text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    policy_url: str = Field(min_length=1)
    council_name: str = "the council"
    warning: str = Field(min_length=1)
    channel_ban: str = Field(min_length=1)
    appeal: str = Field(min_length=1)


DEFAULT_MESSAGES = MessageTemplates(
    policy_url="https://www.north-herts.gov.uk/",
    warning=(
        "Hello {{ name }}. Your post on our {{ platform }} page on {{ posted_on }} has been "
        "hidden because it breaks our social media acceptable use policy ({{ reasons }}). "
        "Please read the policy: {{ policy_url }}. If this continues we may block the account."
    ),
    channel_ban=(
        "Hello {{ name }}. Your post on {{ channel }} on {{ posted_on }} was removed as "
        "misleading and the account is banned from that channel under our policy: "
        "{{ policy_url }}. To challenge the ban, contact our Communications Team."
    ),
    appeal=(
        "Hello {{ name }}. The account was blocked on {{ blocked_on }}. You may appeal the "
        "block from {{ appealable_from }} by contacting our Communications Team. "
        "Policy: {{ policy_url }}"
    ),
)


class ModerationConfig(BaseModel):
    model_config = ConfigDict(frozen=True)

    moderation: ModerationPolicy = ModerationPolicy()
    messages: MessageTemplates = DEFAULT_MESSAGES


def parse_moderation_config(raw: Any, source: str = "policy file") -> ModerationConfig:
    """Validate the two sections of a parsed policy file (others are ignored)."""
    document = sections(raw, source)
    chosen = {k: document[k] for k in ("moderation", "messages") if document.get(k) is not None}
    try:
        return ModerationConfig.model_validate(chosen)
    except ValidationError as exc:
        raise invalid(source, exc) from None


def load_moderation_config(path: Path) -> ModerationConfig:
    """The moderation and messages sections of the policy file at ``path``."""
    return parse_moderation_config(read_policy(path), source=f"policy file {path}")
