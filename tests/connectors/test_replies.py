"""`triage connect actions` posting officers' replies on local fakes of Graph, X and Mastodon."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer
from click.testing import CliRunner

from connectors.replies import ReplyRunner, RunTogether
from connectors.reply_posts import check_request
from records import Comment, decode, encode
from records.admin import ensure_topic
from records.kafka import KafkaConnection
from records.moderation import Decision
from records.reply import ReplyOutcome, ReplyRequest
from tests.polling import until
from worker.cli import cli

from .conftest import IG_USER_ID, PAGE_ID
from .fakes import serve_fake
from .reply_fakes import GRAPH_VERSION, FakeGraphReplies, FakeMastodonReplies, FakeXReplies
from .test_actions import dead_letters, produce

PAGE_TOKEN = "test-page-token"
X_TOKEN = "test-x-user-token"
MASTODON_TOKEN = "test-mastodon-token"
AT = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
CONNECTOR = {"facebook": "meta", "instagram": "meta", "x": "x", "mastodon": "mastodon"}


def request(
    n: int,
    platform: str,
    native: str,
    text: str = "Thanks, we have passed this on.",
    *,
    private: bool = False,
    warning: bool = False,
    approved_by: str | None = None,
    connector: str | None = "",
) -> ReplyRequest:
    """A reply request as the officers' app writes it."""
    return ReplyRequest(
        id=f"r-{n:032x}",
        item_id=f"rv-{n}",
        comment_key=f"{platform}:{native}",
        platform=platform,
        channel="NHDC",
        thread_id=f"thread-{n}",
        connector=CONNECTOR.get(platform) if connector == "" else connector,
        author_id="1234567" if platform == "x" else f"author{n}",
        author_handle="pat@example.social" if platform == "mastodon" else "pat",
        text=text,
        template="warning" if warning else None,
        private=private,
        requested_by="olive",
        requested_at=AT,
        needs_approval=warning,
        approved_by=approved_by,
        approved_at=AT if approved_by else None,
    )


def write_policy(tmp_path: Path, enabled: bool) -> Path:
    path = tmp_path / "policy.yaml"
    path.write_text(f"replying:\n  enabled: {str(enabled).lower()}\n")
    return path


async def records_on(bootstrap: str, topic: str, expected: int, kind: Any) -> list[Any]:
    """Every record of ``kind`` on the topic once ``expected`` have arrived (and a moment more)."""
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        out: list[Any] = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(out) < expected:
            for messages in (await consumer.getmany(timeout_ms=300)).values():
                out.extend(decode(m.value, kind) for m in messages)
        await asyncio.sleep(0.5)
        for messages in (await consumer.getmany(timeout_ms=300)).values():
            out.extend(decode(m.value, kind) for m in messages)
        return out
    finally:
        await consumer.stop()


@contextlib.asynccontextmanager
async def running(runner: ReplyRunner) -> AsyncIterator[ReplyRunner]:
    await runner.setup()
    task = asyncio.create_task(runner.run())
    try:
        yield runner
    finally:
        await runner.stop()
        await asyncio.wait_for(task, 30)
        await runner.cleanup()


class CrashesBeforeCommitting(ReplyRunner):
    """Stops as a crash would: every platform call and outcome done, no offset committed."""

    async def _commit(self, message: Any) -> None:
        return None


@pytest.fixture
async def platforms() -> AsyncIterator[
    tuple[FakeGraphReplies, FakeXReplies, FakeMastodonReplies, dict[str, str]]
]:
    graph = FakeGraphReplies(PAGE_TOKEN, PAGE_ID, IG_USER_ID)
    x = FakeXReplies(X_TOKEN)
    mastodon = FakeMastodonReplies(MASTODON_TOKEN)
    servers = [await serve_fake(fake.app()) for fake in (graph, x, mastodon)]
    urls = {
        "meta_graph_base": servers[0][1] + GRAPH_VERSION,
        "x_api_base": servers[1][1],
        "mastodon_base_url": servers[2][1],
    }
    yield graph, x, mastodon, urls
    for runner, _url in servers:
        await runner.cleanup()


def test_only_the_platforms_own_connector_is_answered():
    """A reply goes out only on a post its platform's connector brought, with a sound id."""
    assert check_request(request(1, "facebook", "42_1")) is None
    assert check_request(request(2, "mastodon", "113000000000000001", private=True)) is None
    assert "no connector" in (check_request(request(3, "facebook", "42_3", connector=None)) or "")
    webhook = check_request(request(4, "facebook", "42_4", connector="webhook"))
    assert webhook == "not sent: the facebook post came through the webhook connector, not meta"
    assert check_request(request(5, "x", "../../2/users", connector="x")) == (
        "the comment key does not hold a x id"
    )
    assert check_request(request(6, "webhook", "form-1", connector="webhook")) == (
        "replies cannot be sent on webhook"
    )


