"""The base every wire record shares: frozen, strict about unknown versions."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict

__all__ = ["Record", "UtcDatetime"]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01 with a positive offset is before year 1 in UTC
        raise ValueError("timestamp out of range in UTC") from None


# Naive timestamps are ambiguous across the clock change, so they are refused;
# aware ones are normalised to UTC so that comparisons and JSON agree.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]


class Record(BaseModel):
    """A frozen record that serialises with its ``schema`` version."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        populate_by_name=True,
        ser_json_timedelta="iso8601",
        # NaN and Infinity are not JSON; an overflowing 1e400 would come back as null.
        allow_inf_nan=False,
    )

    def to_json_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)
