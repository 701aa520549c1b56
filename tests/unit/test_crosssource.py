"""The reduced recipe behind the cross-source table and the seed spread, on the tiny set
split into two sources, with the real pretrained encoder from its package."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from classifiers.training import Example
from classifiers.training.crosssource import cross_source, seed_spread
from tests.tinyset import tiny_examples


@pytest.fixture(scope="module")
def two_sources() -> list[Example]:
    """Ten variants of every tiny text: the first five from "left", the rest from "right"."""
    examples = tiny_examples(copies=10)
    per_copy = len(examples) // 10
    return [
        replace(e, source="left" if i < 5 * per_copy else "right") for i, e in enumerate(examples)
    ]


def test_cross_source_trains_without_the_source_and_scores_only_its_categories(
    two_sources: list[Example], tmp_path: Path
) -> None:
    held_out = {"right": ("spam", "abusive")}
    results = cross_source(two_sources, held_out=held_out, cache_dir=tmp_path)
    assert set(results) == {"right"}
    assert set(results["right"]) == {"frozen_encoder", "linear", "combined"}
    for part in results["right"].values():
        assert set(part) == {"spam", "abusive"}
        # Every "right" text, and only those, is scored: a dozen of each category.
        assert all(r["support"] == 60 for r in part.values())
    # The right texts are variants of the left ones, so a model that never saw them
    # still finds most of them.
    assert results["right"]["combined"]["spam"]["recall"] > 0.8
    assert results["right"]["combined"]["abusive"]["f1"] > 0.8


def test_weighing_by_source_changes_nothing_when_one_source_is_left(
    two_sources: list[Example], tmp_path: Path
) -> None:
    """With one source left to fit on, source weights equal text weights, so the scores match."""
    held_out = {"right": ("spam",)}
    by_text = cross_source(two_sources, held_out=held_out, cache_dir=tmp_path)
    by_source = cross_source(two_sources, held_out=held_out, cache_dir=tmp_path, weigh_sources=True)
    assert by_source == by_text


def test_seed_spread_is_one_reproducible_run_per_seed(
    two_sources: list[Example], tmp_path: Path
) -> None:
    held_out = {"left": ("service_request",), "right": ("misinformation",)}
    first = seed_spread(two_sources, seeds=(0, 1), held_out=held_out, cache_dir=tmp_path)
    again = seed_spread(two_sources, seeds=(1,), held_out=held_out, cache_dir=tmp_path)
    assert set(first) == {0, 1}
    assert set(first[0]) == {"left", "right"}
    assert set(first[0]["right"]["combined"]) == {"misinformation"}
    assert again[1] == first[1]
    # Each seed holds out its own tenth of every label set of the source.
    assert first[0]["left"]["combined"]["service_request"]["support"] == 6
