"""How long each kind of data is kept on Kafka: the policy file's ``retention`` section.

The periods are the project's defaults for the council's records manager to confirm
(docs/operators.md). Audit records keep their one period in ``moderation``
(``audit_retention_days``, also used by the views and exports); the rest are here.
``records.topics`` turns these periods into each topic's settings, for the worker and
the connectors alike, so both read this module rather than the worker's loaders.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from records.policy import PolicyInvalid, read_policy, sections

__all__ = ["RetentionPolicy", "load_retention", "parse_retention"]


class RetentionPolicy(BaseModel):
    """Days each class of data is kept; ``audit_days`` is moderation.audit_retention_days."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    # Comments as they arrived, their verdicts, alerts and dead letters. At least a
    # week, so that a worker down over a long weekend still finds what came in.
    comments_days: int = Field(default=90, ge=7, le=36500)
    # The review queue (compacted: the latest copy of each item, until it is this old).
    review_items_days: int = Field(default=365, ge=7, le=36500)
    # Officers' decisions and the labels they produced: the audit record's sources.
    decisions_days: int = Field(default=2190, ge=1, le=36500)
    labels_days: int = Field(default=2190, ge=1, le=36500)
    # A block's record must outlive its 12-month appeal date, hence the minimum.
    audit_days: int = Field(default=2190, ge=400, le=36500)

    @model_validator(mode="after")
    def _sources_outlive_the_audit(self) -> RetentionPolicy:
        for field in ("decisions_days", "labels_days"):
            days = getattr(self, field)
            if days < self.audit_days:
                raise ValueError(
                    f"retention.{field} ({days}) is shorter than "
                    f"moderation.audit_retention_days ({self.audit_days}): keep the "
                    "decisions and labels behind an audit record at least as long as it"
                )
        return self


def parse_retention(document: Any, source: str = "policy file") -> RetentionPolicy:
    """The periods from a parsed policy file; missing keys take the defaults."""
    found = sections(document, source)
    section = found.get("retention") or {}
    moderation = found.get("moderation")
    if not isinstance(section, dict):
        raise PolicyInvalid(f"{source}: retention must be a mapping of periods in days")
    if "audit_days" in section:
        raise PolicyInvalid(
            f"{source}: retention.audit_days: set moderation.audit_retention_days instead"
        )
    values = dict(section)
    if isinstance(moderation, dict) and moderation.get("audit_retention_days") is not None:
        values["audit_days"] = moderation["audit_retention_days"]
    try:
        return RetentionPolicy.model_validate(values)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False, include_input=False, include_context=False):
            loc = [str(p) for p in error["loc"]]
            key = (
                "moderation.audit_retention_days"
                if loc == ["audit_days"]
                else "retention." + ".".join(loc)
                if loc
                else ""
            )
            message = error["msg"].removeprefix("Value error, ")
            problems.append(f"{key}: {message}" if key else message)
        raise PolicyInvalid(f"{source}: " + "; ".join(problems)) from None


def load_retention(path: Path) -> RetentionPolicy:
    """Read the periods from the policy file at ``path``."""
    return parse_retention(read_policy(path), source=f"policy file {path}")
