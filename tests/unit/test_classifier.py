"""The Classifier: scores from model, detoxify and rules; labels, reasons, lanes, actions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import ClassVar

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from structlog.testing import capture_logs

import classifiers
from classifiers import Classifier, ClassifierError, load_policy
from records import CATEGORIES, Author, Comment, Verdict

POLICY = Path(classifiers.__file__).parent / "policy" / "north-herts.yaml"


class KeywordModel:
    """A stand-in for the trained model: fixed probabilities from a few keywords."""

    version = "keywords-1"
    review_cut = 0.3
    degraded = None
    thresholds: ClassVar[dict[str, float]] = {
        "service_request": 0.5,
        "abusive": 0.5,
        "misinformation": 0.6,
        "spam": 0.5,
    }

    def predict_proba(self, texts, findings=None):
        out = np.full((len(texts), 4), 0.05)
        for i, text in enumerate(texts):
            low = text.lower()
            if "bin" in low or "pothole" in low:
                out[i, 0] = 0.9
            if "idiot" in low:
                out[i, 1] = 0.85
            if "5g" in low:
                out[i, 2] = 0.95
            if "casino" in low:
                out[i, 3] = 0.7
            if "wondering" in low:
                out[i, 0] = 0.4  # under the 0.5 threshold, over the 0.3 review cut
        return out


class FixedToxicity:
    """A stand-in for detoxify that returns set sub-scores for texts holding a keyword."""

    version = "detox-stub"

    def __init__(self, keyword: str, scores: dict[str, float]) -> None:
        self.keyword, self.scores = keyword, scores

    def score(self, texts, batch_size=16):
        base = dict.fromkeys(("toxicity", "threat", "identity_attack", "obscene", "insult"), 0.01)
        return [{**base, **self.scores} if self.keyword in t else base for t in texts]


@pytest.fixture
def classifier() -> Classifier:
    return Classifier(KeywordModel(), load_policy(POLICY))


def comment(text: str, kind: str = "comment") -> Comment:
    now = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    return Comment(
        id="c1",
        platform="facebook",
        channel="nhdc",
        kind=kind,
        thread_id="t1",
        author=Author(id="a1"),
        text=text,
        created_at=now,
        received_at=now,
    )


def test_one_verdict_per_item_in_order(classifier):
    """Texts and Comments both work, and verdicts come back in input order."""
    verdicts = classifier.classify(["pothole on my road", comment("you idiot"), "lovely day"])
    assert [v.labels for v in verdicts] == [("service_request",), ("abusive",), ()]
    assert classifier.classify([]) == []


def test_every_category_is_scored_as_a_probability(classifier):
    """All four categories carry a score between 0 and 1, and the versions used are named."""
    verdict = classifier.classify(["hello"])[0]
    assert tuple(verdict.scores) == CATEGORIES
    assert all(0.0 <= p <= 1.0 for p in verdict.scores.values())
    assert verdict.model == {
        "trained": "keywords-1",
        "policy": "north-herts-2026.11",
        "rules": "rules-1",
    }


def test_same_input_gives_the_same_verdict(classifier):
    """Classification is deterministic, alone or in a batch."""
    texts = ["pothole you idiot, call 07700 900123", "casino bonus bit.ly/x", "smell of gas"]
    first = classifier.classify(texts)
    assert classifier.classify(texts) == first
    assert [classifier.classify([t])[0] for t in texts] == first


def test_labels_follow_the_model_thresholds_unless_the_policy_sets_one():
    """A score at the model's threshold is a label; a stricter policy threshold removes it."""
    policy = load_policy(POLICY)
    assert Classifier(KeywordModel(), policy).classify(["casino"])[0].labels == ("spam",)
    stricter = policy.model_copy(update={"thresholds": {"spam": 0.8}})
    assert Classifier(KeywordModel(), stricter).classify(["casino"])[0].labels == ()


def test_an_abusive_service_request_goes_to_two_lanes(classifier):
    """An insulting pothole report needs moderation and a reply: both lanes, moderation first."""
    verdict = classifier.classify(["fix the pothole you idiot"])[0]
    assert verdict.labels == ("service_request", "abusive")
    assert verdict.lanes == ("moderation", "response")
    assert verdict.lane == "moderation"
    assert {"reply_within_one_working_day", "record", "hide", "warn"} <= set(verdict.actions)
    codes = [r.code for r in verdict.reasons]
    assert codes == ["service_request", "rude_or_abusive"]
    assert verdict.reasons[1].clause.startswith("Unacceptable behaviour")


