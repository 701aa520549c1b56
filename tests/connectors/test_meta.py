"""The Meta webhook connector against the real broker, driven as Meta drives it."""

from __future__ import annotations

import httpx
import pytest

from connectors import MetaConnector

from .conftest import (
    IG_USER_ID,
    PAGE_ID,
    VERIFY_TOKEN,
    feed_comment,
    meta_signature,
    page_delivery,
    read_topic,
    running,
    signed_meta,
)

pytestmark = pytest.mark.integration


async def test_handshake_echoes_challenge_only_for_the_right_token(broker, make_settings):
    """The verification GET answers hub.challenge for the configured token and 403 otherwise."""
    async with running(MetaConnector(make_settings(broker))) as meta, httpx.AsyncClient() as http:
        url = f"{meta.url}/webhooks/meta"
        good = await http.get(
            url,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1158201444",
            },
        )
        wrong = await http.get(
            url,
            params={
                "hub.mode": "subscribe",
                "hub.verify_token": "guess",
                "hub.challenge": "1158201444",
            },
        )
        bad_mode = await http.get(
            url,
            params={
                "hub.mode": "unsubscribe",
                "hub.verify_token": VERIFY_TOKEN,
                "hub.challenge": "1",
            },
        )
        assert (good.status_code, good.text) == (200, "1158201444")
        assert wrong.status_code == 403
        assert bad_mode.status_code == 403
        assert meta.metrics.value("connector_rejected_total", reason="verify_token") == 2


async def test_forged_or_missing_signature_is_refused_and_counted(broker, make_settings):
    """A POST whose signature is missing or made with another secret gets 403 and is counted."""
    async with running(MetaConnector(make_settings(broker))) as meta, httpx.AsyncClient() as http:
        body, headers = signed_meta(page_delivery(feed_comment("1_2", "101010_1", "55", "A", "hi")))
        forged = dict(headers, **{"X-Hub-Signature-256": "sha256=" + "0" * 64})
        missing = {"Content-Type": "application/json"}
        r1 = await http.post(f"{meta.url}/webhooks/meta", content=body, headers=forged)
        r2 = await http.post(f"{meta.url}/webhooks/meta", content=body, headers=missing)
        r3 = await http.post(f"{meta.url}/webhooks/meta", content=body + b" ", headers=headers)
        assert [r1.status_code, r2.status_code, r3.status_code] == [403, 403, 403]
        assert meta.metrics.value("connector_rejected_total", reason="signature") == 3
        assert meta.sink.size == 0
        assert meta.metrics.value("connector_events_total", outcome="accepted") == 0


async def test_page_comments_reach_kafka_once_in_order_with_council_reply(
    broker, make_settings, topic_prefix
):
    """Feed comments and the Page's reply arrive once each, in order, keyed by conversation."""
    settings = make_settings(broker)
    post = f"{PAGE_ID}_900"
    first = feed_comment("900_1", post, "4001", "Resident One", "The bins were not collected")
    reply = feed_comment(
        "900_2",
        post,
        PAGE_ID,
        "North Herts Council",
        "Sorry, we will send a crew",
        parent_id="900_1",
        created=1_795_000_500,
    )
    again = feed_comment(
        "900_3", post, "4001", "Resident One", "Thanks!", parent_id="900_1", created=1_795_000_900
    )
    other = feed_comment("901_1", post, "4002", "Resident Two", "Streetlight out on the High St")
    async with running(MetaConnector(settings)) as meta, httpx.AsyncClient() as http:
        url = f"{meta.url}/webhooks/meta"
        for delivery in (page_delivery(first, other), page_delivery(reply), page_delivery(again)):
            body, headers = signed_meta(delivery)
            response = await http.post(url, content=body, headers=headers)
            assert response.status_code == 200
        # Meta redelivers when unsure: the same delivery again must not be written twice.
        body, headers = signed_meta(page_delivery(reply))
        assert (await http.post(url, content=body, headers=headers)).status_code == 200
        assert await meta.sink.flush(30)
    records = await read_topic(broker.bootstrap, settings.topics.comments, expected=4)
    ids = [c.id for _, c, _ in records]
    assert sorted(ids) == ["900_1", "900_2", "900_3", "901_1"]
    assert {c.connector for _, c, _ in records} == {"meta"}
    thread = [(key, c) for key, c, _ in records if c.thread_id == "900_1"]
    assert [c.id for _, c in thread] == ["900_1", "900_2", "900_3"]
    assert {key for key, _ in thread} == {"facebook:900_1"}
    by_id = {c.id: c for _, c, _ in records}
    assert by_id["900_1"].author.name == "Resident One"
    assert by_id["900_1"].text == "The bins were not collected"
    assert by_id["900_1"].kind == "comment"
    assert by_id["900_1"].author.is_council is False
    assert by_id["900_2"].author.is_council is True
    assert by_id["900_2"].kind == "reply"
    assert by_id["900_2"].in_reply_to == "900_1"
    assert by_id["900_1"].channel == PAGE_ID
    assert by_id["901_1"].thread_id == "901_1"


