"""Meta webhooks (Facebook Page and Instagram): ``GET`` and ``POST /webhooks/meta``.

``GET`` answers Meta's verification handshake; ``POST`` takes deliveries signed with the
app secret (``X-Hub-Signature-256``, HMAC-SHA256 of the raw body). Mapping lives in
:mod:`connectors.meta_events`.
"""

from __future__ import annotations

import hmac
from datetime import UTC, datetime

import structlog
from aiohttp import web

from connectors.meta_events import Accounts, MalformedDelivery, map_delivery
from connectors.webhook import Refused, WebhookConnector, parse_json, signature_matches

log = structlog.get_logger(__name__)

PATH = "/webhooks/meta"


class MetaConnector(WebhookConnector):
    name = "meta"

    async def setup(self) -> None:
        self.settings.require("meta_app_secret", "meta_verify_token", "meta_page_id")
        await super().setup()

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(PATH, self.verify)
        app.router.add_post(PATH, self.receive)

    async def verify(self, request: web.Request) -> web.Response:
        """The subscription handshake: echo hub.challenge when the token matches."""
        token = self.settings.meta_verify_token
        given = request.query.get("hub.verify_token", "")
        ok = (
            token is not None
            and request.query.get("hub.mode") == "subscribe"
            and hmac.compare_digest(given.encode(), token.get_secret_value().encode())
        )
        if not ok:
            return self.refuse(Refused(403, "verify_token", "verification failed"))
        return web.Response(text=request.query.get("hub.challenge", ""))

    async def receive(self, request: web.Request) -> web.Response:
        try:
            body = await self.read_body(request)
            secret = self.settings.meta_app_secret
            assert secret is not None  # setup() requires it
            header = request.headers.get("X-Hub-Signature-256")
            if not signature_matches(header, secret.get_secret_value().encode(), body):
                raise Refused(403, "signature", "missing or invalid signature")
            payload = parse_json(body)
            received = datetime.fromtimestamp(self.now(), UTC)
            accounts = Accounts(self.settings.meta_page_id, self.settings.meta_ig_user_id)
            try:
                mapped = map_delivery(payload, accounts, received)
            except MalformedDelivery as exc:
                raise Refused(400, "malformed", str(exc)) from None
        except Refused as refused:
            return self.refuse(refused)
        if mapped.ignored:
            self.metrics.event("ignored", mapped.ignored)
        if mapped.malformed:
            self.metrics.rejected("malformed")
            log.warning("skipped items that could not be mapped", count=mapped.malformed)
        return await self.accept(mapped.items)
