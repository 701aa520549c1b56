"""Pure mapping of Meta deliveries: edits, removals, echoes and the council's own posts."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connectors.meta_events import Accounts, MalformedDelivery, map_delivery

from .conftest import IG_USER_ID, PAGE_ID, feed_comment, page_delivery

RECEIVED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ACCOUNTS = Accounts(PAGE_ID, IG_USER_ID)


def test_edit_is_a_new_version_and_remove_is_ignored():
    """An edit gets its own dedup key per text; a removal is counted as ignored."""
    add = feed_comment("1_1", f"{PAGE_ID}_1", "9", "R", "Bin missed")
    edit = feed_comment("1_1", f"{PAGE_ID}_1", "9", "R", "Bin missed again", verb="edited")
    same_edit = feed_comment("1_1", f"{PAGE_ID}_1", "9", "R", "Bin missed again", verb="edited")
    remove = feed_comment("1_1", f"{PAGE_ID}_1", "9", "R", "", verb="remove")
    mapped = map_delivery(page_delivery(add, edit, same_edit, remove), ACCOUNTS, RECEIVED)
    keys = [item.dedup_key for item in mapped.items]
    assert keys[0] == "facebook:1_1"
    assert keys[1].startswith("facebook:1_1#edit:")
    assert keys[1] == keys[2]
    assert mapped.ignored == 1
    assert mapped.items[1].comment.text == "Bin missed again"


def test_messenger_echo_is_the_councils_message_in_the_residents_thread():
    """A message the Page sent (is_echo) is the council's, threaded by the resident's id."""
    delivery = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1_795_000_000,
                "messaging": [
                    {
                        "sender": {"id": "PSID1"},
                        "recipient": {"id": PAGE_ID},
                        "timestamp": 1_795_000_000_000,
                        "message": {
                            "mid": "m_1",
                            "text": "Can I pay council tax by card?",
                            "attachments": [
                                {"type": "image", "payload": {"url": "https://cdn.example/a.jpg"}}
                            ],
                        },
                    },
                    {
                        "sender": {"id": PAGE_ID},
                        "recipient": {"id": "PSID1"},
                        "timestamp": 1_795_000_060_000,
                        "message": {
                            "mid": "m_2",
                            "text": "Yes, online or by phone",
                            "is_echo": True,
                        },
                    },
                ],
            }
        ],
    }
    mapped = map_delivery(delivery, ACCOUNTS, RECEIVED)
    first, reply = (item.comment for item in mapped.items)
    assert first.conversation_key == reply.conversation_key == "facebook:dm-PSID1"
    assert not first.author.is_council
    assert reply.author.is_council
    assert first.media[0].type == "image"
    assert reply.created_at == datetime(2026, 11, 18, 11, 7, 40, tzinfo=UTC)


def test_bad_items_are_skipped_and_the_rest_kept():
    """One item without ids is counted malformed; its neighbour in the delivery still maps."""
    good = feed_comment("2_1", f"{PAGE_ID}_2", "9", "R", "Fly-tipping on Walsworth Rd")
    bad = feed_comment("2_2", f"{PAGE_ID}_2", "9", "R", "x")
    del bad["value"]["comment_id"]
    mapped = map_delivery(page_delivery(bad, good), ACCOUNTS, RECEIVED)
    assert [item.comment.id for item in mapped.items] == ["2_1"]
    assert mapped.malformed == 1


@pytest.mark.parametrize("payload", [None, [], {"entry": []}, {"object": "page", "entry": {}}])
def test_not_a_delivery_is_malformed(payload):
    """Bodies without an object and an entry list are refused as a whole."""
    with pytest.raises(MalformedDelivery):
        map_delivery(payload, ACCOUNTS, RECEIVED)
