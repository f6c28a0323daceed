"""The one failure rule every integration applies: what makes a turn failed.

An exception, or an HTTP status of 500 or more, fails the turn. A status from 400 to 499
(an answer, or an exception that frameworks turn into one: Starlette's and FastAPI's
``HTTPException(4xx)``, Django's ``Http404``/``PermissionDenied``/``BadRequest``) is the
client's mistake: the turn succeeded and keeps its ``status_code``, counted as a client
error. A client built with ``failure_rule=`` decides differently (e.g. to fail on 4xx).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["SUCCEEDED", "FailureRule", "Outcome", "default_failure_rule", "exception_status"]

# Django's exceptions that its handler answers with a 4xx (it sets no status attribute).
_DJANGO_STATUS = {
    "Http404": 404,
    "PermissionDenied": 403,
    "BadRequest": 400,
    "SuspiciousOperation": 400,
    "DisallowedHost": 400,
    "RequestDataTooBig": 400,
}


@dataclass(frozen=True)
class Outcome:
    """How a turn ended: failed or not, the error type to record, the status to keep."""

    success: bool
    error_type: str | None = None
    status_code: int | None = None


FailureRule = Callable[[BaseException | None, int | None], Outcome]
SUCCEEDED = Outcome(True)  # what the default rule answers for no exception and no status


def exception_status(exc: BaseException) -> int | None:
    """The HTTP status a framework answers this exception with, when it says one."""
    status = getattr(exc, "status_code", None)
    if isinstance(status, int) and 100 <= status <= 599:
        return status
    for cls in type(exc).__mro__:
        if cls.__name__ in _DJANGO_STATUS and cls.__module__.startswith("django."):
            return _DJANGO_STATUS[cls.__name__]
    return None


def default_failure_rule(exc: BaseException | None, status: int | None) -> Outcome:
    """Exception or status >= 500: failed. A 4xx (answered or raised): a client error."""
    if exc is not None:
        raised = exception_status(exc)
        if raised is not None and raised < 500:
            return Outcome(True, None, raised)
        return Outcome(False, type(exc).__name__, raised or status)
    if status is None:
        return SUCCEEDED  # the common case, with nothing to make (frozen: shared safely)
    if status >= 500:
        return Outcome(False, f"HTTP{status}", status)
    return Outcome(True, None, status)


def fail_on_client_errors(exc: BaseException | None, status: int | None) -> Outcome:
    """A stricter rule a client can choose: a 4xx fails the turn too."""
    outcome = default_failure_rule(exc, status)
    code = outcome.status_code
    if outcome.success and code is not None and code >= 400:
        return Outcome(False, type(exc).__name__ if exc else f"HTTP{code}", code)
    return outcome
