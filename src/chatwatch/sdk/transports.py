"""Where batches go: a chatwatch server over HTTP, a local store, or a test double.

A transport's ``send`` returns once the batch is safely delivered. Raising any exception
means "retry later" (the client keeps the batch and backs off); raising ``RejectedBatch``
means "retrying will not help" for the whole batch or for the events it names.
"""

from __future__ import annotations

import gzip as _gzip
import json
import os
import threading
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:  # httpx is imported on first send: `import chatwatch` stays cheap
    import httpx

__all__ = [
    "CaptureTransport",
    "EventSink",
    "FunctionTransport",
    "HTTPTransport",
    "RejectedBatch",
    "RetryAfter",
    "ServerError",
    "StoreTransport",
    "Transport",
]

Batch = list[dict[str, Any]]
_encoders: list[Callable[[Any], bytes]] = []  # msgspec's, made on first send


def _fast_encode() -> Callable[[Any], bytes]:
    if not _encoders:
        import msgspec  # on first send: `import chatwatch` stays cheap

        _encoders.append(msgspec.json.Encoder().encode)
    return _encoders[0]


_MAX_RETRY_AFTER = 300.0


class RejectedBatch(Exception):
    """Not retryable: the whole batch (``indexes is None``) or the events at ``indexes``."""

    def __init__(
        self, message: str, *, status: int | None = None, indexes: Sequence[int] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.indexes = None if indexes is None else sorted(set(indexes))


class ServerError(RuntimeError):
    """Retryable, but the server failed on the batch itself (HTTP 5xx other than 503): a
    batch that keeps getting it is split to isolate the events at fault (see _sender)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


class RetryAfter(Exception):
    """Retryable, and the server said how long to wait (HTTP 429/503 ``Retry-After``)."""

    def __init__(self, message: str, seconds: float) -> None:
        super().__init__(message)
        self.seconds = seconds


@runtime_checkable
class Transport(Protocol):
    def send(self, batch: Batch) -> None: ...


class EventSink(Protocol):
    """What ``StoreTransport`` needs of a store (``chatwatch.store.Store`` fits)."""

    def ingest(self, events: Sequence[Any], /) -> Any: ...


class HTTPTransport:
    """POST batches as (gzipped) JSON to ``{url}/api/v1/events`` with a bearer key."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        *,
        timeout: float = 10.0,
        gzip: bool = True,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.endpoint = url.rstrip("/") + "/api/v1/events"
        self._headers = {"Content-Type": "application/json", "User-Agent": "chatwatch-sdk"}
        if api_key:
            self._headers["Authorization"] = f"Bearer {api_key}"
        if gzip:
            self._headers["Content-Encoding"] = "gzip"
        self._gzip = gzip
        self._timeout = timeout
        self._transport = transport
        self._http: httpx.Client | None = None
        self._pid = os.getpid()

    def __repr__(self) -> str:
        return f"HTTPTransport({self.endpoint!r})"

    def send(self, batch: Batch) -> None:
        body = encode(batch)
        if self._gzip:
            body = _gzip.compress(body, compresslevel=1)  # 3x less time than 5, ~10 % larger
        response = self._client().post(self.endpoint, content=body, headers=self._headers)
        check_response(response, len(batch))

    def close(self) -> None:
        if self._http is not None:
            self._http.close()
            self._http = None

    def _client(self) -> httpx.Client:
        # A forked child must not share the parent's pooled sockets.
        if self._http is None or self._pid != os.getpid():
            import httpx

            self._pid = os.getpid()
            self._http = httpx.Client(timeout=self._timeout, transport=self._transport)
        return self._http


def encode(batch: Batch) -> bytes:
    """Compact JSON; events that cannot be encoded are rejected by index, not retried.

    msgspec's encoder (C, a fifth of ``json.dumps``' time); it writes NaN and infinity as
    ``null``, and the SDK leaves unset fields out, so a ``null`` sends the batch through
    ``json.dumps``, which refuses them."""
    try:
        body = _fast_encode()(batch)
    except (TypeError, ValueError, OverflowError):
        pass
    else:
        if b"null" not in body:
            return body
    try:
        return json.dumps(batch, separators=(",", ":"), allow_nan=False).encode()
    except (TypeError, ValueError):
        bad = []
        for i, event in enumerate(batch):
            try:
                json.dumps(event, allow_nan=False)
            except (TypeError, ValueError):
                bad.append(i)
        raise RejectedBatch("events are not JSON-serialisable", indexes=bad) from None


def check_response(response: httpx.Response, size: int) -> None:
    status = response.status_code
    if status < 300:
        return
    message = f"HTTP {status} from {response.request.url}"
    if status == 422:
        raise RejectedBatch(message, status=status, indexes=_named_indexes(response, size))
    if status in (429, 503):
        raise RetryAfter(message, _retry_after(response))
    if status >= 500:
        raise ServerError(message, status)
    if status == 408:
        raise RuntimeError(message)
    raise RejectedBatch(message, status=status)


def _named_indexes(response: httpx.Response, size: int) -> list[int] | None:
    """The events a 422 names; None (reject all) when the body names none of them."""
    try:
        detail = response.json()["detail"]
        indexes = {d["index"] for d in detail if isinstance(d, dict)}
    except (ValueError, KeyError, TypeError):
        return None
    named = [i for i in indexes if isinstance(i, int) and 0 <= i < size]
    return named or None


def _retry_after(response: httpx.Response) -> float:
    try:
        return min(max(float(response.headers.get("retry-after", "")), 0.0), _MAX_RETRY_AFTER)
    except ValueError:
        return 0.0


class StoreTransport:
    """The no-server mode: validate with the event schema and ingest into a local store."""

    def __init__(self, store: EventSink) -> None:
        self.store = store

    def send(self, batch: Batch) -> None:
        from pydantic import ValidationError

        from chatwatch.events import parse_events

        try:
            events = parse_events(batch)
        except ValidationError as exc:
            bad = [e["loc"][0] for e in exc.errors() if e["loc"] and isinstance(e["loc"][0], int)]
            raise RejectedBatch(_first_errors(exc), status=422, indexes=bad or None) from None
        self.store.ingest(events)


def _first_errors(exc: Any, limit: int = 3) -> str:
    errors = exc.errors(include_url=False, include_input=False)[:limit]
    return "; ".join(f"{list(e['loc'])}: {e['msg']}" for e in errors)


class CaptureTransport:
    """Collects what is sent, for tests: ``.events`` (all) and ``.batches`` (as sent)."""

    def __init__(self) -> None:
        self.batches: list[Batch] = []
        self._lock = threading.Lock()

    def send(self, batch: Batch) -> None:
        with self._lock:
            self.batches.append(list(batch))

    @property
    def events(self) -> Batch:
        with self._lock:
            return [e for batch in self.batches for e in batch]

    def clear(self) -> None:
        with self._lock:
            self.batches.clear()


class FunctionTransport:
    """A seam for tests and glue code: ``fn(batch)`` does the sending."""

    def __init__(self, fn: Callable[[Batch], object]) -> None:
        self.fn = fn

    def send(self, batch: Batch) -> None:
        self.fn(batch)
