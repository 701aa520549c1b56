"""Case logic: opening, closing, follow-ups, out-of-order events, alerts, emergencies."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import get_args
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from records import Author, Comment, TriageResult, Verdict
from records.moderation import ACTIONS, CLOSING_ACTIONS, REPLY_ACTIONS, Decision
from records.sla import CloseReason, EmergencyChange
from records.sla_state import CaseEvent, Conversation
from worker.sla.cases import (
    Rules,
    alerts_due,
    event_from_decision,
    event_from_result,
    next_alert_at,
    response_item_id,
)
from worker.sla.cases import (
    cases_of as fold,
)
from worker.sla.emergency import EmergencyState
from worker.sla.policy import SlaPolicy, parse_sla_policy

LONDON = ZoneInfo("Europe/London")
KEY = "facebook:thread-1"
RULES = Rules()


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=LONDON)


def comment(cid: str, when: str, *, council: bool = False, author: str = "res-1") -> Comment:
    return Comment(
        id=cid,
        platform="facebook",
        channel="nhdc",
        kind="reply" if council else "comment",
        thread_id="thread-1",
        author=Author(id="council" if council else author, is_council=council),
        text="x",
        created_at=at(when),
        received_at=at(when),
    )


def verdict(*labels: str) -> Verdict:
    scores = dict.fromkeys(("service_request", "abusive", "misinformation", "spam"), 0.0)
    return Verdict(labels=labels, scores=scores, lane="response" if labels else None)  # type: ignore[arg-type]


def query(cid: str, when: str, author: str = "res-1") -> CaseEvent:
    return event_from_result(
        TriageResult(
            comment=comment(cid, when, author=author),
            verdict=verdict("service_request"),
            classified_at=at(when),
        )
    )


def remark(cid: str, when: str, author: str = "res-1") -> CaseEvent:
    return event_from_result(
        TriageResult(
            comment=comment(cid, when, author=author), verdict=verdict(), classified_at=at(when)
        )
    )


def council_reply(cid: str, when: str) -> CaseEvent:
    return event_from_result(
        TriageResult(comment=comment(cid, when, council=True), verdict=None, classified_at=at(when))
    )


def decision(did: str, item_of: str, when: str, action: str = "replied") -> CaseEvent:
    item = response_item_id(comment(item_of, "2026-11-23T09:00"))
    event = event_from_decision(
        Decision(
            id=did,
            item_id=item,
            lane="response",
            action=action,
            by="officer-a",  # type: ignore[arg-type]
            role="officer",
            decided_at=at(when),
            conversation_key=KEY,
        )
    )
    assert event is not None
    return event


def cases_of(*events: CaseEvent, rules: Rules = RULES, alerts: tuple[str, ...] = ()):
    conversation = Conversation(key=KEY, alerts_sent=alerts)
    for event in events:
        conversation = conversation.with_event(event)
    return fold(conversation, rules)


def test_query_opens_a_case_due_in_one_working_day() -> None:
    """A service request opens an open case with received and due instants."""
    [case] = cases_of(query("q1", "2026-11-23T10:00"))
    assert case.status == "open"
    assert case.received_at == at("2026-11-23T10:00")
    assert case.due_at == at("2026-11-24T10:00")
    assert case.number == 1
    assert case.item_id == response_item_id(comment("q1", "2026-11-23T10:00"))
    assert not case.out_of_hours
    assert case.suggested_reply is None


def test_council_reply_closes_with_working_hours() -> None:
    """The council's reply closes the case with the working time it took."""
    [case] = cases_of(query("q1", "2026-11-27T16:00"), council_reply("r1", "2026-11-30T10:30"))
    assert case.status == "closed"
    assert case.closed_by == "council_reply"
    assert case.response_hours == 2.5
    assert case.met_target is True


def test_officer_decision_closes_and_names_the_officer() -> None:
    """A 'moved_private' decision closes the case and records who decided."""
    [case] = cases_of(
        query("q1", "2026-11-23T10:00"),
        decision("d1", "q1", "2026-11-24T11:00", action="moved_private"),
    )
    assert case.closed_by == "moved_private"
    assert case.closed_by_officer == "officer-a"
    assert case.response_hours == 9.0
    assert case.met_target is False