def test_emergency_wording_is_urgent(classifier):
    """Danger-now wording puts the post in the urgent lane with the emergency-contact action."""
    verdict = classifier.classify(["There is a strong smell of gas outside number 4"])[0]
    assert verdict.lane == "urgent"
    assert verdict.signals.urgent == ("gas_leak",)
    assert "point_to_emergency_contacts" in verdict.actions
    assert verdict.reasons[0].code == "emergency"
    assert "smell of gas" in verdict.reasons[0].evidence


def test_threats_are_urgent_and_abusive(classifier):
    """A threat is abusive, threatening, and urgent, with a police report to consider."""
    verdict = classifier.classify(["I know where you live and I'm going to hurt you"])[0]
    assert "abusive" in verdict.labels
    assert verdict.lanes[0] == "urgent"
    assert "moderation" in verdict.lanes
    assert "threatening" in [r.code for r in verdict.reasons]
    assert "consider_police_report" in verdict.actions


def test_personal_data_in_a_public_post_is_moved_private_and_redacted(classifier):
    """A public post with a phone number asks for a private channel; evidence hides the number."""
    verdict = classifier.classify(["my bin was missed, ring me on 07700 900123"])[0]
    assert verdict.signals.personal_data == ("phone",)
    assert verdict.lanes == ("moderation", "response")
    assert "move_to_private_channel" in verdict.actions
    sensitive = next(r for r in verdict.reasons if r.code == "sensitive_personal_data")
    assert "900123" not in sensitive.evidence
    assert "[phone]" in sensitive.evidence
    assert "900123" not in verdict.model_dump_json()


def test_personal_data_in_a_private_message_is_not_flagged(classifier):
    """A direct message is already private: no sensitive-data reason or moderation lane."""
    verdict = classifier.classify(
        [comment("my bin was missed, ring me on 07700 900123", "direct_message")]
    )[0]
    assert verdict.lanes == ("response",)
    assert "sensitive_personal_data" not in [r.code for r in verdict.reasons]


def test_spam_rules_raise_the_spam_score(classifier):
    """Several spam markers lift the spam score over the threshold though the model saw none."""
    verdict = classifier.classify(["Earn £300 a day from home, WhatsApp me bit.ly/abc"])[0]
    assert verdict.scores["spam"] > 0.5
    assert verdict.labels == ("spam",)
    assert set(verdict.signals.spam_markers) >= {"shortener", "money_lure"}
    assert "markers: shortener" in verdict.reasons[0].evidence


def test_misinformation_is_removed_and_banned(classifier):
    """Misleading posts are recorded, removed and their author banned from the channel."""
    verdict = classifier.classify(["5G masts spread the virus"])[0]
    assert verdict.labels == ("misinformation",)
    assert verdict.actions == ("record", "remove_and_ban")


@pytest.mark.parametrize(
    ("sub_score", "code"),
    [("identity_attack", "discriminatory"), ("obscene", "bad_language"), ("threat", "threatening")],
)
def test_detoxify_sub_scores_name_the_kind_of_abuse(sub_score, code):
    """A high detoxify sub-score raises abusive and adds the reason it stands for."""
    detox = FixedToxicity("flagme", {sub_score: 0.93})
    classifier = Classifier(KeywordModel(), load_policy(POLICY), detox)
    verdict, calm = classifier.classify(["flagme", "hello"])
    assert verdict.scores["abusive"] == 0.93
    assert "abusive" in verdict.labels
    assert code in [r.code for r in verdict.reasons]
    assert verdict.signals.toxicity[sub_score] == 0.93
    assert verdict.model["detoxify"] == "detox-stub"
    assert calm.labels == ()
    if code == "threatening":
        assert verdict.lane == "urgent"


def test_classify_is_safe_from_several_threads(classifier):
    """Threads sharing one classifier get the verdicts a single thread gets."""
    texts = [f"pothole number {i} you idiot 07700 900{i:03d}" for i in range(50)]
    expected = classifier.classify(texts)
    results: list[list[Verdict]] = []

    def work():
        results.append(classifier.classify(texts))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert results == [expected] * 4


