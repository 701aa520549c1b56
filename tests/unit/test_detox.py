"""detoxify loaded offline through its own loading code, from a tiny checkpoint built here."""

from __future__ import annotations

import hashlib
import socket
import threading
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
import skops.io  # noqa: F401  (before transformers: see classifiers/detox.py)
import torch
import transformers

from classifiers.detox import DetoxifyError, convert, load_detoxify

WORDS = "you are an idiot the bin was not collected hello thanks i will hurt"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS.split()]
CLASSES = ["toxic", "severe_toxic", "obscene", "threat", "insult", "identity_hate"]
TEXTS = ["you are an idiot", "the bin was not collected", "hello", "", "i will hurt you " * 200]


class NotATensor:
    """Something a weights-only load refuses to unpickle."""


def build_tiny_detoxify(
    root: Path, extra: object | None = None, name: str = "tiny.ckpt"
) -> tuple[Path, Path]:
    """A 2-layer, 32-wide BERT saved the way detoxify's checkpoints are, and its config dir."""
    config_dir = root / "config"
    config_dir.mkdir(parents=True)
    (config_dir / "vocab.txt").write_text("\n".join(VOCAB) + "\n", encoding="utf-8")
    config = transformers.BertConfig(
        vocab_size=len(VOCAB),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        num_labels=len(CLASSES),
    )
    config.save_pretrained(config_dir)
    torch.manual_seed(0)
    model = transformers.BertForSequenceClassification(config)
    checkpoint = {
        "config": {
            "arch": {
                "args": {
                    "model_type": "bert-base-uncased",
                    "model_name": "BertForSequenceClassification",
                    "tokenizer_name": "BertTokenizer",
                    "num_classes": len(CLASSES),
                }
            },
            "dataset": {"args": {"classes": CLASSES}},
        },
        "state_dict": model.state_dict(),
    }
    if extra is not None:
        checkpoint["extra"] = extra
    path = root / name
    torch.save(checkpoint, path)
    return path, config_dir


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return build_tiny_detoxify(tmp_path_factory.mktemp("detox"))


@pytest.fixture
def offline(monkeypatch):
    """Any attempt to open a network connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_loads_offline_and_scores_every_class(tiny, offline):
    """The checkpoint loads with no network, and each text gets every sub-score as a probability."""
    scorer = load_detoxify(*tiny, threads=1)
    scores = scorer.score(TEXTS)
    assert len(scores) == len(TEXTS)
    expected = {"toxicity", "severe_toxicity", "obscene", "threat", "insult", "identity_attack"}
    for row in scores:
        assert set(row) == expected
        assert all(0.0 <= p <= 1.0 for p in row.values())
    assert scorer.version.startswith("detoxify-BertForSequenceClassification-")


def test_the_checkpoint_weights_are_the_ones_used(tiny, offline):
    """The loaded classifier head holds the checkpoint's weights, not a fresh random init."""
    scorer = load_detoxify(*tiny, threads=1)
    saved = torch.load(tiny[0], weights_only=True)["state_dict"]["classifier.weight"]
    assert torch.equal(scorer._model.classifier.weight, saved)


def test_batching_does_not_change_scores(tiny, offline):
    """Scores for a text are the same whether it is scored alone or in a padded batch."""
    scorer = load_detoxify(*tiny, threads=1)
    batched = scorer.score(TEXTS, batch_size=8)
    single = [scorer.score([t], batch_size=1)[0] for t in TEXTS]
    for a, b in zip(batched, single, strict=True):
        assert a.keys() == b.keys()
        assert np.allclose(list(a.values()), list(b.values()), atol=1e-3)


def test_int8_quantisation_stays_close(tiny, offline):
    """Dynamic int8 quantisation gives scores near the float model's and says so in its version."""
    plain = load_detoxify(*tiny, threads=1).score(TEXTS)
    scorer = load_detoxify(*tiny, quantize=True, threads=1)
    quantised = scorer.score(TEXTS)
    assert scorer.version.endswith("-int8")
    for a, b in zip(plain, quantised, strict=True):
        assert np.allclose(list(a.values()), list(b.values()), atol=0.05)


