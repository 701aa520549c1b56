"""The author ledger: folding audit records, appeal dates, the recommended step."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from records import Author, Comment, Reason, ReviewItem, Signals, Verdict
from records.moderation import AuditRecord
from worker.moderation.ledger import (
    appeal_date,
    apply_record,
    enrich,
    fold,
    history,
    recommend,
)
from worker.moderation.policy import ModerationPolicy

NOW = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)
ZONE = ZoneInfo("Europe/London")
POLICY = ModerationPolicy(strike_window_days=30)


def comment(cid: str = "c1", author: str = "a1", at: datetime = NOW) -> Comment:
    return Comment(
        id=cid,
        platform="facebook",
        channel="nhdc",
        kind="comment",
        thread_id="t1",
        author=Author(id=author, handle="@someone", name="Some One"),
        text="words",
        created_at=at,
        received_at=at,
    )


def item(
    cid: str = "c1",
    labels: tuple = ("abusive",),
    toxicity: dict | None = None,
    reasons: tuple = (),
    at: datetime = NOW,
) -> ReviewItem:
    verdict = Verdict(
        labels=labels,
        scores=dict.fromkeys(("service_request", "abusive", "misinformation", "spam"), 0.1),
        signals=Signals(toxicity=toxicity or {}),
        reasons=tuple(Reason(code=c, clause="x") for c in reasons),
        lane="moderation",
    )
    return ReviewItem(
        id=f"i-{cid}",
        lane="moderation",
        comment=comment(cid, at=at),
        verdict=verdict,
        created_at=at,
    )


def record(
    action: str, cid: str = "c1", rid: str | None = None, at: datetime = NOW, **extra
) -> AuditRecord:
    return AuditRecord(
        id=rid or f"d-{action}-{cid}",
        decision_id=rid or f"d-{action}-{cid}",
        item_id=f"i-{cid}",
        author_key="facebook:a1",
        platform="facebook",
        author_id="a1",
        channel="nhdc",
        comment_key=f"facebook:{cid}",
        posted_at=at,
        text="words",
        categories=("abusive",),
        action=action,
        decided_by="officer1",
        decided_at=at,
        **extra,
    )


def test_block_on_29_february_appeals_from_28_february():
    """A block made on 29 February may be appealed from 28 February the next year."""
    assert appeal_date(date(2028, 2, 29)) == date(2029, 2, 28)


@given(st.dates(min_value=date(2000, 1, 1), max_value=date(2090, 12, 31)))
def test_appeal_date_is_twelve_months_on(day):
    """The appeal date is the same day and month a year later (28 Feb for 29 Feb)."""
    result = appeal_date(day)
    assert result.year == day.year + 1
    assert result.month == day.month
    assert result.day == (28 if (day.month, day.day) == (2, 29) else day.day)


def test_the_same_record_twice_gives_one_strike():
    """An audit record applied twice (a redelivery) counts once."""
    ledger = fold([record("hide"), record("hide")])["facebook:a1"]
    assert len(ledger.strikes) == 1


def test_several_actions_on_one_post_are_one_strike():
    """Hiding a post and warning its author is one strike with one warning."""
    ledger = fold([record("hide"), record("warn")])["facebook:a1"]
    assert len(ledger.strikes) == 1
    assert len(ledger.warnings) == 1


def test_block_and_unblock_keep_the_history():
    """A block sets the appeal date; an unblock lifts it and records the approval."""
    blocked_at = datetime(2024, 2, 29, 10, tzinfo=UTC)
    ledger = apply_record(None, record("block", at=blocked_at))
    assert ledger.active_block is not None
    assert ledger.active_block.appealable_from == date(2025, 2, 28)
    ledger = apply_record(
        ledger,
        record("unblock", rid="d-unblock", approved_by="MD", at=blocked_at + timedelta(days=400)),
    )
    assert ledger.active_block is None
    assert ledger.blocks[0].approved_by == "MD"


def test_ban_and_police_report_are_recorded():
    """A channel ban names the channel; a police report keeps its reference."""
    ledger = fold([record("ban_from_channel"), record("report_police", reference="PR-1")])[
        "facebook:a1"
    ]
    assert ledger.banned_channels == ("nhdc",)
    assert ledger.police_reports[0].reference == "PR-1"


def test_first_offence_recommends_hide_and_warn():
    """An author with no record gets hide and a written warning."""
    advice = recommend(item(), None, POLICY, NOW)
    assert advice.steps == ("hide", "warn")


def test_second_offence_within_window_recommends_block():
    """Another unacceptable post within the window suggests a block."""
    ledger = fold([record("hide", cid="c0", at=NOW - timedelta(days=10))])["facebook:a1"]
    advice = recommend(item("c1"), ledger, POLICY, NOW)
    assert advice.steps == ("hide", "block")


def test_offence_outside_window_is_a_fresh_warning():
    """A strike older than the window leads to a warning, not a block."""
    ledger = fold([record("hide", cid="c0", at=NOW - timedelta(days=40))])["facebook:a1"]
    assert recommend(item("c1"), ledger, POLICY, NOW).steps == ("hide", "warn")


def test_the_items_own_strike_is_not_a_repeat():
    """The strike recorded for this very post does not make it a second offence."""
    ledger = fold([record("hide", cid="c1")])["facebook:a1"]
    assert recommend(item("c1"), ledger, POLICY, NOW).steps == ("hide", "warn")


def test_extreme_post_recommends_block_and_police():
    """A threat is extreme: consider a block and a police report at once."""
    advice = recommend(item(toxicity={"threat": 0.9}), None, POLICY, NOW)
    assert advice.steps == ("hide", "block", "report_police")


def test_discriminatory_reason_is_extreme():
    """A discriminatory-abuse reason code is extreme even with low scores."""
    advice = recommend(item(reasons=("discriminatory",)), None, POLICY, NOW)
    assert "block" in advice.steps


def test_misinformation_recommends_removal_and_channel_ban():
    """Misinformation: remove the post and ban the author from the channel."""
    advice = recommend(item(labels=("misinformation",)), None, POLICY, NOW)
    assert advice.steps == ("delete", "ban_from_channel")


def test_enrich_fills_history_and_steps():
    """Enriching an item shows the author's strikes and the recommended steps."""
    ledger = fold([record("warn", cid="c0", at=NOW - timedelta(days=5))])["facebook:a1"]
    enriched = enrich(item("c1"), ledger, POLICY, NOW)
    assert enriched.history is not None
    assert enriched.history.strikes == 1
    assert enriched.history.warnings == 1
    assert enriched.recommended == ("hide", "block")


