"""A block decided in the worker reaches the Managing Director's mailbox with the notice
the policy asks for: from the officers' decision on the broker to aiosmtpd."""

from __future__ import annotations

import asyncio

import pytest

from records import Comment
from tests.integration.conftest import READY_TIMEOUT_S, KeywordClassifier, worker_settings
from tests.notify.conftest import MD, OFFICERS, notify_settings
from tests.polling import until
from worker.app import create_app
from worker.context import WorkerContext
from worker.moderation.decisions import DecisionRequest
from worker.moderation.service import submit_decision
from worker.users import User

pytestmark = pytest.mark.integration

OFFICER = User("olive", "officer")
MANAGER = User("mona", "manager")


def post(cid: str, text: str) -> Comment:
    return Comment.model_validate(
        {
            "schema": 1,
            "id": cid,
            "platform": "facebook",
            "channel": "nherts",
            "kind": "comment",
            "thread_id": f"t-{cid}",
            "author": {"id": "a7", "handle": "@pat", "name": "Pat Example"},
            "text": text,
            "url": f"https://facebook.example/{cid}",
            "created_at": "2026-11-30T12:00:00+00:00",
            "received_at": "2026-11-30T12:00:00+00:00",
        }
    )


async def test_block_reaches_the_managing_director_with_name_handle_and_posts(
    broker, topic_prefix, smtp, produce, no_digest_policy
):
    """After a hide and then a manager's block of the same account, the Managing
    Director's mail names the account and handle, quotes both posts with the policy's
    reasons, and says who decided and the appeal date; no officer gets any of it."""
    settings = worker_settings(broker, topic_prefix, policy=no_digest_policy)
    ctx = WorkerContext(settings=settings)
    app = create_app(
        settings, ctx=ctx, classifier=KeywordClassifier(), notify=notify_settings(smtp, None)
    )
    await asyncio.wait_for(app.start(), timeout=READY_TIMEOUT_S)
    try:
        await until(lambda: ctx.ready, "the worker ready", within=READY_TIMEOUT_S)
        views = ctx.views
        items = []
        for cid, text in (("c1", "you idiot"), ("c2", "idiot again")):
            comment = post(cid, text)
            await produce(settings.topics.comments, [comment], key=comment.conversation_key)

            def find(key=comment.comment_key):
                return next(
                    (
                        i
                        for i in views.review.items(lane="moderation")
                        if i.comment.comment_key == key
                    ),
                    None,
                )

            items.append(await until(find, f"the moderation item of {cid}"))
            if cid == "c1":
                request = DecisionRequest(item_id=items[0].id, action="hide")
                await submit_decision(ctx, OFFICER, request)
                await until(lambda: views.ledger.get("facebook:a7"), "the strike")
        await until(lambda: views.review.get(items[1].id).history is not None, "the advice")
        await submit_decision(ctx, MANAGER, DecisionRequest(item_id=items[1].id, action="block"))

        def md_mail():
            return [m for m in smtp.inbox.snapshot() if m.rcpt == (MD,)]

        await until(md_mail, "the Managing Director's mail")
        (mail,) = md_mail()
        text = mail.message.get_body(("plain",)).get_content()
        assert "An account was blocked" in text
        assert "Name: Pat Example" in text
        assert "Handle: @pat" in text
        assert "Account: facebook:a7" in text
        assert "Decided by: mona" in text
        assert "May appeal from: " in text
        assert "Posts: 2" in text
        assert "   you idiot" in text
        assert "   idiot again" in text
        assert "Link: https://facebook.example/c1" in text
        assert "Why: test" in text  # the stand-in classifier's policy clause
        html = mail.message.get_body(("html",)).get_content()
        assert "Pat Example" in html
        for other in smtp.inbox.snapshot():
            if set(other.rcpt) & set(OFFICERS.split(",")):
                assert "Pat Example" not in other.message.get_body(("plain",)).get_content()
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)
    assert not ctx.fatal.error
