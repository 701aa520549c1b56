"""The shipped model in classifiers/model: it loads, is small, and reads council texts sensibly."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from classifiers.trained import TrainedModel
from records import CATEGORIES

MODEL_DIR = Path(__file__).resolve().parents[2] / "classifiers" / "model"


@pytest.fixture(scope="module")
def shipped() -> TrainedModel:
    """The model that ships in the repository."""
    return TrainedModel.load(MODEL_DIR)


def test_shipped_model_is_small_enough_to_ship() -> None:
    """The saved model stays under 8 MB, so it can live in the repository."""
    assert (MODEL_DIR / "model.skops").stat().st_size < 8_000_000


def test_shipped_model_describes_itself(shipped: TrainedModel) -> None:
    """Version, thresholds for every category and training counts come with the model."""
    assert shipped.version.startswith("sk-")
    assert set(shipped.thresholds) == set(CATEGORIES)
    assert all(0 < t < 1 for t in shipped.thresholds.values())
    assert shipped.info["counts"]["council"]["texts"] > 0


def test_probabilities_have_the_contracted_shape(shipped: TrainedModel) -> None:
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
    ],
)
def test_obvious_council_texts_get_their_labels(
    shipped: TrainedModel, text: str, expected: set[str]
) -> None:
    """Plain examples of each category, and of ordinary chatter, get the labels they should."""
    assert set(shipped.labels([text])[0]) == expected


def test_predictions_are_the_same_across_threads(shipped: TrainedModel) -> None:
    """Concurrent batches from several threads give what one thread gives."""
    texts = [f"the bin on street {i} was missed again, please collect" for i in range(40)]
    alone = shipped.predict_proba(texts)
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(shipped.predict_proba, [texts] * 8))
    for result in results:
        np.testing.assert_allclose(result, alone)
