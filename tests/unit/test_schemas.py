"""The JSON Schema files in docs/schemas match the record types and cover every topic."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from records.topics import TABLE

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


@pytest.mark.parametrize("row", TABLE, ids=lambda r: r.base)
def test_every_topic_names_a_schema_that_is_generated(row):
    """Each topic of records/topics.py names a schema that generate.py writes, on disk."""
    assert row.schema in GEN.SCHEMAS, f"{row.base}: no record type for schema {row.schema!r}"
    assert (GEN.HERE / f"{row.schema}.schema.json").exists(), (
        f"{row.schema}.schema.json missing: run python docs/schemas/generate.py"
    )


def test_schema_folder_holds_only_what_generate_writes():
    """No schema file in docs/schemas is left over from a record that generate.py dropped."""
    on_disk = set(GEN.HERE.glob("*.schema.json"))
    assert on_disk == set(GEN.expected())
