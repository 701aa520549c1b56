"""The author ledger: folded from audit records, and the next step it suggests.

Pure functions: no Kafka, no clock of their own (callers pass ``now``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from records.moderation import (
    Action,
    AuditRecord,
    AuthorLedger,
    Block,
    LedgerEntry,
    Strike,
)
from records.verdict import AuthorHistory, Category, ReviewItem, Verdict
from worker.moderation.policy import ModerationPolicy

__all__ = [
    "BREACH_ACTIONS",
    "MODERATION_CATEGORIES",
    "Recommendation",
    "appeal_date",
    "apply_record",
    "enrich",
    "fold",
    "history",
    "is_extreme",
    "needs_moderation",
    "new_ledger",
    "recommend",
    "suspects_crime",
]

# Decisions that confirm a post breaks the policy: each post counts once as a strike,
# even when it is in two lanes (urgent and moderation) and decided in both.
BREACH_ACTIONS: frozenset[Action] = frozenset(
    {"hide", "delete", "warn", "recommend_block", "block", "report_police", "ban_from_channel"}
)
MODERATION_CATEGORIES: frozenset[Category] = frozenset({"abusive", "misinformation", "spam"})


def appeal_date(blocked_on: date) -> date:
    """Twelve months after a block; a block on 29 February may be appealed from 28 February."""
    try:
        return blocked_on.replace(year=blocked_on.year + 1)
    except ValueError:  # 29 February into a common year
        return blocked_on.replace(year=blocked_on.year + 1, day=28)


def new_ledger(record: AuditRecord) -> AuthorLedger:
    return AuthorLedger(
        author_key=record.author_key, platform=record.platform, author_id=record.author_id
    )


def apply_record(ledger: AuthorLedger | None, record: AuditRecord) -> AuthorLedger:
    """The ledger after one audit record; a record already applied changes nothing."""
    ledger = ledger or new_ledger(record)
    if record.id in ledger.decision_ids:
        return ledger
    update: dict[str, object] = {
        "decision_ids": ledger.decision_ids | {record.id},
        "account_name": record.account_name or ledger.account_name,
        "account_handle": record.account_handle or ledger.account_handle,
    }
    # An automatic action is recorded but is no strike: only an officer confirms a breach.
    if (
        record.action in BREACH_ACTIONS
        and not record.automatic
        and all(s.comment_key != record.comment_key for s in ledger.strikes)
    ):
        strike = Strike(
            item_id=record.item_id,
            comment_key=record.comment_key,
            posted_at=record.posted_at,
            recorded_at=record.decided_at,
            categories=record.categories,
            reasons=tuple(r.code for r in record.reasons),
            extreme=record.extreme,
        )
        update["strikes"] = (*ledger.strikes, strike)
    entry = LedgerEntry(
        action=record.action,
        at=record.decided_at,
        by=record.decided_by,
        item_id=record.item_id,
        decision_id=record.decision_id,
        channel=record.channel,
        reference=record.reference,
        note=record.note,
    )
    if record.action == "warn":
        update["warnings"] = (*ledger.warnings, entry)
    elif record.action == "recommend_block":
        update["block_recommendations"] = (*ledger.block_recommendations, entry)
    elif record.action == "ban_from_channel":
        update["channel_bans"] = (*ledger.channel_bans, entry)
    elif record.action == "report_police":
        update["police_reports"] = (*ledger.police_reports, entry)
    elif record.action == "block" and ledger.active_block is None:
        block = Block(
            at=record.decided_at,
            by=record.decided_by,
            item_id=record.item_id,
            decision_id=record.decision_id,
            appealable_from=record.appealable_from or appeal_date(record.decided_at.date()),
        )
        update["blocks"] = (*ledger.blocks, block)
    elif record.action == "unblock" and ledger.active_block is not None:
        lifted = ledger.active_block.model_copy(
            update={
                "lifted_at": record.decided_at,
                "lifted_by": record.decided_by,
                "approved_by": record.approved_by,
            }
        )
        update["blocks"] = tuple(lifted if b.active else b for b in ledger.blocks)
    return ledger.model_copy(update=update)


def fold(records: Iterable[AuditRecord]) -> dict[str, AuthorLedger]:
    ledgers: dict[str, AuthorLedger] = {}
    for record in records:
        ledgers[record.author_key] = apply_record(ledgers.get(record.author_key), record)
    return ledgers


def history(ledger: AuthorLedger | None, policy: ModerationPolicy, now: datetime) -> AuthorHistory:
    if ledger is None:
        return AuthorHistory()
    since = now - timedelta(days=policy.strike_window_days)
    block = ledger.active_block
    return AuthorHistory(
        strikes=len(ledger.strikes),
        strikes_in_window=sum(1 for s in ledger.strikes if s.posted_at >= since),
        last_strike_at=max((s.posted_at for s in ledger.strikes), default=None),
        warnings=len(ledger.warnings),
        blocked=block is not None,
        appealable_from=block.appealable_from if block else None,
        banned_channels=ledger.banned_channels,
        police_reports=len(ledger.police_reports),
    )


def _above(verdict: Verdict, thresholds: dict[str, float]) -> list[str]:
    return [
        name
        for name, threshold in thresholds.items()
        if verdict.signals.toxicity.get(name, 0.0) >= threshold
    ]


def is_extreme(verdict: Verdict | None, policy: ModerationPolicy) -> bool:
    """Threats, severe toxicity or discriminatory abuse, as the policy file sets them."""
    if verdict is None:
        return False
    codes = {r.code for r in verdict.reasons}
    return bool(_above(verdict, policy.extreme_signals) or codes & set(policy.extreme_reasons))


def suspects_crime(verdict: Verdict | None, policy: ModerationPolicy) -> bool:
    if verdict is None:
        return False
    codes = {r.code for r in verdict.reasons}
    return bool(_above(verdict, policy.crime_signals) or codes & set(policy.crime_reasons))


@dataclass(frozen=True, slots=True)
class Recommendation:
    steps: tuple[Action, ...]
    reason: str


def recommend(
    item: ReviewItem, ledger: AuthorLedger | None, policy: ModerationPolicy, now: datetime
) -> Recommendation:
    """The next step under the policy for a moderation item, given the author's record."""
    verdict = item.verdict
    labels = set(verdict.labels) if verdict else set()
    earlier = [
        s
        for s in (ledger.strikes if ledger else ())
        if s.item_id != item.id and s.comment_key != item.comment.comment_key
    ]
    since = item.comment.created_at - timedelta(days=policy.strike_window_days)
    recent = [s for s in earlier if s.posted_at >= since]
    blocked = ledger is not None and ledger.active_block is not None

    steps: list[Action] = []
    why: list[str] = []
    if "misinformation" in labels:
        steps += ["delete", "ban_from_channel"]
        why.append("misinformation: remove it and ban the author from this channel")
    else:
        steps.append("hide")
    if blocked:
        why.append("the author is already blocked")
    elif is_extreme(verdict, policy):
        steps.append("block")
        why.append("extreme post (threat, severe or discriminatory abuse): consider a block")
    elif recent:
        steps.append("block")
        why.append(
            f"another unacceptable post within {policy.strike_window_days} days "
            f"({len(recent)} before this): consider a block"
        )
    elif "misinformation" not in labels:
        steps.append("warn")
        why.append("first unacceptable post: hide it and send a written warning")
    if suspects_crime(verdict, policy):
        steps.append("report_police")
        why.append("possible crime (threat or harassment): consider a police report")
    return Recommendation(tuple(steps), "; ".join(why))


def needs_moderation(item: ReviewItem) -> bool:
    """Moderation-lane items, and urgent ones that are also unacceptable posts."""
    if item.lane == "moderation":
        return True
    labels = set(item.verdict.labels) if item.verdict else set()
    return item.lane == "urgent" and bool(labels & MODERATION_CATEGORIES)


def enrich(
    item: ReviewItem, ledger: AuthorLedger | None, policy: ModerationPolicy, now: datetime
) -> ReviewItem:
    """The item with the author's history and the recommended step filled in."""
    if not needs_moderation(item):
        return item
    advice = recommend(item, ledger, policy, now)
    return item.model_copy(
        update={
            "history": history(ledger, policy, now),
            "recommended": advice.steps,
            "recommendation": advice.reason,
        }
    )