async def test_the_fakes_refuse_missing_and_unknown_fields(platforms):
    """The fakes answer a misplaced, misspelt or missing field as the platforms do, so the
    exact-request test above can fail on a wrong payload."""
    _graph, _x, _mastodon, urls = platforms
    graph_auth = {"Authorization": f"Bearer {PAGE_TOKEN}"}
    x_auth = {"Authorization": f"Bearer {X_TOKEN}"}
    toot_auth = {"Authorization": f"Bearer {MASTODON_TOKEN}"}
    graph = urls["meta_graph_base"]
    cases = [
        (f"{graph}/42_1/comments", graph_auth, {}, 400),
        (f"{graph}/42_1/comments", graph_auth, {"message": "hi", "mesage": "hi"}, 400),
        (
            f"{graph}/{PAGE_ID}/messages",
            graph_auth,
            {"recipient": {"id": "1"}, "message": {"text": "hi"}},
            400,
        ),
        (f"{graph}/{PAGE_ID}/messages", graph_auth, {"recipient": {"comment_id": "1"}}, 400),
        # The classic mistake: the v1.1 field at the top level instead of under "reply".
        (
            f"{urls['x_api_base']}/2/tweets",
            x_auth,
            {"text": "hi", "in_reply_to_tweet_id": "1"},
            400,
        ),
        (f"{urls['x_api_base']}/2/tweets", x_auth, {"reply": {"in_reply_to_tweet_id": "1"}}, 400),
        (
            f"{urls['x_api_base']}/2/dm_conversations/with/5/messages",
            x_auth,
            {"message": "hi"},
            400,
        ),
        (f"{urls['mastodon_base_url']}/api/v1/statuses", toot_auth, {"text": "hi"}, 422),
        (
            f"{urls['mastodon_base_url']}/api/v1/statuses",
            toot_auth,
            {"status": "hi", "visibility": "friends"},
            422,
        ),
    ]
    async with httpx.AsyncClient(timeout=10) as client:
        for url, headers, body, status in cases:
            response = await client.post(url, json=body, headers=headers)
            assert response.status_code == status, (url, body)
        good = await client.post(
            f"{urls['x_api_base']}/2/tweets",
            json={"text": "hi", "reply": {"in_reply_to_tweet_id": "1"}},
            headers=x_auth,
        )
        assert good.status_code == 201


class Dummy:
    """A runner with the connector lifecycle that records what was called on it."""

    def __init__(self, name: str, fail: bool = False) -> None:
        self.name, self.fail = name, fail
        self.calls: list[str] = []
        self.stopping = asyncio.Event()

    async def setup(self) -> None:
        self.calls.append("setup")

    async def run(self) -> None:
        self.calls.append("run")
        if self.fail:
            raise RuntimeError("broken")
        await self.stopping.wait()

    async def stop(self) -> None:
        self.calls.append("stop")
        self.stopping.set()

    async def cleanup(self) -> None:
        self.calls.append("cleanup")


async def test_runners_run_together_and_stop_together():
    """Hides and replies run side by side: a stop stops both, a failure ends both and is raised."""
    one, two = Dummy("actions"), Dummy("replies")
    together = RunTogether(one, two)
    await together.setup()
    task = asyncio.create_task(together.run())
    await until(lambda: one.calls[-1:] == ["run"] and two.calls[-1:] == ["run"], "both running")
    await together.stop()
    await asyncio.wait_for(task, 5)
    await together.cleanup()
    assert one.calls[:2] == ["setup", "run"]
    assert one.calls[-1] == "cleanup"
    assert "stop" in two.calls
    broken, fine = Dummy("actions", fail=True), Dummy("replies")
    with pytest.raises(RuntimeError, match="broken"):
        await asyncio.wait_for(RunTogether(broken, fine).run(), 5)
    assert "stop" in fine.calls


def test_replying_off_and_actions_off_refuse_to_start(monkeypatch, tmp_path, broker):
    """With both switches off the command says so, naming both, in one line (exit 2)."""
    monkeypatch.setenv("TRIAGE_BROKER", broker.url)
    monkeypatch.setenv("TRIAGE_POLICY", str(write_policy(tmp_path, False)))
    monkeypatch.setenv("TRIAGE_META_PAGE_ACCESS_TOKEN", PAGE_TOKEN)
    monkeypatch.delenv("TRIAGE_REPLIES_ENABLED", raising=False)
    result = CliRunner().invoke(cli, ["connect", "actions"])
    assert result.exit_code == 2
    assert "replying.enabled" in result.output
    assert "TRIAGE_REPLIES_ENABLED=true" in result.output
    assert "connector_actions_enabled" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert PAGE_TOKEN not in result.output


