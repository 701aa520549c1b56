"""Replying from the item page in headless Chromium: saved and written replies, the
suggested holding reply in one click, the pre-filled private-channel reply, a manager's
approval of the warning, a failure shown, and axe with WCAG 2.2's target-size rule."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from records import Signals, encode
from records.reply import ReplyingPolicy, ReplyOutcome, ReplyRequest
from records.sla import EmergencyChange
from tests.e2e.conftest import Served, axe_violations, sign_in
from tests.e2e.site import NOW, sample_items
from worker.context import WorkerContext
from worker.replies.desk import ReplyDesk
from worker.replies.part import template_text

pytestmark = pytest.mark.e2e


class Sink:
    """Where the desk's requests go (the worker writes them to triage.reply-requests)."""

    def __init__(self) -> None:
        self.sent: list[ReplyRequest] = []

    async def __call__(self, request: ReplyRequest) -> None:
        self.sent.append(request)


@pytest.fixture
def replying(serve: Callable[..., Served]) -> tuple[Served, Sink]:
    """The sample site with replying on, and an item whose post holds personal details."""
    sink = Sink()

    def configure(ctx: WorkerContext) -> None:
        ctx.views.replies = ReplyDesk(
            enabled=True,
            sink=sink,
            texts=template_text(ctx, ReplyingPolicy()),
            now=lambda: NOW,
        )
        pothole = sample_items()[1]
        assert pothole.verdict is not None
        verdict = pothole.verdict.model_copy(update={"signals": Signals(personal_data=("phone",))})
        personal = pothole.model_copy(update={"id": "i-phone", "verdict": verdict})
        state = ctx.views.moderation_state
        assert state is not None
        state.add_item(personal)
        form = pothole.comment.model_copy(update={"platform": "webhook", "id": "form-1"})
        state.add_item(pothole.model_copy(update={"id": "i-form", "comment": form}))

    return serve(configure=configure), sink


def test_an_officer_sends_a_saved_reply_once_per_click(replying, new_page):
    """Choosing a saved reply and pressing Send queues one reply; the same form sent again
    is the same reply; the page lists it with its state."""
    served, sink = replying
    page = new_page()
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-pothole")
    expect(page.get_by_role("heading", name="Reply to Jo Driver")).to_be_visible()
    key = page.locator("form[action$='/reply'] input[name=key]").last.input_value()
    page.get_by_label("Acknowledgement").check()
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("alert")).to_contain_text("Reply queued")
    expect(page.locator(".triage-reply")).to_have_count(1)
    expect(page.locator(".triage-reply")).to_contain_text("Waiting to be sent")
    assert len(sink.sent) == 1
    request = sink.sent[0]
    assert (request.template, request.requested_by, request.private) == (
        "acknowledgement",
        "olivia",
        False,
    )
    assert request.text.startswith("Thank you for your message.")
    # The same form again (a retry): the same reply id, nothing more written.
    csrf = page.locator("input[name=csrf_token]").first.input_value()
    again = page.request.post(
        served.url + "/items/i-pothole/reply",
        form={"csrf_token": csrf, "key": key, "template": "acknowledgement"},
        max_redirects=0,
    )
    assert again.status == 303
    assert len(sink.sent) == 1
    # A fresh page is a fresh click: a written reply, sent privately, is a second reply.
    page.get_by_label("Your reply").fill("We have reported the pothole to Highways.")
    page.get_by_label("Send as a private message to the author").check()
    page.get_by_role("button", name="Send reply").click()
    expect(page.locator(".triage-reply")).to_have_count(2)
    assert [r.text for r in sink.sent][1] == "We have reported the pothole to Highways."
    assert sink.sent[1].private is True
    assert sink.sent[1].id != request.id


def test_the_out_of_hours_suggestion_is_sent_in_one_click(replying, new_page):
    """A post that came in overnight shows the out-of-hours acknowledgement with a button."""
    served, sink = replying
    page = new_page()
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-bins")
    suggestion = page.locator(".triage-suggestion")
    expect(suggestion).to_contain_text("Suggested: Out-of-hours acknowledgement")
    suggestion.get_by_role("button", name="Send the out-of-hours acknowledgement").click()
    expect(page.get_by_role("alert")).to_contain_text("Reply queued")
    [request] = sink.sent
    assert request.template == "out_of_hours"
    assert "9am to 5pm" in request.text
    # A post from office hours has none.
    page.goto(served.url + "/items/i-flood")
    expect(page.locator(".triage-suggestion")).to_have_count(0)


def test_the_emergency_mode_reply_is_suggested_while_it_is_on(replying, new_page):
    """A post that arrived in emergency mode shows the emergency reply, sent in one click."""
    served, sink = replying
    sla = served.site.ctx.views.sla
    assert sla is not None
    change = EmergencyChange(
        id="e-1", active=True, by="maya", reason="flooding", at=NOW - timedelta(minutes=10)
    )
    served.call(lambda: sla.apply_emergency(change))
    page = new_page()
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-flood")
    suggestion = page.locator(".triage-suggestion")
    expect(suggestion).to_contain_text("Suggested: Emergency mode reply")
    suggestion.get_by_role("button", name="Send the emergency mode reply").click()
    expect(page.get_by_role("alert")).to_contain_text("Reply queued")
    [request] = sink.sent
    assert request.template == "emergency"
    assert request.text == sla.policy.replies.emergency