def test_non_closing_decisions_are_not_case_events() -> None:
    """A moderation decision such as 'hide' does not touch a case."""
    hide = Decision(
        id="d9",
        item_id="rv-1",
        lane="moderation",
        action="hide",
        by="o",
        role="officer",
        decided_at=at("2026-11-23T10:00"),
    )
    assert event_from_decision(hide) is None


def test_exactly_the_reply_actions_close_a_case_and_each_also_closes_its_item() -> None:
    """Of all actions only replied, no reply needed and moved private end a case; each is a
    case's close reason and also closes the review item, as the moderation rules say."""
    ends_a_case = set()
    for action in ACTIONS:
        made = Decision(
            id=f"d-{action}",
            item_id="rv-1",
            lane="response",
            action=action,
            by="o",
            role="officer",
            decided_at=at("2026-11-23T10:00"),
        )
        if event_from_decision(made) is not None:
            ends_a_case.add(action)
    assert ends_a_case == REPLY_ACTIONS == {"replied", "no_reply_needed", "moved_private"}
    assert set(get_args(CloseReason)) == REPLY_ACTIONS | {"council_reply"}
    assert REPLY_ACTIONS < CLOSING_ACTIONS


def test_duplicates_and_replays_change_nothing() -> None:
    """The same events delivered twice give the same single case."""
    events = [query("q1", "2026-11-23T10:00"), council_reply("r1", "2026-11-23T12:00")]
    assert cases_of(*events) == cases_of(*events, *events, *reversed(events))
    assert len(cases_of(*events, *events)) == 1


def test_reply_read_before_its_query() -> None:
    """A reply processed before the query it answers still closes that query's case."""
    [case] = cases_of(council_reply("r1", "2026-11-23T12:00"), query("q1", "2026-11-23T10:00"))
    assert case.status == "closed"
    assert case.response_hours == 2.0


def test_reply_before_any_query_closes_nothing() -> None:
    """A council post earlier than the query does not count as its answer."""
    [case] = cases_of(council_reply("r0", "2026-11-23T08:00"), query("q1", "2026-11-23T10:00"))
    assert case.status == "open"


def test_decision_timestamp_before_its_comment_still_applies() -> None:
    """Clock skew cannot put an officer's decision before the comment it is about."""
    [case] = cases_of(query("q1", "2026-11-23T10:00"), decision("d1", "q1", "2026-11-23T09:59"))
    assert case.status == "closed"
    assert case.response_hours == 0.0


def test_follow_up_after_reply_opens_the_next_response() -> None:
    """The same resident writing again after the council's reply opens case number 2."""
    first, second = cases_of(
        query("q1", "2026-11-23T10:00"),
        council_reply("r1", "2026-11-23T11:00"),
        remark("f1", "2026-11-23T11:30"),
    )
    assert first.status == "closed"
    assert second.number == 2
    assert second.status == "open"
    assert second.received_at == at("2026-11-23T11:30")
    assert second.id != first.id


def test_other_residents_remarks_and_no_reply_needed_open_nothing() -> None:
    """A bystander's remark, or a follow-up after 'no reply needed', opens no new case."""
    cases = cases_of(
        query("q1", "2026-11-23T10:00"),
        council_reply("r1", "2026-11-23T11:00"),
        remark("b1", "2026-11-23T11:30", author="someone-else"),
    )
    assert len(cases) == 1
    cases = cases_of(
        query("q1", "2026-11-23T10:00"),
        decision("d1", "q1", "2026-11-23T11:00", action="no_reply_needed"),
        remark("f1", "2026-11-23T11:30"),
    )
    assert len(cases) == 1


def test_late_decision_on_an_answered_comment_leaves_the_new_case_open() -> None:
    """A decision about the first query does not close the follow-up's case."""
    cases = cases_of(
        query("q1", "2026-11-23T10:00"),
        council_reply("r1", "2026-11-23T11:00"),
        query("q2", "2026-11-23T12:00"),
        decision("d1", "q1", "2026-11-23T13:00"),
    )
    assert [c.status for c in cases] == ["closed", "open"]