@pytest.mark.integration
async def test_replies_are_posted_once_each_and_survive_a_restart(
    broker, make_settings, tmp_path, platforms
):
    """Each platform gets exactly its documented request once, even after a crash and a
    restart; refusals are recorded as failed outcomes; sent replies become council posts."""
    graph, x, mastodon, urls = platforms
    graph.gone.add("42_9")
    settings = make_settings(
        broker,
        policy=write_policy(tmp_path, False),
        replies_enabled=True,  # TRIAGE_REPLIES_ENABLED=true overrides the policy
        meta_page_access_token=PAGE_TOKEN,
        x_user_access_token=X_TOKEN,
        mastodon_token=MASTODON_TOKEN,
        x_user_id="999",
        mastodon_account_id="777",
        actions_session_timeout_s=6,
        **urls,
    )
    topics = settings.topics
    kafka = KafkaConnection((broker.bootstrap,))
    for topic in (topics.reply_requests, topics.reply_outcomes):
        await ensure_topic(kafka, topic, 2, 1)
    fb = request(1, "facebook", "42_1")
    warning = request(
        2,
        "facebook",
        "42_2",
        "Hello Pat. We hid your post.",
        private=True,
        warning=True,
        approved_by="mona",
    )
    waiting = request(3, "facebook", "42_3", "Hello Sam.", private=True, warning=True)
    ig = request(4, "instagram", "17900000000000004")
    ig_private = request(5, "instagram", "17900000000000005", "Please message us.", private=True)
    tweet = request(6, "x", "1850000000000000006")
    dm = request(7, "x", "1850000000000000007", "A private word.", private=True)
    toot = request(8, "mastodon", "113000000000000008")
    direct = request(9, "mastodon", "113000000000000009", "Please DM us.", private=True)
    untrusted = request(10, "facebook", "42_10", connector="webhook")
    gone = request(11, "facebook", "42_9")
    down = request(13, "x", "1850000000000000013")
    x.outage.add("1850000000000000013")  # a 503: perhaps posted, so not tried again
    sent_requests = [
        fb,
        warning,
        waiting,
        ig,
        ig_private,
        tweet,
        dm,
        toot,
        direct,
        untrusted,
        gone,
        down,
        fb,
    ]  # the last: a retried request, the same reply id
    items = [(r.id, encode(r)) for r in sent_requests] + [("r-bad", b"{not json")]
    await produce(broker.bootstrap, topics.reply_requests, items)

    crashing = CrashesBeforeCommitting(settings)
    async with running(crashing):
        await until(lambda: crashing.sent == 8 and crashing.failed == 3, "the replies")
    replies = "connector_replies_total"
    assert crashing.metrics.value(replies, platform="x", outcome="sent") == 2
    assert crashing.metrics.value(replies, platform="x", outcome="failed") == 1
    assert crashing.metrics.value(replies, platform="facebook", outcome="failed") == 2
    page, user = f"Bearer {PAGE_TOKEN}", f"Bearer {X_TOKEN}"
    v = GRAPH_VERSION
    assert sorted(graph.requests, key=str) == sorted(
        [
            ("POST", f"{v}/42_1/comments", {"message": fb.text}, page),
            (
                "POST",
                f"{v}/{PAGE_ID}/messages",
                {"recipient": {"comment_id": "42_2"}, "message": {"text": warning.text}},
                page,
            ),
            ("POST", f"{v}/17900000000000004/replies", {"message": ig.text}, page),
            (
                "POST",
                f"{v}/{IG_USER_ID}/messages",
                {
                    "recipient": {"comment_id": "17900000000000005"},
                    "message": {"text": ig_private.text},
                },
                page,
            ),
            ("POST", f"{v}/42_9/comments", {"message": gone.text}, page),
        ],
        key=str,
    )
    assert sorted(x.requests, key=str) == sorted(
        [
            (
                "POST",
                "/2/tweets",
                {"text": tweet.text, "reply": {"in_reply_to_tweet_id": "1850000000000000006"}},
                user,
            ),
            ("POST", "/2/dm_conversations/with/1234567/messages", {"text": dm.text}, user),
            (
                "POST",
                "/2/tweets",
                {"text": down.text, "reply": {"in_reply_to_tweet_id": "1850000000000000013"}},
                user,
            ),
        ],
        key=str,
    )
    toot_auth = f"Bearer {MASTODON_TOKEN}"
    assert sorted(mastodon.requests, key=str) == sorted(
        [
            (
                "POST",
                "/api/v1/statuses",
                {
                    "status": toot.text,
                    "in_reply_to_id": "113000000000000008",
                    "visibility": "public",
                },
                toot_auth,
                toot.id,
            ),
            (
                "POST",
                "/api/v1/statuses",
                {
                    "status": f"@pat@example.social {direct.text}",
                    "in_reply_to_id": "113000000000000009",
                    "visibility": "direct",
                },
                toot_auth,
                direct.id,
            ),
        ],
        key=str,
    )

    # A restart after the crash reads every request again: nothing is posted twice, the
    # approval that arrives now sends the waiting warning once, and a reply whose last
    # outcome says it was being sent is recorded as failed, not sent again.
    half = request(12, "facebook", "42_12")
    interrupted = ReplyOutcome(
        reply_id=half.id,
        item_id=half.item_id,
        comment_key=half.comment_key,
        platform="facebook",
        status="sending",
        text=half.text,
        requested_by="olive",
        at=AT,
    )
    await produce(broker.bootstrap, topics.reply_outcomes, [(half.id, encode(interrupted))])
    approval = waiting.model_copy(update={"approved_by": "mona", "approved_at": AT})
    await produce(
        broker.bootstrap,
        topics.reply_requests,
        [(half.id, encode(half)), (approval.id, encode(approval))],
    )
    restarted = ReplyRunner(settings)
    async with running(restarted):
        await until(lambda: restarted.sent == 1 and restarted.failed == 1, "the replies")
        await asyncio.sleep(1.0)  # a duplicate would be posted by now
    assert restarted.sent == 1
    assert len(graph.requests) == 6
    assert graph.requests[-1][1:3] == (
        f"{v}/{PAGE_ID}/messages",
        {"recipient": {"comment_id": "42_3"}, "message": {"text": waiting.text}},
    )
    assert (len(x.requests), len(mastodon.requests)) == (3, 2)

    # 8 sent (sending, sent), 3 refused (two after sending), the crash's 'sending', its
    # failure, the approved warning's two: 25.
    outcomes = await records_on(broker.bootstrap, topics.reply_outcomes, 25, ReplyOutcome)
    assert len(outcomes) == 25
    final: dict[str, ReplyOutcome] = {}
    for outcome in outcomes:
        final[outcome.reply_id] = outcome
    assert {
        r.id: final[r.id].status
        for r in (fb, warning, waiting, ig, ig_private, tweet, dm, toot, direct)
    } == dict.fromkeys(
        [r.id for r in (fb, warning, waiting, ig, ig_private, tweet, dm, toot, direct)], "sent"
    )
    assert final[untrusted.id].status == "failed"
    assert "webhook connector" in final[untrusted.id].reason
    assert final[gone.id].reason == "facebook refused the reply with HTTP 400, Graph error 100"
    assert final[down.id].status == "failed"
    assert "did not answer" in final[down.id].reason
    assert final[half.id].status == "failed"
    assert "interrupted" in final[half.id].reason
    assert final[warning.id].approved_by == "mona"
    assert final[warning.id].requested_by == "olive"
    assert (final[fb.id].posted_id or "").startswith("42_1_")
    assert [o.status for o in outcomes if o.reply_id == fb.id] == ["sending", "sent"]

    # 9 sent replies; each seen again (the retried request, the re-read after the crash)
    # writes the same council post again: 19 records, 9 posts.
    comments = await records_on(broker.bootstrap, topics.comments, 19, Comment)
    council = {c.comment_key: c for c in comments}
    assert len(council) == 9
    assert all(c.author.is_council for c in comments)
    reply = council[f"facebook:{final[fb.id].posted_id}"]
    assert (reply.thread_id, reply.in_reply_to, reply.kind) == ("thread-1", "42_1", "reply")
    assert council[f"facebook:{final[warning.id].posted_id}"].kind == "direct_message"
    assert council[f"x:{final[tweet.id].posted_id}"].author.id == "999"

    # Each sent written warning is a "warn" decision by the approving manager, so the
    # author's ledger counts it: the first warning (again after the crash, the same id)
    # and the one approved later; no other reply is a decision.
    decisions = await records_on(broker.bootstrap, topics.decisions, 3, Decision)
    warned = {d.id: d for d in decisions}
    assert len(warned) == 2
    assert {d.item_id for d in warned.values()} == {warning.item_id, waiting.item_id}
    assert {(d.action, d.by, d.role, d.approved_by) for d in warned.values()} == {
        ("warn", "mona", "manager", "mona")
    }
    assert {d.author_key for d in warned.values()} == {
        f"facebook:{warning.author_id}",
        f"facebook:{waiting.author_id}",
    }
    # The bad record is dead-lettered on each reading: the crash left it uncommitted.
    letters = await dead_letters(broker.bootstrap, topics.deadletter, expected=2)
    assert [letter.error.split(":")[0] for letter in letters] == ["invalid reply request"] * 2
