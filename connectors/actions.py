"""``triage connect actions``: carry out hide and delete decisions on the platforms.

It reads ``triage.audit`` in a consumer group of its own and, for each record whose action
is ``hide`` or ``delete``, asks the platform to do the same, then commits the record's
offset. It runs only when the policy file says ``moderation.connector_actions_enabled:
true`` (false by default), so nothing is hidden or deleted unless the council chose it.

What each platform can do:

- Facebook Page comments: hide (``is_hidden=true``) and delete, with the Page token;
- Instagram comments: hide (``hide=true``) and delete, with the same token;
- X: hide a reply (``PUT /2/tweets/:id/hidden``); X cannot delete other people's posts, so
  a delete hides the reply instead;
- anything else (Mastodon, generic webhooks): not supported; counted and skipped.

A record is carried out only when the comment came through the connector of the platform
it would call (``meta`` for Facebook and Instagram, ``x`` for X): the audit record carries
the comment's ``connector``. Anything else (no recorded connector, or another one) could
name a real post without having come from it, so it is refused and dead-lettered.

A permanent refusal (4xx) goes to the dead-letter topic with its reason and is not tried
again; an outage (timeouts, 5xx after the client's retries) is retried until it works,
and nothing is committed meanwhile, so a restart loses nothing. A replayed record is
harmless: hiding twice is allowed, and deleting what is already gone counts as done.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import httpx
import structlog
from aiokafka import ConsumerRecord
from aiokafka.errors import KafkaError

from connectors.consuming import TopicRunner
from connectors.http import (
    PlatformClient,
    PlatformRefused,
    PlatformUnavailable,
    Sleep,
)
from connectors.metrics import ConnectorMetrics
from connectors.ops import OpsServer
from connectors.settings import ConnectorSettings, ConnectorSettingsError
from records import DeadLetter, InvalidRecord, decode, encode
from records.moderation import AuditRecord
from records.policy import PolicyError, read_policy

__all__ = [
    "ACTED_ON",
    "AGENT",
    "CONNECTOR_FOR",
    "KNOWN_PLATFORMS",
    "SUPPORTED",
    "ActionsDisabled",
    "ActionsRunner",
    "Outcome",
    "actions_enabled",
    "check_record",
    "disabled_message",
    "refusal_outcome",
]

log = structlog.get_logger(__name__)

AGENT = "actions"
ACTED_ON = frozenset({"hide", "delete"})
SUPPORTED = ("facebook", "instagram", "x")
# The connector whose records may be acted on, per platform.
CONNECTOR_FOR = {"facebook": "meta", "instagram": "meta", "x": "x"}
KNOWN_PLATFORMS = (*SUPPORTED, "mastodon")  # metric labels; others count as "other"
# Platform ids are digits, with an underscore in Facebook's page-post ids: anything else
# must not reach a URL path.
_PLATFORM_ID = re.compile(r"^[0-9A-Za-z_]{1,100}$")
_GRAPH_GONE = 100  # "object does not exist" (or cannot be loaded)
_GRAPH_BAD_TOKEN = 190


class ActionsDisabled(ConnectorSettingsError):
    """The policy does not allow connectors to act on the platforms."""


def actions_enabled(policy: Path) -> bool:
    """``moderation.connector_actions_enabled`` from the policy file (False when absent)."""
    try:
        section = read_policy(policy).get("moderation")
    except PolicyError as exc:
        raise ConnectorSettingsError(f"{exc} (TRIAGE_POLICY)") from None
    value = section.get("connector_actions_enabled", False) if isinstance(section, dict) else False
    if not isinstance(value, bool):
        raise ConnectorSettingsError(
            f"policy file {policy}: moderation.connector_actions_enabled must be true or false"
        )
    return value


def disabled_message(policy: Path) -> str:
    return (
        "connector actions are disabled: set moderation.connector_actions_enabled: true in "
        f"the policy file ({policy}, TRIAGE_POLICY) to let connectors hide and delete posts"
    )


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one record: done, unsupported, or refused (dead-lettered)."""

    kind: Literal["done", "unsupported", "refused"]
    reason: str = ""


