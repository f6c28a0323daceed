"""ProxyMiddleware: the real client behind trusted proxies only (right-most untrusted hop),
the scheme they report, the Host check; and Secure cookies from the public URL."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from chatwatch.config import Settings
from chatwatch.server.proxy import VIA_PROXY, ProxyMiddleware, allowed_hosts, host_allowed


def _settings(**kw: Any) -> Settings:
    return Settings(database_url="sqlite://", _env_file=None, **kw)  # type: ignore[call-arg]


async def _echo(scope: Scope, receive: Receive, send: Send) -> None:
    """An app that answers with the client, scheme and proxy flag it was given."""
    body = f"{scope['client'][0]} {scope['scheme']} {scope.get(VIA_PROXY)}".encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


def _seen(settings: Settings, peer: str, headers: dict[str, str]) -> str:
    async def run() -> str:
        app = ProxyMiddleware(_echo, settings)
        transport = httpx.ASGITransport(app=app, client=(peer, 1234))
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            answer = await http.get("/x", headers=headers)
            assert answer.status_code == 200, answer.text
            return answer.text

    return asyncio.run(run())


TRUSTED = _settings(trusted_proxies=["10.0.0.0/8", "192.0.2.1"])


@pytest.mark.parametrize(
    ("peer", "forwarded", "proto", "seen"),
    [
        # no trusted proxies: headers are never believed
        ("203.0.113.5", "127.0.0.1", "https", "203.0.113.5 http True"),
        # a trusted proxy: the client it saw, and its scheme
        ("10.0.0.2", "198.51.100.7", "https", "198.51.100.7 https True"),
        # a spoofed hop prepended by the client does not count: right-most untrusted wins
        ("10.0.0.2", "127.0.0.1, 198.51.100.7", None, "198.51.100.7 http True"),
        # two trusted proxies in a row are skipped
        ("10.0.0.2", "198.51.100.7, 192.0.2.1", None, "198.51.100.7 http True"),
        # a trusted proxy that sent no X-Forwarded-For: the proxy itself
        ("10.0.0.2", None, None, "10.0.0.2 http True"),
        # garbage in the header: the proxy, not the garbage
        ("10.0.0.2", "not-an-ip", None, "10.0.0.2 http True"),
        # an IPv6 client through the proxy, and a port on the hop
        ("10.0.0.2", "[2001:db8::5]:443", None, "2001:db8::5 http True"),
        # an untrusted peer: its own address, whatever it claims
        ("203.0.113.5", None, "https", "203.0.113.5 http False"),
    ],
)
def test_the_client_is_the_right_most_untrusted_hop(
    peer: str, forwarded: str | None, proto: str | None, seen: str
) -> None:
    headers = {}
    if forwarded is not None:
        headers["X-Forwarded-For"] = forwarded
    if proto is not None:
        headers["X-Forwarded-Proto"] = proto
    settings = _settings() if peer == "203.0.113.5" and forwarded else TRUSTED
    assert _seen(settings, peer, headers) == seen


def test_bad_trusted_proxies_refuse_to_start() -> None:
    with pytest.raises(ValueError, match="CHATWATCH_TRUSTED_PROXIES"):
        ProxyMiddleware(_echo, _settings(trusted_proxies=["10.0.0.0/33"]))


def test_settings_read_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATWATCH_TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")
    monkeypatch.setenv("CHATWATCH_ALLOWED_HOSTS", "chat.example.com,.example.org")
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    assert settings.trusted_proxies == ["127.0.0.1", "10.0.0.0/8"]
    assert allowed_hosts(settings) == ["chat.example.com", ".example.org"]


def test_default_hosts_are_loopback_the_bind_address_and_the_public_url() -> None:
    settings = _settings(public_url="https://chat.example.com/")
    hosts = allowed_hosts(settings, "192.168.1.20")
    assert {"localhost", "127.0.0.1", "::1", "192.168.1.20", "chat.example.com"} <= set(hosts)
    assert "0.0.0.0" not in allowed_hosts(settings, "0.0.0.0")
    assert host_allowed("chat.example.com:443", hosts)
    assert host_allowed("[::1]:8000", hosts)
    assert not host_allowed("chat.example.com.evil.test", hosts)
    assert not host_allowed("", hosts)
    assert host_allowed("a.example.org", [".example.org"])
    assert host_allowed("anything", ["*"])
