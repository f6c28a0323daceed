"""A real nginx (Debian's, /usr/sbin/nginx) in front of chatwatch, configured with the
nginx block of docs/deployment.md as it is (only ports and certificate paths changed),
TLS included: keyless callers are refused on every keyed route, a foreign Host is
refused, cookies are Secure, and the login throttle counts per real client.

Distinct real clients are distinct loopback source addresses (127.0.0.2, 127.0.0.3):
nginx sees them as ``$remote_addr`` and chatwatch, trusting nginx at 127.0.0.1, finds
them as the right-most untrusted hop of ``X-Forwarded-For``. nginx runs once per module,
as a non-daemon child process with a temporary prefix.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from test_auth_matrix import Endpoint, endpoints

from chatwatch.config import Settings
from chatwatch.dashboard.auth import SESSION_COOKIE
from chatwatch.dashboard.throttle import LoginThrottle
from chatwatch.dashboard.users import create_user
from chatwatch.server import create_app
from chatwatch.server.keys import create_key
from chatwatch.store import Store
from live_server import LiveServer, free_port

NGINX = Path("/usr/sbin/nginx")
DOC = Path(__file__).parents[2] / "docs" / "deployment.md"
HOST = "chat.example.com"
PASSWORD = "correct horse battery"
CLIENT_A, CLIENT_B, CLIENT_C = "127.0.0.2", "127.0.0.3", "127.0.0.4"

pytestmark = pytest.mark.skipif(
    not NGINX.exists() or shutil.which("openssl") is None,
    reason="Debian's nginx (and openssl) are needed; .ci/run installs them",
)


def documented_config() -> str:
    """The ```nginx block of docs/deployment.md."""
    found = re.search(r"```nginx\n(.*?)```", DOC.read_text(), re.S)
    assert found is not None, "docs/deployment.md has no nginx block"
    return found.group(1)


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 15
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc.poll() is not None:
            raise RuntimeError(f"nginx exited: {log.read_text() if log.exists() else ''}")
        if time.monotonic() > deadline:
            raise RuntimeError("nginx did not listen")
        time.sleep(0.05)


@dataclass
class Proxied:
    https: str
    http: str
    store: Store
    live: LiveServer
    read_key: str

    def client(self, source: str = CLIENT_A, **kw: object) -> httpx.Client:
        transport = httpx.HTTPTransport(local_address=source, verify=False)
        headers = {"Host": HOST, **kw.pop("headers", {})}  # type: ignore[dict-item]
        return httpx.Client(
            base_url=self.https, transport=transport, headers=headers, timeout=30, **kw
        )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    tmp = tmp_path_factory.mktemp("nginx")
    cert, key = tmp / "cert.pem", tmp / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", f"/CN={HOST}"],
        check=True, capture_output=True,
    )  # fmt: skip
    url = f"sqlite:///{tmp / 'cw.db'}"
    settings = Settings(  # as docs/deployment.md says, minus the public URL
        database_url=url,
        alerts_enabled=False,
        maintenance_interval_s=0,
        trusted_proxies=["127.0.0.1"],
        allowed_hosts=[HOST],
        _env_file=None,
    )  # type: ignore[call-arg]
    store = Store(url)
    create_user(store, "ana", PASSWORD)
    live = LiveServer(create_app(settings, store)).start()
    tls_port, http_port = free_port(), free_port()
    site = (
        documented_config()
        .replace("server 127.0.0.1:8000;", f"server 127.0.0.1:{live.port};")
        .replace("listen 443 ssl http2;", f"listen 127.0.0.1:{tls_port} ssl http2;")
        .replace("listen 80;", f"listen 127.0.0.1:{http_port};")
        .replace("/etc/ssl/chat.example.com/fullchain.pem", str(cert))
        .replace("/etc/ssl/chat.example.com/privkey.pem", str(key))
    )
    assert str(live.port) in site and str(tls_port) in site and str(cert) in site
    log = tmp / "error.log"
    temp = "\n".join(
        f"  {kind}_temp_path {tmp / kind};"
        for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    conf = tmp / "nginx.conf"
    conf.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"worker_processes 1;\nerror_log {log} warn;\npid {tmp / 'nginx.pid'};\n"
        + "events { worker_connections 256; }\n"
        + f"http {{\n  access_log off;\n{temp}\n{site}\n}}\n"
    )
    proc = subprocess.Popen(
        [str(NGINX), "-p", str(tmp), "-c", str(conf), "-e", str(log), "-g", "daemon off;"]
    )
    try:
        _wait_for_port(tls_port, proc, log)
        yield Proxied(
            f"https://127.0.0.1:{tls_port}",
            f"http://127.0.0.1:{http_port}",
            store,
            live,
            create_key(store, "read", "nginx test"),
        )
    finally:
        proc.terminate()
        proc.wait(15)
        live.stop()
        store.close()


def _keyed(proxied: Proxied) -> list[Endpoint]:
    return [e for e in endpoints(proxied.live.app) if e.kind == "key"]


def test_the_documented_proxy_is_closed_to_keyless_callers(proxied: Proxied) -> None:
    """Through nginx, even from this very machine: 401 on every keyed route, health open,
    and a key opens the reads."""
    keyed = _keyed(proxied)
    assert len(keyed) >= 20
    with proxied.client() as http:
        for endpoint in keyed:
            body = {} if endpoint.method == "POST" else None
            answer = http.request(endpoint.method, endpoint.url, json=body)
            assert answer.status_code == 401, (str(endpoint), answer.status_code)
            assert answer.headers["www-authenticate"].startswith("Bearer")
        spoofed = http.get("/monitoring/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
        assert spoofed.status_code == 401
        for path in ("/healthz", "/readyz", "/monitoring/health"):
            assert http.get(path).status_code == 200, path
        auth = {"Authorization": f"Bearer {proxied.read_key}"}
        reads = [e for e in keyed if e.method == "GET" and e.group == "read" and "{" not in e.path]
        for endpoint in reads:
            answer = http.get(endpoint.url, headers=auth)
            assert answer.status_code not in (401, 403, 500), str(endpoint)


def test_a_foreign_host_through_the_proxy_is_refused(proxied: Proxied) -> None:
    auth = {"Authorization": f"Bearer {proxied.read_key}"}
    with proxied.client(headers={"Host": "rebound.attacker.test"}) as http:
        assert http.get("/monitoring/metrics", headers=auth).status_code == 400
        assert http.get("/healthz").status_code == 200


def test_plain_http_is_redirected_and_cookies_are_secure(proxied: Proxied) -> None:
    transport = httpx.HTTPTransport(local_address=CLIENT_A)
    with httpx.Client(transport=transport, headers={"Host": HOST}) as plain:
        moved = plain.get(f"{proxied.http}/analytics/")
        assert moved.status_code == 301
        assert moved.headers["location"] == f"https://{HOST}/analytics/"
    with proxied.client() as http:
        form = http.get("/analytics/login")
        assert form.status_code == 200
        assert "Secure" in form.headers["set-cookie"]  # X-Forwarded-Proto https, believed
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert token is not None
        data = {"username": "ana", "password": PASSWORD, "csrf_token": token.group(1)}
        answer = http.post("/analytics/login", data=data)
        assert answer.status_code == 303
        session = next(
            v for k, v in answer.headers.multi_items() if k == "set-cookie" and SESSION_COOKIE in v
        )
        assert "Secure" in session and "HttpOnly" in session


def _wrong_login(http: httpx.Client, name: str, spoof: str | None = None) -> int:
    form = http.get("/analytics/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert token is not None
    headers = {"X-Forwarded-For": spoof} if spoof else {}
    data = {"username": name, "password": "wrong password", "csrf_token": token.group(1)}
    return http.post("/analytics/login", data=data, headers=headers).status_code


def test_the_login_throttle_counts_per_real_client(proxied: Proxied) -> None:
    """Client A uses up its attempts (rotating a spoofed X-Forwarded-For does not help);
    client B, another real address behind the same proxy, is not locked out."""
    st = proxied.live.app.state.chatwatch
    limit = 5
    st.extras["login_throttle"] = LoginThrottle(st.store, per_address=(limit, 900))
    with proxied.client(CLIENT_C) as a:
        for i in range(limit):
            assert _wrong_login(a, f"name{i}", spoof=f"198.51.100.{i}") == 401
        assert _wrong_login(a, "another", spoof="198.51.100.99") == 429
        assert _wrong_login(a, "yet-another") == 429
    with proxied.client(CLIENT_B) as b:
        assert _wrong_login(b, "ana") == 401  # checked, not throttled
