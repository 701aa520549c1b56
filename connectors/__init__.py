"""Connectors: the outside world in, as Comment records on ``social.comments``.

Each connector shares one lifecycle (:class:`Connector`: setup, run, stop, cleanup), one
Kafka sink (:class:`KafkaSink`), one durable state file (:class:`ConnectorState`) and, for
pollers, one HTTP client with retries and rate limits (:class:`PlatformClient`).
"""

from connectors.base import Connector, serve
from connectors.generic import GenericWebhookConnector
from connectors.http import PlatformClient, PlatformError, PlatformRefused, PlatformUnavailable
from connectors.mastodon import MastodonConnector
from connectors.meta import MetaConnector
from connectors.metrics import ConnectorMetrics
from connectors.settings import ConnectorSettings, ConnectorSettingsError, load_connector_settings
from connectors.sink import KafkaSink, Outgoing
from connectors.spool import Spool, SpoolError
from connectors.state import ConnectorState, StateError
from connectors.x import XConnector

CONNECTORS: dict[str, type[Connector]] = {
    "meta": MetaConnector,
    "x": XConnector,
    "mastodon": MastodonConnector,
    "webhook": GenericWebhookConnector,
}

__all__ = [
    "CONNECTORS",
    "Connector",
    "ConnectorMetrics",
    "ConnectorSettings",
    "ConnectorSettingsError",
    "ConnectorState",
    "GenericWebhookConnector",
    "KafkaSink",
    "MastodonConnector",
    "MetaConnector",
    "Outgoing",
    "PlatformClient",
    "PlatformError",
    "PlatformRefused",
    "PlatformUnavailable",
    "Spool",
    "SpoolError",
    "StateError",
    "XConnector",
    "load_connector_settings",
    "serve",
]
