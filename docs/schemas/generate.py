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

from records import Comment, DeadLetter, ReviewItem, TriageResult, Verdict  # noqa: E402
from records.base import Record  # noqa: E402

SCHEMAS: dict[str, type[Record]] = {
    "comment": Comment,
    "verdict": Verdict,
    "triage-result": TriageResult,
    "review-item": ReviewItem,
    "dead-letter": DeadLetter,
}


def render(record_type: type[Record]) -> str:
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
