"""Jobs and their variants in the store (one short transaction per call, like :class:`h2quarters.store.Store`)."""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa

from h2quarters.store import Store
from h2quarters.store.schema_planning import plan_job_variants as V
from h2quarters.store.schema_planning import plan_jobs as J
from h2quarters.store.store import now_ms

KINDS = ("simulate", "quarter_simulate", "quarter_study")
STATUSES = ("queued", "running", "done", "failed", "cancelled", "interrupted")
ACTIVE = ("queued", "running")
RESUMABLE = ("interrupted", "cancelled", "failed")


def _job(r: Any, full: bool = False) -> dict[str, Any]:
    d = {"id": r.job_id, "owner": r.owner, "kind": r.kind, "title": r.title, "status": r.status,
         "message": r.message, "shared": bool(r.shared), "n_variants": r.n_variants,
         "t_created_ms": r.t_created_ms, "t_started_ms": r.t_started_ms, "t_finished_ms": r.t_finished_ms,
         "params": json.loads(r.params)}
    sc = json.loads(r.scenario)
    d["scenario"] = {k: sc[k] for k in ("id", "name", "kind", "base") if k in sc}
    if full:
        d["scenario_files"] = sc.get("files", {})
        d["result"] = json.loads(r.result) if r.result else None
    return d


def create(store: Store, owner: str, kind: str, title: str, scenario: dict[str, Any], params: dict[str, Any],
           variants: list[tuple[str, dict[str, float]]]) -> int:
    """Store a queued job and its variants in one transaction; returns the job id."""
    t = now_ms()
    with store.w.begin() as c:
        jid = c.execute(J.insert().values(owner=owner, kind=kind, title=title[:120], scenario=json.dumps(scenario),
                                          params=json.dumps(params), status="queued", message="", shared=False,
                                          n_variants=len(variants), t_created_ms=t)).inserted_primary_key[0]
        c.execute(V.insert(), [{"job_id": jid, "variant": v, "overrides": json.dumps(ov), "status": "queued",
                                "message": ""} for v, ov in variants])
    return int(jid)


def get(store: Store, job_id: int, full: bool = False) -> dict[str, Any] | None:
    """A job (``full``: with scenario files and result) or None."""
    with store.r.connect() as c:
        r = c.execute(sa.select(J).where(J.c.job_id == job_id)).first()
    return _job(r, full) if r is not None else None


def report(store: Store, job_id: int) -> dict[str, str] | None:
    """The job's HTML reports ``{"en": ..., "de": ...}`` or None."""
    with store.r.connect() as c:
        txt = c.execute(sa.select(J.c.report_html).where(J.c.job_id == job_id)).scalar_one_or_none()
    return json.loads(txt) if txt else None


def listing(store: Store, owner: str | None = None, shared_or_owner: str | None = None,
            limit: int = 200) -> list[dict[str, Any]]:
    """Jobs newest first: all (both None), one owner's, or one owner's plus every shared job."""
    q = sa.select(J).order_by(J.c.job_id.desc()).limit(limit)
    if owner is not None:
        q = q.where(J.c.owner == owner)
    if shared_or_owner is not None:
        q = q.where(sa.or_(J.c.owner == shared_or_owner, J.c.shared == sa.true()))
    with store.r.connect() as c:
        return [_job(r) for r in c.execute(q).all()]


def variants(store: Store, job_id: int) -> list[dict[str, Any]]:
    """The job's variants with status and KPIs, in creation order of their ids."""
    with store.r.connect() as c:
        rows = c.execute(sa.select(V).where(V.c.job_id == job_id).order_by(V.c.variant)).all()
    return [{"variant": r.variant, "overrides": json.loads(r.overrides), "status": r.status,
             "t_started_ms": r.t_started_ms, "t_finished_ms": r.t_finished_ms,
             "kpis": json.loads(r.kpis) if r.kpis else None, "message": r.message} for r in rows]


def set_status(store: Store, job_id: int, status: str, message: str | None = None, **values: Any) -> None:
    """Change a job's status (and message, times, result, report)."""
    upd: dict[str, Any] = {"status": status, **values}
    if message is not None:
        upd["message"] = message[:4000]
    with store.w.begin() as c:
        c.execute(J.update().where(J.c.job_id == job_id).values(**upd))


def set_shared(store: Store, job_id: int, shared: bool) -> None:
    """Share a job's results with every logged-in role (or stop sharing)."""
    with store.w.begin() as c:
        c.execute(J.update().where(J.c.job_id == job_id).values(shared=shared))


def set_variant(store: Store, job_id: int, variant: str, status: str, kpis: dict[str, Any] | None = None,
                message: str = "") -> None:
    """Record a variant's status (``running`` sets its start time, ``done``/``failed`` its end)."""
    upd: dict[str, Any] = {"status": status, "message": message[:2000]}
    if status == "running":
        upd["t_started_ms"] = now_ms()
    if status in ("done", "failed"):
        upd["t_finished_ms"] = now_ms()
    if kpis is not None:
        upd["kpis"] = json.dumps(kpis)
    with store.w.begin() as c:
        c.execute(V.update().where(V.c.job_id == job_id, V.c.variant == variant).values(**upd))


def reset_unfinished(store: Store, job_id: int) -> int:
    """Variants not done go back to ``queued`` (resume); returns how many."""
    with store.w.begin() as c:
        return c.execute(V.update().where(V.c.job_id == job_id, V.c.status != "done")
                         .values(status="queued", message="", t_started_ms=None)).rowcount


def mark_interrupted(store: Store) -> list[int]:
    """Jobs left queued or running by a stopped server become ``interrupted`` (they can be resumed)."""
    with store.w.begin() as c:
        ids = [r.job_id for r in c.execute(sa.select(J.c.job_id).where(J.c.status.in_(ACTIVE)))]
        if ids:
            c.execute(J.update().where(J.c.job_id.in_(ids)).values(
                status="interrupted", message="the server stopped while the job ran; resume it"))
            c.execute(V.update().where(V.c.job_id.in_(ids), V.c.status == "running").values(status="queued"))
    return ids


def count_active(store: Store, owner: str) -> int:
    """The owner's queued and running jobs."""
    with store.r.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(J).where(
            J.c.owner == owner, J.c.status.in_(ACTIVE))).scalar_one())


def count_since(store: Store, owner: str, t_ms: int) -> int:
    """Jobs the owner created since ``t_ms``."""
    with store.r.connect() as c:
        return int(c.execute(sa.select(sa.func.count()).select_from(J).where(
            J.c.owner == owner, J.c.t_created_ms >= t_ms)).scalar_one())


def delete(store: Store, job_id: int) -> None:
    """Delete a job and its variants."""
    with store.w.begin() as c:
        c.execute(V.delete().where(V.c.job_id == job_id))
        c.execute(J.delete().where(J.c.job_id == job_id))