def test_concurrent_scoring_matches_sequential(tiny, offline):
    """Several threads can share one scorer and get what a single thread gets."""
    scorer = load_detoxify(*tiny, threads=1)
    expected = scorer.score(TEXTS[:3])
    results: list[list[dict[str, float]]] = []

    def work():
        results.append(scorer.score(TEXTS[:3]))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [expected] * 4


def test_missing_files_are_clear_errors(tiny, tmp_path):
    """A missing checkpoint, or a config directory without config.json, is named in the error."""
    with pytest.raises(DetoxifyError, match="checkpoint not found"):
        load_detoxify(tmp_path / "absent.ckpt", tiny[1])
    with pytest.raises(DetoxifyError, match=r"no config\.json"):
        load_detoxify(tiny[0], tmp_path)


def test_a_checkpoint_with_code_in_it_is_refused(tmp_path, offline):
    """A file that needs full unpickling and is not a published detoxify file is not loaded."""
    path, config_dir = build_tiny_detoxify(tmp_path, extra=NotATensor())
    with pytest.raises(DetoxifyError, match="refusing it"):
        load_detoxify(path, config_dir)


def test_a_file_that_is_not_a_detoxify_checkpoint_is_refused(tmp_path, tiny):
    """A torch file without detoxify's config is reported, not half-loaded."""
    path = tmp_path / "other.ckpt"
    torch.save({"state_dict": {}}, path)
    with pytest.raises(DetoxifyError, match="not a detoxify checkpoint"):
        load_detoxify(path, tiny[1])


def test_classifier_load_uses_detoxify_when_configured(tiny, offline, monkeypatch):
    """With weights configured, load() checks their hash and adds detoxify's sub-scores and
    version to each verdict."""
    import classifiers
    from classifiers.shipped import ShippedModel

    class Stub:
        version = "stub-1"
        review_cut = 0.3
        degraded = None
        thresholds: ClassVar[dict[str, float]] = dict.fromkeys(
            ("service_request", "abusive", "misinformation", "spam"), 0.5
        )

        def predict_proba(self, texts, findings=None):
            return np.full((len(texts), 4), 0.05)

    monkeypatch.setattr(ShippedModel, "load", classmethod(lambda cls, model_dir, **_: Stub()))
    settings = SimpleNamespace(
        policy=Path(classifiers.__file__).parent / "policy" / "north-herts.yaml",
        model_dir=Path("unused"),
        detoxify_checkpoint=tiny[0],
        detoxify_config_dir=tiny[1],
        require_detoxify=True,
        detoxify_quantize=False,
        detoxify_sha256=None,
        torch_threads=1,
        transformer_int8=False,
    )
    # The operator's hash reaches the loader: a wrong one stops a required detoxify.
    wrong = SimpleNamespace(**{**vars(settings), "detoxify_sha256": "f" * 64})
    with pytest.raises(classifiers.ClassifierError, match="its sha256 is"):
        classifiers.load(wrong)
    verdict = classifiers.load(settings).classify(["you are an idiot"])[0]
    assert set(verdict.signals.toxicity) >= {"toxicity", "threat", "identity_attack"}
    assert verdict.model["detoxify"].startswith("detoxify-")
    assert verdict.scores["abusive"] == max(
        verdict.signals.toxicity[name]
        for name in (
            "toxicity",
            "severe_toxicity",
            "insult",
            "threat",
            "identity_attack",
            "obscene",
        )
    )


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_published_name_and_hash_prefix_no_longer_allow_a_pickle_load(tmp_path, offline):
    """A file named like detoxify's release, whose hash starts with the tag, is still refused."""
    made, config_dir = build_tiny_detoxify(tmp_path, extra=NotATensor())
    tag = sha256_of(made)[:8]
    path = made.rename(tmp_path / f"toxic_original-{tag}.ckpt")
    with pytest.raises(DetoxifyError, match="TRIAGE_DETOXIFY_SHA256"):
        load_detoxify(path, config_dir)


