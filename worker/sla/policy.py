"""The reply-tracking sections of the policy file, parsed into typed settings.

The policy YAML is shared with the classifier; this module reads only its
``working_time`` and ``replies`` sections and fills in the council's defaults
when a section or a field is missing.
"""

from __future__ import annotations

from datetime import date, time
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from records.policy import invalid, read_policy, sections

__all__ = [
    "WEEKDAYS",
    "RepliesPolicy",
    "SlaPolicy",
    "Weekday",
    "WorkingTimePolicy",
    "load_sla_policy",
    "parse_sla_policy",
]

Weekday = Literal["monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"]
WEEKDAYS: tuple[Weekday, ...] = (
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
)


def _parse_span(value: Any) -> tuple[time, time] | None:
    # "09:00-17:00" or null (closed all day).
    if value is None or value == "closed":
        return None
    if not isinstance(value, str) or "-" not in value:
        raise ValueError("office hours must look like 09:00-17:00, or be closed")
    opens_text, closes_text = (part.strip() for part in value.split("-", 1))
    opens, closes = time.fromisoformat(opens_text), time.fromisoformat(closes_text)
    if closes <= opens:
        raise ValueError(f"closing time {closes_text} is not after opening time {opens_text}")
    return opens, closes


def _default_hours() -> dict[Weekday, tuple[time, time] | None]:
    weekday = (time(9), time(17))
    return {
        "monday": weekday,
        "tuesday": weekday,
        "wednesday": weekday,
        "thursday": weekday,
        "friday": weekday,
        "saturday": None,
        "sunday": None,
    }


class WorkingTimePolicy(BaseModel):
    """Office hours: when the reply clock runs."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    timezone: str = "Europe/London"
    hours: dict[Weekday, tuple[time, time] | None] = Field(default_factory=_default_hours)
    # Public holidays from the holidays package: country and subdivision ("GB", "ENG").
    bank_holidays_country: str | None = "GB"
    bank_holidays_subdivision: str | None = "ENG"
    closures: tuple[date, ...] = ()
    reply_target_hours: float = Field(default=8.0, gt=0, le=10_000)
    at_risk_hours: float = Field(default=2.0, ge=0, le=10_000)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value

    @field_validator("hours", mode="before")
    @classmethod
    def _spans(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            raise ValueError("hours must map weekday names to 09:00-17:00 or closed")
        merged: dict[str, Any] = dict.fromkeys(WEEKDAYS)
        for day, span in value.items():
            key = str(day).lower()
            if key not in WEEKDAYS:
                raise ValueError(f"unknown weekday {day!r}")
            merged[key] = span if isinstance(span, tuple) else _parse_span(span)
        if all(span is None for span in merged.values()):
            raise ValueError("the office must be open on at least one weekday")
        return merged

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


class RepliesPolicy(BaseModel):
    """Suggested replies for out-of-hours queries and for emergency mode."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    out_of_hours: str = (
        "Thank you for your message. Our social media team works 9am to 5pm, Monday to "
        "Friday, and will reply within one working day. Many services can be requested at "
        "any time through the Do It Online section of our website. If this is an emergency "
        "outside office hours, please use the emergency contact numbers on our website."
    )
    emergency: str = (
        "Thank you for your message. We are dealing with an emergency and cannot answer "
        "individual messages here at the moment. Please see our website for the latest "
        "updates and for other ways to contact us."
    )
    # While emergency mode is on, does the reply clock stop (pause) or run on (keep)?
    emergency_clock: Literal["pause", "keep"] = "pause"


class SlaPolicy(BaseModel):
    model_config = ConfigDict(frozen=True)

    working_time: WorkingTimePolicy = WorkingTimePolicy()
    replies: RepliesPolicy = RepliesPolicy()


def parse_sla_policy(document: Any, source: str = "policy file") -> SlaPolicy:
    """The reply-tracking policy from an already loaded YAML document."""
    found = sections(document, source)
    chosen = {key: found[key] for key in ("working_time", "replies") if found.get(key) is not None}
    try:
        return SlaPolicy.model_validate(chosen)
    except ValidationError as exc:
        raise invalid(source, exc) from None


def load_sla_policy(path: Path) -> SlaPolicy:
    """Read the policy file; a missing file is an error, missing sections take the defaults."""
    return parse_sla_policy(read_policy(path), source=f"policy file {path}")
