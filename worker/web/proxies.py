"""The client's address, read through the reverse proxies the operator trusts.

Behind a proxy every connection comes from the proxy, so the sign-in limits would count
everyone as one address. ``TRIAGE_TRUSTED_PROXIES`` names the proxies; only when the
connection comes from one of them is ``X-Forwarded-For`` read, from the right: each
trusted proxy appends the address it saw, so the right-most address that is not a
trusted proxy is the first one no trusted hop could have been lied to about. Anything to
its left was written by the client and is ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from ipaddress import IPv4Address, IPv6Address, ip_address

from aiohttp import web

from worker.settings import Network

__all__ = ["client_address"]


def _parse(text: str) -> IPv4Address | IPv6Address | None:
    try:
        return ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address: IPv4Address | IPv6Address | None, networks: Sequence[Network]) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address(request: web.Request, trusted: Sequence[Network]) -> str:
    """The address the request came from, as far as the trusted proxies can vouch."""
    peer = request.remote or "unknown"
    if not _trusted(_parse(peer), trusted):
        return peer
    hops = [
        hop for header in request.headers.getall("X-Forwarded-For", ()) for hop in header.split(",")
    ]
    address = peer
    for hop in reversed(hops):
        parsed = _parse(hop)
        if parsed is None:
            # A trusted proxy never writes this: stop at the last address it vouched for.
            break
        address = str(parsed)
        if not _trusted(parsed, trusted):
            break
    return address