def test_a_post_no_connector_can_answer_offers_no_send_button(replying, new_page):
    """A post from the generic webhook says replies go out on its own channel instead."""
    served, _sink = replying
    page = new_page()
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-form")
    expect(page.locator("#main-content")).to_contain_text(
        "Replies to posts from webhook cannot be sent from this tool"
    )
    expect(page.get_by_role("button", name="Send reply")).to_have_count(0)


def test_personal_details_prefill_the_private_channel_reply(replying, new_page):
    """When the post holds personal details the reply box holds the private-channel reply."""
    served, _sink = replying
    page = new_page()
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-phone")
    box = page.get_by_label("Your reply")
    expect(box).to_have_value(ReplyingPolicy().private_channel)
    expect(page.locator("#reply-text-hint")).to_contain_text("personal details")
    page.goto(served.url + "/items/i-pothole")
    expect(page.get_by_label("Your reply")).to_have_value("")


def test_a_warning_waits_for_a_manager_and_a_failure_is_shown(replying, new_page):
    """An officer's warning waits; a manager approves it on the page; a failed reply shows
    its reason to the officer."""
    served, sink = replying
    officer = new_page()
    sign_in(officer, served.url, "olivia")
    officer.goto(served.url + "/items/i-rude")
    officer.get_by_label("Written warning (private message; needs a manager's approval)").check()
    officer.get_by_role("button", name="Send reply").click()
    expect(officer.get_by_role("alert")).to_contain_text("a manager approves it")
    expect(officer.locator(".triage-reply")).to_contain_text("Waiting for a manager's approval")
    expect(officer.get_by_role("button", name="Approve and send this warning")).to_have_count(0)

    manager = new_page()
    sign_in(manager, served.url, "maya")
    manager.goto(served.url + "/items/i-rude")
    manager.get_by_role("button", name="Approve and send this warning").click()
    expect(manager.get_by_role("alert")).to_contain_text("Warning approved")
    expect(manager.locator(".triage-reply")).to_contain_text("approved by maya")
    assert [r.approved_by for r in sink.sent] == [None, "maya"]

    desk = served.site.ctx.views.replies
    assert desk is not None
    failure = ReplyOutcome(
        reply_id=sink.sent[0].id,
        item_id="i-rude",
        comment_key=sink.sent[0].comment_key,
        platform="facebook",
        status="failed",
        reason="facebook refused the reply with HTTP 400, Graph error 100",
        text=sink.sent[0].text,
        requested_by="olivia",
        approved_by="maya",
        at=NOW,
    )
    served.call(lambda: desk.fold_outcome(encode(failure)))
    officer.goto(served.url + "/items/i-rude")
    reply = officer.locator(".triage-reply")
    expect(reply).to_contain_text("Not sent")
    expect(reply).to_contain_text("Why it was not sent: facebook refused the reply")


def test_a_refused_reply_is_shown_again_with_its_error(replying, new_page):
    """An empty reply comes back on the item page with an error summary and the field's
    error, nothing sent; the corrected form then sends one reply; axe finds nothing."""
    served, sink = replying
    page = new_page(bypass_csp=True)
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-pothole")
    page.get_by_label("Send as a private message to the author").check()
    page.get_by_label("Your reply").fill("   ")
    page.get_by_role("button", name="Send reply").click()
    summary = page.locator(".govuk-error-summary")
    expect(summary).to_contain_text("Write the reply, or choose a saved one.")
    expect(page.locator("#reply-text-error")).to_contain_text("Write the reply")
    expect(page.get_by_label("Send as a private message to the author")).to_be_checked()
    assert page.title().startswith("Error:")
    assert sink.sent == []
    assert axe_violations(page) == []
    page.get_by_label("Your reply").fill("Thanks, reported to Highways.")
    page.get_by_role("button", name="Send reply").click()
    expect(page.get_by_role("alert")).to_contain_text("Reply queued")
    [request] = sink.sent
    assert (request.text, request.private) == ("Thanks, reported to Highways.", True)


@pytest.mark.parametrize("item", ["i-bins", "i-phone", "i-rude"])
def test_axe_finds_no_violation_on_the_reply_section(replying, new_page, shot, item):
    """The item page with its reply section, suggestions and replies passes axe-core with
    no violation at all, target-size included (screenshot saved)."""
    served, _sink = replying
    desk = served.site.ctx.views.replies
    assert desk is not None
    page = new_page(bypass_csp=True)  # injecting axe-core is an inline script
    sign_in(page, served.url, "maya")
    page.goto(served.url + f"/items/{item}")
    if item == "i-rude":
        page.get_by_label("Written warning (private message; needs a manager's approval)").check()
        page.get_by_role("button", name="Send reply").click()
        expect(page.locator(".triage-reply")).to_have_count(1)
    page.wait_for_load_state("networkidle")
    shot(page, f"reply-{item}")
    assert axe_violations(page) == []
