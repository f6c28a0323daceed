"""OpenInference semantic conventions (Arize: Phoenix, and its instrumentations for OpenAI,
LangChain, LlamaIndex and others).

``openinference.span.kind`` says what a span is: LLM and EMBEDDING spans are model calls,
RETRIEVER spans are searches; CHAIN, AGENT and TOOL spans only give the trace its shape
(and, on the root, the turn). The requested model is the ``"model"`` of
``llm.invocation_parameters`` (``llm.model_name`` is the model that answered, often dated).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from chatwatch.integrations.otlp.fields import count, json_object, text
from chatwatch.integrations.otlp.genai import Call

__all__ = ["Retrieval", "oi_call", "oi_kind", "oi_retrieval"]

SPAN_KIND = "openinference.span.kind"
_DOC = re.compile(r"^retrieval\.documents\.(\d+)\.")


@dataclass(frozen=True)
class Retrieval:
    similarity: float | None  # mean of the documents' scores
    top_similarity: float | None
    results: int


def oi_kind(a: Mapping[str, Any]) -> str | None:
    kind = a.get(SPAN_KIND)
    return kind.upper() if isinstance(kind, str) else None


def oi_call(a: Mapping[str, Any], kind: str) -> Call | None:
    if kind not in ("LLM", "EMBEDDING"):
        return None
    embedding = kind == "EMBEDDING"
    params = json_object(a, "embedding.invocation_parameters") if embedding else {}
    params = params or json_object(a, "llm.invocation_parameters")
    answered = text(a, "embedding.model_name" if embedding else "llm.model_name", limit=128)
    if answered is None and embedding:
        answered = text(a, "llm.model_name", limit=128)
    requested = text(params, "model", "model_name", limit=128)  # LangChain: model_name
    model = requested or answered
    if model is None:
        return None
    prompt = count(a, "llm.token_count.prompt")
    completion = count(a, "llm.token_count.completion")
    if prompt is None and completion is None:
        prompt = count(a, "llm.token_count.total")
    return Call(
        kind="embedding" if embedding else "chat",
        model=model,
        response_model=answered,
        provider=text(a, "llm.provider", "llm.system", limit=64),
        input_tokens=prompt,
        output_tokens=completion,
        cache_read_tokens=count(a, "llm.token_count.prompt_details.cache_read"),
        cache_write_tokens=count(a, "llm.token_count.prompt_details.cache_write"),
    )


def oi_retrieval(a: Mapping[str, Any]) -> Retrieval:
    documents: set[int] = set()
    scores: list[float] = []
    for key, value in a.items():
        match = _DOC.match(key)
        if match is None:
            continue
        documents.add(int(match.group(1)))
        scored = key.endswith(".document.score") and isinstance(value, int | float)
        if scored and not isinstance(value, bool) and -1.0 <= value <= 1.0:
            scores.append(float(value))
    return Retrieval(
        similarity=sum(scores) / len(scores) if scores else None,
        top_similarity=max(scores) if scores else None,
        results=len(documents),
    )
