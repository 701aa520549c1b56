"""The worker and a connector reach Kafka over TLS only, with client certificates.

Certificates are made for the test. The broker advertises a TLS front (tests/tls.py) that
requires a client certificate signed by the test CA, so every connection the worker's faust
App, its topic readers, the connector's sink and the test's own reader open is TLS.
"""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError

from connectors import ConnectorSettings, GenericWebhookConnector
from connectors.generic import sign
from records import TriageResult, decode
from tests.connectors.conftest import WEBHOOK_SECRET, running
from tests.integration.conftest import KeywordClassifier
from tests.tls import TlsFront, make_certificates
from worker.app import create_app
from worker.broker import EmbeddedBroker, free_port
from worker.context import WorkerContext
from worker.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def first_verdict(options: dict[str, Any], topic: str, within: float = 90) -> TriageResult:
    consumer = AIOKafkaConsumer(
        topic, **options, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            for messages in (await consumer.getmany(timeout_ms=500)).values():
                for message in messages:
                    return decode(message.value, TriageResult)
        raise AssertionError(f"no verdict on {topic} within {within:.0f}s")
    finally:
        await consumer.stop()


async def test_a_comment_gets_a_verdict_with_every_client_on_tls(tmp_path: Path, topic_prefix):
    """Webhook -> TLS -> worker -> TLS -> verdict; a client without a certificate is refused."""
    certs = make_certificates(tmp_path / "tls", key_password="client-key-pass")
    front_port = free_port()
    broker = EmbeddedBroker(log_path=tmp_path / "tansu.log", advertised=f"127.0.0.1:{front_port}")
    broker.start()
    front = TlsFront(certs, front_port, broker.port)
    await front.start()
    tls: dict[str, Any] = {
        "broker": f"kafka://127.0.0.1:{front_port}",
        "topic_prefix": topic_prefix,
        "partitions": 2,
        "kafka_security_protocol": "SSL",
        "kafka_ca_file": certs.ca,
        "kafka_cert_file": certs.client_cert,
        "kafka_key_file": certs.client_key,
        "kafka_key_password": "client-key-pass",
    }
    settings = Settings(
        **tls,
        app_id=f"{topic_prefix}tls".replace(".", "-"),
        session_timeout_s=10.0,
        batch_timeout_ms=50,
        web_port=0,
    )
    ctx = WorkerContext(settings=settings)
    app = create_app(settings, ctx=ctx, classifier=KeywordClassifier())
    try:
        await asyncio.wait_for(app.start(), timeout=90)
        deadline = time.monotonic() + 90
        while not ctx.ready:
            assert time.monotonic() < deadline, "the worker did not get its partitions"
            await asyncio.sleep(0.1)

        hook_settings = ConnectorSettings(
            _env_file=None,  # type: ignore[call-arg]
            **tls,
            connector_state_dir=tmp_path / "state",
            connector_port=0,
            webhook_secret=WEBHOOK_SECRET,
        )
        async with running(GenericWebhookConnector(hook_settings)) as hook:
            body = json.dumps(
                {
                    "id": "tls-1",
                    "author": {"id": "resident"},
                    "text": "There is a pothole on Bancroft",
                    "created_at": datetime.now(UTC).isoformat(),
                }
            ).encode()
            stamp = int(time.time())
            async with httpx.AsyncClient(timeout=30) as http:
                answer = await http.post(
                    f"{hook.url}/webhooks/generic",
                    content=body,
                    headers={
                        "X-Triage-Timestamp": str(stamp),
                        "X-Triage-Signature": sign(WEBHOOK_SECRET.encode(), stamp, body),
                    },
                )
            assert answer.json() == {"accepted": 1}
            assert await hook.sink.flush(60)

        result = await first_verdict(settings.kafka.options(), settings.topics.verdicts)
        assert result.comment.id == "tls-1"
        assert result.verdict is not None
        assert result.verdict.labels == ("service_request",)
        assert front.handshakes > 0

        # No client certificate: the front turns the handshake down, nothing gets through.
        bare = settings.model_copy(update={"kafka_cert_file": None, "kafka_key_file": None})
        refused = AIOKafkaProducer(**bare.kafka.options(), request_timeout_ms=3000)
        with pytest.raises((KafkaConnectionError, KafkaError, OSError)):
            await refused.start()
        await refused.stop()
    finally:
        await asyncio.wait_for(app.stop(), timeout=30)
        await front.stop()
        broker.stop()
