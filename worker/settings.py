"""One typed, frozen settings object, read from TRIAGE_* variables (and an optional file)."""

from __future__ import annotations

from ipaddress import IPv4Network, IPv6Network, ip_network
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from records import Topics
from records.kafka import KafkaSettings

__all__ = [
    "DEFAULT_MODEL_DIR",
    "DEFAULT_POLICY",
    "PACKAGE_DIR",
    "Network",
    "Settings",
    "SettingsError",
    "load_settings",
]

PACKAGE_DIR = Path(__file__).resolve().parent
DEFAULT_POLICY = PACKAGE_DIR.parent / "classifiers" / "policy" / "north-herts.yaml"
DEFAULT_MODEL_DIR = PACKAGE_DIR.parent / "classifiers" / "model"

Network = IPv4Network | IPv6Network


class SettingsError(Exception):
    """Settings could not be read; the message names the setting."""


class Settings(KafkaSettings):
    """The worker's settings; TRIAGE_BROKER and TRIAGE_KAFKA_* come from KafkaSettings."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_",
        frozen=True,
        extra="ignore",
        env_file_encoding="utf-8",
    )

    # Kafka (the broker and its TLS/SASL settings are in records/kafka.py)
    topic_prefix: str = Field(default="", pattern=r"^[A-Za-z0-9._-]*$")
    partitions: int = Field(default=4, ge=1, le=1024)
    replication_factor: int = Field(default=1, ge=1, le=16)
    store: str = Field(default="memory://")
    app_id: str = Field(default="council-triage", pattern=r"^[A-Za-z0-9._-]+$")
    session_timeout_s: float = Field(default=10.0, gt=0)
    # Longest a broker may hold an empty fetch (worker/transport.py says why it matters).
    fetch_wait_ms: int = Field(default=50, ge=1, le=10_000)
    data_dir: Path = Field(default=Path("triage-data"))
    # Start even when an existing topic deletes records sooner than the policy's period.
    allow_short_retention: bool = False

    # Web (officers' app, health, metrics)
    web_host: str = "127.0.0.1"
    web_port: int = Field(default=6066, ge=0, le=65535)
    # Signs the officers' app session cookies; generated once into data_dir when unset.
    session_secret: SecretStr | None = None
    # Accounts, tokens, sign-in attempts (worker/db/); default sqlite:///<data_dir>/triage.db.
    database_url: SecretStr | None = None
    # A users file of earlier versions, imported once into the database; <data_dir>/users.json.
    users_file: Path | None = None
    # `triage run` folds the topics into the database's read side (off: `triage db project`).
    projector: bool = True
    # `triage run` deletes what the retention periods no longer allow from the database
    # this often (one worker at a time, once in all per interval); 0: off (cron instead).
    retention_interval_hours: float = Field(default=24.0, ge=0, le=24 * 31)
    # A signed-in session ends after this long without a request, and this long after sign-in.
    web_session_idle_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    web_session_lifetime_hours: float = Field(default=10.0, gt=0, le=24 * 31)
    # "Being handled by": an officer's presence on an item lasts this long after the item
    # page's last heartbeat (the page sends one every third of it).
    web_presence_ttl_s: float = Field(default=75.0, ge=15, le=600)
    # The longest reply the council's Mastodon server takes (its statuses.max_characters).
    mastodon_max_characters: int = Field(default=500, ge=1, le=100_000)
    # Cookies always Secure and HSTS on every response (set when served over HTTPS).
    secure_cookies: bool = False
    # Replying from the tool: None follows the policy's replying.enabled.
    replies_enabled: bool | None = None
    # Reverse proxies (addresses or networks, comma-separated) whose X-Forwarded-For is read.
    trusted_proxies: Annotated[tuple[Network, ...], NoDecode] = ()

    # Classification
    policy: Path = DEFAULT_POLICY
    model_dir: Path = DEFAULT_MODEL_DIR
    detoxify_checkpoint: Path | None = None
    detoxify_config_dir: Path | None = None
    # The full SHA-256 of a checkpoint that needs a pickle load (classifiers/detox.py).
    detoxify_sha256: str | None = Field(default=None, pattern=r"^[0-9a-fA-F]{64}$")
    require_detoxify: bool = False
    detoxify_quantize: bool = False
    # torch's thread pool is one per process: it serves the transformer and detoxify.
    torch_threads: int = Field(default=2, ge=1, le=64)
    # int8 transformer (the default, tuned so): false serves exact float32, a quarter slower.
    transformer_int8: bool = True
    batch_size: int = Field(default=32, ge=1, le=1024)
    batch_timeout_ms: int = Field(default=50, ge=1, le=60_000)

    # Dead letters: stop rather than dead-letter everything after a bad deploy upstream.
    breaker_window: int = Field(default=200, ge=10)
    breaker_max_invalid_ratio: float = Field(default=0.8, gt=0, le=1)

    # Logs
    log_format: Literal["auto", "json", "console"] = "auto"
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    # Metrics endpoint token (optional: when set, /metrics needs it)
    metrics_token: SecretStr | None = None

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _networks(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        if isinstance(value, list | tuple):
            # strict: "10.0.0.1/8" is a mistake, not a wish to trust all of 10/8.
            return tuple(v if isinstance(v, Network) else ip_network(v) for v in value)
        return value

    @field_validator("store")
    @classmethod
    def _store_url(cls, value: str) -> str:
        if not value.startswith(("memory://", "rocksdb://", "aerospike://")):
            raise ValueError("must be memory:// or rocksdb://")
        return value

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    @property
    def embedded(self) -> bool:
        return not self.broker


def load_settings(env_file: Path | None = None, **overrides: Any) -> Settings:
    """Read settings, turning validation errors into one readable message."""
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        lines = []
        for error in exc.errors(include_url=False):
            if not error["loc"]:  # a check across settings: its message names them
                lines.append(str(error["msg"]).removeprefix("Value error, "))
                continue
            name = "TRIAGE_" + "_".join(str(p) for p in error["loc"]).upper()
            lines.append(f"{name}: {error['msg']}")
        raise SettingsError("invalid settings: " + "; ".join(lines)) from None
