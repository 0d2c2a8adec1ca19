"""Command routes: mode, setpoints, SAFE, emergency stop, SAFE acknowledgement, lease refresh, alarm
acknowledgement, re-plan.

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

from fastapi import APIRouter, HTTPException, Path
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, StrictBool, StrictFloat, StrictInt

from h2quarters.api.deps import Commander, Ctx, Replanner, errors
from h2quarters.control.controller import (
    MANUAL_SETPOINTS,
    CommandRefused,
    CommandRequest,
    Controller,
    SetpointInvalid,
)
from h2quarters.store import CommandRecord, now_ms

router = APIRouter(prefix="/api", tags=["control"])

CommandId = Annotated[str | None, Field(default=None, min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$",
                                        description="Client-chosen id; a retry with the same id is not re-sent.")]
_STATUS = {"ok": 200, "pending": 202, "refused": 409, "failed": 502, "unknown": 409}
DB_INT_MAX = 2_147_483_647
"""Largest id a database integer column holds (PostgreSQL ``integer``): bigger ids are 422, not a 500."""
CMD_ERRORS = errors(401, 403, 409, 422, 502, 503, 504)


class ModeRequest(BaseModel):
    """Switch the controller mode."""

    mode: Literal["off", "manual", "auto"]
    command_id: CommandId = None


class SetpointRequest(BaseModel):
    """Set one manual setpoint (mode must be manual)."""

    # the enum is documented (OpenAPI); the check is the controller's, whose 422 names the settable signals
    name: str = Field(max_length=64, description="The manual setpoint (limits: GET /api/signals)",
                      json_schema_extra={"enum": list(MANUAL_SETPOINTS)})
    value: StrictBool | StrictInt | StrictFloat
    command_id: CommandId = None


class AckRequest(BaseModel):
    """Acknowledge SAFE (→ off)."""

    command_id: CommandId = None


class StopRequest(BaseModel):
    """SAFE or emergency stop; ``confirm`` must be true (the HMI asks before sending)."""

    confirm: Literal[True] = Field(description="Must be true: the operator confirmed the stop")
    command_id: CommandId = None


def _controller(c: Any) -> Controller:
    if c.controller is None or c.controller.loop is None:
        raise HTTPException(503, {"code": "no_controller", "message": "no controller running in this process",
                                  "params": {}})
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
                                       f"see GET /api/commands/{req.command_id}",
                             "detail_code": "command.timeout",
                             "detail_params": {"seconds": COMMAND_TIMEOUT_S, "id": req.command_id}},
                            status_code=504)
    body = rec.as_dict()
    return JSONResponse(body, status_code=_STATUS.get(rec.status, 500))


@router.post("/mode", summary="Change the controller mode (engineer, admin)", responses=CMD_ERRORS,
             response_model=CommandRecord)
async def set_mode(body: ModeRequest, c: Ctx, p: Commander) -> JSONResponse:
    """off / manual / auto; refused (409) while SAFE is not acknowledged."""
    ctl = _controller(c)
    return await _run(ctl, CommandRequest("mode", "mode", body.mode, p.name, p.role, "api", body.command_id or ""))


@router.post("/setpoints", summary="Write a manual setpoint (engineer, admin)", responses=CMD_ERRORS,
             response_model=CommandRecord)
async def set_setpoint(body: SetpointRequest, c: Ctx, p: Commander) -> JSONResponse:
    """Checked against the register map's limits first: out of range → 422 naming the limit, nothing sent."""
    ctl = _controller(c)
    try:
        ctl.check_setpoint(body.name, body.value)
    except SetpointInvalid as exc:
        raise HTTPException(422, {"code": exc.code, "field": exc.field, "value": exc.value,
                                  "limit": exc.limit, "message": str(exc), "params": exc.params}) from None
    return await _run(ctl, CommandRequest("setpoint", body.name, body.value, p.name, p.role, "api",
                                          body.command_id or ""))


@router.post("/safe", summary="Command SAFE: plant to its safe state (engineer, admin)", responses=CMD_ERRORS,
             response_model=CommandRecord)
