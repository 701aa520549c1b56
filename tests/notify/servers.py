"""Real servers for the notifier's tests, on free loopback ports.

:class:`SmtpServer` is aiosmtpd's SMTP server (STARTTLS and AUTH when asked) with a
handler that keeps what it accepted and can refuse or defer as a real server does.
:class:`ChatServer` is an aiohttp server taking the two webhooks' documented bodies:

- Slack incoming webhooks (https://api.slack.com/messaging/webhooks): a JSON object with
  ``text`` and/or Block Kit ``blocks``; answered ``200 ok``, refusals as 400 with a code
  in the body (``invalid_payload``, ``no_text``, ``invalid_blocks``).
- Teams Workflows, "Post to a channel when a webhook request is received"
  (learn.microsoft.com, Teams' "Create incoming webhooks with Workflows"): a ``message``
  whose ``attachments`` hold an Adaptive Card (contentType
  ``application/vnd.microsoft.card.adaptive``, content ``type: AdaptiveCard``); the flow
  accepts it with 202.
"""

from __future__ import annotations

import asyncio
import email
import email.policy
import socket
import threading
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiohttp import web
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

ADAPTIVE_CARD = "application/vnd.microsoft.card.adaptive"
SLACK_BLOCKS = {"header", "section", "context", "divider", "actions", "image"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Mail:
    """One accepted message: who it was for, the parsed mail, and how the session went."""

    rcpt: tuple[str, ...]
    message: EmailMessage
    tls: bool
    login: str | None

    @property
    def alert_id(self) -> str:
        return str(self.message["X-Triage-Alert"])


@dataclass
class Inbox:
    """aiosmtpd's handler: keeps mails, refuses listed recipients, defers DATA on demand."""

    mails: list[Mail] = field(default_factory=list)
    refuse: set[str] = field(default_factory=set)
    defer_next: int = 0
    # Seconds each DATA takes, so that a stream of mails lasts long enough to kill it.
    delay_s: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: Any
    ) -> str:
        if address in self.refuse:
            return "550 5.1.1 Mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        with self.lock:
            if self.defer_next > 0:
                self.defer_next -= 1
                return "451 4.3.0 Try again later"
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        login = session.auth_data.login.decode() if session.authenticated else None
        with self.lock:
            self.mails.append(
                Mail(tuple(envelope.rcpt_tos), message, session.ssl is not None, login)
            )
        return "250 Message accepted for delivery"

    def snapshot(self) -> list[Mail]:
        with self.lock:
            return list(self.mails)


class SmtpServer:
    """aiosmtpd on a free port, in its own thread; ``url`` is for TRIAGE_SMTP_URL."""

    def __init__(self, *, tls_context: Any = None, users: dict[str, str] | None = None) -> None:
        self.inbox = Inbox()
        self.port = free_port()
        self.users = users or {}
        kwargs: dict[str, Any] = {}
        if tls_context is not None:
            kwargs.update(tls_context=tls_context, require_starttls=True)
        if users:
            kwargs.update(authenticator=self._authenticate, auth_require_tls=True)
        self.controller = Controller(self.inbox, hostname="127.0.0.1", port=self.port, **kwargs)

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        known = isinstance(data, LoginPassword) and self.users.get(data.login.decode())
        if known and known == data.password.decode():
            return AuthResult(success=True, auth_data=data)
        return AuthResult(success=False, handled=False)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> SmtpServer:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()


def _slack_refusal(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "invalid_payload"
    if not body.get("text") and not body.get("blocks"):
        return "no_text"
    blocks = body.get("blocks", [])
    if not isinstance(blocks, list) or len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        if not isinstance(block, dict) or block.get("type") not in SLACK_BLOCKS:
            return "invalid_blocks"
        if block["type"] == "header":
            text = block.get("text", {})
            if text.get("type") != "plain_text" or not 0 < len(text.get("text", "")) <= 150:
                return "invalid_blocks"
        if block["type"] == "section":
            if "text" not in block and "fields" not in block:
                return "invalid_blocks"
            if len(block.get("fields", [])) > 10:
                return "invalid_blocks"
    return None


def _teams_refusal(body: Any) -> str | None:
    if not isinstance(body, dict) or body.get("type") != "message":
        return "the body must be a message"
    attachments = body.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return "a message needs attachments"
    for attachment in attachments:
        if attachment.get("contentType") != ADAPTIVE_CARD:
            return "attachments must be Adaptive Cards"
        card = attachment.get("content")
        if not isinstance(card, dict) or card.get("type") != "AdaptiveCard":
            return "content must be an AdaptiveCard"
        if not card.get("version") or not isinstance(card.get("body"), list):
            return "an AdaptiveCard needs a version and a body"
    return None


@dataclass
class ChatServer:
    """Slack at ``/slack/<secret>``, Teams at ``/teams/<secret>``; ``answers`` scripts the
    next statuses of a path (500s, a 400) before the normal answer."""

    slack: list[dict[str, Any]] = field(default_factory=list)
    teams: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def _slack(self, request: web.Request) -> web.Response:
        scripted = self._scripted(request)
        if scripted is not None:
            return scripted
        if request.content_type != "application/json":
            return web.Response(status=400, text="invalid_payload")
        body = await request.json()
        refusal = _slack_refusal(body)
        if refusal:
            self.refused.append(refusal)
            return web.Response(status=400, text=refusal)
        self.slack.append(body)
        return web.Response(text="ok")

    async def _teams(self, request: web.Request) -> web.Response:
        scripted = self._scripted(request)
        if scripted is not None:
            return scripted
        body = await request.json()
        refusal = _teams_refusal(body)
        if refusal:
            self.refused.append(refusal)
            return web.json_response({"error": {"message": refusal}}, status=400)
        self.teams.append(body)
        return web.Response(status=202)

    def _scripted(self, request: web.Request) -> web.Response | None:
        queue = self.answers.get(request.path)
        if queue:
            status = queue.pop(0)
            return web.Response(status=status, text="invalid_payload" if status == 400 else "")
        return None

    async def start(self) -> ChatServer:
        app = web.Application()
        app.router.add_post("/slack/{secret}", self._slack)
        app.router.add_post("/teams/{secret}", self._teams)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
