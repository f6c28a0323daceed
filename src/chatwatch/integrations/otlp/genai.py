"""OpenTelemetry GenAI semantic conventions (``gen_ai.*``), every version in use.

The official ``opentelemetry-instrumentation-openai-v2`` and OpenLLMetry both write them.
A call is grouped by ``gen_ai.request.model`` (what the app asked for); the dated
``gen_ai.response.model`` is kept as a detail. Token names of older releases
(``prompt_tokens``/``completion_tokens``) are read as well as the current ones, and so are
``gen_ai.system`` (before ``gen_ai.provider.name``) and OpenLLMetry's ``llm.request.type``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from chatwatch.integrations.otlp.fields import count, text

__all__ = ["Call", "genai_call"]

_EMBEDDING = {"embeddings", "embedding"}
_NOT_CALLS = {"execute_tool", "create_agent", "invoke_agent", "invoke_workflow", "rerank"}


@dataclass(frozen=True)
class Call:
    """A model call read from a span, whichever convention it used."""

    kind: Literal["chat", "embedding"]
    model: str
    response_model: str | None
    provider: str | None
    input_tokens: int | None
    output_tokens: int | None
    cache_read_tokens: int | None
    cache_write_tokens: int | None = None


def genai_call(a: Mapping[str, Any]) -> Call | None:
    operation = a.get("gen_ai.operation.name") or a.get("llm.request.type")
    if operation in _NOT_CALLS:
        return None
    request = text(a, "gen_ai.request.model", limit=128)
    response = text(a, "gen_ai.response.model", limit=128)
    model = request or response
    if model is None:
        return None
    return Call(
        kind="embedding" if operation in _EMBEDDING else "chat",
        model=model,
        response_model=response,
        provider=text(a, "gen_ai.provider.name", "gen_ai.system", limit=64),
        input_tokens=count(a, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens"),
        output_tokens=count(a, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"),
        cache_read_tokens=count(
            a, "gen_ai.usage.cache_read.input_tokens", "gen_ai.usage.cache_read_input_tokens"
        ),
        cache_write_tokens=count(
            a,
            "gen_ai.usage.cache_creation.input_tokens",
            "gen_ai.usage.cache_creation_input_tokens",
        ),
    )
