"""Retention: the policy's periods, the one table of topics, and the start-up verdict."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from records import Topics
from records.policy import PolicyError
from records.retention import RetentionPolicy, load_retention, parse_retention
from records.topics import DAY_MS, TABLE
from worker.cli import cli
from worker.moderation.policy import load_moderation_config
from worker.retention import BROKER_DEFAULT_RETENTION_MS, Kept, excess, shortfall
from worker.settings import DEFAULT_POLICY, load_settings

REPO = Path(__file__).resolve().parents[2]
SPECS = Topics("p.").specs(load_retention(DEFAULT_POLICY))


def spec(base: str):
    return SPECS[f"p.{base}"]


def test_the_shipped_policy_sets_every_period():
    """The policy file gives each class of data a period; audit records are six years."""
    document = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    assert set(document["retention"]) == {
        "comments_days",
        "review_items_days",
        "decisions_days",
        "labels_days",
    }
    retention = load_retention(DEFAULT_POLICY)
    assert (
        retention.audit_days
        == load_moderation_config(DEFAULT_POLICY).moderation.audit_retention_days
    )
    assert retention.audit_days == 2190


def test_record_keeping_topics_keep_at_least_the_audit_period():
    """triage.audit keeps audit_retention_days; decisions and labels at least as long."""
    audit_days = load_retention(DEFAULT_POLICY).audit_days
    assert spec("triage.audit").retention_ms == audit_days * DAY_MS
    assert spec("triage.audit").cleanup == "delete"
    for base in ("triage.decisions", "triage.labels"):
        assert spec(base).retention_days is not None
        assert spec(base).retention_days >= audit_days
    assert all(spec(b).records for b in ("triage.audit", "triage.decisions", "triage.labels"))


def test_state_topics_are_compacted_and_never_deleted_by_age():
    """The SLA state, cases and emergency history are compacted, with no age limit."""
    for base in ("triage.sla-state", "triage.cases", "triage.emergency"):
        assert spec(base).cleanup == "compact"
        assert spec(base).configs() == {"cleanup.policy": "compact", "retention.ms": "-1"}
    assert spec("triage.review").cleanup == "compact,delete"
    assert spec("triage.emergency").single_partition


def test_every_topic_name_in_the_code_is_in_the_table():
    """Each topic name written in the worker or the connectors has its row in the table."""
    bases = {row.base for row in TABLE}
    found = set()
    for folder in ("worker", "connectors", "records"):
        for path in (REPO / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            found |= set(re.findall(r"""["']((?:triage|social)\.[a-z][a-z-]*)["']""", text))
    assert found
    assert found <= bases, f"topics missing from records/topics.py: {found - bases}"
    assert set(Topics().all()) == bases


def test_the_period_of_each_row_comes_from_the_policy():
    """Changing a period in the policy changes the topics that take it, and only those."""
    longer = RetentionPolicy(comments_days=30, review_items_days=100)
    specs = Topics().specs(longer)
    assert specs["social.comments"].retention_days == 30
    assert specs["triage.verdicts"].retention_days == 30
    assert specs["triage.review"].retention_days == 100
    assert specs["triage.audit"].retention_days == 2190


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"retention": {"decisions_days": 400}}, r"retention.decisions_days \(400\).*2190"),
        ({"retention": {"labels_days": 10}}, r"retention.labels_days \(10\)"),
        (
            {"retention": {"decisions_days": 500}, "moderation": {"audit_retention_days": 600}},
            r"decisions_days \(500\).*moderation.audit_retention_days \(600\)",
        ),
        ({"moderation": {"audit_retention_days": 30}}, r"moderation.audit_retention_days"),
        ({"retention": {"comments_days": 2}}, r"retention.comments_days"),
        ({"retention": {"comment_days": 90}}, r"retention.comment_days: Extra inputs"),
        ({"retention": {"audit_days": 2190}}, r"set moderation.audit_retention_days instead"),
        ({"retention": {"review_items_days": "a year"}}, r"retention.review_items_days"),
        ({"retention": [90]}, r"retention must be a mapping"),
        ([1, 2], r"mapping of sections at the top level"),
    ],
)
def test_unusable_periods_are_refused_naming_the_key(document, message):
    """A period out of range, of the wrong type or unknown is refused, naming its key."""
    with pytest.raises(PolicyError, match=message):
        parse_retention(document)


