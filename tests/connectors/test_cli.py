"""`triage connect`: the command an operator runs, as a real process against the broker."""

from __future__ import annotations

import asyncio
import os
import signal
import sys

import httpx
import pytest
from click.testing import CliRunner

from worker.cli import cli

from .conftest import (
    APP_SECRET,
    PAGE_ID,
    VERIFY_TOKEN,
    feed_comment,
    page_delivery,
    read_topic,
    signed_meta,
)


def test_connect_without_a_broker_says_it_needs_one(monkeypatch, tmp_path):
    """With TRIAGE_BROKER empty the command explains what to set and exits with code 2."""
    monkeypatch.setenv("TRIAGE_BROKER", "")
    monkeypatch.setenv("TRIAGE_CONNECTOR_STATE_DIR", str(tmp_path))
    result = CliRunner().invoke(cli, ["connect", "meta", "--port", "0"])
    assert result.exit_code == 2
    assert "TRIAGE_BROKER" in result.output


def test_connect_x_without_its_settings_names_them(monkeypatch, tmp_path, broker):
    """A poller missing its token and user id names both settings and exits with code 2."""
    monkeypatch.setenv("TRIAGE_BROKER", broker.url)
    monkeypatch.setenv("TRIAGE_CONNECTOR_STATE_DIR", str(tmp_path))
    monkeypatch.delenv("TRIAGE_X_BEARER_TOKEN", raising=False)
    monkeypatch.delenv("TRIAGE_X_USER_ID", raising=False)
    result = CliRunner().invoke(cli, ["connect", "x"])
    assert result.exit_code == 2
    assert "TRIAGE_X_BEARER_TOKEN" in result.output
    assert "TRIAGE_X_USER_ID" in result.output


@pytest.mark.integration
@pytest.mark.slow
async def test_connect_meta_end_to_end(broker, topic_prefix, tmp_path):
    """The real command answers the handshake, refuses a forged POST and writes signed comments."""
    env = dict(
        os.environ,
        TRIAGE_BROKER=broker.url,
        TRIAGE_TOPIC_PREFIX=topic_prefix,
        TRIAGE_META_APP_SECRET=APP_SECRET,
        TRIAGE_META_VERIFY_TOKEN=VERIFY_TOKEN,
        TRIAGE_META_PAGE_ID=PAGE_ID,
        TRIAGE_CONNECTOR_STATE_DIR=str(tmp_path),
        TRIAGE_LOG_FORMAT="json",
    )
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from worker.cli import main; main()",
        "connect",
        "meta",
        "--port",
        "0",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode()
        assert line.startswith("listening on http://127.0.0.1:"), line
        base = line.split()[-1]
        post = f"{PAGE_ID}_42"
        question = feed_comment("42_1", post, "3001", "Resident Q", "Is the tip open on Sunday?")
        answer = feed_comment(
            "42_2",
            post,
            PAGE_ID,
            "North Herts Council",
            "Yes, 9am to 4pm",
            parent_id="42_1",
            created=1_795_000_300,
        )
        async with httpx.AsyncClient(base_url=base, timeout=30) as http:
            shake = await http.get(
                "/webhooks/meta",
                params={
                    "hub.mode": "subscribe",
                    "hub.verify_token": VERIFY_TOKEN,
                    "hub.challenge": "c42",
                },
            )
            assert (shake.status_code, shake.text) == (200, "c42")
            body, headers = signed_meta(page_delivery(question))
            forged = dict(headers, **{"X-Hub-Signature-256": "sha256=" + "ab" * 32})
            assert (
                await http.post("/webhooks/meta", content=body, headers=forged)
            ).status_code == 403
            assert (
                await http.post("/webhooks/meta", content=body, headers=headers)
            ).status_code == 200
            body, headers = signed_meta(page_delivery(answer))
            assert (
                await http.post("/webhooks/meta", content=body, headers=headers)
            ).status_code == 200
        records = await read_topic(broker.bootstrap, f"{topic_prefix}social.comments", expected=2)
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()[-2000:]
    assert [(k, c.id) for k, c, _ in records] == [
        ("facebook:42_1", "42_1"),
        ("facebook:42_1", "42_2"),
    ]
    first, reply = records[0][1], records[1][1]
    assert (first.author.name, first.text, first.author.is_council) == (
        "Resident Q",
        "Is the tip open on Sunday?",
        False,
    )
    assert reply.author.is_council
    assert reply.in_reply_to == "42_1"
    assert APP_SECRET not in err.decode()
    assert "Resident Q" not in err.decode()
