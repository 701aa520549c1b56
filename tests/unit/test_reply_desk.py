"""The reply desk: reply ids per click, repeats, refusals, approval of the written warning."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from records import Author, Comment, ReviewItem, encode
from records.policy import PolicyError
from records.reply import (
    ReplyingPolicy,
    ReplyOutcome,
    ReplyRequest,
    load_replying_policy,
    replies_enabled,
    reply_id,
    warning_decision,
)
from worker.replies.desk import ReplyDesk, ReplyRefused
from worker.settings import DEFAULT_POLICY
from worker.users import User

AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
OFFICER = User("olive", "officer")
MANAGER = User("mona", "manager")


def item(platform: str = "facebook", connector: str | None = "meta") -> ReviewItem:
    comment = Comment(
        id="42_7",
        platform=platform,
        channel="NHDC page",
        kind="comment",
        thread_id="42",
        author=Author(id="a1", name="Pat", handle="pat"),
        text="the bins were not collected",
        created_at=AT,
        received_at=AT,
        connector=connector,
    )
    return ReviewItem(id="rv-1", lane="response", comment=comment, created_at=AT)


def desk(enabled: bool = True) -> tuple[ReplyDesk, list[ReplyRequest]]:
    written: list[ReplyRequest] = []

    async def sink(request: ReplyRequest) -> None:
        written.append(request)

    def texts(template: str, _item: ReviewItem) -> str:
        return f"saved {template}"

    return ReplyDesk(enabled=enabled, sink=sink, texts=texts, now=lambda: AT), written


async def test_one_key_is_one_reply_and_two_keys_are_two():
    """The same user and key give one reply however often sent; a new key is a new reply."""
    d, written = desk()
    first = await d.send(item(), OFFICER, key="k1", template="acknowledgement")
    again = await d.send(item(), OFFICER, key="k1", template="acknowledgement")
    other = await d.send(item(), OFFICER, key="k2", template="acknowledgement")
    assert first.entry.request.id == again.entry.request.id == reply_id("olive", "k1")
    assert (first.repeat, again.repeat, other.repeat) == (False, True, False)
    assert other.entry.request.id != first.entry.request.id
    assert [r.id for r in written] == [first.entry.request.id, other.entry.request.id]
    assert written[0].text == "saved acknowledgement"
    assert written[0].comment_key == "facebook:42_7"
    assert written[0].native_id == "42_7"
    assert {e.request.id for e in d.for_item("rv-1")} == {r.id for r in written}


async def test_keys_are_namespaced_by_user():
    """Two officers sending with the same key make two replies with different ids."""
    d, written = desk()
    await d.send(item(), OFFICER, key="same", text="Thanks, we are on it.")
    await d.send(item(), User("ola", "officer"), key="same", text="Thanks, we are on it.")
    assert len({r.id for r in written}) == 2


async def test_a_reused_key_with_other_content_is_refused():
    """A key already used for another reply is a 409, and nothing more is written."""
    d, written = desk()
    await d.send(item(), OFFICER, key="k1", text="one reply")
    with pytest.raises(ReplyRefused) as refused:
        await d.send(item(), OFFICER, key="k1", text="another reply")
    assert refused.value.status == 409
    assert len(written) == 1


@pytest.mark.parametrize(
    ("kwargs", "status"),
    [
        ({"text": "a", "template": "acknowledgement"}, 400),
        ({}, 400),
        ({"template": "poem"}, 422),
        ({"text": "   "}, 422),
        ({"text": "x" * 10_001}, 422),
        ({"text": "fine", "key": "bad key!"}, 422),
    ],
)
async def test_bad_requests_are_refused_with_a_status(kwargs, status):
    """Both or neither of text and template, an unknown template, empty text or a bad key."""
    d, written = desk()
    key = kwargs.pop("key", "k1")
    with pytest.raises(ReplyRefused) as refused:
        await d.send(item(), OFFICER, key=key, **kwargs)
    assert refused.value.status == status
    assert written == []


async def test_off_unknown_item_and_unsupported_platform_are_refused():
    """Switched off: 403; no item: 404; a webhook post cannot be answered from the tool: 422."""
    off, _ = desk(enabled=False)
    with pytest.raises(ReplyRefused) as refused:
        await off.send(item(), OFFICER, key="k", text="hi")
    assert refused.value.status == 403
    assert "replying.enabled" in refused.value.message
    d, written = desk()
    with pytest.raises(ReplyRefused) as missing:
        await d.send(None, OFFICER, key="k", text="hi")
    assert missing.value.status == 404
    with pytest.raises(ReplyRefused) as webhook:
        await d.send(item("webhook", "webhook"), OFFICER, key="k", text="hi")
    assert webhook.value.status == 422
    assert written == []


async def test_an_officers_warning_waits_for_a_managers_approval():
    """The written warning goes private and waits; an officer cannot approve, a manager can."""
    d, written = desk()
    sent = await d.send(item(), OFFICER, key="w", template="warning")
    request = sent.entry.request
    assert (request.private, request.needs_approval, request.ready) == (True, True, False)
    assert sent.entry.state == "awaiting_approval"
    with pytest.raises(ReplyRefused) as refused:
        await d.approve(request.id, OFFICER)
    assert refused.value.status == 403
    approved = await d.approve(request.id, MANAGER)
    assert approved.request.approved_by == "mona"
    assert approved.request.approved_at == AT
    assert approved.state == "queued"
    assert [r.approved_by for r in written] == [None, "mona"]
    again = await d.approve(request.id, MANAGER)  # a second click writes nothing more
    assert again.request.approved_by == "mona"
    assert len(written) == 2


async def test_a_managers_own_warning_is_approved_by_sending_it():
    """A manager who sends the warning is recorded as its approver; it can go at once."""
    d, written = desk()
    sent = await d.send(item(), MANAGER, key="w", template="warning")
    assert sent.entry.request.approved_by == "mona"
    assert sent.entry.request.ready
    assert len(written) == 1


async def test_outcomes_and_late_copies_do_not_undo_what_happened():
    """A late copy of a request does not undo its approval; a late 'sending' no outcome."""
    d, _ = desk()
    sent = await d.send(item(), OFFICER, key="w", template="warning")
    first = sent.entry.request
    await d.approve(first.id, MANAGER)
    d.fold_request(encode(first))  # the unapproved copy, read again by the follower
    entry = d.get(first.id)
    assert entry is not None
    assert entry.request.approved_by == "mona"

    def outcome(status: str, reason: str = "") -> bytes:
        record = ReplyOutcome(
            reply_id=first.id,
            item_id="rv-1",
            comment_key="facebook:42_7",
            platform="facebook",
            status=status,  # type: ignore[arg-type]
            reason=reason,
            text=first.text,
            requested_by="olive",
            at=AT,
        )
        return encode(record)

    d.fold_outcome(outcome("failed", "facebook refused the reply with HTTP 400"))
    d.fold_outcome(outcome("sending"))
    entry = d.get(first.id)
    assert entry is not None
    assert entry.state == "failed"
    assert entry.outcome is not None
    assert entry.outcome.reason == "facebook refused the reply with HTTP 400"


def test_the_policy_section_is_off_by_default_and_overridable(tmp_path: Path):
    """The bundled policy leaves replying off; the setting overrides either way; bad keys named."""
    bundled = load_replying_policy(DEFAULT_POLICY)
    assert bundled.enabled is False
    assert bundled.acknowledgement
    assert replies_enabled(bundled, None) is False
    assert replies_enabled(bundled, True) is True
    assert replies_enabled(ReplyingPolicy(enabled=True), False) is False
    path = tmp_path / "policy.yaml"
    path.write_text("replying:\n  enabled: true\n  acknowledgment: typo\n")
    with pytest.raises(PolicyError) as error:
        load_replying_policy(path)
    assert "replying.acknowledgment" in str(error.value)


@pytest.mark.parametrize(
    ("platform", "private", "fits", "too_long"),
    [
        ("x", False, "a" * 280, "a" * 281),
        # CJK weighs 2 on X: 140 fit.
        ("x", False, "水" * 140, "水" * 141),
        # A URL weighs 23 however long.
        ("x", False, "b" * 256 + " https://example.org/" + "p" * 300, "b" * 257 + " https://e.org"),
        # A direct status starts with "@pat ", which Mastodon counts.
        ("mastodon", True, "a" * 495, "a" * 496),
        ("mastodon", False, "a" * 500, "a" * 501),
        ("facebook", False, "a" * 8_000, "a" * 8_001),
        ("facebook", True, "a" * 2_000, "a" * 2_001),
        ("instagram", False, "a" * 2_200, "a" * 2_201),
    ],
)
async def test_a_reply_over_the_platforms_limit_is_refused_before_it_is_queued(
    platform, private, fits, too_long
):
    """Each platform's limit, counted as the platform counts, is checked before sending:
    a reply at the limit is queued, one character more is refused with the counts."""
    d, written = desk()
    await d.send(item(platform), OFFICER, key="fits", text=fits, private=private)
    with pytest.raises(ReplyRefused) as refused:
        await d.send(item(platform), OFFICER, key="long", text=too_long, private=private)
    assert refused.value.status == 422
    assert f"on {platform} takes at most" in refused.value.message
    # One character over: by 1, or 2 for a character X weighs double.
    assert refused.value.message.endswith(("shorten it by 1", "shorten it by 2"))
    assert len(written) == 1


async def test_the_mastodon_limit_follows_the_councils_server():
    """A Mastodon server set to take 1,000 characters takes a 900-character reply."""
    written: list[ReplyRequest] = []

    async def sink(request: ReplyRequest) -> None:
        written.append(request)

    d = ReplyDesk(enabled=True, sink=sink, texts=lambda t, i: t, now=lambda: AT, mastodon_max=1_000)
    await d.send(item("mastodon"), OFFICER, key="k", text="a" * 900)
    assert len(written) == 1
    with pytest.raises(ReplyRefused, match="1,001 characters"):
        await d.send(item("mastodon"), OFFICER, key="k2", text="a" * 1_001)


def test_a_sent_written_warning_is_a_warn_decision_by_the_approving_manager():
    """Only an approved warning stands for a decision; its id is the same every time."""
    base = ReplyRequest(
        id="r-1", item_id="rv-1", comment_key="facebook:42_7", platform="facebook",
        channel="NHDC page", thread_id="42", author_id="a1", text="Hello Pat.",
        template="warning", private=True, requested_by="olive", requested_at=AT,
        needs_approval=True,
    )  # fmt: skip
    assert warning_decision(base, AT) is None
    approved = base.model_copy(update={"approved_by": "mona", "approved_at": AT})
    decision = warning_decision(approved, AT)
    assert decision is not None
    assert (decision.action, decision.by, decision.role) == ("warn", "mona", "manager")
    assert decision.author_key == "facebook:a1"
    assert warning_decision(approved, AT.replace(hour=11)).id == decision.id
    plain = approved.model_copy(update={"template": "acknowledgement"})
    assert warning_decision(plain, AT) is None
