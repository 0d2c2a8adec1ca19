"""Hand-entered and counted KPI values, and the versioned catalogue — both audited (who, when).

Values are append-only: a correction is a new row that ``supersedes`` the old one, so the history of who entered
what stays in the store. Learning-lab counts use the same table with ``source='counted'`` once that module
stores them (:func:`add_value` with ``source="counted"``).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

import sqlalchemy as sa

from h2quarters.monitoring.aggregates import local_day
from h2quarters.monitoring.catalogue import Catalogue, Kpi, load_catalogue, parse_catalogue, text_sha256
from h2quarters.store import Store
from h2quarters.store import schema_monitoring as M
from h2quarters.store.store import now_ms

MAX_REASON = 2000


@dataclass(frozen=True)
class Entry:
    """One stored value."""

    value_id: int
    kpi_id: str
    day: dt.date
    value: float
    reason: str
    source: str
    user_name: str
    role: str
    t_entered_ms: int
    supersedes: int | None

    def as_dict(self) -> dict[str, object]:
        """JSON-ready dict."""
        return {**self.__dict__, "day": self.day.isoformat()}


def _entry(r: sa.Row) -> Entry:
    return Entry(int(r.value_id), r.kpi_id, dt.date.fromordinal(int(r.day)), float(r.value), r.reason, r.source,
                 r.user_name, r.role, int(r.t_entered_ms), r.supersedes)


def check_value(kpi: Kpi, day: dt.date, value: float, reason: str, today: dt.date, source: str = "manual") -> float:
    """Validate a hand value; ValueError names the field, the value and what is allowed."""
    if kpi.source not in ("manual", "counted"):
        raise ValueError(f"kpi = {kpi.id!r}: source is '{kpi.source}'; only manual and counted KPIs take entered "
                         "values")
    if source not in ("manual", "counted"):
        raise ValueError(f"source = {source!r}; allowed: manual, counted")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"value = {value!r} is not a number") from None
    lo = kpi.min_value if kpi.min_value is not None else 0.0
    hi = kpi.max_value if kpi.max_value is not None else 1e9
    if not math.isfinite(v) or not lo <= v <= hi:
        raise ValueError(f"value = {value!r} out of range for {kpi.id}: allowed {lo:g} … {hi:g} {kpi.unit}")
    if kpi.aggregation == "last" and v != int(v):
        raise ValueError(f"value = {value!r}: {kpi.id} takes a whole stage {lo:g} … {hi:g}")
    if day > today:
        raise ValueError(f"day = {day.isoformat()} is in the future (today is {today.isoformat()})")
    if day.year < 2000:
        raise ValueError(f"day = {day.isoformat()}: allowed from 2000-01-01")
    if len(reason) > MAX_REASON:
        raise ValueError(f"reason: {len(reason)} characters; allowed at most {MAX_REASON}")
    if kpi.aggregation == "last" and len(reason.strip()) < 3:
        raise ValueError(f"reason = {reason!r}: {kpi.id} needs a reason (at least 3 characters)")
    return v


def add_value(store: Store, cat: Catalogue, kpi_id: str, day: dt.date, value: float, reason: str, user_name: str,
              role: str, source: str = "manual", supersedes: int | None = None,
              t_ms: int | None = None) -> Entry:
    """Store a value with who and when (one transaction; nothing is written if a check fails).

    Raises
    ------
    KeyError
        Unknown KPI.
    ValueError
        Value out of range, day in the future, missing reason, or ``supersedes`` not a value of this KPI.
    """
    kpi = cat.kpi(kpi_id)
    t = now_ms() if t_ms is None else int(t_ms)
    v = check_value(kpi, day, value, reason, local_day(t), source)
    kv = M.kpi_values
    with store.w.begin() as c:
        if supersedes is not None:
            old = c.execute(sa.select(kv.c.kpi_id).where(kv.c.value_id == supersedes)).scalar()
            if old != kpi_id:
                raise ValueError(f"supersedes = {supersedes}: no value of {kpi_id} with that id")
        res = c.execute(kv.insert().values(kpi_id=kpi_id, day=day.toordinal(), value=v, reason=reason.strip(),
                                           source=source, user_name=user_name, role=role, t_entered_ms=t,
                                           supersedes=supersedes))
        vid = int(res.inserted_primary_key[0])  # type: ignore[index]
    return Entry(vid, kpi_id, day, v, reason.strip(), source, user_name, role, t, supersedes)


def _live(kv: sa.Table) -> sa.ColumnElement[bool]:
    sup = sa.select(kv.c.supersedes).where(kv.c.supersedes.is_not(None)).scalar_subquery()
    return kv.c.value_id.not_in(sup)


def values(store: Store, kpi_ids: list[str] | None = None, include_superseded: bool = False,
           limit: int = 10_000) -> list[Entry]:
    """Stored values, newest entry first."""
    kv = M.kpi_values
    q = sa.select(kv)
    if kpi_ids is not None:
        q = q.where(kv.c.kpi_id.in_(kpi_ids))
    if not include_superseded:
        q = q.where(_live(kv))
    q = q.order_by(kv.c.t_entered_ms.desc(), kv.c.value_id.desc()).limit(limit)
    with store.r.connect() as c:
        return [_entry(r) for r in c.execute(q)]


def value_as_of(entries: list[Entry], kpi: Kpi, day: dt.date) -> tuple[float | None, int | None]:
    """(value, newest entry time ms) of a hand-entered KPI as of ``day`` from its live entries.

    ``sum``: the sum of entries in the window ``(day − window_days, day]``; ``last``: the newest entry on or
    before ``day``. Entries after ``day`` are ignored (for the series).
    """
    mine = [e for e in entries if e.kpi_id == kpi.id and e.day <= day]
    if not mine:
        return None, None
    t_new = max(e.t_entered_ms for e in mine)
    if kpi.aggregation == "last":
        e = max(mine, key=lambda e: (e.day, e.t_entered_ms, e.value_id))
        return e.value, t_new
    lo = day - dt.timedelta(days=kpi.window_days)
    return sum(e.value for e in mine if e.day > lo), t_new


# ====================================================================== catalogue versions
def sync_catalogue(store: Store, text: str | None = None, user_name: str = "package") -> tuple[Catalogue, int]:
    """Make the store's active catalogue current and return it with its version id.

    The packaged (or given) file is stored as a new version when it differs from the last version that came
    from the package (a software update); a catalogue uploaded later by an administrator stays active until the
    package changes again.
    """
    if text is None:
        _, text = load_catalogue()
    parse_catalogue(text, "package catalogue")
    v = M.kpi_catalogue_versions
    sha = text_sha256(text)
    with store.w.begin() as c:
        last_pkg = c.execute(sa.select(v.c.sha256).where(v.c.origin == "package")
                             .order_by(v.c.version_id.desc()).limit(1)).scalar()
        if last_pkg != sha:
            c.execute(v.insert().values(t_ms=now_ms(), user_name=user_name, origin="package", sha256=sha,
                                        comment="packaged catalogue", text=text))
    return active_catalogue(store)


def active_catalogue(store: Store) -> tuple[Catalogue, int]:
    """The newest stored catalogue version (parsed) and its id."""
    v = M.kpi_catalogue_versions
    with store.r.connect() as c:
        r = c.execute(sa.select(v.c.version_id, v.c.text).order_by(v.c.version_id.desc()).limit(1)).first()
    if r is None:
        return sync_catalogue(store)
    return parse_catalogue(r.text, f"catalogue version {r.version_id}"), int(r.version_id)


def latest_version_id(store: Store) -> int | None:
    """Id of the newest stored catalogue version."""
    v = M.kpi_catalogue_versions
    with store.r.connect() as c:
        return c.execute(sa.select(sa.func.max(v.c.version_id))).scalar()


def upload_catalogue(store: Store, text: str, user_name: str, comment: str = "") -> tuple[Catalogue, int]:
    """Validate and store a new catalogue version (ConfigError with every problem; nothing stored then)."""
    cat = parse_catalogue(text, "uploaded catalogue")
    v = M.kpi_catalogue_versions
    with store.w.begin() as c:
        res = c.execute(v.insert().values(t_ms=now_ms(), user_name=user_name, origin="upload",
                                          sha256=text_sha256(text), comment=comment[:500], text=text))
        vid = int(res.inserted_primary_key[0])  # type: ignore[index]
    return cat, vid


def catalogue_versions(store: Store) -> list[dict[str, object]]:
    """Every version (without text), newest first: who, when, origin, hash, comment."""
    v = M.kpi_catalogue_versions
    with store.r.connect() as c:
        return [dict(r._mapping) for r in c.execute(
            sa.select(v.c.version_id, v.c.t_ms, v.c.user_name, v.c.origin, v.c.sha256, v.c.comment)
            .order_by(v.c.version_id.desc()))]


__all__ = ["Entry", "active_catalogue", "add_value", "catalogue_versions", "check_value", "sync_catalogue",
           "upload_catalogue", "value_as_of", "values"]
