"""Helpers for connector tests: settings, a topic reader, a running connector, payloads."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiokafka import AIOKafkaConsumer

from connectors import Connector, ConnectorSettings
from records import Comment, decode
from worker.broker import EmbeddedBroker

APP_SECRET = "test-app-secret"
VERIFY_TOKEN = "test-verify-token"
PAGE_ID = "101010"
IG_USER_ID = "17841400000000001"
WEBHOOK_SECRET = "test-webhook-secret"

C = TypeVar("C", bound=Connector)


@pytest.fixture
def make_settings(tmp_path: Path, topic_prefix: str) -> Any:
    """Connector settings pointing at a broker, with a per-test prefix and state folder."""

    def build(broker: EmbeddedBroker | None, **overrides: Any) -> ConnectorSettings:
        values: dict[str, Any] = {
            "broker": broker.url if broker else "kafka://127.0.0.1:1",
            "topic_prefix": topic_prefix,
            "partitions": 2,
            "connector_state_dir": tmp_path / "state",
            "connector_port": 0,
            "meta_app_secret": APP_SECRET,
            "meta_verify_token": VERIFY_TOKEN,
            "meta_page_id": PAGE_ID,
            "meta_ig_user_id": IG_USER_ID,
            "webhook_secret": WEBHOOK_SECRET,
        }
        values.update(overrides)
        return ConnectorSettings(_env_file=None, **values)  # type: ignore[call-arg]

    return build


@contextlib.asynccontextmanager
async def running(connector: C) -> AsyncIterator[C]:
    """The connector set up and running in the background; stopped and cleaned up after."""
    await connector.setup()
    task = asyncio.create_task(connector.run())
    try:
        yield connector
    finally:
        await connector.stop()
        await asyncio.wait_for(task, 30)
        await connector.cleanup()


async def read_topic(
    bootstrap: str, topic: str, expected: int, wait_s: float = 45.0, linger: float = 1.5
) -> list[tuple[str, Comment, int]]:
    """Every (key, Comment, partition) on the topic, in partition order; waits for ``expected``.

    After ``expected`` records arrive it keeps reading for ``linger`` seconds so that a
    duplicate would be seen too.
    """
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        metadata_max_age_ms=500,
    )
    await consumer.start()
    try:
        out: list[tuple[str, Comment, int]] = []
        deadline = time.monotonic() + wait_s
        stop_at = deadline
        while time.monotonic() < stop_at:
            batches = await consumer.getmany(timeout_ms=300)
            for tp, messages in batches.items():
                for m in messages:
                    out.append((m.key.decode(), decode(m.value, Comment), tp.partition))
            if len(out) >= expected and stop_at == deadline:
                stop_at = min(deadline, time.monotonic() + linger)
        return out
    finally:
        await consumer.stop()


def meta_signature(body: bytes, secret: str = APP_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def signed_meta(payload: Any) -> tuple[bytes, dict[str, str]]:
    body = json.dumps(payload).encode()
    return body, {"X-Hub-Signature-256": meta_signature(body), "Content-Type": "application/json"}


def feed_comment(
    comment_id: str,
    post_id: str,
    from_id: str,
    name: str,
    message: str,
    *,
    parent_id: str | None = None,
    verb: str = "add",
    created: int = 1_795_000_000,
) -> dict[str, Any]:
    """A Page feed change for a comment, shaped as Meta's webhooks reference shows it."""
    return {
        "field": "feed",
        "value": {
            "from": {"id": from_id, "name": name},
            "post": {
                "status_type": "added_photos",
                "is_published": True,
                "updated_time": "2026-11-20T10:00:00+0000",
                "permalink_url": f"https://www.facebook.com/{post_id}",
                "promotion_status": "inactive",
                "id": post_id,
            },
            "message": message,
            "post_id": post_id,
            "comment_id": comment_id,
            "created_time": created,
            "item": "comment",
            "parent_id": parent_id or post_id,
            "verb": verb,
        },
    }


def page_delivery(*changes: dict[str, Any], time_: int = 1_795_000_100) -> dict[str, Any]:
    return {"object": "page", "entry": [{"id": PAGE_ID, "time": time_, "changes": list(changes)}]}
