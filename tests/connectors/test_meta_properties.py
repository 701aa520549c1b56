"""Hostile input: whatever Meta (or an attacker with the secret) sends, nothing crashes."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors import MetaConnector
from connectors.meta_events import Accounts, MalformedDelivery, map_delivery

from .conftest import PAGE_ID, feed_comment, meta_signature

RECEIVED = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
ACCOUNTS = Accounts(PAGE_ID, "17841400000000001")

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=25,
)
field_names = st.sampled_from(["feed", "comments", "live_comments", "mentions", "messages", "x"])
values = st.dictionaries(
    st.sampled_from(
        [
            "from",
            "item",
            "verb",
            "message",
            "comment_id",
            "post_id",
            "parent_id",
            "created_time",
            "id",
            "text",
            "media",
            "media_id",
            "photo",
            "link",
        ]
    ),
    json_values,
    max_size=8,
)
shaped = st.fixed_dictionaries(
    {
        "object": st.sampled_from(["page", "instagram"]),
        "entry": st.lists(
            st.fixed_dictionaries(
                {
                    "id": json_values,
                    "time": json_values,
                    "changes": st.lists(
                        st.fixed_dictionaries({"field": field_names, "value": values}), max_size=3
                    ),
                    "messaging": st.lists(
                        st.dictionaries(
                            st.sampled_from(["sender", "recipient", "timestamp", "message"]),
                            json_values,
                            max_size=4,
                        ),
                        max_size=2,
                    ),
                }
            ),
            max_size=3,
        ),
    }
)


@given(st.one_of(json_values, shaped))
def test_mapping_never_fails_except_as_malformed(payload):
    """Any JSON value maps to comments, or is refused as malformed; no other error escapes."""
    try:
        mapped = map_delivery(payload, ACCOUNTS, RECEIVED)
    except MalformedDelivery:
        return
    for item in mapped.items:
        assert item.comment.platform in ("facebook", "instagram")
        assert item.dedup_key.startswith(item.comment.platform + ":")


@pytest.fixture(scope="module")
def live_meta(broker: Any, tmp_path_factory: Any) -> Iterator[MetaConnector]:
    """One Meta connector serving from a background event loop for the whole module."""
    from connectors import ConnectorSettings

    settings = ConnectorSettings(
        _env_file=None,  # type: ignore[call-arg]
        broker=broker.url,
        topic_prefix="props.",
        connector_state_dir=tmp_path_factory.mktemp("state"),
        connector_port=0,
        connector_max_body_bytes=64_000,
        meta_app_secret="test-app-secret",
        meta_verify_token="test-verify-token",
        meta_page_id=PAGE_ID,
    )
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    connector = MetaConnector(settings)
    asyncio.run_coroutine_threadsafe(connector.setup(), loop).result(30)
    try:
        yield connector
    finally:
        asyncio.run_coroutine_threadsafe(connector.cleanup(), loop).result(60)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(payload=st.one_of(json_values, shaped), raw=st.binary(max_size=200), use_raw=st.booleans())
@pytest.mark.integration
def test_server_answers_200_or_400_and_stays_up(live_meta, payload, raw, use_raw):
    """A correctly signed hostile body gets 200 or 400, never a 500, and /health still answers."""
    body = raw if use_raw else json.dumps(payload).encode()
    headers = {"X-Hub-Signature-256": meta_signature(body)}
    with httpx.Client(base_url=live_meta.url, timeout=30) as http:
        response = http.post("/webhooks/meta", content=body, headers=headers)
        assert response.status_code in (200, 400)
        assert http.get("/health").status_code == 200


@pytest.mark.integration
def test_valid_delivery_still_accepted_after_hostile_traffic(live_meta):
    """After the fuzzing above, a normal signed delivery is still taken with 200."""
    delivery = {
        "object": "page",
        "entry": [
            {
                "id": PAGE_ID,
                "time": 1,
                "changes": [feed_comment("77_1", f"{PAGE_ID}_77", "5", "R", "Pothole on Bancroft")],
            }
        ],
    }
    body = json.dumps(delivery).encode()
    with httpx.Client(base_url=live_meta.url, timeout=30) as http:
        response = http.post(
            "/webhooks/meta", content=body, headers={"X-Hub-Signature-256": meta_signature(body)}
        )
    assert response.status_code == 200