def test_second_query_while_open_keeps_the_first_clock() -> None:
    """A second question before any answer does not restart the clock."""
    [case] = cases_of(query("q1", "2026-11-23T10:00"), query("q2", "2026-11-23T15:00"))
    assert case.received_at == at("2026-11-23T10:00")


EVENTS = [
    query("q1", "2026-11-23T10:00"),
    remark("x1", "2026-11-23T10:30", author="bystander"),
    council_reply("r1", "2026-11-23T11:00"),
    remark("f1", "2026-11-23T14:00"),
    decision("d2", "f1", "2026-11-24T09:30", action="replied"),
    query("q3", "2026-11-25T16:00", author="res-2"),
]


@settings(max_examples=100, deadline=None)
@given(st.permutations(EVENTS), st.lists(st.sampled_from(EVENTS), max_size=6))
def test_any_order_and_duplication_gives_the_same_cases(order, extra) -> None:
    """Replays and out-of-order delivery give exactly the cases of the ordered run."""
    assert cases_of(*order, *extra) == cases_of(*EVENTS)


def test_the_ordered_run_has_three_cases() -> None:
    """The reference conversation holds two answered cases and one open one."""
    cases = cases_of(*EVENTS)
    assert [(c.number, c.status, c.closed_by) for c in cases] == [
        (1, "closed", "council_reply"),
        (2, "closed", "replied"),
        (3, "open", None),
    ]
    assert cases[1].response_hours == 3.5


def test_out_of_hours_query_carries_the_acknowledgement() -> None:
    """A Saturday query is marked out of hours with the policy's suggested reply."""
    [case] = cases_of(query("q1", "2026-11-28T10:00"))
    assert case.out_of_hours
    assert case.suggested_reply == SlaPolicy().replies.out_of_hours
    assert case.due_at == at("2026-11-30T17:00")


def emergency(*switches: tuple[bool, str]) -> EmergencyState:
    return EmergencyState.of(
        EmergencyChange(id=f"e{i}", active=on, by="duty", at=at(when))
        for i, (on, when) in enumerate(switches)
    )


def test_emergency_pause_moves_the_deadline_and_the_suggestion() -> None:
    """With the clock paused for two hours of an emergency the case is due two hours later."""
    rules = Rules(emergency=emergency((True, "2026-11-23T11:00"), (False, "2026-11-23T13:00")))
    [case] = cases_of(query("q1", "2026-11-23T11:30"), rules=rules)
    assert case.emergency
    assert case.suggested_reply == SlaPolicy().replies.emergency
    assert case.due_at == at("2026-11-24T13:00")


def test_emergency_with_no_end_stops_the_clock() -> None:
    """While emergency mode is on with the pause policy there is no due time and no alert."""
    rules = Rules(emergency=emergency((True, "2026-11-23T11:00")))
    [case] = cases_of(query("q1", "2026-11-23T10:00"), rules=rules)
    assert case.due_at is None
    assert alerts_due(case, rules, at("2026-12-10T10:00")) == []


def test_emergency_keep_policy_leaves_the_clock_running() -> None:
    """With emergency_clock: keep the deadline is unchanged."""
    policy = parse_sla_policy({"replies": {"emergency_clock": "keep"}})
    rules = Rules(policy=policy, emergency=emergency((True, "2026-11-23T11:00")))
    [case] = cases_of(query("q1", "2026-11-23T10:00"), rules=rules)
    assert case.due_at == at("2026-11-24T10:00")


def test_at_risk_then_breach_each_once() -> None:
    """An unanswered case warns two working hours before the deadline, then once at it."""
    q = query("q1", "2026-11-23T10:00")
    [case] = cases_of(q)
    assert next_alert_at(case, RULES) == at("2026-11-23T16:00")
    assert alerts_due(case, RULES, at("2026-11-23T15:59")) == []
    [risk] = alerts_due(case, RULES, at("2026-11-23T16:00"))
    assert (risk.kind, risk.severity, risk.id) == (
        "sla_at_risk",
        "warning",
        f"{case.id}:sla_at_risk",
    )
    [case] = cases_of(q, alerts=(risk.id,))
    assert case.at_risk_alerted
    assert alerts_due(case, RULES, at("2026-11-24T09:59")) == []
    assert next_alert_at(case, RULES) == at("2026-11-24T10:00")
    [breach] = alerts_due(case, RULES, at("2026-11-24T10:00"))
    assert breach.kind == "sla_breach"
    assert breach.data["due_at"] == at("2026-11-24T10:00").isoformat()
    [case] = cases_of(q, alerts=(risk.id, breach.id))
    assert alerts_due(case, RULES, at("2026-11-30T10:00")) == []
    assert next_alert_at(case, RULES) is None


