"""The moderation agent's logic as one pure step: records in, state and outputs out.

``ModerationStep.step(state, record, now) -> (state, outputs)`` does no I/O and reads no
clock; the faust adapter (worker/moderation/agent.py) decodes, calls it, writes the
outputs through the Runtime's producer and acknowledges; the middle test tier calls it
with an in-memory producer instead (tests/contract/).

Its input is ``triage.review`` and ``triage.decisions`` read in partition order (both are
keyed by review item id, so an item and its decisions share a partition number):

- an item (:class:`ItemRead`) gets its :class:`ItemModeration` on ``triage.moderation``
  (the author's record, the next step; an automatic hide when the policy enables one),
  unless moderation has closed it already: closed stays closed, whatever is replayed;
  an open urgent-lane item whose post arrived out of working hours gets one
  ``urgent_out_of_hours`` alert for the officer on call (once per item: the alert ids
  already on ``triage.alerts`` are in the view, so a replayed item does not alert again);
- a decision (:class:`DecisionRead`) writes the audit record (once per decision id), the
  Managing Director's alert for a block or unblock, a label example (none for an author on
  the erasure list, whose item the view holds redacted), and for a closing action the
  closed :class:`ItemModeration`;
- a decision whose item is not known yet waits in ``state.pending`` by item id, and the
  others go on; it is applied when its item arrives (a closed item the view has let go,
  and the decision first taken under the id, the adapter reads from the database where
  it has one). Once the item's partition of ``triage.review`` has been read past where
  it ended when the decision was read (:class:`ReviewRead`, from the whole-topic reader)
  and the item is still unknown, the item is absent: the decision is dead-lettered with that reason.

``outputs.done`` names the inputs whose handling is complete; the adapter acknowledges a
pending decision's input only then, so a restart reads it again.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from records import DeadLetter, ReviewItem, Topics, encode
from records.ids import automatic_decision_id, block_alert_id, urgent_alert_id
from records.moderation import CLOSING_ACTIONS, AuditRecord, Decision, ItemModeration, LabelExample
from records.sla import Alert, BlockNotice, NoticePost
from records.verdict import Category
from worker.moderation.decisions import may, same_content
from worker.moderation.ledger import (
    BREACH_ACTIONS,
    MODERATION_CATEGORIES,
    appeal_date,
    enrich,
    is_extreme,
    needs_moderation,
)
from worker.moderation.policy import ModerationConfig
from worker.moderation.review_view import ModerationState
from worker.sla.worktime import WorkCalendar

__all__ = [
    "AGENT",
    "AUDITED_ACTIONS",
    "AUTOMATIC",
    "KEEP_APPLIED",
    "DecisionRead",
    "ItemRead",
    "ModerationStep",
    "Origin",
    "Outputs",
    "ReviewRead",
    "Send",
    "StepRecord",
    "StepState",
    "audit_record",
    "automatic_record",
    "block_alert",
    "block_posts",
    "label_example",
    "local_date",
    "recorded",
    "urgent_alert",
]

AGENT = "moderation"


AUDITED_ACTIONS = BREACH_ACTIONS | {"unblock"}


def local_date(at: datetime, zone: ZoneInfo) -> date:
    """The council's calendar date of an instant (a block at 00:30 BST is that day's)."""
    return at.astimezone(zone).date()


def audit_record(
    item: ReviewItem, decision: Decision, config: ModerationConfig, zone: ZoneInfo
) -> AuditRecord:
    """The policy's record of a decision; a block's appeal date is a date in ``zone``."""
    comment = item.comment
    verdict = item.verdict
    categories = (
        decision.labels if decision.labels is not None else (verdict.labels if verdict else ())
    )
    return AuditRecord(
        id=decision.id,
        decision_id=decision.id,
        item_id=item.id,
        author_key=comment.author_key,
        platform=comment.platform,
        author_id=comment.author.id,
        account_name=comment.author.name,
        account_handle=comment.author.handle,
        channel=comment.channel,
        comment_key=comment.comment_key,
        posted_at=comment.created_at,
        text=comment.text,
        url=comment.url,
        connector=comment.connector,
        categories=categories,
        reasons=verdict.reasons if verdict else (),
        action=decision.action,
        decided_by=decision.by,
        decided_at=decision.decided_at,
        note=decision.note,
        reference=decision.reference,
        approved_by=decision.approved_by,
        appealable_from=(
            appeal_date(local_date(decision.decided_at, zone))
            if decision.action == "block"
            else None
        ),
        extreme=is_extreme(verdict, config.moderation),
    )


AUTOMATIC = "automatic"


def automatic_record(
    item: ReviewItem, config: ModerationConfig, now: datetime, zone: ZoneInfo
) -> AuditRecord | None:
    """The record of an automatic hide, when the policy file enables one and it applies."""
    policy = config.moderation
    verdict = item.verdict
    if "hide" not in policy.auto_actions or verdict is None or item.status != "open":
        return None
    score = max(verdict.scores.get("abusive", 0.0), verdict.scores.get("spam", 0.0))
    if score < policy.auto_hide_score:
        return None
    decision = Decision(
        id=automatic_decision_id(item.id),
        item_id=item.id,
        lane=item.lane,
        action="hide",
        by=AUTOMATIC,
        role="officer",
        decided_at=now,
        note=f"automatic: score {score:.2f} at or above {policy.auto_hide_score:.2f}",
    )
    return audit_record(item, decision, config, zone).model_copy(update={"automatic": True})


def label_example(item: ReviewItem, decision: Decision) -> LabelExample | None:
    """What the decision teaches the model about this text, if anything."""
    predicted: tuple[Category, ...] = item.verdict.labels if item.verdict else ()
    labels: tuple[Category, ...] | None
    if decision.labels is not None:
        labels = decision.labels
    elif decision.action == "dismiss":
        labels = tuple(c for c in predicted if c not in MODERATION_CATEGORIES)
    elif decision.action in BREACH_ACTIONS or (
        decision.action in ("replied", "moved_private") and "service_request" in predicted
    ):
        labels = predicted
    elif decision.action in ("replied", "moved_private") and _possible_query(item):
        labels = (*predicted, "service_request")  # it was a query after all
    elif decision.action == "no_reply_needed" and (
        "service_request" in predicted or _possible_query(item)
    ):
        labels = tuple(c for c in predicted if c != "service_request")
    else:
        labels = None
    if labels is None:
        return None
    return LabelExample(
        id=decision.id,
        comment_key=item.comment.comment_key,
        text=item.comment.text,
        labels=labels,
        predicted=predicted,
        source="confirmed" if set(labels) == set(predicted) else "corrected",
        decision_id=decision.id,
        decided_by=decision.by,
        decided_at=decision.decided_at,
    )


def _possible_query(item: ReviewItem) -> bool:
    return item.verdict is not None and item.verdict.possible_query


def recorded(view: ModerationState, item: ReviewItem, record_id: str) -> bool:
    """Whether the audit record of this id, on this item, is written already (the author's
    ledger keeps the id of every record folded into it)."""
    if record_id in view.audit:
        return True
    ledger = view.ledgers.get(item.comment.author_key)
    return ledger is not None and record_id in ledger.decision_ids


NOTICE_POSTS = 10
NOTICE_TEXT = 1000


def block_posts(view: ModerationState, record: AuditRecord) -> list[AuditRecord]:
    """The audit records of the posts behind a block: each of the author's strikes
    (posts an officer found unacceptable) once, oldest first."""
    ledger = view.ledgers.get(record.author_key)
    keys = {s.comment_key for s in ledger.strikes} if ledger else set()
    keys.add(record.comment_key)
    first: dict[str, AuditRecord] = {}
    for known in view.audit.values():
        if known.author_key == record.author_key and known.comment_key in keys:
            held = first.get(known.comment_key)
            if held is None or known.decided_at < held.decided_at:
                first[known.comment_key] = known
    first.setdefault(record.comment_key, record)
    return sorted(first.values(), key=lambda r: (r.posted_at, r.comment_key))


def _post(record: AuditRecord) -> NoticePost:
    text = record.text
    if len(text) > NOTICE_TEXT:
        text = text[:NOTICE_TEXT] + " [cut]"
    return NoticePost(
        item_id=record.item_id,
        channel=record.channel,
        posted_at=record.posted_at,
        text=text,
        url=record.url,
        categories=record.categories,
        reasons=tuple(dict.fromkeys(r.clause for r in record.reasons if r.clause)),
    )


def block_alert(record: AuditRecord, now: datetime, posts: Sequence[AuditRecord] = ()) -> Alert:
    """The Managing Director's alert of a block or unblock. Its ``notice`` carries what
    the policy asks for (name, handle, the posts, the reasons, who, the appeal date);
    the ``message`` and ``data`` carry none of it."""
    lifted = record.action == "unblock"
    what = "unblocked (approved by " + (record.approved_by or "?") + ")" if lifted else "blocked"
    message = f"An account on {record.platform} was {what} by {record.decided_by}."
    if not lifted:
        message += (
            " The Managing Director must be told. The account may appeal from "
            f"{record.appealable_from}."
        )
    shown = [] if lifted else [_post(p) for p in posts[-NOTICE_POSTS:]]
    reasons = dict.fromkeys(reason for post in shown for reason in post.reasons)
    notice = BlockNotice(
        platform=record.platform,
        account_name=record.account_name,
        account_handle=record.account_handle,
        posts=tuple(shown),
        posts_total=0 if lifted else len(posts),
        reasons=tuple(reasons),
        decided_by=record.decided_by,
        decided_at=record.decided_at,
        approved_by=record.approved_by,
        note=record.note[:2000],
        appealable_from=record.appealable_from,
    )
    return Alert(
        id=block_alert_id(record.action, record.decision_id),
        kind=f"author_{record.action}ed",
        severity="info" if lifted else "warning",
        subject=record.author_key,
        message=message,
        created_at=now,
        data={
            "item_id": record.item_id,
            "audit_id": record.id,
            "decided_by": record.decided_by,
            "appealable_from": record.appealable_from.isoformat()
            if record.appealable_from
            else None,
            "for": "managing_director",
        },
        notice=notice,
    )


# An urgent post read later than this after it arrived alerts no one (a replay of old items).
URGENT_ALERT_WITHIN = timedelta(days=3)


def urgent_alert(item: ReviewItem, now: datetime, *, emergency: bool = False) -> Alert:
    """The on-call officer's alert of an urgent post that arrived out of hours, or at any
    hour while emergency mode is on: where, when and why it is urgent, in the policy's
    words; not the post or its author."""
    comment = item.comment
    when = "while emergency mode is on" if emergency else "out of hours"
    verdict = item.verdict
    reasons = dict.fromkeys(r.clause for r in (verdict.reasons if verdict else ()) if r.clause)
    return Alert(
        id=urgent_alert_id(item.id),
        kind="urgent_out_of_hours",
        severity="critical",
        subject=item.id,
        message=(
            f"An urgent post on {comment.platform} ({comment.channel}) arrived {when} "
            "and waits in the urgent lane."
        ),
        created_at=now,
        data={
            "item_id": item.id,
            "platform": comment.platform,
            "channel": comment.channel,
            "received_at": comment.received_at.isoformat(),
            "labels": ", ".join(verdict.labels) if verdict else "",
            "reasons": "; ".join(reasons),
            "for": "on_call",
            "emergency": emergency,
        },
    )


@dataclass(frozen=True, slots=True)
class Origin:
    """Where an input record came from (what a dead letter keeps of it)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None

    @property
    def where(self) -> tuple[str, int, int]:
        return (self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class ItemRead:
    """A review item read from ``triage.review``."""

    item: ReviewItem
    origin: Origin


@dataclass(frozen=True, slots=True)
class DecisionRead:
    """A decision read from ``triage.decisions``.

    ``review_end``: the end offset of the same partition of ``triage.review`` when the
    decision was read, which the adapter asks the broker for only when the item is not
    known; None leaves the decision waiting for its item. ``item`` and ``first``: the
    item and the decision first taken under this id as the database has them, which the
    adapter looks up when the view does not hold the item (closed long ago).
    """

    decision: Decision
    origin: Origin
    review_end: int | None = None
    item: ReviewItem | None = None
    first: Decision | None = None


@dataclass(frozen=True, slots=True)
class ReviewRead:
    """Every item of ``triage.review`` partition ``partition`` before ``offset`` is in
    the state's view (the whole-topic reader has read that far)."""

    partition: int
    offset: int


StepRecord = ItemRead | DecisionRead | ReviewRead


@dataclass(frozen=True, slots=True)
class Send:
    """One record to write; ``reason`` is set on a dead letter (for the log and metrics)."""

    topic: str
    key: bytes | None
    value: bytes
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class Outputs:
    sends: tuple[Send, ...] = ()
    # Inputs now fully handled: acknowledge each once the sends are on the broker.
    done: tuple[Origin, ...] = ()


KEEP_APPLIED = 2000
"""Decisions applied by the step kept by id, the latest: a decision delivered again
soon after is known without the view (which may not have read it yet)."""


@dataclass
class StepState:
    """What the step knows. ``view`` is the folded topics (ledgers, audit records, the
    decisions and items seen, moderation's records): the whole-topic reader keeps it in a
    worker, and the step adds what it writes at once, as the next record may depend on it."""

    view: ModerationState
    # Items read on this agent's partitions that the view has not got yet.
    items: dict[str, ReviewItem] = field(default_factory=dict)
    # Decisions waiting for their item, by item id, in the order read.
    pending: dict[str, list[DecisionRead]] = field(default_factory=dict)
    # The latest decisions applied by this step (at most KEEP_APPLIED), by decision id.
    applied: OrderedDict[str, Decision] = field(default_factory=OrderedDict)
    # For each partition of triage.review: every item before this offset is known.
    review_read: dict[int, int] = field(default_factory=dict)

    def item(self, item_id: str) -> ReviewItem | None:
        known = self.view.items.get(item_id)
        if known is not None:
            self.items.pop(item_id, None)
            return known
        return self.items.get(item_id)

    def forget(self, partitions: set[int]) -> None:
        """Drop what waits on partitions now given to another worker, which reads their
        unacknowledged decisions again."""
        for item_id, reads in list(self.pending.items()):
            left = [r for r in reads if r.origin.partition not in partitions]
            if left:
                self.pending[item_id] = left
            else:
                del self.pending[item_id]
        for partition in partitions:
            self.review_read.pop(partition, None)

    def waiting(self) -> list[Decision]:
        """The decisions still waiting for their item."""
        return [r.decision for reads in self.pending.values() for r in reads]


class ModerationStep:
    """The moderation logic for one policy, time zone and set of topic names;
    ``calendar`` (working time) tells out-of-hours posts, None for no such alerts;
    ``emergency`` tells whether emergency mode was on at an instant (the SLA part's
    switches): while it is, every urgent post alerts the on-call officer."""

    def __init__(
        self,
        config: ModerationConfig,
        zone: ZoneInfo,
        topics: Topics,
        calendar: WorkCalendar | None = None,
        emergency: Callable[[datetime], bool] | None = None,
    ) -> None:
        self.config = config
        self.zone = zone
        self.topics = topics
        self.calendar = calendar
        self.emergency = emergency

    def step(
        self, state: StepState, record: StepRecord, now: datetime
    ) -> tuple[StepState, Outputs]:
        out = _Out()
        if isinstance(record, ItemRead):
            self._on_item(state, record, now, out)
        elif isinstance(record, DecisionRead):
            self._on_decision(state, record, now, out)
        else:
            # Items the view holds now (or has let go, closed) need no copy of their own.
            view = state.view
            for item_id in [i for i in state.items if i in view.items or i in view.gone]:
                del state.items[item_id]
            self._read_to(state, record.partition, record.offset, now, out)
        return state, Outputs(tuple(out.sends), tuple(out.done))

    def knows(self, state: StepState, item_id: str) -> bool:
        """Whether a decision on this item would be applied without waiting."""
        return state.item(item_id) is not None

    # -- items -------------------------------------------------------------------------
    def _on_item(self, state: StepState, read: ItemRead, now: datetime, out: _Out) -> None:
        item = state.view.redacted(read.item)
        if item.id in state.view.gone:
            # Closed and let go: read again (a replay), it stays closed and alerts no one.
            out.done.append(read.origin)
            self._read_to(state, read.origin.partition, read.origin.offset + 1, now, out)
            return
        if item.id not in state.view.items:
            state.items[item.id] = item
        if item.status == "open" and needs_moderation(item):
            self._advise(state, item, now, out)
        if item.lane == "urgent" and item.status == "open":
            self._on_call(state, item, now, out)
        out.done.append(read.origin)
        self._read_to(state, read.origin.partition, read.origin.offset + 1, now, out)

    def _advise(self, state: StepState, item: ReviewItem, now: datetime, out: _Out) -> None:
        view = state.view
        known = view.moderation.get(item.id)
        if known is not None and known.status == "closed":
            return  # a replayed item: moderation closed it, and closed stays closed
        record = automatic_record(item, self.config, now, self.zone)
        if record is not None and not recorded(view, item, record.id):
            out.send(self.topics.audit, record.author_key, encode(record))
            view.add_audit(record)
        enriched = enrich(
            item, view.ledgers.get(item.comment.author_key), self.config.moderation, now
        )
        note = ItemModeration(
            item_id=item.id,
            history=enriched.history,
            recommended=enriched.recommended,
            recommendation=enriched.recommendation,
            updated_at=now,
        )
        out.send(self.topics.moderation, item.id, encode(note))
        view.add_moderation(note)

    def _on_call(self, state: StepState, item: ReviewItem, now: datetime, out: _Out) -> None:
        received = item.comment.received_at
        emergency = self.emergency is not None and self.emergency(received)
        if self.calendar is None or (self.calendar.is_open(received) and not emergency):
            return
        if now - received > URGENT_ALERT_WITHIN:
            # An old item read again (its alert may have aged off triage.alerts): the
            # officers have long seen it in the queue; waking someone now helps no one.
            return
        alert_id = urgent_alert_id(item.id)
        if alert_id in state.view.alert_ids:
            return  # alerted already: a replayed item, or a restart before the ack
        alert = urgent_alert(item, now, emergency=emergency)
        out.send(self.topics.alerts, alert.id, encode(alert))
        state.view.add_alert(alert)

    def _read_to(
        self, state: StepState, partition: int, offset: int, now: datetime, out: _Out
    ) -> None:
        state.review_read[partition] = max(state.review_read.get(partition, 0), offset)
        for item_id in list(state.pending):
            reads = state.pending[item_id]
            if reads[0].origin.partition != partition:
                continue
            item = state.item(item_id)
            if item is not None:
                del state.pending[item_id]
                for read in reads:
                    self._apply(state, item, read, now, out)
                continue
            gone = [r for r in reads if self._absent(state, r)]
            for read in gone:
                self._refuse(read, f"no review item {item_id}", now, out)
            left = [r for r in reads if r not in gone]
            if left:
                state.pending[item_id] = left
            else:
                del state.pending[item_id]

    # -- decisions ---------------------------------------------------------------------
    def _on_decision(self, state: StepState, read: DecisionRead, now: datetime, out: _Out) -> None:
        decision = read.decision
        first = (
            state.applied.get(decision.id)
            or state.view.decisions_by_id.get(decision.id)
            or read.first
        )
        if first is not None and not same_content(first, decision):
            # The app never sends this; whatever did must not replace the first decision.
            self._refuse(read, f"decision id {decision.id} reused", now, out)
            return
        if decision.id in state.applied:
            out.done.append(read.origin)
            return
        if not may(decision.role, decision.action):
            self._refuse(read, f"role {decision.role} may not {decision.action}", now, out)
            return
        item = state.item(decision.item_id) or read.item
        if item is not None:
            self._apply(state, item, read, now, out)
        elif self._absent(state, read):
            self._refuse(read, f"no review item {decision.item_id}", now, out)
        else:
            state.pending.setdefault(decision.item_id, []).append(read)

    def _absent(self, state: StepState, read: DecisionRead) -> bool:
        end = read.review_end
        return end is not None and state.review_read.get(read.origin.partition, 0) >= end

    def _apply(
        self, state: StepState, item: ReviewItem, read: DecisionRead, now: datetime, out: _Out
    ) -> None:
        decision = read.decision
        out.done.append(read.origin)
        if decision.id in state.applied:
            return  # the same decision twice while it waited for its item
        view = state.view
        item = view.redacted(item)  # erased since the step kept its copy
        if decision.action in AUDITED_ACTIONS and not recorded(view, item, decision.id):
            record = audit_record(item, decision, self.config, self.zone)
            out.send(self.topics.audit, record.author_key, encode(record))
            # At once in the ledger: the next decision may depend on it.
            view.add_audit(record)
            if decision.action in ("block", "unblock"):
                posts = block_posts(view, record) if decision.action == "block" else []
                alert = block_alert(record, now, posts)
                out.send(self.topics.alerts, alert.id, encode(alert))
        erased = item.comment.author_key in view.erased
        example = None if erased else label_example(item, decision)
        if example is not None:
            out.send(self.topics.labels, example.comment_key, encode(example))
        if decision.action in CLOSING_ACTIONS and item.lane != "response":
            # Response-lane items are closed by the SLA agent, which owns their deadline.
            before = view.moderation.get(item.id)
            closed = ItemModeration(
                item_id=item.id,
                status="closed",
                history=before.history if before else None,
                recommended=before.recommended if before else (),
                recommendation=before.recommendation if before else "",
                outcome=decision.action,
                decided_by=decision.by,
                decided_at=decision.decided_at,
                decision_id=decision.id,
                updated_at=now,
            )
            out.send(self.topics.moderation, item.id, encode(closed))
            view.add_moderation(closed)
        state.applied[decision.id] = decision
        while len(state.applied) > KEEP_APPLIED:
            state.applied.popitem(last=False)

    def _refuse(self, read: DecisionRead, reason: str, now: datetime, out: _Out) -> None:
        origin = read.origin
        letter = DeadLetter.of(
            agent=AGENT,
            topic=origin.topic,
            partition=origin.partition,
            offset=origin.offset,
            key=origin.key,
            value=origin.value,
            error=reason,
            at=now,
        )
        out.sends.append(Send(self.topics.deadletter, origin.key, encode(letter), reason))
        out.done.append(origin)


@dataclass
class _Out:
    sends: list[Send] = field(default_factory=list)
    done: list[Origin] = field(default_factory=list)

    def send(self, topic: str, key: str, value: bytes) -> None:
        self.sends.append(Send(topic, key.encode(), value))