def test_history_counts_only_the_window():
    """strikes_in_window counts strikes in the configured window only."""
    ledger = fold(
        [
            record("hide", cid="c0", at=NOW - timedelta(days=100)),
            record("hide", cid="c2", at=NOW - timedelta(days=1)),
        ]
    )["facebook:a1"]
    summary = history(ledger, POLICY, NOW)
    assert (summary.strikes, summary.strikes_in_window) == (2, 1)


def test_automatic_hide_is_recorded_but_no_strike():
    """With auto_actions [hide], a near-certain post is recorded as automatic, not a strike."""
    from worker.moderation.policy import ModerationConfig
    from worker.moderation.step import automatic_record

    sure = item()
    sure = sure.model_copy(
        update={
            "verdict": sure.verdict.model_copy(
                update={"scores": {**sure.verdict.scores, "abusive": 0.99}}
            )
        }
    )
    off = ModerationConfig()
    assert automatic_record(sure, off, NOW, ZONE) is None  # none by default
    on = ModerationConfig(moderation=ModerationPolicy(auto_actions=("hide",)))
    assert automatic_record(item(), on, NOW, ZONE) is None  # not sure enough
    auto = automatic_record(sure, on, NOW, ZONE)
    assert auto is not None
    assert (auto.automatic, auto.decided_by) == (True, "automatic")
    assert fold([auto])["facebook:a1"].strikes == ()


def test_a_blocks_appeal_date_is_a_date_in_the_policys_zone(tmp_path):
    """A block just before midnight UTC takes its appeal date from the calendar of the
    zone the policy names, which the worker reads from working_time.timezone."""
    from records.moderation import Decision
    from worker.context import WorkerContext
    from worker.moderation.policy import ModerationConfig
    from worker.moderation.step import audit_record
    from worker.settings import Settings

    policy = tmp_path / "policy.yaml"
    policy.write_text("working_time:\n  timezone: Pacific/Auckland\n", encoding="utf-8")
    zone = WorkerContext(Settings(_env_file=None, policy=policy)).zone
    assert zone == ZoneInfo("Pacific/Auckland")
    late = datetime(2026, 3, 10, 23, 30, tzinfo=UTC)  # 11 March in Auckland, 10th in London
    block = Decision(
        id="d-b",
        item_id="i1",
        lane="moderation",
        action="block",
        by="m",
        role="manager",
        decided_at=late,
        approved_by="md",
    )
    config = ModerationConfig()
    assert audit_record(item(), block, config, zone).appealable_from == date(2027, 3, 11)
    assert audit_record(item(), block, config, ZONE).appealable_from == date(2027, 3, 10)


def test_one_post_in_two_lanes_is_one_strike():
    """The urgent and moderation items of one post, both hidden, make one strike."""
    urgent = record("hide", rid="d-urgent").model_copy(update={"item_id": "i-urgent"})
    ledger = fold([record("hide"), urgent])["facebook:a1"]
    assert len(ledger.strikes) == 1


def test_block_notice_keeps_the_latest_ten_posts_each_once_and_cut():
    """A block after twelve strikes (one post hidden twice) lists each post once, the
    latest ten with the total, a long text cut, the other authors' posts left out."""
    from worker.clock import ManualClock
    from worker.moderation.policy import ModerationConfig
    from worker.moderation.review_view import ModerationState
    from worker.moderation.step import block_alert, block_posts

    state = ModerationState(config=ModerationConfig(), clock=ManualClock(NOW))
    for n in range(12):
        at = NOW - timedelta(days=30 - n)
        text = f"post {n}" + "!" * 1500 * (n == 11)
        state.add_audit(record("hide", cid=f"c{n}", at=at).model_copy(update={"text": text}))
    state.add_audit(record("delete", cid="c3", at=NOW - timedelta(days=5)))
    other = record("hide", cid="x1").model_copy(update={"author_key": "facebook:a2"})
    state.add_audit(other)
    block = record("block", cid="c11", appealable_from=date(2027, 1, 1))
    state.add_audit(block)
    posts = block_posts(state, block)
    assert [p.comment_key for p in posts] == [f"facebook:c{n}" for n in range(12)]
    notice = block_alert(block, NOW, posts).notice
    assert notice is not None
    assert (notice.posts_total, len(notice.posts)) == (12, 10)
    assert notice.posts[0].text == "post 2"
    assert notice.posts[-1].text.endswith(" [cut]")
    assert len(notice.posts[-1].text) < 1100
