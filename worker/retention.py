"""At start: do the existing topics keep data as long as the policy says?

The worker creates missing topics with the settings of records/topics.py. A topic that
already exists keeps whatever it was created with, perhaps nothing (then the broker's
default, 7 days for ``retention.ms`` on Kafka), which would quietly delete the council's
audit trail long before the policy allows. So before anything runs, each existing topic
is described (DescribeConfigs) and the worker refuses to start while a record-keeping
topic would delete sooner than its period, unless TRIAGE_ALLOW_SHORT_RETENTION is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError

from records.kafka import KafkaConnection
from records.retention import load_retention
from records.topics import DAY_MS, TopicSpec
from worker.settings import Settings

__all__ = [
    "BROKER_DEFAULT_RETENTION_MS",
    "CONNECT_WITHIN_S",
    "Kept",
    "TopicRetentionError",
    "check_retention",
    "excess",
    "shortfall",
    "topic_specs",
]

log = structlog.get_logger(__name__)

BROKER_DEFAULT_RETENTION_MS = 7 * DAY_MS
"""Kafka's own default for ``retention.ms``, assumed when a topic reports no value."""

CONNECT_WITHIN_S = 60.0


class TopicRetentionError(RuntimeError):
    """An existing topic would delete records sooner than the policy allows, or the
    topics could not be checked; the message names the topic and both periods."""


def topic_specs(settings: Settings) -> dict[str, TopicSpec]:
    """Every topic's settings, with the periods of the policy file (RetentionError if bad)."""
    return settings.topics.specs(load_retention(settings.policy))


@dataclass(frozen=True, slots=True)
class Kept:
    """How long an existing topic keeps data, from its described settings."""

    cleanup: str
    retention_ms: int | None  # None: never deleted by age
    retention_bytes: int | None  # None: never deleted by size
    defaulted: bool  # retention.ms not reported: the broker's default was assumed

    @classmethod
    def of(cls, configs: Mapping[str, str]) -> Kept:
        cleanup = configs.get("cleanup.policy") or "delete"
        deletes = "delete" in cleanup
        reported = configs.get("retention.ms")
        ms = int(reported) if reported not in (None, "") else BROKER_DEFAULT_RETENTION_MS
        size = configs.get("retention.bytes")
        by_size = int(size) if size not in (None, "") else -1
        return cls(
            cleanup=cleanup,
            retention_ms=ms if deletes and ms >= 0 else None,
            retention_bytes=by_size if deletes and by_size >= 0 else None,
            defaulted=deletes and reported in (None, ""),
        )

    def describe(self) -> str:
        if self.retention_ms is None:
            return "keeps records until compaction replaces them"
        default = " (broker default: retention.ms unset)" if self.defaulted else ""
        return f"deletes records after {_days(self.retention_ms)}{default}"


def shortfall(spec: TopicSpec, kept: Kept) -> str | None:
    """Why ``spec``'s topic would lose records sooner than the policy allows, or None."""
    need = spec.retention_ms
    if kept.retention_bytes is not None:
        return (
            f"{spec.name}: deletes records once it holds {kept.retention_bytes} bytes "
            f"(retention.bytes), whatever their age; the policy keeps them "
            f"{_wanted(spec)}"
        )
    if kept.retention_ms is None or (need >= 0 and kept.retention_ms >= need):
        return None
    return f"{spec.name}: {kept.describe()}, but the policy keeps them {_wanted(spec)}"


def excess(spec: TopicSpec, kept: Kept) -> str | None:
    """Why ``spec``'s topic keeps data longer than its period (a warning), or None."""
    need = spec.retention_ms
    if need < 0 or (kept.retention_ms is not None and kept.retention_ms <= need):
        return None
    return f"{spec.name}: {kept.describe()}, longer than the policy's {_wanted(spec)}"


def _wanted(spec: TopicSpec) -> str:
    if spec.retention_days is None:
        return "until replaced (cleanup.policy compact)"
    return f"{spec.retention_days} days ({spec.period_key})"


def _days(ms: int) -> str:
    days, hours = ms / DAY_MS, ms / 3_600_000
    if days >= 1:
        return f"{days:g} day" + ("" if days == 1 else "s")
    return f"{hours:g} hour" + ("" if hours == 1 else "s")


async def check_retention(settings: Settings, specs: Mapping[str, TopicSpec]) -> None:
    """Describe the existing topics; raise TopicRetentionError when one would lose records."""
    described = await _describe(settings.kafka, list(specs))
    short: list[str] = []
    for name, configs in described.items():
        spec, kept = specs[name], Kept.of(configs)
        problem = shortfall(spec, kept)
        if problem is not None and spec.records:
            short.append(problem)
        elif problem is not None:
            log.warning("topic deletes data sooner than the policy's period", problem=problem)
        longer = excess(spec, kept)
        if longer is not None:
            log.warning("topic keeps data longer than the policy's period", problem=longer)
    if not short:
        return
    if settings.allow_short_retention:
        for problem in short:
            log.warning(
                "starting although a topic deletes records too soon "
                "(TRIAGE_ALLOW_SHORT_RETENTION=true)",
                problem=problem,
            )
        return
    raise TopicRetentionError(
        "; ".join(short) + ". Raise retention.ms (kafka-configs --alter --entity-type topics "
        "--add-config retention.ms=...), or set TRIAGE_ALLOW_SHORT_RETENTION=true to start anyway"
    )


async def _describe(kafka: KafkaConnection, names: list[str]) -> dict[str, dict[str, str]]:
    """The reported settings of each topic of ``names`` that exists."""
    admin = await _admin(kafka)
    try:
        topics = await admin.list_topics()
        existing = sorted(name for name in set(names) if name in topics)
        if not existing:
            return {}
        resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in existing]
        responses = await admin.describe_configs(resources)
    finally:
        with contextlib.suppress(Exception):  # closing must not hide what happened above
            await admin.close()
    out: dict[str, dict[str, str]] = {}
    for response in responses:
        for resource in response.resources:
            error_code, _message, _type, name, entries = resource[:5]
            if error_code != 0:
                raise TopicRetentionError(
                    f"{name}: the broker would not describe its settings (error {error_code})"
                )
            out[name] = {entry[0]: entry[1] for entry in entries if entry[1] is not None}
    return out


async def _admin(kafka: KafkaConnection) -> Any:
    # The broker may still be starting (compose starts both together): try for a minute.
    deadline = time.monotonic() + CONNECT_WITHIN_S
    while True:
        admin = AIOKafkaAdminClient(**kafka.options())
        try:
            await admin.start()
        except (KafkaError, OSError):
            with contextlib.suppress(Exception):  # the start error is the one to raise
                await admin.close()
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(2.0)
            continue
        return admin
