"""How every Kafka client of the project connects: bootstrap servers, TLS and SASL.

The worker (faust and its aiokafka readers, the CLI tools) and the connectors (sink,
actions) both read these settings and build their clients from :class:`KafkaConnection`,
so there is one parser of ``TRIAGE_BROKER`` and one place where TLS and SASL are set up.
It lives in ``records`` because both sides already depend on it and ``connectors`` may not
import ``worker``; it needs only the standard library and pydantic, so nothing that
imports records pulls in a Kafka client.

Secrets (``TRIAGE_KAFKA_PASSWORD``, ``TRIAGE_KAFKA_KEY_PASSWORD``) are ``SecretStr``; the
plain password exists only in the keyword arguments handed to a client's constructor,
which are never logged.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings

__all__ = [
    "KafkaConnection",
    "KafkaSettings",
    "KafkaSettingsError",
    "SaslMechanism",
    "SecurityProtocol",
    "bootstrap_servers",
]

SecurityProtocol = Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"]
SaslMechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]


def bootstrap_servers(broker_url: str) -> tuple[str, ...]:
    """``kafka://h1:9092;h2:9092`` (or a comma list) -> ``("h1:9092", "h2:9092")``."""
    hosts = broker_url.split("://", 1)[-1]
    return tuple(h.strip() for h in hosts.replace(";", ",").split(",") if h.strip())


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to reach them; ``options()`` feeds every aiokafka
    client (producer, consumer, admin), ``credentials`` the faust App."""

    bootstrap: tuple[str, ...]
    security_protocol: SecurityProtocol = "PLAINTEXT"
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    sasl_mechanism: SaslMechanism | None = None
    username: str | None = None
    password: SecretStr | None = None

    @property
    def uses_sasl(self) -> bool:
        return self.security_protocol.startswith("SASL_")

    def options(self) -> dict[str, Any]:
        """Keyword arguments for an aiokafka client's constructor (never log them)."""
        out: dict[str, Any] = {
            "bootstrap_servers": list(self.bootstrap),
            "security_protocol": self.security_protocol,
        }
        if self.ssl_context is not None:
            out["ssl_context"] = self.ssl_context
        if self.uses_sasl:
            assert self.password is not None  # KafkaSettings checks it
            out["sasl_mechanism"] = self.sasl_mechanism
            out["sasl_plain_username"] = self.username
            out["sasl_plain_password"] = self.password.get_secret_value()
        return out


class KafkaSettingsError(ValueError):
    """A TLS file cannot be read or parsed; the message names the setting."""


class KafkaSettings(BaseSettings):
    """The TRIAGE_BROKER and TRIAGE_KAFKA_* settings, shared by worker and connectors."""

    broker: str = ""
    kafka_security_protocol: SecurityProtocol = "PLAINTEXT"
    kafka_sasl_mechanism: SaslMechanism = "SCRAM-SHA-512"
    kafka_username: str = ""
    kafka_password: SecretStr | None = None
    # TLS: the CA that signed the brokers' certificates (unset: the system's), and a client
    # certificate and key for brokers that ask for one (mutual TLS).
    kafka_ca_file: Path | None = None
    kafka_cert_file: Path | None = None
    kafka_key_file: Path | None = None
    kafka_key_password: SecretStr | None = None

    @field_validator("broker")
    @classmethod
    def _broker_url(cls, value: str) -> str:
        value = value.strip()
        if value and not value.startswith(("kafka://", "aiokafka://")):
            raise ValueError(
                "must look like kafka://host:port (or be empty for the embedded broker)"
            )
        return value

    @model_validator(mode="after")
    def _consistent(self) -> KafkaSettings:
        protocol = self.kafka_security_protocol
        if protocol.startswith("SASL_") and not (self.kafka_username and self.kafka_password):
            raise ValueError(
                f"TRIAGE_KAFKA_SECURITY_PROTOCOL={protocol} needs TRIAGE_KAFKA_USERNAME "
                "and TRIAGE_KAFKA_PASSWORD"
            )
        if (self.kafka_cert_file is None) != (self.kafka_key_file is None):
            raise ValueError("set TRIAGE_KAFKA_CERT_FILE and TRIAGE_KAFKA_KEY_FILE together")
        tls_files = (self.kafka_ca_file, self.kafka_cert_file, self.kafka_key_password)
        if not protocol.endswith("SSL") and any(f is not None for f in tls_files):
            raise ValueError(
                "TLS files are set but TRIAGE_KAFKA_SECURITY_PROTOCOL is "
                f"{protocol}: use SSL or SASL_SSL"
            )
        if protocol.endswith("SSL"):
            self._ssl_context()  # unreadable files fail at start, naming the setting
        return self

    @property
    def kafka(self) -> KafkaConnection:
        """How this process's Kafka clients connect (a fresh TLS context each time)."""
        protocol = self.kafka_security_protocol
        return KafkaConnection(
            bootstrap=bootstrap_servers(self.broker),
            security_protocol=protocol,
            ssl_context=self._ssl_context() if protocol.endswith("SSL") else None,
            sasl_mechanism=self.kafka_sasl_mechanism if protocol.startswith("SASL_") else None,
            username=self.kafka_username or None,
            password=self.kafka_password,
        )

    def _ssl_context(self) -> ssl.SSLContext:
        # Server certificates are verified, host names included; TLS 1.2 at least.
        try:
            context = ssl.create_default_context(cafile=self.kafka_ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise KafkaSettingsError(f"TRIAGE_KAFKA_CA_FILE: cannot load it ({exc})") from None
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        if self.kafka_cert_file is not None and self.kafka_key_file is not None:
            password = self.kafka_key_password
            try:
                context.load_cert_chain(
                    self.kafka_cert_file,
                    self.kafka_key_file,
                    password=password.get_secret_value() if password else None,
                )
            except (OSError, ssl.SSLError) as exc:
                raise KafkaSettingsError(
                    "TRIAGE_KAFKA_CERT_FILE / TRIAGE_KAFKA_KEY_FILE: cannot load the client "
                    f"certificate and key ({type(exc).__name__})"
                ) from None
        return context