class ActionsRunner(TopicRunner):
    """Consumes the audit topic and carries out hides and deletes; same lifecycle as a
    :class:`~connectors.base.Connector` (setup, run, stop, cleanup)."""

    name = "actions"
    client_id = "triage-connector-actions"

    def __init__(
        self,
        settings: ConnectorSettings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Sleep = asyncio.sleep,
        now: Callable[[], float] = time.time,
        port: int | None = None,
    ) -> None:
        super().__init__()
        self.settings = settings
        self.transport = transport
        self.sleep = sleep
        self.now = now
        self.port = port  # None: no /health and /metrics server
        self.metrics = ConnectorMetrics(self.name)
        self.group_id = f"{settings.topic_prefix}triage-connector-actions"
        self.platform_ok = True
        self._server: OpsServer | None = None

    # Lifecycle.
    async def setup(self) -> None:
        settings = self.settings
        if not actions_enabled(settings.policy):
            raise ActionsDisabled(disabled_message(settings.policy))
        if settings.meta_page_access_token is None and settings.x_user_access_token is None:
            raise ConnectorSettingsError(
                "missing settings: TRIAGE_META_PAGE_ACCESS_TOKEN or TRIAGE_X_USER_ACCESS_TOKEN "
                "(at least one platform to act on)"
            )
        if settings.meta_page_access_token is not None:
            meta = self.platform_client(settings.meta_graph_base, settings.meta_page_access_token)
            self._clients["facebook"] = self._clients["instagram"] = meta
        if settings.x_user_access_token is not None:
            x_token = settings.x_user_access_token
            self._clients["x"] = self.platform_client(settings.x_api_base, x_token)
        topics = settings.topics
        await self.start_kafka(
            (topics.audit, topics.deadletter),
            topics.audit,
            group_id=self.group_id,
            # A new group starts at the end, so enabling actions does not replay months of
            # decisions (some since undone by hand); TRIAGE_ACTIONS_BACKFILL=true opts in.
            # Once the group has committed, it always reads on from its commits.
            auto_offset_reset="earliest" if settings.actions_backfill else "latest",
        )
        if self.port is not None:
            self._server = OpsServer(settings.connector_host, self.port, self.metrics, self.health)
            await self._server.start()
            self.port = self._server.port

    async def cleanup(self) -> None:
        if self._server is not None:
            with contextlib.suppress(Exception):
                await self._server.stop()
        await super().cleanup()

    @property
    def url(self) -> str:
        return f"http://{self.settings.connector_host}:{self.port}"

    def health(self) -> tuple[bool, dict[str, Any]]:
        """Unhealthy while a platform keeps failing (the record waits, uncommitted)."""
        return self.platform_ok, {
            "connector": self.name,
            "status": "ok" if self.platform_ok else "degraded",
            "platforms": sorted(self._clients),
            "last_success": self.metrics.value("connector_last_success_timestamp_seconds"),
        }

    # One record.
    async def handle(self, message: ConsumerRecord[bytes, bytes]) -> bool:
        """Carry out one record, then commit it; False when stopping left it uncommitted."""
        try:
            record = decode(message.value, AuditRecord)
        except InvalidRecord as exc:
            if not await self._dead_letter(message, f"invalid audit record: {exc.reason}"):
                return False
            await self._commit(message)
            return True
        if record.action not in ACTED_ON:
            await self._commit(message)
            return True
        outcome = await self._until_done(record)
        if outcome is None:
            return False
        label = record.platform if record.platform in KNOWN_PLATFORMS else "other"
        if outcome.kind == "done":
            self.metrics.action(label, "done")
            log.info(
                "action carried out",
                audit_id=record.id[:100],
                platform=record.platform,
                action=record.action,
                note=outcome.reason or None,
            )
        elif outcome.kind == "unsupported":
            self.metrics.action(label, "unsupported")
            log.info(
                "action not supported on this platform; skipped",
                audit_id=record.id[:100],
                platform=record.platform[:40],
                action=record.action,
                reason=outcome.reason,
            )
        else:
            self.metrics.action(label, "failed")
            if not await self._dead_letter(message, outcome.reason):
                return False
        await self._commit(message)
        return True

    async def _until_done(self, record: AuditRecord) -> Outcome | None:
        """Retry through outages; None when stopping first."""
        while True:
            try:
                outcome = await self.carry_out(record)
            except PlatformUnavailable as exc:
                self.platform_ok = False
                log.warning(
                    "platform unavailable; the action waits and is retried",
                    platform=record.platform,
                    error=str(exc),
                    retry_in_s=self.settings.actions_retry_interval_s,
                )
                if await self.wait_stopped(self.settings.actions_retry_interval_s):
                    return None
                continue
            self.platform_ok = True
            return outcome

    async def carry_out(self, record: AuditRecord) -> Outcome:
        """Ask the platform to hide or delete the record's comment."""
        platform, action = record.platform, record.action
        not_here = check_record(record)
        if not_here is not None:
            return not_here
        native = record.comment_key.removeprefix(f"{platform}:")
        client = self._clients.get(platform)
        if client is None:
            token = "X_USER_ACCESS_TOKEN" if platform == "x" else "META_PAGE_ACCESS_TOKEN"
            return Outcome("refused", f"no token for {platform}: set TRIAGE_{token}")
        try:
            if platform == "x":
                return await _x_hide(client, native, action)
            return await _graph_action(client, native, platform, action)
        except PlatformRefused as exc:
            return refusal_outcome(exc, platform, action)

    # Kafka.
    async def _commit(self, message: ConsumerRecord[bytes, bytes]) -> None:
        # Carrying the record out again is harmless; otherwise the next record's commit
        # covers this one.
        await self.commit(message, "commit failed; the record may be carried out again")

    async def _dead_letter(self, message: ConsumerRecord[bytes, bytes], reason: str) -> bool:
        """Write a dead letter (retried until Kafka takes it); False when stopping first."""
        assert self._producer is not None
        letter = DeadLetter.of(
            agent=AGENT,
            topic=message.topic,
            partition=message.partition,
            offset=message.offset,
            key=message.key,
            value=message.value,
            error=reason,
            at=datetime.fromtimestamp(self.now(), UTC),
        )
        # The reason names the platform and status, never the post, so it is safe to log.
        log.warning("action dead-lettered", reason=letter.error)
        while True:
            try:
                await self._producer.send_and_wait(
                    self.settings.topics.deadletter, encode(letter), key=message.key
                )
                return True
            except KafkaError as exc:
                log.warning("cannot write the dead letter; will retry", error=type(exc).__name__)
                if await self.wait_stopped(min(self.settings.actions_retry_interval_s, 5.0)):
                    return False


