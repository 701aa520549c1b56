"""The officers' app in headless Chromium, over the sample records (no Kafka)."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import run_axe, sign_in

pytestmark = pytest.mark.e2e

PAGES = {
    "queue": "/",
    "item": "/items/i-rude",
    "author": "/authors/facebook%3Aa5",
    "replies": "/replies",
    "reports": "/reports",
    "emergency": "/emergency",
    "subject-access": "/subject-access?author=facebook%3Aa5",
}


def lane(page, name):
    return page.locator(f"section[aria-labelledby='lane-{name}']")


def test_an_officer_signs_in_and_sees_each_item_in_its_lane(served, new_page, shot):
    """After signing in the queue shows urgent, replies due and moderation items in place."""
    page = new_page()
    page.goto(served.url + "/")
    expect(page).to_have_url(re.compile(r"/login\?next="))
    shot(page, "login")
    sign_in(page, served.url, "olivia")
    expect(page.get_by_text("Signed in as olivia (officer)")).to_be_visible()
    expect(lane(page, "urgent").locator("article")).to_have_count(1)
    expect(lane(page, "urgent")).to_contain_text("Station Road")
    expect(lane(page, "response").locator("article")).to_have_count(2)
    expect(lane(page, "response").locator("article").first).to_contain_text("Walsworth Road")
    expect(lane(page, "moderation").locator("article")).to_have_count(2)
    expect(lane(page, "moderation")).to_contain_text("poisoned the water")
    shot(page, "queue")


def test_a_decision_leaves_the_queue_and_reaches_the_authors_history(served, new_page, shot):
    """Hiding a post takes it off every open queue (live) and into the author's history."""
    watcher = new_page()
    sign_in(watcher, served.url, "victor")
    expect(watcher.locator("#item-i-rude")).to_have_count(1)
    page = new_page()
    sign_in(page, served.url, "olivia")
    item = page.locator("#item-i-rude")
    item.get_by_role("button", name=re.compile("^Hide")).click()
    expect(page.get_by_role("alert")).to_contain_text("Decision recorded: Hide")
    expect(page.locator("#item-i-rude")).to_have_count(0)
    expect(lane(page, "moderation").locator("article")).to_have_count(1)
    shot(page, "queue-after-decision")
    # The other officer's open queue drops the item without a reload and says so.
    expect(watcher.locator("#item-i-rude")).to_have_count(0, timeout=15_000)
    expect(watcher.locator("#queue-status")).to_contain_text("1 moderation")
    page.goto(served.url + "/authors/facebook%3Aa1")
    history = page.locator("#author-history")
    expect(history).to_contain_text("Unacceptable post recorded")
    expect(history).to_contain_text("Hide")
    expect(history).to_contain_text("olivia")
    shot(page, "author-after-decision")


def test_a_script_in_a_comment_is_shown_as_text_and_never_runs(served, signed_in):
    """<script>alert(1)</script> in a comment is visible as text; no dialog ever opens."""
    page = signed_in("olivia")
    for path in ("/", "/items/i-rude"):
        page.goto(served.url + path)
        quote = page.locator("#item-i-rude blockquote")
        expect(quote).to_have_text(re.compile(r"<script>alert\(1\)</script>"))
        expect(quote.locator("script")).to_have_count(0)
        expect(quote.locator("img")).to_have_count(0)
    page.wait_for_timeout(300)
    assert page.dialogs == []
    assert page.locator("#item-i-rude a[href^='javascript:']").count() == 0


def test_a_form_post_without_its_csrf_token_is_refused(served, signed_in):
    """A decision posted with the session cookie but without its token gets 403."""
    page = signed_in("olivia")
    response = page.request.post(
        served.url + "/items/i-rude/decision", form={"action": "hide"}, max_redirects=0
    )
    assert response.status == 403
    assert served.site.decisions.sent == []
    page.reload()
    expect(page.locator("#item-i-rude")).to_have_count(1)