def test_a_checkpoint_with_code_loads_against_its_full_hash(tmp_path, offline):
    """With the operator's full SHA-256 of the file, a checkpoint that needs pickle loads."""
    path, config_dir = build_tiny_detoxify(tmp_path, extra=NotATensor())
    scorer = load_detoxify(path, config_dir, threads=1, sha256=sha256_of(path).upper())
    assert len(scorer.score(TEXTS)) == len(TEXTS)


def test_a_wrong_hash_is_refused_whatever_the_file(tmp_path, tiny, offline):
    """A configured SHA-256 that the file does not have stops the load, pickle or not."""
    wrong = "0" * 64
    with pytest.raises(DetoxifyError, match="its sha256 is"):
        load_detoxify(tiny[0], tiny[1], sha256=wrong)
    path, config_dir = build_tiny_detoxify(tmp_path, extra=NotATensor())
    with pytest.raises(DetoxifyError, match="its sha256 is"):
        load_detoxify(path, config_dir, sha256=wrong)


def test_a_converted_checkpoint_loads_with_no_pickle(tmp_path, tiny, offline, monkeypatch):
    """convert() writes safetensors that load without torch.load and score the same."""
    path, config_dir = build_tiny_detoxify(tmp_path, extra=NotATensor())
    with pytest.raises(DetoxifyError, match="refusing it"):
        convert(path, tmp_path / "out.safetensors")
    out = tmp_path / "out.safetensors"
    digest = convert(path, out, sha256=sha256_of(path))
    assert digest == sha256_of(out)
    expected = load_detoxify(*tiny, threads=1).score(TEXTS)

    def no_pickle(*args, **kwargs):
        raise AssertionError("torch.load (pickle) was called")

    monkeypatch.setattr(torch, "load", no_pickle)
    scorer = load_detoxify(out, config_dir, threads=1)
    assert scorer.version.startswith("detoxify-BertForSequenceClassification-" + digest[:8])
    for a, b in zip(scorer.score(TEXTS), expected, strict=True):
        assert np.allclose(list(a.values()), list(b.values()), atol=1e-4)


def test_convert_refuses_what_it_cannot_write(tmp_path, tiny):
    """A target not named .safetensors, or a safetensors file without the config, is an error."""
    with pytest.raises(DetoxifyError, match=r"must end \.safetensors"):
        convert(tiny[0], tmp_path / "out.bin")
    from safetensors.torch import save_file

    bare = tmp_path / "bare.safetensors"
    save_file({"w": torch.zeros(2)}, str(bare))
    with pytest.raises(DetoxifyError, match="not a converted detoxify checkpoint"):
        load_detoxify(bare, tiny[1])


def test_the_convert_command_prints_the_new_files_hash(tmp_path, offline):
    """`triage detoxify convert` takes the hash from --sha256 and prints the output's hash."""
    from click.testing import CliRunner

    from worker.cli import cli

    path, _ = build_tiny_detoxify(tmp_path, extra=NotATensor())
    out = tmp_path / "converted.safetensors"
    runner = CliRunner()
    refused = runner.invoke(cli, ["detoxify", "convert", str(path), str(out)])
    assert refused.exit_code != 0
    assert "TRIAGE_DETOXIFY_SHA256" in refused.output
    done = runner.invoke(
        cli, ["detoxify", "convert", str(path), str(out), "--sha256", sha256_of(path)]
    )
    assert done.exit_code == 0, done.output
    assert done.stdout.strip() == sha256_of(out)


def test_the_hash_setting_must_be_a_full_sha256():
    """TRIAGE_DETOXIFY_SHA256 takes 64 hex digits only: a prefix is a start-up error."""
    from worker.settings import SettingsError, load_settings

    with pytest.raises(SettingsError, match="TRIAGE_DETOXIFY_SHA256"):
        load_settings(detoxify_sha256="c1212f89")
    assert load_settings(detoxify_sha256="a" * 64).detoxify_sha256 == "a" * 64
