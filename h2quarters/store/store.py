"""The store: durable measurements, command audit, alarms, users, plans and forecasts.

Every public method is one short transaction and blocking; call it from a worker thread in asyncio code
(``asyncio.to_thread``) so the control loop never waits on the disk.
"""

from __future__ import annotations

import dataclasses
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal, get_args

import sqlalchemy as sa
from pydantic import Field
from sqlalchemy.exc import IntegrityError

from h2quarters.store import schema as S
from h2quarters.store.engine import make_engines

CommandStatus = Literal["pending", "ok", "refused", "failed", "unknown"]
COMMAND_STATUSES: tuple[str, ...] = get_args(CommandStatus)
"""``pending``: audited, being sent by this process; ``unknown``: audited but no result after a restart."""


def now_ms() -> int:
    """Wall-clock time in integer milliseconds since the Unix epoch."""
    return int(time.time() * 1000)


@dataclass(frozen=True)
class CommandRecord:
    """One audited command with its result (``status`` pending/ok/refused/failed/unknown)."""

    # The API's command routes answer with this record (response model); the descriptions are pydantic Field
    # metadata, not attribute docstrings: those make pydantic read this file with ``ast.parse`` for every route
    # that uses the record, and CPython 3.11's AST constructor is not thread-safe (a parse beside another thread's
    # parse fails with "SystemError: AST constructor recursion depth mismatch").
    command_id: str
    t_ms: int
    user_name: str
    role: str
    source: str
    kind: str
    target: str
    value: Any
    status: CommandStatus
    t_result_ms: int | None
    detail: Annotated[str, Field(description="The result in English (see ``detail_code`` for pages in other "
                                             "languages).")]
    duplicate: bool = False
    detail_code: Annotated[str, Field(description="The result as a stable message code (``mode.set``, "
                                                  "``link.down`` ...; empty before a result).")] = ""
    detail_params: Annotated[dict[str, Any], Field(description="Parameters of ``detail_code`` (mode, signal name, "
                                                               "value, reasons ...).")] = \
        dataclasses.field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready dict."""
        return dict(self.__dict__)


class Store:
    """Database access for the controller, the API and the CLI.

    Parameters
    ----------
    url : str
        Database URL (see :func:`h2quarters.store.engine.make_engines`).
    create : bool
        Create missing tables.

    Examples
    --------
    >>> st = Store("sqlite:////tmp/h2q-example.db")  # doctest: +SKIP
    >>> st.audit_command("c-1", "anna", "engineer", "api", "setpoint", "el_production_rate_pct", 50.0)  # doctest: +SKIP
    """

    def __init__(self, url: str, create: bool = True) -> None:
        self.url = url
        self.w, self.r = make_engines(url)
        self.dialect = self.w.dialect.name
        if create:
            S.metadata.create_all(self.w)
            self._add_missing_columns()
        self._sig_ids: dict[str, int] = {}

    def _add_missing_columns(self) -> None:
        """Columns added after a database was created (``create_all`` only creates missing tables)."""
        cols = {c["name"] for c in sa.inspect(self.w).get_columns("alarms")}
        if "params" not in cols:
            with self.w.begin() as c:
                c.exec_driver_sql("ALTER TABLE alarms ADD COLUMN params TEXT")
        cols = {c["name"] for c in sa.inspect(self.w).get_columns("command_results")}
        with self.w.begin() as c:
            if "code" not in cols:
                c.exec_driver_sql("ALTER TABLE command_results ADD COLUMN code VARCHAR(64) NOT NULL DEFAULT ''")
            if "params" not in cols:
                c.exec_driver_sql("ALTER TABLE command_results ADD COLUMN params TEXT")

    def close(self) -> None:
        """Dispose both engines."""
        self.w.dispose()
        if self.r is not self.w:
            self.r.dispose()

    # ================================================================== signals and measurements
    def ensure_signals(self, names_units: Iterable[tuple[str, str]]) -> dict[str, int]:
        """Register signal names (idempotent) and return name → id for all known signals."""
        with self.w.begin() as c:
            known = {row.name: row.signal_id for row in c.execute(sa.select(S.signals.c.name, S.signals.c.signal_id))}
            nxt = max(known.values(), default=0) + 1
            for name, unit in names_units:
                if name not in known:
                    c.execute(S.signals.insert().values(signal_id=nxt, name=name, unit=unit or ""))
                    known[name] = nxt
                    nxt += 1
        self._sig_ids = known
        return dict(known)

    def signal_ids(self) -> dict[str, int]:
        """name → id of registered signals."""
        if not self._sig_ids:
            with self.r.connect() as c:
                self._sig_ids = {r.name: r.signal_id for r in c.execute(sa.select(S.signals.c.name,
                                                                                   S.signals.c.signal_id))}
        return dict(self._sig_ids)

    def write_measurements(self, batches: Sequence[tuple[int, Sequence[tuple[int, float | None, int]]]]) -> int:
        """Insert measurement cycles in one transaction and return the newest committed ``t_ms``.

        Parameters
        ----------
        batches
            ``[(t_ms, [(signal_id, value or None, quality), ...]), ...]``; a value that is not finite is stored
            as NULL (SQL has no NaN in PostgreSQL's sense of ordering; NULL + quality is unambiguous).
        """
        rows = []
        for t_ms, vals in batches:
            for sid, v, q in vals:
                fv = None if v is None or not math.isfinite(float(v)) else float(v)
                rows.append({"signal_id": sid, "t_ms": int(t_ms), "value": fv, "quality": int(q)})
        if not rows:
            return max((b[0] for b in batches), default=0)
        with self.w.begin() as c:
            c.execute(S.measurements.insert(), rows)
        return max(int(b[0]) for b in batches)

    def last_measurement_t_ms(self) -> int | None:
        """Newest stored raw measurement time."""
        with self.r.connect() as c:
            return c.execute(sa.select(sa.func.max(S.measurements.c.t_ms))).scalar()

    def count_measurements(self, t0_ms: int | None = None, t1_ms: int | None = None) -> int:
        """Number of raw measurement rows in ``[t0, t1]``."""
        q = sa.select(sa.func.count()).select_from(S.measurements)
        if t0_ms is not None:
            q = q.where(S.measurements.c.t_ms >= t0_ms)
        if t1_ms is not None:
            q = q.where(S.measurements.c.t_ms <= t1_ms)
        with self.r.connect() as c:
            return int(c.execute(q).scalar() or 0)

    def measurement_times(self, t0_ms: int, t1_ms: int) -> list[int]:
        """Distinct raw measurement times (cycles) in ``[t0, t1]``."""
        q = (sa.select(S.measurements.c.t_ms).distinct()
             .where(S.measurements.c.t_ms.between(t0_ms, t1_ms)).order_by(S.measurements.c.t_ms))
        with self.r.connect() as c:
            return [int(r[0]) for r in c.execute(q)]

    def history(self, names: Sequence[str], t0_ms: int, t1_ms: int, bucket_s: int | None = None,
                max_points: int = 20_000) -> dict[str, dict[str, list[Any]]]:
        """History of signals from raw and downsampled data.

        Parameters
        ----------
        names : sequence of str
            Signal names (unknown names raise ``KeyError`` naming the signal).
        t0_ms, t1_ms : int
            Time range, ms since epoch (inclusive).
        bucket_s : int, optional
            Resampling interval in s (mean per bucket, bucket start as time); None = raw values.
        max_points : int
            Upper bound of points per signal (a bigger request is refused with ValueError: choose a bucket).

        Returns
        -------
        dict
            ``{name: {"t_ms": [...], "value": [...], "min": [...], "max": [...]}}`` (min/max only when resampled).
        """
        ids = self.signal_ids()
        unknown = [n for n in names if n not in ids]
        if unknown:
            raise KeyError(f"unknown signal(s) {unknown}")
        if t1_ms < t0_ms:
            raise ValueError(f"t1 ({t1_ms}) must not be before t0 ({t0_ms})")
        out: dict[str, dict[str, list[Any]]] = {}
        m, m1 = S.measurements, S.measurements_1min
        with self.r.connect() as c:
            for name in names:
                sid = ids[name]
                if bucket_s is None:
                    n = c.execute(sa.select(sa.func.count()).select_from(m).where(
                        m.c.signal_id == sid, m.c.t_ms.between(t0_ms, t1_ms))).scalar() or 0
                    if n > max_points:
                        raise ValueError(f"{n} points of {name} in range exceed max_points={max_points}; "
                                         f"give a resampling interval (bucket_s)")
                    rows = c.execute(sa.select(m.c.t_ms, m.c.value).where(
                        m.c.signal_id == sid, m.c.t_ms.between(t0_ms, t1_ms)).order_by(m.c.t_ms)).all()
                    # older data only exists downsampled: return minute means
                    old = c.execute(sa.select(m1.c.t_ms, m1.c.mean).where(
                        m1.c.signal_id == sid, m1.c.t_ms.between(t0_ms, t1_ms)).order_by(m1.c.t_ms)).all()
                    first_raw = rows[0][0] if rows else t1_ms + 1
                    merged = [(t, v) for t, v in old if t < first_raw] + [tuple(r) for r in rows]
                    out[name] = {"t_ms": [int(r[0]) for r in merged], "value": [r[1] for r in merged]}
                    continue
                b_ms = int(bucket_s * 1000)
                if b_ms < 1000:
                    raise ValueError(f"bucket_s = {bucket_s} must be ≥ 1")
                if (t1_ms - t0_ms) / b_ms > max_points:
                    raise ValueError(f"range/bucket gives {(t1_ms - t0_ms) // b_ms} points > max_points={max_points}")
                bl = sa.literal(b_ms, sa.BigInteger)
                bucket = (m.c.t_ms // bl) * bl
                q = (sa.select(bucket.label("b"), sa.func.sum(m.c.value), sa.func.count(m.c.value),
                               sa.func.min(m.c.value), sa.func.max(m.c.value))
                     .where(m.c.signal_id == sid, m.c.t_ms.between(t0_ms, t1_ms)).group_by(bucket).order_by(bucket))
                bucket1 = (m1.c.t_ms // bl) * bl
                q1 = (sa.select(bucket1.label("b"), sa.func.sum(m1.c.mean * m1.c.n_good), sa.func.sum(m1.c.n_good),
                                sa.func.min(m1.c.min), sa.func.max(m1.c.max))
                      .where(m1.c.signal_id == sid, m1.c.t_ms.between(t0_ms // b_ms * b_ms, t1_ms))
                      .group_by(bucket1).order_by(bucket1))
                # a bucket may hold downsampled minutes and raw seconds: merge sums and counts
                acc: dict[int, list[Any]] = {}
                for r in list(c.execute(q1)) + list(c.execute(q)):
                    b, tot, n, lo, hi = int(r[0]), r[1], int(r[2] or 0), r[3], r[4]
                    a = acc.setdefault(b, [0.0, 0, None, None])
                    a[0] += float(tot or 0.0)
                    a[1] += n
                    a[2], a[3] = _min(a[2], _f(lo)), _max(a[3], _f(hi))
                ts = sorted(acc)
                out[name] = {"t_ms": ts, "value": [acc[t][0] / acc[t][1] if acc[t][1] else None for t in ts],
                             "min": [acc[t][2] for t in ts], "max": [acc[t][3] for t in ts]}
        return out

    def downsample(self, before_ms: int) -> int:
        """Move raw measurements older than ``before_ms`` (floored to the minute) into ``measurements_1min``.

        Mean/min/max over GOOD values and counts per signal and minute are inserted, the raw rows deleted, in one
        transaction; returns the number of raw rows removed. Run periodically (retention of 1-s data).
        """
        cut = before_ms // 60_000 * 60_000
        m, m1 = S.measurements, S.measurements_1min
        minute = (m.c.t_ms // sa.literal(60_000, sa.BigInteger)) * sa.literal(60_000, sa.BigInteger)
        good = sa.case((m.c.quality == 0, 1), else_=0)
        sel = (sa.select(m.c.signal_id, minute.label("t_ms"), sa.func.avg(m.c.value), sa.func.min(m.c.value),
                         sa.func.max(m.c.value), sa.func.sum(good), sa.func.count())
               .where(m.c.t_ms < cut).group_by(m.c.signal_id, minute))
        with self.w.begin() as c:
            # merge into minutes that were partly downsampled before (rows straddling an earlier cut)
            existing = c.execute(sa.select(sa.func.count()).select_from(m1).where(m1.c.t_ms >= cut - 60_000)).scalar()
            rows = c.execute(sel).all()
            if existing:
                for sid, t, mean, lo, hi, ng, n in rows:
                    old = c.execute(sa.select(m1).where(m1.c.signal_id == sid, m1.c.t_ms == t)).first()
                    if old is not None:
                        tot = (old.n_good or 0) + (ng or 0)
                        mm = None if tot == 0 else ((old.mean or 0) * old.n_good + (mean or 0) * ng) / tot
                        c.execute(m1.update().where(m1.c.signal_id == sid, m1.c.t_ms == t).values(
                            mean=mm, min=_min(old.min, lo), max=_max(old.max, hi), n_good=tot, n=old.n + n))
                    else:
                        c.execute(m1.insert().values(signal_id=sid, t_ms=t, mean=mean, min=lo, max=hi,
                                                     n_good=ng or 0, n=n))
            elif rows:
                c.execute(m1.insert(), [{"signal_id": sid, "t_ms": int(t), "mean": mean, "min": lo, "max": hi,
                                         "n_good": int(ng or 0), "n": int(n)} for sid, t, mean, lo, hi, ng, n in rows])
            res = c.execute(m.delete().where(m.c.t_ms < cut))
        return int(res.rowcount or 0)

    # ================================================================== commands (audit)
    def audit_command(self, command_id: str, user_name: str, role: str, source: str, kind: str, target: str,
                      value: Any, t_ms: int | None = None) -> tuple[bool, CommandRecord]:
        """Commit the audit row of a command *before* it is sent.

        Returns
        -------
        (created, record)
            ``created`` is False when the id exists already (idempotent retry): the caller must then not send
            the command again and reports the stored record instead.
        """
        if not command_id or len(command_id) > 64:
            raise ValueError(f"command_id = {command_id!r} must be 1..64 characters")
        row: dict[str, Any] = {"command_id": command_id, "t_ms": t_ms or now_ms(), "user_name": user_name, "role": role,
               "source": source, "kind": kind, "target": target, "value": json.dumps(value)}
        try:
            with self.w.begin() as c:
                c.execute(S.commands.insert().values(**row))
        except IntegrityError:
            rec = self.get_command(command_id)
            if rec is None:  # pragma: no cover - integrity error for another reason
                raise
            return False, dataclasses.replace(rec, duplicate=True)
        return True, CommandRecord(command_id, int(row["t_ms"]), user_name, role, source, kind, target, value,
                                   "pending", None, "")

    def record_result(self, command_id: str, status: str, detail: str = "", code: str = "",
                      params: dict[str, Any] | None = None) -> None:
        """Write the result row of a sent command (status ok/refused/failed).

        ``detail`` is the English text; ``code`` and ``params`` the same result as a message code with
        parameters (JSON-serialisable), which pages translate.
        """
        if status not in COMMAND_STATUSES or status == "pending":
            raise ValueError(f"status = {status!r}; allowed: ok, refused, failed, unknown")
        with self.w.begin() as c:
            c.execute(S.command_results.insert().values(command_id=command_id, t_ms=now_ms(), status=status,
                                                       detail=detail[:2000], code=code[:64],
                                                       params=json.dumps(params or {}, default=str)))

    def mark_unknown(self) -> int:
        """After a restart: give every audited command without result the result ``unknown``; return how many."""
        return len(self.mark_unknown_ids())

    def mark_unknown_ids(self) -> list[str]:
        """As :meth:`mark_unknown`, returning the ids of the commands marked."""
        cr = S.command_results
        with self.w.begin() as c:
            ids = [r[0] for r in c.execute(sa.select(S.commands.c.command_id).where(
                ~sa.exists().where(cr.c.command_id == S.commands.c.command_id)))]
            if ids:
                t = now_ms()
                c.execute(cr.insert(), [{"command_id": i, "t_ms": t, "status": "unknown",
                                         "detail": "no result recorded before the controller stopped",
                                         "code": "command.no_result", "params": "{}"}
                                        for i in ids])
        return ids

    def _cmd_query(self) -> sa.Select:
        cm, cr = S.commands, S.command_results
        return (sa.select(cm, cr.c.status, cr.c.t_ms.label("t_result_ms"), cr.c.detail, cr.c.code,
                          cr.c.params.label("result_params"))
                .select_from(cm.outerjoin(cr, cr.c.command_id == cm.c.command_id)))

    @staticmethod
    def _cmd_rec(r: Any) -> CommandRecord:
        return CommandRecord(r.command_id, int(r.t_ms), r.user_name, r.role, r.source, r.kind, r.target,
                             json.loads(r.value), r.status or "pending", r.t_result_ms, r.detail or "",
                             detail_code=r.code or "", detail_params=json.loads(r.result_params or "{}"))

    def get_command(self, command_id: str) -> CommandRecord | None:
        """One command with its result (``pending`` while no result row exists)."""
        with self.r.connect() as c:
            r = c.execute(self._cmd_query().where(S.commands.c.command_id == command_id)).first()
        return None if r is None else self._cmd_rec(r)

    def audit_log(self, limit: int = 200, t0_ms: int | None = None, t1_ms: int | None = None,
                  user_name: str | None = None) -> list[CommandRecord]:
        """Newest commands first."""
        q = self._cmd_query()
        if t0_ms is not None:
            q = q.where(S.commands.c.t_ms >= t0_ms)
        if t1_ms is not None:
            q = q.where(S.commands.c.t_ms <= t1_ms)
        if user_name:
            q = q.where(S.commands.c.user_name == user_name)
        q = q.order_by(S.commands.c.t_ms.desc(), S.commands.c.command_id.desc()).limit(limit)
        with self.r.connect() as c:
            return [self._cmd_rec(r) for r in c.execute(q)]

    # ================================================================== alarms
    def raise_alarm(self, code: str, severity: str, message: str, params: dict[str, Any] | None = None
                    ) -> int | None:
        """Raise an alarm unless one with this code is still open (not cleared); return its id or None.

        ``message`` is the English text (logs, API clients); ``params`` the values the HMI puts into its
        translation of ``code``."""
        a = S.alarms
        with self.w.begin() as c:
            open_ = c.execute(sa.select(a.c.alarm_id).where(a.c.code == code, a.c.t_cleared_ms.is_(None))).first()
            if open_ is not None:
                return None
            res = c.execute(a.insert().values(code=code, severity=severity, message=message, t_raised_ms=now_ms(),
                                              params=None if params is None else json.dumps(params, default=str)))
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def clear_alarm(self, code: str) -> int:
        """Mark open alarms with ``code`` as cleared (condition gone); return how many."""
        a = S.alarms
        with self.w.begin() as c:
            res = c.execute(a.update().where(a.c.code == code, a.c.t_cleared_ms.is_(None)).values(
                t_cleared_ms=now_ms()))
        return int(res.rowcount or 0)

    def ack_alarm(self, alarm_id: int, user_name: str) -> bool:
        """Acknowledge an alarm; False if unknown or already acknowledged."""
        a = S.alarms
        with self.w.begin() as c:
            res = c.execute(a.update().where(a.c.alarm_id == alarm_id, a.c.t_acked_ms.is_(None)).values(
                t_acked_ms=now_ms(), acked_by=user_name))
        return bool(res.rowcount)

    def alarms(self, active_only: bool = False, limit: int = 200) -> list[dict[str, Any]]:
        """Alarms, newest first; ``active_only``: not cleared or not acknowledged."""
        a = S.alarms
        q = sa.select(a)
        if active_only:
            q = q.where(sa.or_(a.c.t_cleared_ms.is_(None), a.c.t_acked_ms.is_(None)))
        q = q.order_by(a.c.t_raised_ms.desc(), a.c.alarm_id.desc()).limit(limit)
        with self.r.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(q)]
        for r in rows:
            r["params"] = json.loads(r["params"]) if r.get("params") else {}
        return rows

    def get_alarm(self, alarm_id: int) -> dict[str, Any] | None:
        """One alarm (None if unknown)."""
        with self.r.connect() as c:
            r = c.execute(sa.select(S.alarms).where(S.alarms.c.alarm_id == alarm_id)).first()
        return None if r is None else dict(r._mapping)

    def open_alarm_codes(self) -> set[str]:
        """Codes of alarms not yet cleared."""
        a = S.alarms
        with self.r.connect() as c:
            return {r[0] for r in c.execute(sa.select(a.c.code).where(a.c.t_cleared_ms.is_(None)))}

    # ================================================================== users
    def add_user(self, name: str, role: str, pw_hash: str) -> None:
        """Create a user (ValueError if the name exists)."""
        try:
            with self.w.begin() as c:
                c.execute(S.users.insert().values(name=name, role=role, pw_hash=pw_hash, t_created_ms=now_ms(),
                                                  active=True))
        except IntegrityError:
            raise ValueError(f"user {name!r} exists already") from None

    def set_password(self, name: str, pw_hash: str) -> bool:
        """Replace a user's password hash."""
        with self.w.begin() as c:
            return bool(c.execute(S.users.update().where(S.users.c.name == name).values(pw_hash=pw_hash)).rowcount)

    def update_user(self, name: str, role: str | None = None, active: bool | None = None) -> bool:
        """Change role and/or active flag; False if the user does not exist."""
        vals: dict[str, Any] = {}
        if role is not None:
            vals["role"] = role
        if active is not None:
            vals["active"] = active
        if not vals:
            return self.get_user(name) is not None
        with self.w.begin() as c:
            return bool(c.execute(S.users.update().where(S.users.c.name == name).values(**vals)).rowcount)

    def delete_user(self, name: str) -> bool:
        """Delete a user and their sessions (audit rows keep the name); False if unknown."""
        with self.w.begin() as c:
            c.execute(S.sessions.delete().where(S.sessions.c.user_name == name))
            return bool(c.execute(S.users.delete().where(S.users.c.name == name)).rowcount)

    def count_admins(self, active_only: bool = True) -> int:
        """Number of (active) administrators."""
        u = S.users
        q = sa.select(sa.func.count()).select_from(u).where(u.c.role == "admin")
        if active_only:
            q = q.where(u.c.active.is_(True))
        with self.r.connect() as c:
            return int(c.execute(q).scalar() or 0)

    # ================================================================== sessions
    def add_session(self, sid: str, user_name: str, t_issued_ms: int, t_expires_ms: int) -> None:
        """Record an issued session token."""
        with self.w.begin() as c:
            c.execute(S.sessions.insert().values(sid=sid, user_name=user_name, t_issued_ms=t_issued_ms,
                                                 t_expires_ms=t_expires_ms))

    def revoke_sessions(self, sid: str | None = None, user_name: str | None = None) -> list[str]:
        """Revoke one session or all of a user; returns the revoked ids."""
        s = S.sessions
        cond = [s.c.t_revoked_ms.is_(None)]
        if sid is not None:
            cond.append(s.c.sid == sid)
        if user_name is not None:
            cond.append(s.c.user_name == user_name)
        with self.w.begin() as c:
            ids = [r[0] for r in c.execute(sa.select(s.c.sid).where(*cond))]
            if ids:
                c.execute(s.update().where(s.c.sid.in_(ids)).values(t_revoked_ms=now_ms()))
        return ids

    def live_sessions(self, t_ms: int) -> dict[str, str]:
        """sid → user of sessions neither expired nor revoked at ``t_ms`` (expired rows are deleted)."""
        s = S.sessions
        with self.w.begin() as c:
            c.execute(s.delete().where(s.c.t_expires_ms < t_ms))
            return {r.sid: r.user_name for r in c.execute(sa.select(s.c.sid, s.c.user_name).where(
                s.c.t_revoked_ms.is_(None)))}

    def get_user(self, name: str) -> dict[str, Any] | None:
        """User row as dict, or None."""
        with self.r.connect() as c:
            r = c.execute(sa.select(S.users).where(S.users.c.name == name)).first()
        return None if r is None else dict(r._mapping)

    def list_users(self) -> list[dict[str, Any]]:
        """All users without their hashes."""
        u = S.users
        with self.r.connect() as c:
            return [dict(r._mapping) for r in c.execute(sa.select(u.c.name, u.c.role, u.c.active,
                                                                  u.c.t_created_ms).order_by(u.c.name))]

    def count_users(self) -> int:
        """Number of users."""
        with self.r.connect() as c:
            return int(c.execute(sa.select(sa.func.count()).select_from(S.users)).scalar() or 0)

    # ================================================================== meta
    def get_meta(self, key: str) -> str | None:
        """Value of a meta key."""
        with self.r.connect() as c:
            return c.execute(sa.select(S.meta.c.value).where(S.meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (replacing an older value)."""
        with self.w.begin() as c:
            c.execute(S.meta.delete().where(S.meta.c.key == key))
            c.execute(S.meta.insert().values(key=key, value=value))

    def set_meta_if_absent(self, key: str, value: str) -> str:
        """Store ``value`` unless the key exists; return the stored value (first writer wins)."""
        try:
            with self.w.begin() as c:
                c.execute(S.meta.insert().values(key=key, value=value))
            return value
        except IntegrityError:
            v = self.get_meta(key)
            assert v is not None
            return v

    # ================================================================== plans and forecasts
    def save_plan(self, t_start_ms: int, dt_s: int, status: str, solve_s: float, data: dict[str, list[Any]]) -> int:
        """Store a plan (columns of equal length) and return its id."""
        n = len(next(iter(data.values()))) if data else 0
        with self.w.begin() as c:
            res = c.execute(S.plans.insert().values(t_created_ms=now_ms(), t_start_ms=t_start_ms, dt_s=dt_s,
                                                   n_steps=n, status=status, solve_s=solve_s,
                                                   data=json.dumps(data, allow_nan=False, default=float)))
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def latest_plan(self) -> dict[str, Any] | None:
        """Newest plan with its data decoded."""
        with self.r.connect() as c:
            r = c.execute(sa.select(S.plans).order_by(S.plans.c.plan_id.desc()).limit(1)).first()
        if r is None:
            return None
        d = dict(r._mapping)
        d["data"] = json.loads(d["data"])
        return d

    def plans_between(self, t0_ms: int, t1_ms: int) -> list[dict[str, Any]]:
        """Plans created in ``[t0, t1]``, oldest first, data decoded."""
        p = S.plans
        with self.r.connect() as c:
            rows = c.execute(sa.select(p).where(p.c.t_created_ms.between(t0_ms, t1_ms)).order_by(p.c.plan_id)).all()
        return [dict(r._mapping, data=json.loads(r.data)) for r in rows]

    def save_forecast(self, t_start_ms: int, dt_s: int, provider: str, pv_kw: Sequence[float],
                      persistence_kw: float | None) -> int:
        """Store a PV forecast and return its id."""
        with self.w.begin() as c:
            res = c.execute(S.forecasts.insert().values(
                t_created_ms=now_ms(), t_start_ms=t_start_ms, dt_s=dt_s, provider=provider,
                pv_kw=json.dumps([float(x) for x in pv_kw]),
                persistence_kw=None if persistence_kw is None or not math.isfinite(persistence_kw)
                else float(persistence_kw)))
            return int(res.inserted_primary_key[0])  # type: ignore[index]

    def forecasts_between(self, t0_ms: int, t1_ms: int) -> list[dict[str, Any]]:
        """Forecasts issued in ``[t0, t1]``, oldest first, values decoded."""
        f = S.forecasts
        with self.r.connect() as c:
            rows = c.execute(sa.select(f).where(f.c.t_created_ms.between(t0_ms, t1_ms))
                             .order_by(f.c.forecast_id)).all()
        return [dict(r._mapping, pv_kw=json.loads(r.pv_kw)) for r in rows]

    def latest_forecast(self) -> dict[str, Any] | None:
        """Newest forecast, values decoded."""
        f = S.forecasts
        with self.r.connect() as c:
            r = c.execute(sa.select(f).order_by(f.c.forecast_id.desc()).limit(1)).first()
        return None if r is None else dict(r._mapping, pv_kw=json.loads(r.pv_kw))


def _f(x: Any) -> float | None:
    return None if x is None else float(x)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def _max(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else max(a, b)
