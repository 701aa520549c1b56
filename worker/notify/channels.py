"""The notifier's I/O adapters: mail over SMTP (aiosmtplib) and the chat webhooks (aiohttp).

Each sender raises :class:`SendFailed` saying whether trying again may help. Its reason
names the channel and a status code, never an address, a password or a webhook URL (a
server's reply may quote the address, so its text is left out).
"""

from __future__ import annotations

import hashlib
import ssl
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any, Protocol

import aiohttp
import aiosmtplib
from pydantic import SecretStr

from worker.notify.compose import (
    Channel,
    Message,
    render_html,
    render_text,
    slack_payload,
    teams_payload,
)
from worker.notify.config import NotifySettings

__all__ = ["SendFailed", "Sender", "SmtpSender", "WebhookSender", "mail_of", "senders"]


class SendFailed(Exception):
    """A message was not delivered; ``permanent`` when a retry cannot help."""

    safe_message = True

    def __init__(self, reason: str, *, permanent: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class Sender(Protocol):
    channel: Channel

    async def send(self, message: Message) -> None: ...

    async def close(self) -> None: ...


def mail_of(message: Message, sender: str) -> EmailMessage:
    """The mail for one recipient: plain text with an HTML alternative.

    Its Message-ID is derived from the delivery's key, so the copy sent again after a
    crash has the same id and a mail client can tell it is the same message.
    """
    assert message.to is not None
    domain = sender.rsplit("@", 1)[-1]
    digest = hashlib.sha256(message.key.encode("utf-8")).hexdigest()[:40]
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = message.to
    mail["Subject"] = message.subject
    mail["Date"] = formatdate(localtime=False, usegmt=True)
    mail["Message-ID"] = f"<{digest}@{domain}>"
    mail["X-Triage-Alert"] = message.alert_id
    mail["Auto-Submitted"] = "auto-generated"  # RFC 3834: no out-of-office replies, please
    mail.set_content(render_text(message))
    mail.add_alternative(render_html(message), subtype="html")
    return mail


class SmtpSender:
    """Sends each mail in its own SMTP session: TLS from the start for ``smtps://``;
    for ``smtp://``, STARTTLS when the server offers it, and always before a password."""

    channel: Channel = "email"

    def __init__(self, settings: NotifySettings) -> None:
        target = settings.smtp
        assert target is not None
        self.target = target
        self.sender = settings.mail_from
        self.username = settings.smtp_username or None
        self.password: SecretStr | None = settings.smtp_password
        self.timeout = settings.smtp_timeout_s
        context = ssl.create_default_context(cafile=settings.smtp_ca_file)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        self.tls_context = context

    async def send(self, message: Message) -> None:
        mail = mail_of(message, self.sender)
        # None: upgrade if offered; True: refuse to send credentials in the clear.
        start_tls = None if self.target.implicit_tls or not self.username else True
        try:
            await aiosmtplib.send(
                mail,
                hostname=self.target.host,
                port=self.target.port,
                use_tls=self.target.implicit_tls,
                start_tls=start_tls,
                tls_context=self.tls_context,
                username=self.username,
                password=self.password.get_secret_value() if self.password else None,
                timeout=self.timeout,
            )
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = sorted({refused.code for refused in exc.recipients})
            permanent = all(500 <= code < 600 for code in codes)
            raise SendFailed(f"recipient refused (SMTP {codes})", permanent=permanent) from None
        except aiosmtplib.SMTPResponseException as exc:
            permanent = 500 <= exc.code < 600
            raise SendFailed(f"SMTP {exc.code}", permanent=permanent) from None
        except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as exc:
            raise SendFailed(f"SMTP: {type(exc).__name__}", permanent=False) from None

    async def close(self) -> None:
        return None


class WebhookSender:
    """POSTs a JSON body to a chat webhook (Slack's incoming webhook, a Teams Workflow)."""

    def __init__(
        self,
        channel: Channel,
        url: SecretStr,
        payload: Callable[[Message], dict[str, Any]],
        timeout_s: float = 30.0,
    ) -> None:
        self.channel = channel
        self._url = url
        self._payload = payload
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, message: Message) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self._timeout)
        try:
            async with self._session.post(
                self._url.get_secret_value(), json=self._payload(message), allow_redirects=False
            ) as response:
                status = response.status
                body = (await response.text())[:80] if status >= 400 else ""
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            raise SendFailed(f"{self.channel}: {type(exc).__name__}", permanent=False) from None
        if 200 <= status < 300:
            return
        # Slack names its refusals (invalid_payload, channel_is_archived); only such a
        # plain code is kept from the body.
        code = body.strip() if body.strip().replace("_", "").isalpha() else ""
        reason = f"{self.channel} answered HTTP {status}" + (f" ({code})" if code else "")
        raise SendFailed(reason, permanent=not (status in (408, 429) or status >= 500))

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def senders(settings: NotifySettings) -> dict[Channel, Sender]:
    """One sender per configured channel."""
    out: dict[Channel, Sender] = {}
    if settings.smtp is not None:
        out["email"] = SmtpSender(settings)
    if settings.slack_webhook_url is not None:
        out["slack"] = WebhookSender("slack", settings.slack_webhook_url, slack_payload)
    if settings.teams_webhook_url is not None:
        out["teams"] = WebhookSender("teams", settings.teams_webhook_url, teams_payload)
    return out
