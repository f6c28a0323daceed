"""The README's FastAPI app with Sentry, served by uvicorn in a subprocess for the Sentry
test (``uvicorn sentry_fastapi_app:app``): settings from the environment."""

from __future__ import annotations

import logging
import os

import sentry_sdk
from fastapi import FastAPI

import chatwatch
from chatwatch import Client
from chatwatch.integrations.asgi import ChatwatchMiddleware
from chatwatch.integrations.sentry import sentry_options

sentry_sdk.init(**sentry_options())
log = logging.getLogger("app.jobs")
cw = Client(os.environ["CHATWATCH_URL"], os.environ["CHATWATCH_API_KEY"], service="sentry-fa")
app = FastAPI()


@app.post("/chat")
async def chat(body: dict[str, str]) -> dict[str, str]:
    message = body["message"]
    turn = chatwatch.current_turn()
    assert turn is not None
    turn.llm_call("gpt-4o-mini", 10, 5, 20.0)
    raise RuntimeError(f"could not answer {message}")


@app.post("/jobs/summarize")
async def summarize(body: dict[str, str]) -> dict[str, str]:
    message = body["message"]
    try:
        with cw.turn(session_id="job-1") as turn:
            turn.set(input_text=message)
            raise ValueError(f"summary failed for {message}")
    except ValueError:
        log.exception("summary job failed")  # the turn has ended: captured late
    return {"status": "failed"}


app.add_middleware(ChatwatchMiddleware, client=cw, paths=("/chat",))