async def command_safe(body: StopRequest, c: Ctx, p: Commander) -> JSONResponse:
    """The controller enters SAFE (reason ``operator_safe``) and puts the PLC into its safe operating mode.
    Audited; left only by an acknowledgement (POST /api/safe/ack)."""
    ctl = _controller(c)
    return await _run(ctl, CommandRequest("safe", "mode", "safe", p.name, p.role, "api", body.command_id or ""))


@router.post("/estop", summary="Emergency stop: the PLC's software E-stop (engineer, admin)",
             responses=CMD_ERRORS, response_model=CommandRecord)
async def command_estop(body: StopRequest, c: Ctx, p: Commander) -> JSONResponse:
    """Enters SAFE and presses the PLC's software emergency stop (trips electrolyser and fuel cell, latched).
    Audited; released by the acknowledgement of SAFE (POST /api/safe/ack), which also resets the trip."""
    ctl = _controller(c)
    return await _run(ctl, CommandRequest("estop", "estop", True, p.name, p.role, "api", body.command_id or ""))


@router.post("/safe/ack", summary="Acknowledge SAFE (engineer, admin)", responses=CMD_ERRORS,
             response_model=CommandRecord)
async def ack_safe(body: AckRequest, c: Ctx, p: Commander) -> JSONResponse:
    """Resets the PLC's latched trips (whose causes are gone) and leaves SAFE to off."""
    ctl = _controller(c)
    return await _run(ctl, CommandRequest("ack_safe", "mode", None, p.name, p.role, "api", body.command_id or ""))


@router.post("/lease/refresh", summary="Refresh the manual setpoint lease (engineer, admin)",
             responses=errors(401, 403, 409, 503))
def refresh_lease(c: Ctx, _p: Commander) -> dict[str, Any]:
    """Extends the lease by ``lease_s``; 409 outside manual mode."""
    ctl = _controller(c)
    try:
        return {"lease_left_s": ctl.refresh_lease()}
    except CommandRefused as exc:
        raise HTTPException(409, {"code": "lease.not_manual", "message": str(exc),
                                  "params": {"mode": ctl.mode.value}}) from None


@router.post("/alarms/{alarm_id}/ack", summary="Acknowledge an alarm (engineer, admin)",
             responses=errors(401, 403, 404, 422))
async def ack_alarm(alarm_id: Annotated[int, Path(ge=1, le=DB_INT_MAX)], c: Ctx, p: Commander) -> dict[str, Any]:
    """Marks the alarm acknowledged by the user and records it in the audit trail (kind ``ack_alarm``);
    404 if unknown or already acknowledged."""

    def work() -> tuple[bool, str]:
        a = c.store.get_alarm(alarm_id)
        if a is None or a["t_acked_ms"] is not None:
            return False, ""
        cid = uuid.uuid4().hex
        c.store.audit_command(cid, p.name, p.role, "api", "ack_alarm", f"alarm:{alarm_id}", a["code"], now_ms())
        ok = c.store.ack_alarm(alarm_id, p.name)
        c.store.record_result(cid, "ok" if ok else "refused", "alarm acknowledged" if ok else "acknowledged meanwhile",
                              "alarm.acked" if ok else "alarm.acked_meanwhile", {"alarm": a["code"]})
        return ok, cid

    ok, cid = await run_in_threadpool(work)
    c.cache.clear()
    if not ok:
        raise HTTPException(404, {"code": "alarm.unknown", "message": f"alarm {alarm_id} unknown or already "
                                  "acknowledged", "params": {"id": alarm_id}})
    return {"alarm_id": alarm_id, "acked_by": p.name, "command_id": cid}


@router.post("/plan/replan", summary="Re-plan now (engineer, admin, planner)", responses=errors(401, 403, 503))
def replan(c: Ctx, _p: Replanner) -> dict[str, Any]:
    """Asks the controller to re-plan at its next cycle (AUTO only)."""
    ctl = _controller(c)
    ctl.request_replan()
    return {"requested": True, "mode": ctl.mode.value}
