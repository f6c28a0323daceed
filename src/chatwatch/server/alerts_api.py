"""Alerts over HTTP: current alerts and their history (read key), silences (read key to
list, admin key to create and expire). Silences take Alertmanager's v2 shape, so
``amtool``-style clients and habits carry over."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.concurrency import run_in_threadpool

from chatwatch.alerts import (
    Matcher,
    RulesError,
    Silence,
    create_silence,
    current_alerts,
    expire_silence,
    list_silences,
    load_rules,
    recent_transitions,
)
from chatwatch.alerts.engine import leadership
from chatwatch.alerts.rules import parse_duration
from chatwatch.server.auth import require
from chatwatch.server.params import IsoDateTime
from chatwatch.server.state import state

__all__ = ["router"]

router = APIRouter(prefix="/api/v1")
_read = Depends(require("read"))
_admin = Depends(require("admin", open_on_loopback=False))


def _jsonable(obj: object) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {f.name: _jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj)}
    if isinstance(obj, datetime):
        return obj.isoformat().replace("+00:00", "Z")
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj


@router.get("/alerts", dependencies=[_read])
async def alerts(
    request: Request,
    include_resolved: bool = False,
    rule: Annotated[str | None, Query(max_length=128)] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """Pending and firing alerts (``include_resolved`` adds resolved ones)."""
    st = state(request)
    found = await run_in_threadpool(current_alerts, st.store, include_resolved)
    found = [
        a
        for a in found
        if (rule is None or a.rule == rule)
        and (service is None or a.labels.get("service") == service)
    ]
    return {"alerts": _jsonable(found)}


@router.get("/alerts/history", dependencies=[_read])
async def history(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
    rule: Annotated[str | None, Query(max_length=128)] = None,
    service: Annotated[str | None, Query(max_length=64)] = None,
    since: IsoDateTime | None = None,
    until: IsoDateTime | None = None,
) -> dict[str, Any]:
    """Every state transition, newest first."""
    st = state(request)
    found = await run_in_threadpool(
        recent_transitions, st.store, limit, rule, service, since, until
    )
    return {"transitions": _jsonable(found)}


@router.get("/alerts/rules", dependencies=[_read])
async def rules(request: Request) -> dict[str, Any]:
    """The rules the server evaluates, with every default filled in."""
    st = state(request)
    loaded = st.extras.get("alert_rules")  # validated when the app was made
    if loaded is None:
        try:
            loaded = load_rules(st.settings.rules_file)
        except RulesError as exc:
            raise HTTPException(500, str(exc)) from None
    return {"rules": [r.model_dump(by_alias=True) for r in loaded]}


@router.get("/alerts/status", dependencies=[_read])
async def status(request: Request) -> dict[str, Any]:
    """Every rule's status per label set at the server's last round (``ok``, ``no data``,
    ``pending``, ``firing``, ``resolved``, ``summary``): what ``chatwatch check`` prints."""
    done = state(request).extras.get("last_round")
    if done is None:
        return {"evaluated_at": None, "rules": []}
    return {
        "evaluated_at": _jsonable(datetime.fromtimestamp(done.evaluated_at, UTC)),
        "rules": [_jsonable(e) for e in done.evaluations],
    }


class MatcherIn(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str = Field(min_length=1, max_length=128, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    value: str = Field(max_length=1024)
    is_regex: bool = Field(False, alias="isRegex")
    is_equal: bool = Field(True, alias="isEqual")


class SilenceIn(BaseModel):
    """Alertmanager's ``postableSilence``, plus ``duration`` as a shortcut for endsAt."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    matchers: list[MatcherIn] | dict[str, str] = Field(min_length=1)
    starts_at: datetime | None = Field(None, alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    duration: str | None = Field(None, max_length=16)
    created_by: str = Field("", alias="createdBy", max_length=128)
    comment: str = Field("", max_length=2000)

    @model_validator(mode="after")
    def _end(self) -> SilenceIn:
        if (self.ends_at is None) == (self.duration is None):
            raise ValueError("give endsAt or duration (one of them)")
        if self.duration is not None:
            seconds = parse_duration(self.duration)
            if seconds <= 0:
                raise ValueError("duration must be positive")
            start = self.starts_at or datetime.now(UTC)
            self.ends_at = start + timedelta(seconds=seconds)
        return self

    def matcher_list(self) -> list[Matcher]:
        if isinstance(self.matchers, dict):
            return [Matcher(k, v) for k, v in self.matchers.items()]
        return [Matcher(m.name, m.value, m.is_regex, m.is_equal) for m in self.matchers]


def _silence_json(silence: Silence) -> dict[str, Any]:
    return {
        "id": silence.id,
        "status": {"state": silence.status()},
        "matchers": [
            {"name": m.name, "value": m.value, "isRegex": m.is_regex, "isEqual": m.is_equal}
            for m in silence.matchers
        ],
        "startsAt": _jsonable(silence.starts_at),
        "endsAt": _jsonable(silence.ends_at),
        "createdBy": silence.created_by,
        "comment": silence.comment,
        "createdAt": _jsonable(silence.created_at),
    }


@router.post("/silences", status_code=201, dependencies=[_admin])
async def post_silence(request: Request, body: SilenceIn) -> dict[str, Any]:
    st = state(request)
    assert body.ends_at is not None  # the validator fills it in
    try:
        silence = await run_in_threadpool(
            lambda: create_silence(
                st.store,
                body.matcher_list(),
                ends_at=body.ends_at or datetime.now(UTC),
                starts_at=body.starts_at,
                created_by=body.created_by,
                comment=body.comment,
            )
        )
    except ValueError as exc:
        raise HTTPException(
            422, [{"loc": ["body", "matchers"], "msg": str(exc), "type": "value_error"}]
        ) from None
    return {"silenceID": silence.id, **_silence_json(silence)}


@router.get("/silences", dependencies=[_read])
async def get_silences(request: Request, all: bool = False) -> dict[str, Any]:
    """Pending and active silences (``all=true`` adds expired ones)."""
    st = state(request)
    found = await run_in_threadpool(list_silences, st.store, not all)
    return {"silences": [_silence_json(s) for s in found]}


@router.delete("/silences/{silence_id}", dependencies=[_admin])
async def delete_silence(request: Request, silence_id: str) -> JSONResponse:
    st = state(request)
    expired = await run_in_threadpool(expire_silence, st.store, silence_id)
    if not expired:
        raise HTTPException(404, f"no active or pending silence {silence_id!r}")
    return JSONResponse({"id": silence_id, "expired": True})


@router.get("/alerts/evaluator", dependencies=[_read])
async def evaluator(request: Request) -> dict[str, Any]:
    """This replica's alert loop: whether it leads (evaluates the rules), its rounds."""
    st = state(request)
    return {"enabled": st.settings.alerts_enabled, **_jsonable(leadership(st).status)}