def test_a_missing_section_takes_the_defaults():
    """A policy file without a retention section uses the documented defaults."""
    assert parse_retention({}) == RetentionPolicy()
    assert parse_retention(None).comments_days == 90


def test_an_unreadable_policy_file_is_a_clear_error(tmp_path):
    """A missing file or bad YAML names the file."""
    with pytest.raises(PolicyError, match="cannot read"):
        load_retention(tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("retention: [", encoding="utf-8")
    with pytest.raises(PolicyError, match="not valid YAML"):
        load_retention(bad)


# What an existing topic's described settings mean.


def test_unset_settings_mean_the_brokers_default_of_seven_days():
    """A topic that reports nothing deletes after 7 days: too soon for the audit trail."""
    kept = Kept.of({})
    assert kept.retention_ms == BROKER_DEFAULT_RETENTION_MS
    assert kept.defaulted
    problem = shortfall(spec("triage.audit"), kept)
    assert problem is not None
    assert "p.triage.audit" in problem
    assert "7 days (broker default" in problem
    assert "2190 days (moderation.audit_retention_days)" in problem


def test_a_short_retention_names_the_topic_and_both_periods():
    """One day on triage.decisions is refused with one day and the policy's period."""
    problem = shortfall(spec("triage.decisions"), Kept.of({"retention.ms": str(DAY_MS)}))
    assert problem == (
        "p.triage.decisions: deletes records after 1 day, but the policy keeps them "
        "2190 days (retention.decisions_days)"
    )


@pytest.mark.parametrize(
    "configs",
    [
        {"retention.ms": str(2190 * DAY_MS)},
        {"retention.ms": str(3000 * DAY_MS)},
        {"retention.ms": "-1"},
        {"cleanup.policy": "compact"},
        {"cleanup.policy": "compact", "retention.ms": "1000"},
    ],
)
def test_retention_as_long_or_longer_is_accepted(configs):
    """Keeping the records as long as the policy, or longer, or until replaced, passes."""
    assert shortfall(spec("triage.audit"), Kept.of(configs)) is None


def test_a_size_limit_on_a_deleting_topic_is_a_shortfall():
    """retention.bytes would delete records by size whatever their age."""
    kept = Kept.of({"retention.ms": "-1", "retention.bytes": "1073741824"})
    assert "retention.bytes" in (shortfall(spec("triage.audit"), kept) or "")


def test_a_state_topic_that_deletes_is_a_shortfall():
    """triage.sla-state created as a plain topic would lose each conversation's state."""
    problem = shortfall(spec("triage.sla-state"), Kept.of({"cleanup.policy": "delete"}))
    assert problem is not None
    assert "until replaced (cleanup.policy compact)" in problem


def test_keeping_comments_longer_than_the_policy_is_reported():
    """A comments topic kept for ever holds personal data longer than its period."""
    assert excess(spec("social.comments"), Kept.of({"retention.ms": "-1"})) is not None
    assert excess(spec("social.comments"), Kept.of({"retention.ms": str(90 * DAY_MS)})) is None


def test_the_override_is_a_setting(monkeypatch):
    """TRIAGE_ALLOW_SHORT_RETENTION=true is read into the settings (off by default)."""
    assert load_settings().allow_short_retention is False
    monkeypatch.setenv("TRIAGE_ALLOW_SHORT_RETENTION", "true")
    assert load_settings().allow_short_retention is True


def test_triage_run_names_the_bad_period_and_stops(tmp_path):
    """`triage run` with a policy whose decisions period is too short exits 1 naming it,
    before it contacts any broker."""
    policy = tmp_path / "policy.yaml"
    document = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    document["retention"]["decisions_days"] = 30
    policy.write_text(yaml.safe_dump(document), encoding="utf-8")
    env = {"TRIAGE_POLICY": str(policy), "TRIAGE_BROKER": "kafka://127.0.0.1:1"}
    result = CliRunner().invoke(cli, ["run"], env=env)
    assert result.exit_code == 1
    assert "retention.decisions_days (30) is shorter than" in result.output
    assert "moderation.audit_retention_days (2190)" in result.output