def check_record(record: AuditRecord) -> Outcome | None:
    """Why the record is not carried out (unsupported or refused), or None to go ahead."""
    platform = record.platform
    if platform not in SUPPORTED:
        return Outcome("unsupported", "the platform offers no hide or delete to connectors")
    expected = CONNECTOR_FOR[platform]
    if record.connector != expected:
        came = (
            f"the {record.connector[:40]} connector"
            if record.connector
            else "no recorded connector"
        )
        return Outcome(
            "refused", f"not acted on: the {platform} post came through {came}, not {expected}"
        )
    prefix = f"{platform}:"
    native = record.comment_key.removeprefix(prefix)
    if not record.comment_key.startswith(prefix) or not _PLATFORM_ID.match(native):
        return Outcome("refused", f"the comment key does not hold a {platform} id")
    return None


async def _x_hide(client: PlatformClient, post_id: str, action: str) -> Outcome:
    # X deletes only the account's own posts: a delete hides the reply instead.
    response = await client.request("PUT", f"/2/tweets/{post_id}/hidden", json={"hidden": True})
    outcome = _checked(response, _x_hidden, "x", "hide")
    if action == "delete" and outcome.kind == "done":
        return Outcome("done", "hidden instead: X cannot delete replies")
    return outcome


async def _graph_action(
    client: PlatformClient, comment_id: str, platform: str, action: str
) -> Outcome:
    if action == "delete":
        response = await client.request("DELETE", f"/{comment_id}")
    else:
        flag = "is_hidden" if platform == "facebook" else "hide"
        response = await client.request("POST", f"/{comment_id}", params={flag: "true"})
    return _checked(response, _graph_success, platform, action)


def _graph_success(body: Any) -> bool:
    return isinstance(body, dict) and body.get("success") is True


def _x_hidden(body: Any) -> bool:
    data = body.get("data") if isinstance(body, dict) else None
    return isinstance(data, dict) and data.get("hidden") is True


def _checked(
    response: httpx.Response, ok: Callable[[Any], bool], platform: str, action: str
) -> Outcome:
    try:
        body = response.json()
    except (ValueError, RecursionError):
        body = None
    if ok(body):
        return Outcome("done")
    return Outcome(
        "refused", f"{platform} did not confirm the {action} (HTTP {response.status_code})"
    )


def _graph_code(body: Any) -> int | None:
    error = body.get("error") if isinstance(body, dict) else None
    code = error.get("code") if isinstance(error, dict) else None
    return code if isinstance(code, int) else None


def refusal_outcome(exc: PlatformRefused, platform: str, action: str) -> Outcome:
    """A 4xx sorted: gone (a delete is then done), refused for good, or a bad token (raised)."""
    code = _graph_code(exc.body) if platform != "x" else None
    if exc.status == 401 or code == _GRAPH_BAD_TOKEN:
        raise exc  # a bad or expired token refuses everything: stop, commit nothing
    gone = exc.status == 404 or code == _GRAPH_GONE
    if gone and action == "delete":
        return Outcome("done", "already gone")
    detail = f", Graph error {code}" if code is not None else ""
    what = "the comment no longer exists" if gone else "refused"
    return Outcome(
        "refused", f"{platform} {what}: the {action} failed with HTTP {exc.status}{detail}"
    )
