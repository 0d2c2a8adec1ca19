"""Command routes: mode, setpoints, SAFE acknowledgement, lease refresh, alarm acknowledgement, re-plan.

Every plant command is audited before it is sent (see :meth:`h2quarters.control.controller.Controller.execute`).
Status codes: 200 ok; 409 refused by the controller or PLC (wrong mode, interlock …); 422 invalid request
(names the limit; nothing sent, nothing audited); 502 link failure (effect unknown); 503 no controller.
A repeated ``command_id`` returns the first outcome and sends nothing again.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt

from h2quarters.api.deps import Commander, Ctx, Replanner
from h2quarters.control.controller import (
    CommandRefused,
    CommandRequest,
    Controller,
    SetpointInvalid,
)

router = APIRouter(prefix="/api", tags=["control"])

CommandId = Annotated[str | None, Field(default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                        description="Client-chosen id; a retry with the same id is not re-sent.")]
_STATUS = {"ok": 200, "pending": 202, "refused": 409, "failed": 502, "unknown": 409}


class ModeRequest(BaseModel):
    """Switch the controller mode."""

    mode: Literal["off", "manual", "auto"]
    command_id: CommandId = None


class SetpointRequest(BaseModel):
    """Set one manual setpoint (mode must be manual)."""

    name: str = Field(max_length=64, description="e.g. el_production_rate_pct, el_start, fc_setpoint_kw")
    value: StrictBool | StrictInt | StrictFloat
    command_id: CommandId = None


class AckRequest(BaseModel):
    """Acknowledge SAFE (→ off)."""

    command_id: CommandId = None


def _controller(c: Any) -> Controller:
    if c.controller is None or c.controller.loop is None:
        raise HTTPException(503, "no controller running in this process")
    return c.controller


COMMAND_TIMEOUT_S = 10.0
"""A command not finished by then answers 504 with its id (the controller may still execute it; it is audited)."""


async def _run(ctl: Controller, req: CommandRequest) -> JSONResponse:
    if not req.command_id:
        req = dataclasses.replace(req, command_id=uuid.uuid4().hex)
    try:
        # shield: a timeout here must not cancel the command half-way inside the controller
        rec = await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(ctl.submit(req))), COMMAND_TIMEOUT_S)
    except TimeoutError:
        return JSONResponse({"command_id": req.command_id, "status": "pending",
                             "detail": f"controller did not answer within {COMMAND_TIMEOUT_S:g} s; "
                                       f"see GET /api/commands/{req.command_id}"}, status_code=504)
    body = rec.as_dict()
    return JSONResponse(body, status_code=_STATUS.get(rec.status, 500))


@router.post("/mode", summary="Change the controller mode (engineer, admin)")
async def set_mode(body: ModeRequest, c: Ctx, p: Commander) -> JSONResponse:
    """off / manual / auto; refused (409) while SAFE is not acknowledged."""
    ctl = _controller(c)
    return await _run(ctl, CommandRequest("mode", "mode", body.mode, p.name, p.role, "api", body.command_id or ""))


@router.post("/setpoints", summary="Write a manual setpoint (engineer, admin)")
async def set_setpoint(body: SetpointRequest, c: Ctx, p: Commander) -> JSONResponse:
    """Checked against the register map's limits first: out of range → 422 naming the limit, nothing sent."""
    ctl = _controller(c)
    try:
        ctl.check_setpoint(body.name, body.value)
    except SetpointInvalid as exc:
        raise HTTPException(422, {"field": exc.field, "value": exc.value, "limit": exc.limit,
                                  "message": str(exc)}) from None
    return await _run(ctl, CommandRequest("setpoint", body.name, body.value, p.name, p.role, "api",
                                          body.command_id or ""))


@router.post("/safe/ack", summary="Acknowledge SAFE (engineer, admin)")
async def ack_safe(body: AckRequest, c: Ctx, p: Commander) -> JSONResponse:
    """Resets the PLC's latched trips (whose causes are gone) and leaves SAFE to off."""
    ctl = _controller(c)
    return await _run(ctl, CommandRequest("ack_safe", "mode", None, p.name, p.role, "api", body.command_id or ""))


@router.post("/lease/refresh", summary="Refresh the manual setpoint lease (engineer, admin)")
def refresh_lease(c: Ctx, _p: Commander) -> dict[str, Any]:
    """Extends the lease by ``lease_s``; 409 outside manual mode."""
    ctl = _controller(c)
    try:
        return {"lease_left_s": ctl.refresh_lease()}
    except CommandRefused as exc:
        raise HTTPException(409, str(exc)) from None


@router.post("/alarms/{alarm_id}/ack", summary="Acknowledge an alarm (engineer, admin)")
async def ack_alarm(alarm_id: int, c: Ctx, p: Commander) -> dict[str, Any]:
    """Marks the alarm acknowledged by the user; 404 if unknown or already acknowledged."""
    ok = await run_in_threadpool(c.store.ack_alarm, alarm_id, p.name)
    c.cache.clear()
    if not ok:
        raise HTTPException(404, f"alarm {alarm_id} unknown or already acknowledged")
    return {"alarm_id": alarm_id, "acked_by": p.name}


@router.post("/plan/replan", summary="Re-plan now (engineer, admin, planner)")
def replan(c: Ctx, _p: Replanner) -> dict[str, Any]:
    """Asks the controller to re-plan at its next cycle (AUTO only)."""
    ctl = _controller(c)
    ctl.request_replan()
    return {"requested": True, "mode": ctl.mode.value}
