"""Who is calling, decided by chatwatch rather than uvicorn: the real client behind a trusted
proxy, the scheme it used, and whether the Host header is one this server answers to.

Only ``CHATWATCH_TRUSTED_PROXIES`` (none by default) are believed about
``X-Forwarded-For`` / ``X-Forwarded-Proto``; the client is the right-most address of the
chain that is not a trusted proxy, so a caller cannot spoof it by prepending addresses.
A Host not in ``CHATWATCH_ALLOWED_HOSTS`` gets 400 (no DNS rebinding); health checks are
answered whatever the Host, as they reveal nothing.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from chatwatch.config import Settings

__all__ = [
    "OPEN_PATHS",
    "VIA_PROXY",
    "ProxyMiddleware",
    "allowed_hosts",
    "host_allowed",
    "public_url",
]

OPEN_PATHS = frozenset({"/healthz", "/readyz", "/monitoring/health"})
VIA_PROXY = "chatwatch.via_proxy"  # scope key: the request came through a proxy
_DEFAULT_HOSTS = ("localhost", "127.0.0.1", "::1")
_ANY_ADDRESS = {"0.0.0.0", "::", ""}

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def public_url(settings: Settings) -> str:
    """The URL users reach chatwatch at: ``public_url``, else ``base_url``."""
    return settings.public_url or settings.base_url


def allowed_hosts(settings: Settings, bind: str | None = None) -> list[str]:
    """``allowed_hosts`` when set; else the bind address, localhost and the public URL's host."""
    if settings.allowed_hosts:
        return [host.lower() for host in settings.allowed_hosts]
    hosts = list(_DEFAULT_HOSTS)
    if bind and bind not in _ANY_ADDRESS:
        hosts.append(bind.strip("[]").lower())
    for url in (settings.public_url, settings.base_url):
        name = urlsplit(url or "").hostname
        if name:
            hosts.append(name.lower())
    return list(dict.fromkeys(hosts))


def _host_name(header: str) -> str:
    value = header.strip().lower()
    if value.startswith("["):  # [::1]:8000
        return value[1:].partition("]")[0]
    if value.count(":") == 1:
        return value.partition(":")[0]
    return value


def host_allowed(header: str, hosts: Iterable[str]) -> bool:
    name = _host_name(header)
    if not name:
        return False
    for pattern in hosts:
        if pattern == "*" or name == pattern:
            return True
        if pattern.startswith(".") and (name.endswith(pattern) or name == pattern[1:]):
            return True
    return False


def _networks(values: Iterable[str]) -> list[Network]:
    networks: list[Network] = []
    for value in values:
        try:
            networks.append(ipaddress.ip_network(value.strip(), strict=False))
        except ValueError:
            raise ValueError(
                f"CHATWATCH_TRUSTED_PROXIES: {value[:64]!r} is not an IP address or CIDR"
            ) from None
    return networks


def _address(value: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = value.strip().strip('"')
    if text.startswith("["):  # [2001:db8::1]:443
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:  # 203.0.113.5:443
        text = text.partition(":")[0]
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


class ProxyMiddleware:
    """Pure ASGI: rewrites ``client`` and ``scheme`` for trusted proxies, checks Host."""

    def __init__(self, app: ASGIApp, settings: Settings, bind: str | None = None) -> None:
        self.app = app
        self.trusted = _networks(settings.trusted_proxies)
        self.hosts = allowed_hosts(settings, bind)

    def trusts(self, host: str) -> bool:
        address = _address(host)
        return address is not None and any(address in net for net in self.trusted)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers: dict[str, list[str]] = {}
        for name, value in scope.get("headers", []):
            headers.setdefault(name.decode("latin-1").lower(), []).append(value.decode("latin-1"))
        if scope.get("path") not in OPEN_PATHS:
            host = headers.get("host", [""])[-1]
            if not host_allowed(host, self.hosts):
                await self._refuse(scope, receive, send)
                return
        forwarded = headers.get("x-forwarded-for")
        client = scope.get("client")
        peer = client[0] if client else ""
        scope = dict(scope)
        scope[VIA_PROXY] = forwarded is not None
        if self.trusted and self.trusts(peer):
            scope[VIA_PROXY] = True
            chain = [hop.strip() for value in forwarded or [] for hop in value.split(",")]
            chain = [hop for hop in chain if hop]
            real = peer
            for hop in reversed(chain):
                real = hop
                if not self.trusts(hop):
                    break
            address = _address(real)
            if address is not None:
                scope["client"] = (str(address), 0)
            proto = headers.get("x-forwarded-proto")
            if proto:
                last = proto[-1].split(",")[-1].strip().lower()
                if last in ("http", "https"):
                    ws = scope["type"] == "websocket"
                    scope["scheme"] = {"http": "ws", "https": "wss"}[last] if ws else last
        await self.app(scope, receive, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            await send({"type": "websocket.close", "code": 1008})
            return
        body = json.dumps({"detail": "Host header not allowed (CHATWATCH_ALLOWED_HOSTS)"})
        await send(
            {
                "type": "http.response.start",
                "status": 400,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body.encode()})
