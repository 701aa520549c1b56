"""Creating topics, for the worker and the connectors alike.

One function, so that every topic is created the same way (its partitions, its cleanup
and retention, TLS and SASL from :class:`~records.kafka.KafkaConnection`) whichever part
gets there first. It imports aiokafka, so ``records/__init__`` does not import it: the
classifiers and the schema tools never load a Kafka client.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from records.kafka import KafkaConnection
from records.topics import TopicSpec

__all__ = ["ensure_topic"]


async def ensure_topic(
    kafka: KafkaConnection,
    topic: TopicSpec | str,
    partitions: int,
    replicas: int = 1,
    *,
    configs: Mapping[str, str] | None = None,
    request_timeout_s: float = 30.0,
) -> None:
    """Create ``topic`` unless it exists, which auto-creation would not do right.

    From a :class:`TopicSpec` it takes the spec's settings, and one partition where the
    spec asks for it; from a bare name, ``configs`` (none: the broker's defaults).
    """
    if isinstance(topic, TopicSpec):
        name, settings = topic.name, topic.configs()
        if topic.single_partition:
            partitions = 1
    else:
        name, settings = topic, dict(configs or {})
    admin = AIOKafkaAdminClient(**kafka.options(), request_timeout_ms=int(request_timeout_s * 1000))
    await admin.start()
    try:
        if name in await admin.list_topics():
            return
        with contextlib.suppress(TopicAlreadyExistsError):
            new = NewTopic(name, partitions, replicas, topic_configs=settings)
            await admin.create_topics([new])
    finally:
        with contextlib.suppress(Exception):  # closing must not hide what happened above
            await admin.close()