def _settings(**changes):
    base = {
        "policy": POLICY,
        "model_dir": Path("no-such-model-dir"),
        "detoxify_checkpoint": None,
        "detoxify_config_dir": None,
        "require_detoxify": False,
        "detoxify_quantize": False,
        "detoxify_sha256": None,
        "torch_threads": 1,
        "transformer_int8": False,
    }
    return SimpleNamespace(**{**base, **changes})


def test_load_fails_clearly_without_a_model():
    """A missing model directory stops start-up with a message naming it."""
    with pytest.raises(ClassifierError, match="no-such-model-dir"):
        classifiers.load(_settings())


def test_load_refuses_a_bad_policy(tmp_path):
    """An unusable policy file stops start-up with the file named."""
    bad = tmp_path / "policy.yaml"
    bad.write_text("classification: {}\n")
    with pytest.raises(ClassifierError, match=r"policy\.yaml"):
        classifiers.load(_settings(policy=bad))


@pytest.fixture
def stub_model(monkeypatch):
    from classifiers.shipped import ShippedModel

    monkeypatch.setattr(
        ShippedModel, "load", classmethod(lambda cls, model_dir, **_: KeywordModel())
    )


def test_missing_detoxify_warns_once_and_carries_on(stub_model):
    """Without detoxify weights the classifier warns once and runs on the trained model alone."""
    with capture_logs() as logs:
        classifier = classifiers.load(_settings())
    warnings = [e for e in logs if e["log_level"] == "warning"]
    assert len(warnings) == 1
    assert "detoxify unavailable" in warnings[0]["event"]
    verdict = classifier.classify(["pothole"])[0]
    assert verdict.labels == ("service_request",)
    assert "detoxify" not in verdict.model


def test_required_detoxify_refuses_to_start_without_weights(stub_model, tmp_path):
    """When the settings require detoxify, missing weights stop start-up."""
    with pytest.raises(ClassifierError, match="detoxify is required"):
        classifiers.load(_settings(require_detoxify=True))
    with pytest.raises(ClassifierError, match="checkpoint not found"):
        classifiers.load(
            _settings(
                require_detoxify=True,
                detoxify_checkpoint=tmp_path / "none.ckpt",
                detoxify_config_dir=tmp_path,
            )
        )


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.text(max_size=500),
            st.text(alphabet="\x00\x1f\u200b\u202e\ufeff\U0001f600абвג中 a1@.:/", max_size=200),
            st.just("x" * 10_000),
            st.just(""),
        ),
        max_size=5,
    )
)
def test_no_string_crashes_classification(texts):
    """Empty, huge, control-character and mixed-script texts all get a valid verdict."""
    classifier = Classifier(KeywordModel(), load_policy(POLICY))
    verdicts = classifier.classify(texts)
    assert len(verdicts) == len(texts)
    for verdict in verdicts:
        assert all(0.0 <= p <= 1.0 for p in verdict.scores.values())
        assert verdict.lane == (verdict.lanes[0] if verdict.lanes else None)


def test_a_score_over_the_review_cut_is_a_possible_query(classifier):
    """Under the label's threshold but over the recall-first cut: no label, but the response
    lane, a possible-query flag and the reason that says why."""
    verdict = classifier.classify(["just wondering about the bins"])[0]
    assert verdict.labels == ()
    assert verdict.possible_query
    assert verdict.lanes == ("response",)
    reason = next(r for r in verdict.reasons if r.code == "possible_query")
    assert "0.40" in reason.evidence
    assert "reply_within_one_working_day" in verdict.actions
    assert not classifier.classify(["lovely day"])[0].possible_query
    assert not classifier.classify(["pothole"])[0].possible_query  # labelled: no need


def test_every_direct_message_is_a_possible_query(classifier):
    """A private message to the council expects an answer, whatever the model says of it."""
    verdict = classifier.classify([comment("lovely day", "direct_message")])[0]
    assert verdict.labels == ()
    assert verdict.possible_query
    assert verdict.lane == "response"
    assert "direct message" in verdict.reasons[-1].evidence


def test_the_policy_may_set_its_own_review_cut():
    """A policy cut replaces the model's, and never rises above the label's threshold."""
    policy = load_policy(POLICY)
    strict = Classifier(KeywordModel(), policy.model_copy(update={"possible_query_cut": 0.45}))
    assert not strict.classify(["just wondering"])[0].possible_query
    loose = Classifier(KeywordModel(), policy.model_copy(update={"possible_query_cut": 0.9}))
    assert loose.query_cut == 0.5
