"""Assignment, internal notes, the queue's filters and "being handled by" in headless
Chromium: two browser contexts are two officers; axe-core finds no violation, WCAG 2.2's
target-size rule included."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import axe_violations, sign_in

pytestmark = pytest.mark.e2e


def test_an_officer_assigns_an_item_writes_a_note_and_filters_the_queue(served, new_page, shot):
    """Olivia assigns a post to herself and adds a note from the item page; the queue
    filtered to "Assigned to me" shows that post alone, and says whose it is."""
    page = new_page()
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-rude")
    expect(page.get_by_text("Not assigned to anyone.")).to_be_visible()
    page.get_by_label("Assign to").select_option("me")
    page.get_by_role("button", name="Assign", exact=True).click()
    expect(page.get_by_role("alert")).to_contain_text("Assignment recorded.")
    expect(page.locator("#handling")).to_contain_text("Assigned to olivia by olivia")
    page.get_by_label("Add a note").fill("Called the resident back; waiting for photos.")
    page.get_by_role("button", name="Add note").click()
    expect(page.get_by_role("alert")).to_contain_text("Note added.")
    expect(page.locator(".triage-notes")).to_contain_text("waiting for photos")
    [note] = [r for r in served.site.handling.by_id.values() if r.kind == "note"]
    assert (note.by, note.item_id) == ("olivia", "i-rude")
    page.goto(served.url + "/")
    page.get_by_label("Assigned to").select_option("mine")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"assignee=mine"))
    expect(page.locator("#queue article")).to_have_count(1)
    expect(page.locator("#item-i-rude")).to_contain_text("Assigned to olivia.")
    shot(page, "queue-assigned-to-me")
    page.get_by_role("link", name="Clear filters").click()
    expect(page.locator("#queue article")).to_have_count(5)


def test_the_queue_shows_who_is_handling_an_item_while_they_have_it_open(served, new_page):
    """Maya opening an item shows "Being handled by maya" on Olivia's open queue without a
    reload; it goes once Maya's presence expires without a heartbeat."""
    olivia = new_page()
    sign_in(olivia, served.url, "olivia")
    expect(olivia.locator("#item-i-fake")).to_have_count(1)
    expect(olivia.locator("#item-i-fake")).not_to_contain_text("Being handled by")
    maya = new_page()
    sign_in(maya, served.url, "maya")
    maya.goto(served.url + "/items/i-fake")
    expect(maya.locator("#handling")).not_to_contain_text("Being handled by")
    tag = olivia.locator("#item-i-fake .govuk-tag", has_text="Being handled by maya")
    expect(tag).to_be_visible(timeout=15_000)
    # Olivia opens it too: each sees the other on the item page itself.
    olivia.goto(served.url + "/items/i-fake")
    expect(olivia.locator("#handling")).to_contain_text("Being handled by maya")
    maya.reload()
    expect(maya.locator("#handling")).to_contain_text("Being handled by olivia")
    maya.close()
    olivia.goto(served.url + "/")
    ttl = served.site.ctx.settings.web_presence_ttl_s
    served.call(lambda: served.site.clock.advance(timedelta(seconds=ttl + 1)))
    expect(olivia.locator("#item-i-fake")).not_to_contain_text("Being handled by", timeout=15_000)


def test_the_item_page_heartbeat_keeps_the_officer_present(served, new_page):
    """The item page's script renews the officer's presence while it stays open."""
    page = new_page()
    sign_in(page, served.url, "maya")
    served.site.ctx.settings = served.site.ctx.settings.model_copy(
        update={"web_presence_ttl_s": 15.0}
    )
    page.goto(served.url + "/items/i-bins")
    expect(page.locator("#handling")).to_have_attribute("data-interval", "5")
    presence = served.site.ctx.views.presence
    assert presence is not None
    first = served.call(lambda: presence.present(["i-bins"]))
    assert first == {"i-bins": ["maya"]}
    with page.expect_request(re.compile(r"/events/presence/i-bins$"), timeout=15_000) as beat:
        pass
    assert beat.value.method == "POST"
    assert beat.value.response().status == 204


@pytest.mark.parametrize("path", ["/items/i-rude", "/?assignee=mine&label=abusive"])
def test_axe_finds_no_violation_on_assignment_notes_and_filters(served, new_page, shot, path):
    """The item page with an assignment, its history and notes, and the filtered queue
    with "being handled by" showing, pass axe-core with no violation at all."""
    other = new_page()
    sign_in(other, served.url, "maya")
    other.goto(served.url + "/items/i-rude")
    page = new_page(bypass_csp=True)  # injecting axe-core is an inline script
    sign_in(page, served.url, "olivia")
    page.goto(served.url + "/items/i-rude")
    page.get_by_label("Assign to").select_option("me")
    page.get_by_role("button", name="Assign", exact=True).click()
    page.get_by_label("Add a note").fill("Checked the thread.")
    page.get_by_role("button", name="Add note").click()
    expect(page.locator(".triage-notes li")).to_have_count(1)
    page.goto(served.url + path)
    expect(page.get_by_text("Being handled by maya")).to_be_visible()
    page.locator("details").evaluate_all("ds => ds.forEach(d => d.open = true)")
    page.wait_for_load_state("networkidle")
    shot(page, "handling-" + ("item" if path.startswith("/items") else "queue"))
    assert axe_violations(page) == []
