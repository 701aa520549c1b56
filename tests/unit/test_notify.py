"""The notifier's pure part: settings, the policy section, routing, templates, payloads."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from records.policy import PolicyError
from records.sla import Alert, BlockNotice, NoticePost
from worker.notify.channels import mail_of
from worker.notify.compose import (
    ADAPTIVE_CARD,
    NoRoute,
    compose,
    render_html,
    render_text,
    slack_payload,
    teams_payload,
)
from worker.notify.config import (
    NotificationsPolicy,
    NotifySettings,
    parse_notifications,
    recipients,
)

LONDON = ZoneInfo("Europe/London")
NOW = datetime(2026, 12, 1, 14, 0, tzinfo=UTC)
POLICY = NotificationsPolicy(
    managing_director=("md@council.example",),
    comms_manager=("comms@council.example",),
    officers=("one@council.example", "two@council.example"),
)
ALL = ("email", "slack", "teams")


def sla_alert(kind: str = "sla_at_risk", message: str = "Reply deadline near") -> Alert:
    return Alert(
        id=f"case-1:{kind}",
        kind=kind,
        severity="warning",
        subject="facebook:page:thread-1",
        message=message,
        created_at=NOW,
        data={
            "case_id": "case-1",
            "item_id": "item-1",
            "channel": "facebook:page",
            "received_at": "2026-12-01T09:30:00+00:00",
            "due_at": "2026-12-02T09:30:00+00:00",
            "seconds_left": 3600,
        },
    )


def block_alert() -> Alert:
    return Alert(
        id="md-block-d1",
        kind="author_blocked",
        severity="warning",
        subject="facebook:author-9",
        message="An account on facebook was blocked by alice.",
        created_at=NOW,
        data={
            "item_id": "item-9",
            "audit_id": "d1",
            "decided_by": "alice",
            "appealable_from": "2027-06-01",
            "for": "managing_director",
        },
    )


def noticed_block() -> Alert:
    """A block alert as the moderation step writes it, with the Managing Director's notice."""
    post = NoticePost(
        item_id="item-8",
        channel="nherts",
        posted_at=datetime(2026, 11, 20, 18, 5, tzinfo=UTC),
        text="<b>you</b> idiot & worse",
        url="https://facebook.example/p/8",
        categories=("abusive",),
        reasons=("Unacceptable behaviour: rude, abusive or harassing posts",),
    )
    later = post.model_copy(update={"item_id": "item-9", "text": "idiot again", "url": None})
    notice = BlockNotice(
        platform="facebook",
        account_name="Pat Example",
        account_handle="@pat",
        posts=(post, later),
        posts_total=12,
        reasons=post.reasons,
        decided_by="alice",
        decided_at=NOW,
        note="second offence in a month",
        appealable_from=date(2027, 12, 1),
    )
    return block_alert().model_copy(update={"notice": notice})


def routed(alert: Alert, channels: tuple[str, ...] = ALL, policy: NotificationsPolicy = POLICY):
    return compose(
        alert,
        recipients=recipients(policy, NotifySettings()),
        channels=channels,  # type: ignore[arg-type]
        policy=policy,
        zone=LONDON,
        app_url="https://triage.council.example",
    )


def test_at_risk_goes_to_each_officer_and_the_chat_channels():
    """A deadline near is mailed to every officer, one message each, and posted to chat."""
    got = {(m.channel, m.role, m.to) for m in routed(sla_alert())}
    assert got == {
        ("email", "officers", "one@council.example"),
        ("email", "officers", "two@council.example"),
        ("slack", "chat", None),
        ("teams", "chat", None),
    }


def test_breach_also_goes_to_the_communications_manager():
    """A missed deadline reaches the Communications Manager as well as the officers."""
    roles = {m.role for m in routed(sla_alert("sla_breach")) if m.channel == "email"}
    assert roles == {"officers", "comms_manager"}


def test_block_goes_to_the_managing_director_by_mail_only():
    """A block is for the Managing Director alone and never posted to a shared channel."""
    got = [(m.channel, m.role, m.to) for m in routed(block_alert())]
    assert got == [("email", "managing_director", "md@council.example")]


def test_block_message_says_who_decided_and_the_appeal_date():
    """The Managing Director's notice names the decider and the local appeal date."""
    (message,) = routed(block_alert())
    facts = dict(message.facts)
    assert facts["Decided by"] == "alice"
    assert facts["May appeal from"] == "Tue 01 Jun 2027"
    assert facts["Account"] == "facebook:author-9"


def test_sla_facts_show_local_times_and_no_resident_data():
    """Deadline alerts give times in the council's zone and carry no author key."""
    (message, *_) = routed(sla_alert())
    facts = dict(message.facts)
    assert facts["Due"] == "Wed 02 Dec 2026 09:30"
    assert "facebook:page:thread-1" not in render_text(message)


