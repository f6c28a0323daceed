"""``POST /api/v1/feedback``: guide 003's 👍/👎 (or a 1-5 rating, a comment) for one run,
with a ``feedback`` key that is safe to embed in a browser front end.

The run must exist (a stored turn whose run id, or event id, it is); the feedback joins
that turn's service and session. Posts are rate-limited per client address (unknown run
ids included, so they cannot be guessed at speed) and per run (counters shared by
replicas, ``chatwatch.server.attempts``), beyond → 429.
"""

from __future__ import annotations

import math
import time
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy import or_, select
from starlette.concurrency import run_in_threadpool

from chatwatch.events import Feedback
from chatwatch.server.attempts import Limit, count, key_of
from chatwatch.server.auth import require
from chatwatch.server.ingest import group_writer, server_id
from chatwatch.server.state import AppState, state
from chatwatch.store.schema import events
from chatwatch.store.writer import prepare

__all__ = ["PER_ADDRESS", "PER_RUN", "router"]

router = APIRouter(prefix="/api/v1")
PER_RUN = (5, 3600.0)  # posts per run per hour: a user may change their mind
PER_ADDRESS = (60, 60.0)  # posts per client address per minute


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:\-]+$")]
    thumbs: Literal["up", "down"] | None = None
    rating: Annotated[int, Field(ge=1, le=5)] | None = None
    comment: Annotated[str, Field(max_length=2000)] | None = None

    @model_validator(mode="after")
    def _one_signal(self) -> FeedbackIn:
        if self.rating is None and self.thumbs is None:
            raise ValueError("feedback needs a rating (1-5) or thumbs (up/down)")
        return self


def _run(st: AppState, run_id: str) -> tuple[str, str | None, str | None] | None:
    """(service, session_id, user_id) of the turn ``run_id`` names, or None."""
    e = events.c
    query = (
        select(e.service, e.session_id, e.user_id)
        .where(e.type == "turn", or_(e.id == run_id, e.run_id == run_id))
        .limit(1)
    )
    with st.store.read() as conn:
        row = conn.execute(query).first()
    return None if row is None else (str(row.service), row.session_id, row.user_id)


async def _limit(st: AppState, limit: Limit) -> None:
    wait = await run_in_threadpool(count, st.store, [limit])
    if wait > 0:
        raise HTTPException(
            429, "too much feedback; try again later", {"Retry-After": str(math.ceil(wait))}
        )


@router.post("/feedback", status_code=202)
async def post_feedback(
    request: Request,
    body: FeedbackIn,
    _key: Annotated[object, Depends(require("feedback"))],
) -> dict[str, Any]:
    st = state(request)
    address = request.client.host if request.client is not None else ""
    # the address first, so guessing run ids is rate-limited too; then the run itself
    await _limit(st, Limit(key_of("feedback-address", address), *PER_ADDRESS))
    run = await run_in_threadpool(_run, st, body.run_id)
    if run is None:
        raise HTTPException(404, "no run with that run_id")
    await _limit(st, Limit(key_of("feedback-run", body.run_id), *PER_RUN))
    service, session_id, user_id = run
    event = Feedback(
        type="feedback",
        id=server_id(),
        ts=time.time(),
        service=service,
        session_id=session_id,
        user_id=user_id,
        run_id=body.run_id,
        thumbs=body.thumbs,
        rating=body.rating,
        comment=body.comment,
    )
    await group_writer(st).ingest(prepare([event], store_text=st.store.store_text))
    return {"status": "recorded", "id": event.id}
