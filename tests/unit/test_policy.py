"""The classification part of the policy file: loading, validation and lanes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from classifiers import PolicyError, load_policy
from classifiers.policy import REQUIRED_REASONS, parse_policy

SHIPPED = Path(__file__).resolve().parents[2] / "classifiers" / "policy" / "north-herts.yaml"


@pytest.fixture
def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(SHIPPED.read_text(encoding="utf-8"))
    return loaded


def test_shipped_policy_loads_with_every_reason():
    """The default policy validates and lists a reason for each unacceptable kind of post."""
    policy = load_policy(SHIPPED)
    assert set(REQUIRED_REASONS) <= set(policy.reasons)
    assert policy.reasons["misleading"].actions == ("record", "remove_and_ban")
    assert "reply_within_one_working_day" in policy.reasons["service_request"].actions


def test_other_sections_are_ignored(raw):
    """Sections written for other parts of the product do not upset the loader."""
    raw["working_time"] = {"start": "09:00"}
    raw["moderation"] = {"anything": [1, 2, 3]}
    assert parse_policy(raw).name == "north-herts"


def test_errors_name_the_key(raw):
    """A bad value is reported with its full key path."""
    raw["classification"]["thresholds"]["abusive"] = 1.5
    raw["classification"]["reasons"]["spam"]["actions"] = ["shout"]
    with pytest.raises(PolicyError) as error:
        parse_policy(raw)
    message = str(error.value)
    assert "classification.thresholds.abusive" in message
    assert "classification.reasons.spam.actions: unknown action 'shout'" in message


def test_a_missing_reason_is_an_error(raw):
    """Dropping one of the policy's kinds of unacceptable post is refused."""
    del raw["classification"]["reasons"]["contempt_of_court"]
    with pytest.raises(PolicyError, match=r"classification\.reasons\.contempt_of_court"):
        parse_policy(raw)


def test_unknown_keys_in_the_section_are_refused(raw):
    """A misspelt key inside the classification section is an error, not silently ignored."""
    raw["classification"]["thresold"] = {}
    with pytest.raises(PolicyError, match=r"classification\.thresold"):
        parse_policy(raw)


def test_missing_section_and_bad_yaml_are_clear(tmp_path):
    """A file without the section, or not YAML at all, gives a one-line error naming the file."""
    empty = tmp_path / "p.yaml"
    empty.write_text("working_time: {}\n")
    with pytest.raises(PolicyError, match="missing the 'classification' section"):
        load_policy(empty)
    broken = tmp_path / "q.yaml"
    broken.write_text("classification: [\n")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_policy(broken)
    with pytest.raises(PolicyError, match="cannot read"):
        load_policy(tmp_path / "absent.yaml")


def test_thresholds_fall_back_to_the_model(raw):
    """A null threshold takes the model's; a set one overrides it."""
    raw["classification"]["thresholds"] = {"spam": 0.8}
    policy = parse_policy(raw)
    assert policy.threshold("spam", {"spam": 0.4}) == 0.8
    assert policy.threshold("abusive", {"abusive": 0.35}) == 0.35


def test_lanes_are_ordered_most_pressing_first():
    """Urgent comes before moderation, moderation before response."""
    policy = load_policy(SHIPPED)
    assert policy.lanes_for({"service_request", "abusive"}, set()) == ("moderation", "response")
    assert policy.lanes_for({"service_request"}, {"emergency"}) == ("urgent", "response")
    assert policy.lanes_for(set(), {"personal_data"}) == ("moderation",)
    assert policy.lanes_for(set(), set()) == ()
