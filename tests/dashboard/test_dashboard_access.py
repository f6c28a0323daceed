"""Dashboard access: logins, the session cookie, CSRF on every form, redirects and 401s."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from _workload import PASSWORD, login, page_csrf

from chatwatch.config import Settings
from chatwatch.dashboard.auth import CSRF_COOKIE, SESSION_COOKIE
from chatwatch.dashboard.users import create_user, set_password
from chatwatch.server import create_app
from chatwatch.store import Store

BASES = ["/analytics", "/chat/analytics"]


@pytest.fixture
def server(tmp_path: Path, make_server: type) -> Iterator[str]:
    """The real server over SQLite with one admin, ``ana``."""
    url = f"sqlite:///{tmp_path / 'cw.db'}"
    settings = Settings(
        database_url=url, alerts_enabled=False, maintenance_interval_s=0, _env_file=None
    )  # type: ignore[call-arg]
    store = Store(url)
    create_user(store, "ana", PASSWORD)
    app = create_app(settings, store)
    live = make_server(app).start()
    yield live.url
    store.close()


@pytest.fixture
def http(server: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, follow_redirects=False, timeout=10) as client:
        yield client


@pytest.mark.parametrize("base", BASES)
def test_pages_redirect_to_login_and_data_answers_401(http: httpx.Client, base: str) -> None:
    """Without a login every page goes to the login page (coming back after) and data is 401."""
    for path in ("/", "/session?service=default&id=s1"):
        r = http.get(base + path)
        assert r.status_code == 303
        assert r.headers["location"].startswith(f"{base}/login?next=")
    r = http.get(f"{base}/api/data")
    assert r.status_code == 401
    assert http.get(base).status_code == 308


def test_login_sets_a_signed_httponly_samesite_cookie(http: httpx.Client) -> None:
    """A right password logs in with an HttpOnly, SameSite cookie; pages and data then answer."""
    r = login(http, "ana")
    assert r.status_code == 303 and r.headers["location"] == "/analytics/"
    cookie = next(c for c in r.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE))
    assert "httponly" in cookie.lower() and "samesite=lax" in cookie.lower()
    assert "ana" not in cookie.split(";")[0]
    assert http.get("/analytics/").status_code == 200
    assert http.get("/chat/analytics/api/data").status_code == 200


def test_wrong_password_or_unknown_user_is_refused(http: httpx.Client) -> None:
    """A wrong password or name gets the form again with 401 and no session cookie."""
    for user, password in (("ana", "not the password"), ("bob", PASSWORD)):
        r = login(http, user, password)
        assert r.status_code == 401
        assert "Wrong username or password" in r.text
        assert f'value="{user}"' in r.text and password not in r.text
        assert SESSION_COOKIE not in r.headers.get("set-cookie", "")
    assert http.get("/analytics/api/data").status_code == 401


def test_login_form_needs_its_csrf_token(http: httpx.Client) -> None:
    """Posting the login form without the token it was served with is refused."""
    http.get("/analytics/login")
    data = {"username": "ana", "password": PASSWORD, "csrf_token": "forged", "next": ""}
    r = http.post("/analytics/login", data=data)
    assert r.status_code == 403
    http.cookies.delete(CSRF_COOKIE)
    r = http.post("/analytics/login", data={**data, "csrf_token": ""})
    assert r.status_code == 403
    assert http.get("/analytics/api/data").status_code == 401


def test_logout_needs_csrf_and_ends_the_login(http: httpx.Client) -> None:
    """Logout without the page's token is refused; with it the cookie is gone and data is 401."""
    login(http, "ana")
    token = page_csrf(http.get("/analytics/").text)
    assert http.post("/analytics/logout", data={"csrf_token": "nope"}).status_code == 403
    assert http.get("/analytics/api/data").status_code == 200
    r = http.post("/analytics/logout", data={"csrf_token": token})
    assert r.status_code == 303 and r.headers["location"] == "/analytics/login"
    assert http.get("/analytics/api/data").status_code == 401


def test_silence_and_expire_forms_need_csrf(http: httpx.Client) -> None:
    """The alert forms refuse a post without the login's CSRF token."""
    login(http, "ana")
    r = http.post("/analytics/alerts/silence", data={"fingerprint": "abc", "hours": "4"})
    assert r.status_code == 403
    r = http.post("/analytics/alerts/expire", data={"silence_id": "x", "csrf_token": "bad"})
    assert r.status_code == 403


def test_tampered_cookie_is_no_login(http: httpx.Client) -> None:
    """A session cookie changed by the client is not accepted."""
    login(http, "ana")
    value = http.cookies[SESSION_COOKIE]
    http.cookies.set(SESSION_COOKIE, value[:-2] + ("AA" if not value.endswith("AA") else "BB"))
    assert http.get("/analytics/api/data").status_code == 401


def test_new_password_ends_existing_logins(http: httpx.Client, tmp_path: Path) -> None:
    """Changing a user's password logs out the sessions made with the old one."""
    login(http, "ana")
    assert http.get("/analytics/api/data").status_code == 200
    store = Store(f"sqlite:///{tmp_path / 'cw.db'}")
    set_password(store, "ana", "a brand new password")
    store.close()
    assert http.get("/analytics/api/data").status_code == 401


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/metrics"])
def test_login_never_redirects_off_the_dashboard(http: httpx.Client, target: str) -> None:
    """``next`` may only point inside the dashboard."""
    form = http.get("/analytics/login", params={"next": target})
    data = {
        "username": "ana",
        "password": PASSWORD,
        "csrf_token": page_csrf(form.text),
        "next": target,
    }
    r = http.post("/analytics/login", data=data)
    assert r.status_code == 303 and r.headers["location"] == "/analytics/"


def test_pages_send_security_headers(http: httpx.Client) -> None:
    """Pages forbid framing and foreign scripts, and are not cached."""
    login(http, "ana")
    r = http.get("/analytics/")
    csp = r.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert r.headers["x-frame-options"] == "DENY"
    assert r.headers["cache-control"] == "no-store"


def test_static_files_and_no_cdn(http: httpx.Client) -> None:
    """Scripts and styles come from the dashboard itself; unknown files are 404."""
    login(http, "ana")
    page = http.get("/analytics/").text
    assert "http://" not in page.replace("http://www.w3.org", "")
    assert "https://" not in page
    for name in ("charts.js", "dashboard.js", "dashboard.css", "favicon.svg"):
        r = http.get(f"/analytics/static/{name}")
        assert r.status_code == 200 and len(r.content) > 100
        assert "immutable" in r.headers["cache-control"]
    assert http.get("/analytics/static/secret.py").status_code == 404
