"""The broker backend reuses the integration tier's fixtures (a worker on the embedded
broker, producers, readers)."""

from tests.integration.conftest import produce, read_topic, read_topic_until, running_worker

__all__ = ["produce", "read_topic", "read_topic_until", "running_worker"]