def test_unknown_kind_has_no_route():
    """An alert kind the notifier does not know is refused, to be dead-lettered."""
    alert = sla_alert().model_copy(update={"kind": "something_new"})
    with pytest.raises(NoRoute, match="something_new"):
        routed(alert)


def test_no_recipient_configured_is_no_route():
    """A block with no Managing Director address anywhere is refused, not dropped."""
    with pytest.raises(NoRoute, match="managing_director"):
        routed(block_alert(), policy=NotificationsPolicy())


def test_environment_replaces_a_roles_addresses():
    """TRIAGE_NOTIFY_OFFICERS replaces the policy's officers, other roles stay."""
    settings = NotifySettings(notify_officers="a@x.example, b@x.example")
    got = recipients(POLICY, settings)
    assert got["officers"] == ("a@x.example", "b@x.example")
    assert got["managing_director"] == ("md@council.example",)


def test_policy_section_errors_name_the_key():
    """A name where an address belongs fails as a PolicyError naming the key."""
    with pytest.raises(PolicyError, match=r"notifications\.officers"):
        parse_notifications({"notifications": {"officers": ["Alice Smith"]}})
    with pytest.raises(PolicyError, match="notifications"):
        parse_notifications({"notifications": {"officer": []}})
    with pytest.raises(PolicyError, match="chat_kinds"):
        parse_notifications({"notifications": {"chat_kinds": ["author_blocked"]}})


def test_smtp_settings_are_checked():
    """The SMTP URL must be smtp:// or smtps:// with a sender; the port has defaults."""
    with pytest.raises(ValueError, match="smtp://host:587"):
        NotifySettings(smtp_url="http://mail.example")
    with pytest.raises(ValueError, match="TRIAGE_MAIL_FROM"):
        NotifySettings(smtp_url="smtp://mail.example")
    plain = NotifySettings(smtp_url="smtp://mail.example", mail_from="triage@council.example")
    assert plain.smtp is not None
    assert (plain.smtp.port, plain.smtp.implicit_tls) == (587, False)
    tls = NotifySettings(smtp_url="smtps://mail.example", mail_from="triage@council.example")
    assert tls.smtp is not None
    assert (tls.smtp.port, tls.smtp.implicit_tls) == (465, True)


def test_secrets_stay_out_of_repr_and_errors():
    """The SMTP password and webhook URLs never show in the settings' repr or errors."""
    settings = NotifySettings(
        smtp_url="smtp://mail.example",
        mail_from="t@council.example",
        smtp_username="u",
        smtp_password="hunter2-password",
        slack_webhook_url="https://hooks.example/T0/B0/secret-token",
    )
    assert "hunter2" not in repr(settings)
    assert "secret-token" not in repr(settings)
    with pytest.raises(ValueError, match="https") as caught:
        NotifySettings(teams_webhook_url="ftp://secret-path-xyz")
    assert "secret-path-xyz" not in str(caught.value)


def test_html_escapes_and_is_accessible():
    """The HTML body escapes alert text and has a language, a title, a heading, a list."""
    (message, *_) = routed(sla_alert(message="<script>alert(1)</script> & more"))
    html = render_html(message)
    assert "<script>" not in html
    assert "&lt;script&gt;" in html
    assert '<html lang="en-GB">' in html
    assert "<title>" in html
    assert "<h1" in html
    assert "<dl>" in html
    assert "<dt" in html
    assert 'href="https://triage.council.example/items/item-1"' in html


def test_mail_has_text_and_html_and_a_stable_id():
    """A mail is multipart/alternative, and the same delivery always has the same id."""
    (message, *_) = routed(sla_alert())
    mail = mail_of(message, "triage@council.example")
    assert mail.get_content_type() == "multipart/alternative"
    kinds = [part.get_content_type() for part in mail.iter_parts()]
    assert kinds == ["text/plain", "text/html"]
    assert mail["Message-ID"] == mail_of(message, "triage@council.example")["Message-ID"]
    assert mail["To"] == "one@council.example"


def test_slack_payload_has_text_and_blocks():
    """Slack gets a fallback text and Block Kit blocks, with mrkdwn control chars escaped."""
    (message,) = [m for m in routed(sla_alert(message="a < b")) if m.channel == "slack"]
    body = slack_payload(message)
    assert body["text"].startswith("Reply deadline near")
    assert [b["type"] for b in body["blocks"]][:2] == ["header", "section"]
    assert body["blocks"][1]["text"]["text"] == "a &lt; b"


def test_teams_payload_is_a_message_with_an_adaptive_card():
    """Teams gets a message whose one attachment is an Adaptive Card with a FactSet."""
    (message,) = [m for m in routed(sla_alert()) if m.channel == "teams"]
    body = teams_payload(message)
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard"
    assert card["version"] == "1.4"
    assert "FactSet" in [b["type"] for b in card["body"]]
    assert card["actions"][0]["url"].endswith("/items/item-1")