def test_late_check_sends_only_the_breach() -> None:
    """A worker that was down past the deadline sends the breach alert, not a stale warning."""
    [case] = cases_of(query("q1", "2026-11-23T10:00"))
    assert [a.kind for a in alerts_due(case, RULES, at("2026-11-25T10:00"))] == ["sla_breach"]


def test_closed_cases_raise_no_alerts() -> None:
    """Once answered, a case is never alerted on."""
    [case] = cases_of(query("q1", "2026-11-23T10:00"), council_reply("r1", "2026-11-23T11:00"))
    assert alerts_due(case, RULES, at("2026-11-30T10:00")) == []
    assert next_alert_at(case, RULES) is None


def test_alert_message_holds_no_comment_text_or_names() -> None:
    """Alerts speak of the platform, channel and deadline only."""
    event = query("q1", "2026-11-23T10:00")
    [case] = cases_of(event)
    [alert] = alerts_due(case, RULES, at("2026-11-24T12:00"))
    assert "res-1" not in alert.message
    assert alert.subject == KEY
    assert alert.data["case_id"] == case.id
    assert isinstance(alert.created_at, datetime)
    assert alert.created_at - at("2026-11-24T12:00") == timedelta(0)


def test_emergency_state_folds_switches_in_time_order() -> None:
    """Switches arriving out of order or twice give the same periods and state."""
    on = EmergencyChange(id="a", active=True, by="m", at=at("2026-11-23T11:00"))
    off = EmergencyChange(id="b", active=False, by="m", at=at("2026-11-23T13:00"))
    state = EmergencyState.of([off, on, off])
    assert state.periods == ((at("2026-11-23T11:00"), at("2026-11-23T13:00")),)
    assert not state.active
    assert state.active_at(at("2026-11-23T12:00"))
    assert not state.active_at(at("2026-11-23T13:00"))
    assert EmergencyState.of([on]).active


def test_a_direct_message_opens_a_case_whatever_its_labels() -> None:
    """Every direct message to the council gets a deadline, even one the model calls chatter."""
    message = comment("m1", "2026-11-23T10:00").model_copy(update={"kind": "direct_message"})
    event = event_from_result(
        TriageResult(comment=message, verdict=verdict("spam"), classified_at=at("2026-11-23T10:00"))
    )
    assert event.kind == "query"
    [case] = fold(Conversation(key=KEY).with_event(event), RULES)
    assert case.status == "open"


def test_a_possible_query_opens_a_case_and_no_reply_needed_closes_it() -> None:
    """A comment under the label's threshold but over the recall-first cut gets a deadline,
    and an officer's "No reply needed" ends it."""
    unsure = verdict().model_copy(update={"possible_query": True})
    event = event_from_result(
        TriageResult(
            comment=comment("c1", "2026-11-23T10:00"),
            verdict=unsure,
            classified_at=at("2026-11-23T10:00"),
        )
    )
    assert event.kind == "query"
    state = Conversation(key=KEY).with_event(event)
    state = state.with_event(decision("d1", "c1", "2026-11-23T11:00", "no_reply_needed"))
    [case] = fold(state, RULES)
    assert (case.status, case.closed_by) == ("closed", "no_reply_needed")


def test_a_plain_comment_still_opens_no_case() -> None:
    """A comment that is neither labelled nor a possible query waits for nothing."""
    assert remark("c1", "2026-11-23T10:00").kind == "resident"
    assert fold(Conversation(key=KEY).with_event(remark("c1", "2026-11-23T10:00")), RULES) == []
