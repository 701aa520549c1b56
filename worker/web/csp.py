"""Security headers on every response: a strict Content-Security-Policy and friends.

Every comment shown in the officers' app was written by a stranger. Escaping stops
markup from being read as markup; the policy below is the second wall: scripts and
styles only from this site's own files (nothing inline, nothing from elsewhere), no
plugins, no framing, forms only back to this site.
"""

from __future__ import annotations

from aiohttp import web

from worker.web.session import SESSIONS_KEY, is_secure

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "add_security_headers", "setup"]

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data:",
        "font-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    )
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


async def add_security_headers(request: web.Request, response: web.StreamResponse) -> None:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    # Pages, JSON and CSV show personal data: keep every answer but the public static
    # files out of shared caches, browser caches and the back-forward cache.
    if not request.path.startswith("/static/"):
        response.headers["Cache-Control"] = "no-store"
    # Reached over TLS once (or TLS is the operator's rule): the browser keeps to TLS for
    # this host from then on.
    manager = request.app.get(SESSIONS_KEY)
    if is_secure(request) or (manager is not None and manager.secure_cookies):
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")


def setup(web_app: web.Application) -> None:
    # A signal rather than a middleware: it also covers static files and error pages.
    web_app.on_response_prepare.append(add_security_headers)
