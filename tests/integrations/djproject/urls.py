from __future__ import annotations

import json
import logging

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import include, path

import chatwatch

log = logging.getLogger("djproject.views")


def ask(request: HttpRequest) -> HttpResponse:
    turn = chatwatch.current_turn()
    assert turn is not None
    turn.llm_call("llama-3.3-70b-versatile", 20, 10, 30.0)
    message = json.loads(request.body or b"{}").get("message", "")
    if message.startswith("crash"):
        raise RuntimeError("view bug")
    if message.startswith("log"):
        try:
            raise ValueError("handled")
        except ValueError:
            log.exception("could not answer")
    return JsonResponse({"answer": "ok"})


urlpatterns = [
    path("chat/api/ask/", ask),
    path("", include("chatwatch.integrations.django.urls")),
]
