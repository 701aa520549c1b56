"""Messages to authors: filled in from the policy file's templates, safely."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from records import Author, Comment, Reason, ReviewItem, Verdict
from records.moderation import AuditRecord
from records.policy import PolicyError
from worker.moderation.ledger import fold
from worker.moderation.messages import MessageError, check_templates, messages_for, render
from worker.moderation.policy import (
    DEFAULT_MESSAGES,
    load_moderation_config,
    parse_moderation_config,
)
from worker.settings import DEFAULT_POLICY

AT = datetime(2028, 2, 29, 10, tzinfo=UTC)


def item(name="Pat\nSmith", recommended=("hide", "warn")) -> ReviewItem:
    comment = Comment(
        id="c1",
        platform="facebook",
        channel="NHDC page",
        kind="comment",
        thread_id="t",
        author=Author(id="a1", name=name, handle="@pat"),
        text="words",
        created_at=AT,
        received_at=AT,
    )
    verdict = Verdict(
        labels=("abusive",),
        scores={"abusive": 0.9},
        reasons=(Reason(code="abusive", clause="rude or abusive"),),
    )
    return ReviewItem(
        id="i1",
        lane="moderation",
        comment=comment,
        verdict=verdict,
        created_at=AT,
        recommended=recommended,
    )


def test_warning_names_the_author_reason_and_policy_link():
    """The written warning carries the author's name, the reason and the policy link."""
    text = render("warning", DEFAULT_MESSAGES, item()).text
    assert "Pat Smith" in text  # control characters in names are flattened
    assert "rude or abusive" in text
    assert DEFAULT_MESSAGES.policy_url in text
    assert "2028-02-29" in text


def test_appeal_message_gives_the_appeal_date():
    """The appeal route message states the date from which the block can be appealed."""
    record = AuditRecord(
        id="d",
        decision_id="d",
        item_id="i1",
        author_key="facebook:a1",
        platform="facebook",
        author_id="a1",
        channel="NHDC page",
        comment_key="facebook:c1",
        posted_at=AT,
        text="t",
        action="block",
        decided_by="boss",
        decided_at=AT,
    )
    ledger = fold([record])["facebook:a1"]
    kinds = [m.kind for m in messages_for(DEFAULT_MESSAGES, item(), ledger)]
    assert kinds == ["warning", "appeal"]
    assert "2029-02-28" in render("appeal", DEFAULT_MESSAGES, item(), ledger).text


def test_templates_run_in_a_sandbox():
    """A template cannot reach Python internals through the values it is given."""
    hostile = DEFAULT_MESSAGES.model_copy(
        update={"warning": "{{ name.__class__.__mro__[1].__subclasses__() }}"}
    )
    with pytest.raises(MessageError):
        render("warning", hostile, item())


def test_broken_template_is_reported_by_name():
    """A template that does not parse names its key."""
    broken = DEFAULT_MESSAGES.model_copy(update={"channel_ban": "{% if %}"})
    with pytest.raises(MessageError, match=r"messages\.channel_ban"):
        check_templates(broken)


def test_shipped_policy_file_has_valid_sections():
    """The shipped policy's moderation and messages sections load and parse."""
    config = load_moderation_config(Path(DEFAULT_POLICY))
    check_templates(config.messages)
    assert config.moderation.connector_actions_enabled is False
    assert config.moderation.auto_actions == ()


def test_bad_policy_values_name_the_key():
    """An out-of-range setting is reported with its key."""
    with pytest.raises(PolicyError, match=r"moderation\.audit_retention_days"):
        parse_moderation_config({"moderation": {"audit_retention_days": 30}})
