"""The JSON Schema files in docs/schemas match the record types."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

GENERATOR = Path(__file__).resolve().parents[2] / "docs" / "schemas" / "generate.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("schema_generator", GENERATOR)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


GEN = load_generator()


@pytest.mark.parametrize("path", sorted(GEN.expected()), ids=lambda p: p.name)
def test_schema_file_is_up_to_date(path):
    """Each schema file equals what the record type gives now (run docs/schemas/generate.py)."""
    assert path.exists(), f"{path.name} missing: run python docs/schemas/generate.py"
    assert path.read_text(encoding="utf-8") == GEN.expected()[path], (
        f"{path.name} is stale: run python docs/schemas/generate.py"
    )


def test_schemas_describe_the_wire_form():
    """The schemas use the wire name ``schema`` for the version and require the key fields."""
    comment = json.loads(GEN.render(GEN.SCHEMAS["comment"]))
    assert "schema" in comment["properties"]
    assert {"id", "platform", "text", "created_at"} <= set(comment["required"])
    letter = json.loads(GEN.render(GEN.SCHEMAS["dead-letter"]))
    assert {"error", "topic", "partition", "offset"} <= set(letter["required"])
