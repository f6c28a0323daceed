"""The sessions explorer: the read API's filters as the page's query parameters, one
page of sessions, and links to the next page (by cursor) and to each session."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from chatwatch.dashboard.tables import session_href
from chatwatch.store import Store
from chatwatch.store.session_query import SessionFilter, Sort, read_session_page

__all__ = ["PAGE_ROWS", "filter_query", "parse_page_query", "sessions_view"]

PAGE_ROWS = 50


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value > 1e8:  # a time
        return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M")
    return str(value)


def filter_query(f: SessionFilter, sort: Sort) -> dict[str, str]:
    """The filters as query parameters (what the page's address holds)."""
    query = {k: _value(v) for k, v in asdict(f).items() if v is not None}
    if sort != "-first_seen":
        query["sort"] = sort
    return query


def sessions_view(
    store: Store, base: str, f: SessionFilter, sort: Sort, cursor: str | None
) -> dict[str, Any]:
    with store.settled() as conn:
        page = read_session_page(conn, f, sort, PAGE_ROWS, cursor)
    query = filter_query(f, sort)
    rows = []
    for row, first_seen in page.rows:
        rows.append(
            {
                "row": row,
                "first_seen": first_seen,
                "href": session_href(base, row.service, row.session_id),
            }
        )
    next_href = None
    if page.next_cursor:
        next_href = f"{base}/sessions?{urlencode({**query, 'cursor': page.next_cursor})}"
    api = f"/api/v1/sessions?{urlencode({**query, **({'cursor': cursor} if cursor else {})})}"
    return {
        "rows": rows,
        "next_href": next_href,
        "first_href": f"{base}/sessions?{urlencode(query)}" if cursor else None,
        "api_href": api,
        "query": query,
        "services": store.services(),
    }


_TEXT = {"service": 64, "user_id": 128, "user_type": 64, "topic": 128, "q": 128}
_BOOLS = ("has_error", "escalated", "rated")
_SORTS: tuple[Sort, ...] = ("-first_seen", "first_seen", "-last_seen", "last_seen")


def _time(text: str) -> float:
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.timestamp()


def parse_page_query(params: dict[str, str]) -> tuple[SessionFilter, Sort, str | None, str | None]:
    """The page's filters from its address: empty fields (as forms send them) are no
    filter; a bad value is named in the returned message and left out."""
    fields: dict[str, Any] = {}
    problems: list[str] = []
    for name, limit in _TEXT.items():
        value = params.get(name, "").strip()
        if value:
            if len(value) > limit:
                problems.append(f"{name}: at most {limit} characters")
            else:
                fields[name] = value
    for name in _BOOLS:
        value = params.get(name, "")
        if value in ("true", "false"):
            fields[name] = value == "true"
        elif value:
            problems.append(f"{name}: true or false")
    for name in ("min_rating", "max_rating"):
        value = params.get(name, "")
        if value:
            try:
                rating = float(value)
            except ValueError:
                rating = 0.0
            if 1 <= rating <= 5:
                fields[name] = rating
            else:
                problems.append(f"{name}: a number from 1 to 5")
    for name in ("since", "until"):
        value = params.get(name, "")
        if value:
            try:
                fields[name] = _time(value)
            except ValueError:
                problems.append(f"{name}: a date and time (ISO 8601)")
    sort = params.get("sort") or "-first_seen"
    if sort not in _SORTS:
        problems.append("sort: one of " + ", ".join(_SORTS))
        sort = "-first_seen"
    cursor = params.get("cursor") or None
    error = "; ".join(problems) if problems else None
    return SessionFilter(**fields), sort, cursor, error  # type: ignore[return-value]