def test_a_viewer_has_no_decision_buttons_and_is_refused(served, signed_in):
    """A viewer sees the queue without buttons; a forged decision (even with a token) is 403."""
    page = signed_in("victor")
    expect(lane(page, "moderation").locator("article")).to_have_count(2)
    expect(page.locator("#queue button")).to_have_count(0)
    page.goto(served.url + "/items/i-rude")
    expect(page.get_by_text("Your role can see this item but not decide it.")).to_be_visible()
    token = page.locator("input[name=csrf_token]").first.get_attribute("value")
    form = page.request.post(
        served.url + "/items/i-rude/decision",
        form={"action": "hide", "csrf_token": token},
        max_redirects=0,
    )
    assert form.status == 403
    api = page.request.post(
        served.url + "/api/decisions",
        data={"item_id": "i-rude", "action": "hide"},
        headers={"X-CSRF-Token": token},
    )
    assert api.status == 403
    assert served.site.decisions.sent == []


def test_keyboard_users_can_skip_to_the_content_and_decide(served, signed_in):
    """The first Tab reaches a visible skip link; buttons are reachable and show focus."""
    page = signed_in("olivia")
    page.keyboard.press("Tab")
    skip = page.locator(":focus")
    expect(skip).to_have_text("Skip to main content")
    expect(skip).to_be_visible()
    page.keyboard.press("Enter")
    expect(page.locator("#main-content")).to_be_focused()
    button = page.locator("#item-i-flood").get_by_role("button").first
    button.focus()
    outline = button.evaluate(
        "b => getComputedStyle(b).outlineStyle + getComputedStyle(b).boxShadow"
    )
    assert outline != "none" + "none"


def test_pages_load_without_breaking_the_content_security_policy(served, signed_in):
    """No page needs anything the strict policy blocks, and no script fails."""
    page = signed_in("maya")
    for path in PAGES.values():
        page.goto(served.url + path)
        page.wait_for_load_state("networkidle")
        # GOV.UK Frontend's components started from the external module script.
        expect(page.locator("body.govuk-frontend-supported")).to_have_count(1)
    assert [m for m in page.console_messages if m.startswith("error")] == []


@pytest.mark.parametrize("name", list(PAGES))
def test_axe_finds_no_serious_or_critical_violation(served, new_page, shot, name):
    """axe-core finds nothing serious or critical on the page (screenshot saved)."""
    # Injecting axe-core is an inline script: this one context bypasses the policy for it.
    page = new_page(bypass_csp=True)
    sign_in(page, served.url, "maya")
    page.goto(served.url + PAGES[name])
    page.wait_for_load_state("networkidle")
    shot(page, name)
    bad = [
        (v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
        for v in run_axe(page)
        if v["impact"] in ("serious", "critical")
    ]
    assert bad == []


def test_axe_finds_nothing_serious_on_the_sign_in_page(served, new_page):
    """The sign-in page, with an error showing, passes axe-core too."""
    page = new_page(bypass_csp=True)
    page.goto(served.url + "/login")
    page.get_by_label("User name").fill("olivia")
    page.get_by_label("Password").fill("wrong password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter a correct user name and password")
    bad = [v["id"] for v in run_axe(page) if v["impact"] in ("serious", "critical")]
    assert bad == []


def test_live_updates_announce_a_new_item_and_keep_focus(served, signed_in):
    """A new item appears while the queue is open, is announced, and focus stays put."""
    from tests.e2e.site import sample_items

    page = signed_in("olivia")
    expect(lane(page, "moderation").locator("article")).to_have_count(2)
    page.locator("#item-i-fake").get_by_role("button").first.focus()
    fresh = sample_items()[3].model_copy(update={"id": "i-new"})
    served.call(lambda: served.site.state.add_item(fresh))
    expect(lane(page, "moderation").locator("article")).to_have_count(3, timeout=15_000)
    status = page.locator("#queue-status")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(status).to_contain_text("3 moderation")
    assert page.evaluate("document.activeElement.closest('article').id") == "item-i-fake"
