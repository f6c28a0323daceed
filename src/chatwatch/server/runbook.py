"""The runbook the shipped rules link to, served by chatwatch itself behind the dashboard
login, so a link in an e-mail or a page works wherever it is read
(``CHATWATCH_PUBLIC_URL/analytics/runbook#high_error_rate``)."""

from __future__ import annotations

import html
import re
from functools import cache
from importlib.resources import files
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import HTMLResponse

from chatwatch.dashboard.auth import Login, page_login

__all__ = ["render_runbook", "router"]

router = APIRouter()
_CODE = re.compile(r"`([^`]+)`")
_BOLD = re.compile(r"\*\*([^*]+)\*\*")
_LINK = re.compile(r"\[([^\]]+)\]\(#[^)]*\)")


def _inline(text: str) -> str:
    out = html.escape(text, quote=False)
    out = _LINK.sub(r"\1", out)
    out = _BOLD.sub(r"<strong>\1</strong>", out)
    return _CODE.sub(r"<code>\1</code>", out)


@cache
def render_runbook() -> str:
    """runbook.md as a small HTML page: one section per rule, anchored by its name."""
    text = files("chatwatch.alerts").joinpath("runbook.md").read_text(encoding="utf-8")
    parts = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        "<title>chatwatch runbook</title>"
        "<style>body{font:15px/1.5 system-ui,sans-serif;max-width:46rem;margin:2rem auto;"
        "padding:0 1rem}code{background:#f1f3f5;padding:0 .2em}</style></head><body>"
    ]
    for block in text.strip().split("\n\n"):
        lines = block.split("\n")
        head = lines[0]
        if head.startswith("### "):
            name = head[4:].strip()
            anchor = re.sub(r"[^a-z0-9_]+", "-", name.lower()).strip("-")
            parts.append(f'<h2 id="{anchor}">{html.escape(name)}</h2>')
            lines = lines[1:]
        elif head.startswith("# "):
            parts.append(f"<h1>{html.escape(head[2:])}</h1>")
            lines = lines[1:]
        if lines:
            parts.append(f"<p>{_inline(' '.join(lines))}</p>")
    parts.append("</body></html>")
    return "\n".join(parts)


for _base in ("/analytics", "/chat/analytics"):

    @router.get(f"{_base}/runbook", response_class=HTMLResponse, include_in_schema=False)
    async def runbook(_login: Annotated[Login, Depends(page_login)]) -> HTMLResponse:
        return HTMLResponse(render_runbook())
