"""Connector settings: TRIAGE_* variables, the broker ones shared with the worker.

Secrets are ``SecretStr`` so that they never reach a log or a repr.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import SettingsConfigDict

from records import Topics
from records.kafka import KafkaSettings
from records.policy import PolicyError
from records.retention import load_retention

__all__ = [
    "DEFAULT_POLICY",
    "META_GRAPH_BASE",
    "X_API_BASE",
    "ConnectorSettings",
    "ConnectorSettingsError",
    "load_connector_settings",
]

X_API_BASE = "https://api.x.com"
META_GRAPH_BASE = "https://graph.facebook.com/v25.0"
# The worker's default policy file (TRIAGE_POLICY is shared with it).
DEFAULT_POLICY = (
    Path(__file__).resolve().parent.parent / "classifiers" / "policy" / "north-herts.yaml"
)


class ConnectorSettingsError(Exception):
    """Settings could not be read, or a connector lacks one it needs; the message names it."""


class ConnectorSettings(KafkaSettings):
    """TRIAGE_BROKER and TRIAGE_KAFKA_* come from KafkaSettings, shared with the worker."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_",
        frozen=True,
        extra="ignore",
        env_file_encoding="utf-8",
    )

    # Kafka, shared with the worker.
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)

    # Shared machinery. Unset folders go under TRIAGE_DATA_DIR (shared with the worker).
    data_dir: Path = Path("triage-data")
    connector_state_dir: Path | None = None  # <data_dir>/connectors
    # Where webhook connectors keep what they accepted until Kafka confirms it (fsync'd),
    # one folder per connector: <state dir>/spool when unset.
    connector_spool_dir: Path | None = None
    connector_buffer: int = Field(default=10_000, ge=1, le=1_000_000)
    connector_seen_keys: int = Field(default=50_000, ge=100, le=10_000_000)
    connector_request_timeout_s: float = Field(default=30.0, gt=0, le=600)
    connector_max_retries: int = Field(default=6, ge=0, le=100)
    connector_poll_interval_s: float = Field(default=60.0, gt=0, le=86_400)
    connector_host: str = "127.0.0.1"
    connector_port: int = Field(default=8090, ge=0, le=65535)
    connector_max_body_bytes: int = Field(default=1_000_000, ge=1_024, le=100_000_000)

    # Meta (Facebook Page and Instagram) webhooks.
    meta_app_secret: SecretStr | None = None
    meta_verify_token: SecretStr | None = None
    meta_page_id: str = ""
    meta_ig_user_id: str = ""

    # X (API v2).
    x_bearer_token: SecretStr | None = None
    x_user_id: str = ""
    x_api_base: str = X_API_BASE

    # Mastodon.
    mastodon_base_url: str = ""
    mastodon_token: SecretStr | None = None
    mastodon_account_id: str = ""

    # Actions on the platforms (``triage connect actions``): the policy file says whether
    # they are allowed; the tokens are user-context ones that may moderate.
    policy: Path = DEFAULT_POLICY
    meta_graph_base: str = META_GRAPH_BASE
    meta_page_access_token: SecretStr | None = None
    x_user_access_token: SecretStr | None = None
    actions_retry_interval_s: float = Field(default=60.0, gt=0, le=3_600)
    actions_session_timeout_s: float = Field(default=10.0, ge=6, le=300)
    # A first start acts only on decisions recorded from then on; true also carries out
    # every hide and delete still on triage.audit (a backfill).
    actions_backfill: bool = False
    # Posting replies officers sent: None follows the policy's replying.enabled.
    replies_enabled: bool | None = None

    # Generic signed webhook.
    webhook_secret: SecretStr | None = None
    webhook_max_age_s: int = Field(default=300, ge=1, le=86_400)
    # Records get platform "webhook", or "webhook.<name>" to tell several senders apart.
    webhook_name: str = Field(default="", pattern=r"^([a-z0-9][a-z0-9_-]{0,30})?$")
    # The oldest created_at taken; a sender replaying a queue after an outage needs room.
    webhook_max_created_age_s: int = Field(default=7 * 86_400, ge=60, le=366 * 86_400)

    @field_validator("x_api_base", "mastodon_base_url", "meta_graph_base")
    @classmethod
    def _base_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must be an http(s) URL")
        return value

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def state_dir(self) -> Path:
        return self.connector_state_dir or self.data_dir / "connectors"

    @property
    def spool_dir(self) -> Path:
        return self.connector_spool_dir or self.state_dir / "spool"

    def topic_configs(self, topic: str) -> dict[str, str]:
        """The settings to create ``topic`` with (records/topics.py; periods from the policy)."""
        try:
            retention = load_retention(self.policy)
        except PolicyError as exc:
            raise ConnectorSettingsError(f"{exc} (TRIAGE_POLICY)") from None
        return self.topics.specs(retention)[topic].configs()

    def require(self, *names: str) -> None:
        """Fail with one clear message naming every missing setting."""
        missing = [f"TRIAGE_{name.upper()}" for name in names if not getattr(self, name)]
        if missing:
            raise ConnectorSettingsError("missing settings: " + ", ".join(missing))


def load_connector_settings(env_file: Path | None = None, **overrides: Any) -> ConnectorSettings:
    """Read settings, turning validation errors into one readable message."""
    try:
        return ConnectorSettings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False, include_input=False):
            if not error["loc"]:  # a check across settings: its message names them
                lines.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            name = "TRIAGE_" + "_".join(str(p) for p in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise ConnectorSettingsError("invalid settings: " + "; ".join(lines)) from None
