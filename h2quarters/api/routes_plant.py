"""Read-side routes: signals, live state, live stream (SSE), history, plan, forecast, alarms list, audit log."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from typing import Annotated, Any

import pandas as pd
from fastapi import APIRouter, HTTPException, Path, Query, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from h2quarters.api.deps import Auditor, Ctx, IsoTime, Reader, errors
from h2quarters.forecast.pv import evaluate_stored

router = APIRouter(prefix="/api", tags=["plant"])


def _ms(t: datetime | None, default: datetime) -> int:
    t = t or default
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)


def _range(start: datetime | None, end: datetime | None, default_h: float = 1.0) -> tuple[int, int]:
    t1 = _ms(end, datetime.now(UTC))
    t0 = _ms(start, datetime.now(UTC)) if start is not None else t1 - int(default_h * 3_600_000)
    if t1 < t0:
        raise HTTPException(422, {"code": "range.end_before_start", "field": "end", "value": str(end),
                                  "limit": "end must not be before start", "message": "end must not be before start",
                                  "params": {"start": str(start), "end": str(end)}})
    return t0, t1


MAX_POINTS = 20_000
"""Points per signal in one history answer; longer ranges are aggregated into coarser buckets, not refused."""


def _fit_bucket(t0: int, t1: int, bucket_s: int | None, max_points: int = MAX_POINTS) -> int:
    """Smallest bucket (s) ≥ ``bucket_s`` that gives at most ``max_points`` buckets over ``[t0, t1]``."""
    need = math.ceil((t1 - t0) / 1000 / max_points) if t1 > t0 else 1
    return max(bucket_s or 1, need, 1)


@router.get("/signals", summary="Signals of the register map (unit, limits, access, meaning)",
            responses=errors(401, 403))
def signals(c: Ctx, _p: Reader) -> list[dict[str, Any]]:
    """Every signal with unit, engineering limits (resolved for this site), access and description."""
    out = []
    for s in c.rmap.signals:
        try:
            lo, hi = s.limits()
        except ValueError:
            lo, hi = None, None
        out.append({"name": s.name, "device": s.device, "unit": s.unit, "dtype": s.dtype, "access": s.access,
                    "min": lo if lo is None or math.isfinite(lo) else None,
                    "max": hi if hi is None or math.isfinite(hi) else None,
                    "enum": s.enum, "description": s.description})
    return out


@router.get("/state", summary="Latest plant state with quality", responses=errors(401, 403, 503))
async def state(c: Ctx, _p: Reader) -> Response:
    """Newest controller snapshot: mode, link, every signal as ``{v, q}`` (q = quality; v is null unless GOOD),
    manual setpoints and lease, current plan step, active conditions, cycle timing, newest stored time."""
    seq, data = c.hub.latest_json()
    if seq == 0:
        raise HTTPException(503, {"code": "no_snapshot", "message": "no controller snapshot yet", "params": {}})
    return Response(data, media_type="application/json")


@router.get("/stream", summary="Live stream of plant state (Server-Sent Events)", responses=errors(401, 403, 422))
async def stream(c: Ctx, _p: Reader,
                 max_events: Annotated[int, Query(ge=1, le=10_000_000)] = 10_000_000) -> StreamingResponse:
    """One ``data:`` event (JSON snapshot as in ``/api/state``) per control cycle; keep-alive comments every 15 s.
    (Starlette ends the generator when the client disconnects.)"""

    async def gen() -> Any:
        seq = 0
        sent = 0
        while sent < max_events:
            new_seq, _ = await c.hub.wait_newer(seq, 15.0)
            if new_seq == seq:
                yield b": keep-alive\n\n"
                continue
            seq, data = c.hub.latest_json()
            sent += 1
            yield b"id: %d\ndata: %s\n\n" % (seq, data)

    return StreamingResponse(gen(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


@router.get("/history", summary="History of signals with optional resampling", responses=errors(401, 403, 422))
def history(c: Ctx, _p: Reader,
            signals: Annotated[str, Query(description="Comma-separated signal names", max_length=2000)],
            start: IsoTime | None = None, end: IsoTime | None = None,
            bucket_s: Annotated[int | None, Query(ge=1, le=86_400 * 31, description="Resampling interval (s), "
                                                  "mean/min/max per bucket; omitted = raw values")] = None
            ) -> dict[str, Any]:
    """Values of ``signals`` between ``start`` and ``end`` (ISO 8601; default the last hour).

    A range that would give more than 20,000 points per signal is aggregated into coarser buckets (the answer's
    ``bucket_s`` says which; ``aggregated`` is true) instead of being refused."""
    names = [s.strip() for s in signals.split(",") if s.strip()]
    if not names or len(names) > 20:
        raise HTTPException(422, {"code": "history.signals", "field": "signals", "value": signals,
                                  "limit": "1..20 signal names", "message": "give 1..20 signal names",
                                  "params": {}})
    t0, t1 = _range(start, end)
    asked = bucket_s
    try:
        if bucket_s is None:
            try:
                data = c.store.history(names, t0, t1, None, max_points=MAX_POINTS)
            except ValueError:  # too many raw points: aggregate
                bucket_s = _fit_bucket(t0, t1, None)
        if bucket_s is not None:  # identical trend requests of many viewers within a second share one query
            bucket_s = _fit_bucket(t0, t1, bucket_s)
            b = bucket_s * 1000
            bs = bucket_s
            key = ("history", tuple(names), t0 // 1000, t1 // 1000, bucket_s)
            data = c.cache.get_or_compute(key, lambda: c.store.history(names, t0 // b * b, t1, bs,
                                                                      max_points=MAX_POINTS + 2))
    except KeyError as exc:
        raise HTTPException(422, {"code": "history.unknown_signal", "field": "signals", "value": signals,
                                  "limit": str(exc).strip("'\""), "message": str(exc).strip("'\""),
                                  "params": {}}) from None
    return {"t0_ms": t0, "t1_ms": t1, "bucket_s": bucket_s, "aggregated": bucket_s != asked, "series": data}


@router.get("/plan", summary="Current plan of the optimiser (AUTO)", responses=errors(401, 403, 404))
def plan(c: Ctx, _p: Reader) -> dict[str, Any]:
    """The plan the controller follows (or the newest stored plan), with the PV forecast it was made with."""
    ctl = c.controller
    if ctl is not None and ctl.plan is not None:
        return ctl.plan.as_dict()
    p = c.store.latest_plan()
    if p is None:
        raise HTTPException(404, {"code": "plan.none", "message": "no plan yet", "params": {}})
    n = p["n_steps"]
    return {"plan_id": p["plan_id"], "t_created_ms": p["t_created_ms"], "t_start_ms": p["t_start_ms"],
            "dt_s": p["dt_s"], "status": p["status"], "solve_s": p["solve_s"],
            "t_ms": [p["t_start_ms"] + i * p["dt_s"] * 1000 for i in range(n)], "columns": p["data"],
            "forecast_pv_kw": []}


@router.get("/forecast", summary="Newest PV forecast", responses=errors(401, 403, 404))
def forecast(c: Ctx, _p: Reader) -> dict[str, Any]:
    """The newest stored PV forecast (kW per 15-min step) and its provider."""
    f = c.store.latest_forecast()
    if f is None:
        raise HTTPException(404, {"code": "forecast.none", "message": "no forecast yet", "params": {}})
    n = len(f["pv_kw"])
    return {**f, "t_ms": [f["t_start_ms"] + i * f["dt_s"] * 1000 for i in range(n)]}


@router.get("/forecast/errors", summary="Forecast error (MAE, RMSE, skill vs persistence) over a period",
            responses=errors(401, 403, 422))
def forecast_errors(c: Ctx, _p: Reader, start: IsoTime | None = None, end: IsoTime | None = None
                    ) -> dict[str, Any]:
    """Errors of all forecasts issued in the period against the measured PV (``pv_power_kw``); measured PV is
    aggregated to 1-min means (coarser for periods over ~4 months), so long periods work."""
    t0, t1 = _range(start, end, default_h=24 * 7)
    fcs = c.store.forecasts_between(t0, t1)
    t_end = max((f["t_start_ms"] + len(f["pv_kw"]) * f["dt_s"] * 1000 for f in fcs), default=t1)
    bucket = _fit_bucket(t0, t_end, 60, 200_000) if t_end - t0 > 6 * 3600_000 else None
    try:
        h = c.store.history(["pv_power_kw"], t0, t_end, bucket, max_points=200_002)["pv_power_kw"]
    except KeyError:
        h = {"t_ms": [], "value": []}
    s = pd.Series(h["value"], index=pd.to_datetime(h["t_ms"], unit="ms", utc=True), dtype=float)
    res = evaluate_stored(fcs, s)
    return {"t0_ms": t0, "t1_ms": t1, "n_forecasts": len(fcs),
            **{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in res.items()}}


@router.get("/alarms", summary="Alarms (newest first)", responses=errors(401, 403, 422))
def alarms(c: Ctx, _p: Reader, active: bool = False,
           limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[dict[str, Any]]:
    """Alarms; ``active=true``: not yet cleared or not yet acknowledged (at most one second old)."""
    return c.cache.get_or_compute(("alarms", active, limit), lambda: c.store.alarms(active_only=active, limit=limit))


@router.get("/audit", summary="Audit log of commands (newest first)", responses=errors(401, 403, 422))
def audit(c: Ctx, _p: Auditor, limit: Annotated[int, Query(ge=1, le=5000)] = 200,
          start: IsoTime | None = None, end: IsoTime | None = None,
          user: Annotated[str | None, Query(max_length=64)] = None
          ) -> list[dict[str, Any]]:
    """Commands with user, role, id, value, time, source and result (``unknown`` after a crash in between)."""
    t0 = _ms(start, datetime.fromtimestamp(0, UTC)) if start else None
    t1 = _ms(end, datetime.now(UTC)) if end else None
    return [r.as_dict() for r in c.store.audit_log(limit, t0, t1, user)]


@router.get("/commands/{command_id}", summary="One command and its result", responses=errors(401, 403, 404, 422))
def command(c: Ctx, _p: Auditor, command_id: Annotated[str, Path(min_length=1, max_length=64)]) -> dict[str, Any]:
    """Status of a command by id (pending / ok / refused / failed / unknown)."""
    r = c.store.get_command(command_id)
    if r is None:
        raise HTTPException(404, {"code": "command.unknown", "message": f"command {command_id!r} not found",
                                  "params": {"id": command_id}})
    return r.as_dict()


@router.get("/loop", summary="Control-loop timing", responses=errors(401, 403, 422, 503))
async def loop_stats(c: Ctx, _p: Reader, last: Annotated[int, Query(ge=1, le=3600)] = 3600) -> dict[str, Any]:
    """Cycle jitter and duration percentiles (ms) over the last ``last`` cycles, overruns, writer backlog."""
    ctl = c.controller
    if ctl is None:
        raise HTTPException(503, {"code": "no_controller", "message": "no controller in this process",
                                  "params": {}})
    return await run_in_threadpool(lambda: {**ctl.cycle_stats(last), "store_backlog": ctl.writer.backlog,
                                            "store_errors": ctl.writer.n_errors})


