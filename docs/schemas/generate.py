"""Writes the JSON Schema of each wire record next to this file.

Run ``python docs/schemas/generate.py`` after changing a record in records/;
tests/unit/test_schemas.py fails while a schema file here is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from pydantic import BaseModel  # noqa: E402

from records import Comment, DeadLetter, ReviewItem, TriageResult, Verdict  # noqa: E402
from records.handling import HandlingRecord  # noqa: E402
from records.moderation import AuditRecord, Decision, ItemModeration, LabelExample  # noqa: E402
from records.privacy import Erasure  # noqa: E402
from records.reply import ReplyOutcome, ReplyRequest  # noqa: E402
from records.sla import Alert, Case, EmergencyChange  # noqa: E402
from records.sla_state import SlaMessage, SlaState  # noqa: E402

# Every ``Row.schema`` of records/topics.py names one of these (tests/unit/test_schemas.py);
# ``verdict`` is the part of a triage result that the classifier makes.
SCHEMAS: dict[str, type[BaseModel]] = {
    "comment": Comment,
    "verdict": Verdict,
    "triage-result": TriageResult,
    "review-item": ReviewItem,
    "decision": Decision,
    "item-moderation": ItemModeration,
    "case": Case,
    "alert": Alert,
    "audit-record": AuditRecord,
    "label-example": LabelExample,
    "dead-letter": DeadLetter,
    "emergency-change": EmergencyChange,
    "erasure": Erasure,
    "reply-request": ReplyRequest,
    "reply-outcome": ReplyOutcome,
    "handling-record": HandlingRecord,
    # The SLA part's own topics.
    "sla-event": SlaMessage,
    "sla-state": SlaState,
}


def render(record_type: type[BaseModel]) -> str:
    """The schema as written on disk: the wire form (aliases), sorted, newline at the end."""
    schema = record_type.model_json_schema(by_alias=True, mode="serialization")
    schema = {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def expected() -> dict[Path, str]:
    return {HERE / f"{name}.schema.json": render(t) for name, t in SCHEMAS.items()}


def main() -> None:
    for path, text in expected().items():
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.name}")


if __name__ == "__main__":
    main()