def test_block_notice_to_the_managing_director_names_the_account_and_posts():
    """The Managing Director's mail has the name, handle, reasons, decider, appeal date and
    every post with its reasons, in plain text and (escaped) in HTML."""
    (message,) = routed(noticed_block())
    facts = dict(message.facts)
    assert (facts["Name"], facts["Handle"]) == ("Pat Example", "@pat")
    assert facts["Reasons"] == "Unacceptable behaviour: rude, abusive or harassing posts"
    assert facts["Decided by"] == "alice"
    assert facts["May appeal from"] == "Wed 01 Dec 2027"
    assert facts["Posts"] == "12 (the latest 2 below)"
    text = render_text(message)
    assert "1. Posted Fri 20 Nov 2026 18:05 on nherts" in text
    assert "   <b>you</b> idiot & worse" in text
    assert "2. Posted" in text
    assert "idiot again" in text
    assert "Why: Unacceptable behaviour" in text
    assert "Link: https://facebook.example/p/8" in text
    html = render_html(message)
    assert "&lt;b&gt;you&lt;/b&gt; idiot &amp; worse" in html
    assert "<b>you</b>" not in html
    assert "<ol>" in html
    assert "<blockquote" in html
    assert "Pat Example" in html


def test_block_notice_in_chat_payloads_carries_the_posts():
    """Rendered for Slack and Teams, the notice shows its facts and each post."""
    (message,) = routed(noticed_block())
    slack = slack_payload(message)
    texts = [b["text"]["text"] for b in slack["blocks"] if "text" in b and b["type"] == "section"]
    assert any("&lt;b&gt;you&lt;/b&gt; idiot &amp; worse" in t for t in texts)
    assert any("idiot again" in t for t in texts)
    assert len(slack["blocks"]) <= 50
    assert "Pat Example" not in slack["text"]  # the notification preview stays plain
    card = teams_payload(message)["attachments"][0]["content"]
    containers = [b for b in card["body"] if b["type"] == "Container"]
    assert [c["items"][1]["text"] for c in containers] == [
        "<b>you</b> idiot & worse",
        "idiot again",
    ]
    (facts,) = [b for b in card["body"] if b["type"] == "FactSet"]
    assert {"title": "Handle", "value": "@pat"} in facts["facts"]


def test_only_the_managing_director_gets_the_notice(monkeypatch):
    """Another role on a block's route would get the alert without the notice's data."""
    from worker.notify import compose as module

    monkeypatch.setitem(module.ROUTES, "author_blocked", ("managing_director", "officers"))
    messages = routed(noticed_block(), channels=("email",))
    md = [m for m in messages if m.role == "managing_director"]
    others = [m for m in messages if m.role != "managing_director"]
    assert md
    assert others
    assert "Pat Example" in render_text(md[0])
    for message in others:
        body = render_text(message) + render_html(message)
        assert "Pat Example" not in body
        assert "@pat" not in body
        assert "idiot" not in body
        assert message.posts == ()


def test_urgent_out_of_hours_goes_to_on_call_without_the_post():
    """An urgent post out of hours is mailed to the on-call addresses only, with the
    channel, the local time received and why it is urgent, and nothing of the post."""
    alert = Alert(
        id="urgent-ooh-rv-1",
        kind="urgent_out_of_hours",
        severity="critical",
        subject="rv-1",
        message="An urgent post on facebook (nherts) arrived out of hours.",
        created_at=NOW,
        data={
            "item_id": "rv-1",
            "platform": "facebook",
            "channel": "nherts",
            "received_at": "2026-12-05T03:00:00+00:00",
            "labels": "service_request",
            "reasons": "Emergencies: flooding",
            "for": "on_call",
        },
    )
    policy = POLICY.model_copy(update={"on_call": ("night@council.example",)})
    (message,) = routed(alert, policy=policy)
    assert (message.channel, message.role, message.to) == (
        "email",
        "on_call",
        "night@council.example",
    )
    facts = dict(message.facts)
    assert facts["Channel"] == "facebook: nherts"
    assert facts["Received"] == "Sat 05 Dec 2026 03:00"
    assert facts["Why urgent"] == "Emergencies: flooding"
    assert "Emergency mode" not in facts
    assert message.posts == ()
    assert "the officer on call" in render_text(message)
    # Posted while emergency mode is on, the mail says so.
    emergency = alert.model_copy(update={"data": {**alert.data, "emergency": True}})
    (during,) = routed(emergency, policy=policy)
    assert dict(during.facts)["Emergency mode"] == "on"
    with pytest.raises(NoRoute, match="on_call"):
        routed(alert)
