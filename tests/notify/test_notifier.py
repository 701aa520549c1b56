"""The notifier against real servers: the session broker, aiosmtpd, the webhooks' server."""

from __future__ import annotations

import ssl
from datetime import UTC, date, datetime

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from records import DeadLetter, encode
from tests.notify.conftest import COMMS, MD, block_alert, notify_settings, sla_alert
from tests.notify.servers import SmtpServer
from tests.polling import until
from tests.tls import make_certificates
from worker.clock import ManualClock

pytestmark = pytest.mark.integration


async def committed(settings, group: str) -> int:
    """The offsets the group has committed on triage.alerts, summed over partitions."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka.bootstrap, group_id=group)
    await consumer.start()
    try:
        total = 0
        for partition in range(settings.partitions):
            offset = await consumer.committed(TopicPartition(settings.topics.alerts, partition))
            total += offset or 0
        return total
    finally:
        await consumer.stop()


async def test_each_role_gets_its_alerts_by_mail_and_chat(smtp, chat, start_notifier, produce):
    """Deadline alerts reach each officer and the chat channels, a breach the Communications
    Manager too, a block only the Managing Director, whose mail names the account and
    quotes its post; every alert is then committed."""
    run = await start_notifier(notify_settings(smtp, chat))
    topic = run.settings.topics.alerts
    await produce(topic, [sla_alert("c1"), sla_alert("c2", "sla_breach"), block_alert("d1")])
    await until(lambda: len(smtp.inbox.snapshot()) == 6, "six mails")
    await until(lambda: len(chat.slack) == 2 and len(chat.teams) == 2, "two posts each")
    by_alert: dict[str, set[str]] = {}
    for mail in smtp.inbox.snapshot():
        by_alert.setdefault(mail.alert_id, set()).update(mail.rcpt)
    officers = {"one@council.example", "two@council.example"}
    assert by_alert == {
        "c1:sla_at_risk": officers,
        "c2:sla_breach": officers | {COMMS},
        "md-block-d1": {MD},
    }
    md_mail = next(m for m in smtp.inbox.snapshot() if m.rcpt == (MD,))
    text = md_mail.message.get_body(("plain",)).get_content()
    assert "alice" in text
    assert "Tue 01 Jun 2027" in text
    assert "Name: Pat Example" in text
    assert "Handle: @pat" in text
    assert "   you idiot" in text
    assert "Reasons: Unacceptable behaviour" in text
    html = md_mail.message.get_body(("html",)).get_content()
    assert '<html lang="en-GB">' in html
    assert "Pat Example" in html
    assert "you idiot" in html
    for mail in smtp.inbox.snapshot():
        if mail.rcpt != (MD,):
            assert "Pat Example" not in mail.message.get_body(("plain",)).get_content()
    for post in [*chat.slack, *chat.teams]:
        assert "Pat Example" not in str(post)
        assert "idiot" not in str(post)
    # Each is counted once the server's answer is read, a moment after the server has it.
    await until(lambda: run.count("triage_notifications_sent", "email") == 6, "six counted")
    await until(lambda: run.count("triage_notifications_sent", "slack") == 2, "two counted")
    await until(lambda: committed(run.settings, run.notifier.group_id), "a commit")
    await until(
        lambda: _equals(committed(run.settings, run.notifier.group_id), 3), "all three committed"
    )


async def _equals(value, expected: int) -> bool:
    return (await value) == expected


async def test_failures_are_retried_dead_lettered_and_the_notifier_carries_on(
    smtp, chat, start_notifier, produce, read_topic
):
    """5xx and 451 answers are retried; a refused address, a 400 from Teams, bad bytes and
    an unknown kind are dead-lettered with reasons that hold no address; later alerts are
    still sent."""
    smtp.inbox.refuse.add("one@council.example")
    chat.answers["/slack/T000-secret"] = [500, 503]
    chat.answers["/teams/flow-secret"] = [400]
    run = await start_notifier(notify_settings(smtp, chat))
    topic = run.settings.topics.alerts
    unknown = sla_alert("c3").model_copy(update={"kind": "mystery"})
    # One partition key, so that the four are read in order.
    await produce(topic, [sla_alert("c1"), b"not a record", encode(unknown)], key=b"k")
    await until(lambda: len(chat.slack) == 1, "slack, after two 5xx answers")
    smtp.inbox.refuse.clear()
    smtp.inbox.defer_next = 1
    await produce(topic, [sla_alert("c4", "sla_breach")], key=b"k")
    await until(lambda: len(smtp.inbox.snapshot()) == 4, "c1 to one officer, c4 to three")

    letters = await read_topic(run.settings.topics.deadletter, 3, DeadLetter)
    assert [letter.agent for letter in letters] == ["notify"] * 3
    assert [letter.topic for letter in letters] == [topic] * 3
    first, garbage, mystery = sorted(letters, key=lambda letter: letter.offset)
    assert "email to officers: recipient refused (SMTP [550])" in first.error
    assert "teams to chat: teams answered HTTP 400 (invalid_payload)" in first.error
    assert "@" not in first.error
    assert first.original_value is not None
    assert garbage.original_value == b"not a record"
    assert "mystery" in mystery.error
    assert run.count("triage_notifications_retried", "slack") == 2
    assert run.count("triage_notifications_retried", "email") == 1
    assert run.count("triage_notifications_failed", "email") == 1
    assert run.count("triage_notifications_failed", "teams") == 1
    assert len(chat.teams) == 1  # c4's card, after c1's was refused


async def test_transient_failure_gives_up_after_the_last_attempt(
    chat, start_notifier, produce, read_topic
):
    """A webhook that keeps answering 503 is tried the set number of times, then the
    alert is dead-lettered saying how many tries it had."""
    chat.answers["/slack/T000-secret"] = [503] * 10
    run = await start_notifier(
        notify_settings(None, chat, teams_webhook_url=None, notify_max_attempts=3)
    )
    await produce(run.settings.topics.alerts, [sla_alert("c9")])
    (letter,) = await read_topic(run.settings.topics.deadletter, 1, DeadLetter)
    assert letter.error == "not sent: slack to chat: slack answered HTTP 503 after 3 tries"
    assert run.count("triage_notifications_retried", "slack") == 2


async def test_starttls_and_login_before_the_password(
    tmp_path, start_notifier, produce, read_topic
):
    """With a user and password the notifier upgrades with STARTTLS, checks the server's
    certificate against TRIAGE_SMTP_CA_FILE and logs in; a wrong password dead-letters."""
    certs = make_certificates(tmp_path / "certs")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(certs.server_cert, certs.server_key)
    server = SmtpServer(tls_context=context, users={"triage": "right-password"}).start()
    try:
        good = notify_settings(
            server,
            None,
            smtp_username="triage",
            smtp_password="right-password",
            smtp_ca_file=certs.ca,
        )
        run = await start_notifier(good)
        await produce(run.settings.topics.alerts, [block_alert("d7")])
        await until(server.inbox.snapshot, "the mail")
        (mail,) = server.inbox.snapshot()
        assert mail.tls
        assert mail.login == "triage"
        run.stop.set()
        await run.task

        bad = notify_settings(
            server,
            None,
            smtp_username="triage",
            smtp_password="wrong-password",
            smtp_ca_file=certs.ca,
            notify_max_attempts=1,
        )
        again = await start_notifier(bad)
        await produce(run.settings.topics.alerts, [block_alert("d8")])
        (letter,) = await read_topic(again.settings.topics.deadletter, 1, DeadLetter)
        assert letter.error == "not sent: email to managing_director: SMTP 535"
        assert "password" not in letter.error
    finally:
        server.stop()


async def test_morning_digest_is_written_once_and_mailed(smtp, start_notifier, produce):
    """At 9:00 on a working day the notifier writes the day's digest to triage.alerts and
    mails it to the officers and the Communications Manager, counting yesterday's breach
    and block; a second notifier finds it there and writes none."""
    clock = ManualClock(datetime(2026, 12, 1, 9, 1, tzinfo=UTC))  # a Tuesday, GMT
    waiting = {"response": 4, "urgent": 1}
    run = await start_notifier(
        notify_settings(smtp, None),
        clock=clock,
        digest=True,
        digest_check_s=0.2,
        waiting=lambda: waiting,
    )
    monday = datetime(2026, 11, 30, 15, 0, tzinfo=UTC)
    breach = sla_alert("c5", "sla_breach").model_copy(update={"created_at": monday})
    block = block_alert("d5").model_copy(update={"created_at": monday})
    await produce(run.settings.topics.alerts, [breach, block])

    def digests():
        return [m for m in smtp.inbox.snapshot() if m.alert_id == "digest-2026-12-01"]

    await until(lambda: len(digests()) == 3, "the digest to two officers and comms")
    assert {r for m in digests() for r in m.rcpt} == {
        "one@council.example",
        "two@council.example",
        COMMS,
    }
    text = digests()[0].message.get_body(("plain",)).get_content()
    assert "5 items wait for review" in text
    assert "Waiting: response lane: 4" in text
    assert "Deadlines missed since Mon 30 Nov 2026: 1" in text
    assert "Accounts blocked since Mon 30 Nov 2026: 1" in text
    assert "facebook:author-9" not in text  # counts only
    assert await run.notifier.write_digest(date(2026, 12, 1)) is False
