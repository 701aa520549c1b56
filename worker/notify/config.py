"""Who is told and through what: the policy's ``notifications`` section and the
TRIAGE_SMTP_*, TRIAGE_MAIL_FROM, TRIAGE_SLACK_*, TRIAGE_TEAMS_* and TRIAGE_NOTIFY_* settings.

Passwords and webhook URLs are ``SecretStr``: the plain values exist only where a client
is handed them, and never in a log line or an error message.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from records.policy import PolicyInvalid, invalid, read_policy

__all__ = [
    "ROLES",
    "NotificationsPolicy",
    "NotifySettings",
    "Recipients",
    "Role",
    "SmtpTarget",
    "load_notifications",
    "parse_notifications",
    "recipients",
]

Role = Literal["managing_director", "comms_manager", "officers", "on_call"]
ROLES: tuple[Role, ...] = ("managing_director", "comms_manager", "officers", "on_call")

# Enough to catch a name or a typo in place of an address; the mail server judges the rest.
_ADDRESS = re.compile(r"^[^@\s,;<>]+@[^@\s,;<>]+\.[^@\s,;<>]+$")


def _addresses(value: Any) -> Any:
    if value is None:
        return None  # unset (the policy section turns None into no one)
    if isinstance(value, str):
        value = [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list | tuple):
        for address in value:
            if not isinstance(address, str) or not _ADDRESS.match(address):
                raise ValueError("each recipient must be an e-mail address")
        return tuple(value)
    return value


class NotificationsPolicy(BaseModel):
    """The policy file's ``notifications`` section: e-mail addresses by role, and which
    alert kinds also go to the team's chat channel (Slack, Teams)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    managing_director: tuple[str, ...] = ()
    comms_manager: tuple[str, ...] = ()
    officers: tuple[str, ...] = ()
    on_call: tuple[str, ...] = ()
    # Only alerts that carry no personal data belong in a shared channel.
    chat_kinds: tuple[str, ...] = ("sla_at_risk", "sla_breach", "daily_digest")
    # The morning digest (worker/notify/digest.py): off with false.
    daily_digest: bool = True
    subject_prefix: str = Field(default="[Social media triage]", max_length=60)

    _check = field_validator(*ROLES, mode="before")(lambda v: _addresses(v) or ())

    @field_validator("chat_kinds")
    @classmethod
    def _no_blocks_in_chat(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(kind.startswith("author_") for kind in value):
            raise ValueError("blocks name residents: they go to the Managing Director by mail")
        return value


def parse_notifications(
    document: dict[str, Any], source: str = "policy file"
) -> NotificationsPolicy:
    """The ``notifications`` section of an already read policy (missing: no one)."""
    section = document.get("notifications") or {}
    if not isinstance(section, dict):
        raise PolicyInvalid(f"{source}: notifications: expected a mapping")
    try:
        return NotificationsPolicy.model_validate(section)
    except ValidationError as exc:
        raise invalid(source, exc, ("notifications",)) from None


def load_notifications(path: Path) -> NotificationsPolicy:
    return parse_notifications(read_policy(path), f"policy file {path}")


class SmtpTarget(BaseModel):
    """Where the mail server is: ``smtps`` speaks TLS from the start, ``smtp`` upgrades
    with STARTTLS when the server offers it."""

    model_config = ConfigDict(frozen=True)

    host: str
    port: int
    implicit_tls: bool


Addresses = Annotated[tuple[str, ...] | None, NoDecode]


class NotifySettings(BaseSettings):
    """The notifier's settings (TRIAGE_ prefix, like the worker's)."""

    model_config = SettingsConfigDict(
        env_prefix="TRIAGE_",
        frozen=True,
        extra="ignore",
        env_file_encoding="utf-8",
        # Errors must not quote a webhook URL or a password.
        hide_input_in_errors=True,
    )

    smtp_url: str = ""
    smtp_username: str = ""
    smtp_password: SecretStr | None = None
    # Verify the server's certificate against this CA (unset: the system's).
    smtp_ca_file: Path | None = None
    smtp_timeout_s: float = Field(default=30.0, gt=0, le=600)
    mail_from: str = ""
    slack_webhook_url: SecretStr | None = None
    teams_webhook_url: SecretStr | None = None
    # Comma-separated addresses that replace the policy's, role by role.
    notify_managing_director: Addresses = None
    notify_comms_manager: Addresses = None
    notify_officers: Addresses = None
    notify_on_call: Addresses = None
    # Transient failures (a server down, 4xx from SMTP, 5xx or 429 from a webhook) are
    # retried with doubling waits; after the last attempt the alert is dead-lettered.
    notify_max_attempts: int = Field(default=6, ge=1, le=100)
    notify_retry_base_s: float = Field(default=1.0, gt=0, le=600)
    notify_retry_max_s: float = Field(default=60.0, gt=0, le=3600)
    # The officers' app, for links in messages (unset: no links).
    notify_app_url: str = ""
    # `triage notify` alone serves /health, /ready and /metrics here, on TRIAGE_WEB_HOST
    # (0: a free port; inside `triage run` the worker's own port serves them).
    notify_port: int = Field(default=6067, ge=0, le=65535)

    _check = field_validator(
        "notify_managing_director",
        "notify_comms_manager",
        "notify_officers",
        "notify_on_call",
        mode="before",
    )(_addresses)

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: str) -> str:
        value = value.strip()
        if value:
            parts = urlsplit(value)
            if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
                raise ValueError("must look like smtp://host:587 or smtps://host:465")
            if parts.username or parts.password:
                raise ValueError("put the user and password in TRIAGE_SMTP_USERNAME/PASSWORD")
        return value

    @field_validator("mail_from")
    @classmethod
    def _from(cls, value: str) -> str:
        value = value.strip()
        if value and not _ADDRESS.match(value):
            raise ValueError("must be an e-mail address")
        return value

    @field_validator("slack_webhook_url", "teams_webhook_url")
    @classmethod
    def _webhook(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value().strip():
            return None
        if urlsplit(value.get_secret_value()).scheme not in ("https", "http"):
            # The URL is a secret: the message must not quote it.
            raise ValueError("must be an https:// URL")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> NotifySettings:
        if self.smtp_url and not self.mail_from:
            raise ValueError("TRIAGE_SMTP_URL needs TRIAGE_MAIL_FROM (the sender's address)")
        if self.smtp_password is not None and not self.smtp_username:
            raise ValueError("TRIAGE_SMTP_PASSWORD needs TRIAGE_SMTP_USERNAME")
        return self

    @property
    def smtp(self) -> SmtpTarget | None:
        if not self.smtp_url:
            return None
        parts = urlsplit(self.smtp_url)
        implicit = parts.scheme == "smtps"
        assert parts.hostname is not None
        return SmtpTarget(
            host=parts.hostname,
            port=parts.port or (465 if implicit else 587),
            implicit_tls=implicit,
        )

    @property
    def channels(self) -> tuple[str, ...]:
        """The channels configured, in the order messages go out."""
        out = []
        if self.smtp is not None:
            out.append("email")
        if self.slack_webhook_url is not None:
            out.append("slack")
        if self.teams_webhook_url is not None:
            out.append("teams")
        return tuple(out)


Recipients = dict[Role, tuple[str, ...]]


def recipients(policy: NotificationsPolicy, settings: NotifySettings) -> Recipients:
    """Addresses by role: a TRIAGE_NOTIFY_<ROLE> setting replaces the policy's list."""
    out: Recipients = {}
    for role in ROLES:
        override = getattr(settings, f"notify_{role}")
        out[role] = override if override is not None else getattr(policy, role)
    return out