async def test_instagram_comments_and_direct_messages_are_mapped(broker, make_settings):
    """Instagram comments, the account's own replies and DMs become Comments with the right kind."""
    settings = make_settings(broker)
    delivery = {
        "object": "instagram",
        "entry": [
            {
                "id": IG_USER_ID,
                "time": 1_795_000_000,
                "changes": [
                    {
                        "field": "comments",
                        "value": {
                            "id": "17900000000000001",
                            "text": "When is the leisure centre open?",
                            "from": {"id": "7001", "username": "resident_a"},
                            "media": {"id": "17800000000000009", "media_product_type": "FEED"},
                        },
                    },
                    {
                        "field": "comments",
                        "value": {
                            "id": "17900000000000002",
                            "text": "9am to 9pm every day",
                            "from": {"id": IG_USER_ID, "username": "northherts"},
                            "media": {"id": "17800000000000009", "media_product_type": "FEED"},
                            "parent_id": "17900000000000001",
                        },
                    },
                ],
            },
            {
                "id": IG_USER_ID,
                "time": 1_795_000_050,
                "messaging": [
                    {
                        "sender": {"id": "8001"},
                        "recipient": {"id": IG_USER_ID},
                        "timestamp": 1_795_000_040_000,
                        "message": {"mid": "aWdfZAG1faXRlbTox", "text": "Private question"},
                    },
                    {
                        "sender": {"id": "8001"},
                        "recipient": {"id": IG_USER_ID},
                        "timestamp": 1_795_000_041_000,
                        "read": {"mid": "aWdfZAG1faXRlbTox"},
                    },
                ],
            },
        ],
    }
    async with running(MetaConnector(settings)) as meta, httpx.AsyncClient() as http:
        body, headers = signed_meta(delivery)
        response = await http.post(f"{meta.url}/webhooks/meta", content=body, headers=headers)
        assert response.status_code == 200
        assert response.json() == {"accepted": 3}
        assert meta.metrics.value("connector_events_total", outcome="ignored") == 1
    records = await read_topic(broker.bootstrap, settings.topics.comments, expected=3)
    by_id = {c.id: (key, c) for key, c, _ in records}
    assert len(records) == 3
    key, reply = by_id["17900000000000002"]
    assert key == "instagram:17900000000000001"
    assert reply.author.is_council
    assert reply.kind == "reply"
    assert by_id["17900000000000001"][1].author.handle == "resident_a"
    dm_key, dm = by_id["aWdfZAG1faXRlbTox"]
    assert dm.kind == "direct_message"
    assert dm_key == "instagram:dm-8001"


async def test_oversized_and_malformed_bodies_are_refused(broker, make_settings):
    """A body over the limit gets 413; a signed body that is not a delivery gets 400."""
    settings = make_settings(broker, connector_max_body_bytes=2048)
    async with running(MetaConnector(settings)) as meta, httpx.AsyncClient() as http:
        url = f"{meta.url}/webhooks/meta"
        big, big_headers = signed_meta({"object": "page", "entry": [], "pad": "x" * 5000})
        assert (await http.post(url, content=big, headers=big_headers)).status_code == 413
        for bad in (b"{not json", b"[]", b'{"object": "page"}', b'{"object": "user", "entry": []}'):
            headers = {"X-Hub-Signature-256": meta_signature(bad)}
            assert (await http.post(url, content=bad, headers=headers)).status_code == 400
        health = await http.get(f"{meta.url}/health")
        assert health.status_code == 200
        assert meta.metrics.value("connector_rejected_total", reason="too_large") == 1
        assert meta.metrics.value("connector_rejected_total", reason="malformed") == 4
