"""Pre-computed daily and monthly sums of the pilot's energy signals, so the cockpit reads a few hundred rows
instead of years of 1-s and 1-min history.

Days are local (Europe/Berlin) days. SQL buckets a minute into its local day with the UTC offset of that
instant (a CASE over the daylight-saving periods of the years involved), which works alike in SQLite and
PostgreSQL. Minutes come from ``measurements_1min`` and, for the recent days still held at full rate, from the
raw ``measurements`` averaged per minute (the controller's downsampling moves whole minutes, so the two never
hold the same minute).

:func:`refresh` recomputes every day from the last partial day on (in one transaction: delete + insert) and
rolls the touched months up from their days; it is idempotent and cheap when run every few minutes.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from h2quarters.monitoring.energy import ENERGY_SIGNALS, EnergySums, sums_from_signals
from h2quarters.store import Store
from h2quarters.store import schema as S
from h2quarters.store import schema_monitoring as M

TZ = ZoneInfo("Europe/Berlin")
DAY_MS = 86_400_000
_EPOCH_ORD = dt.date(1970, 1, 1).toordinal()


def local_midnight_ms(day: dt.date) -> int:
    """UTC milliseconds of local midnight at the start of ``day``."""
    return int(dt.datetime.combine(day, dt.time(0), TZ).timestamp() * 1000)


def local_day(t_ms: int) -> dt.date:
    """Local date of a UTC millisecond time."""
    return dt.datetime.fromtimestamp(t_ms / 1000, TZ).date()


def _dst_periods(y0: int, y1: int) -> list[tuple[int, int]]:
    """UTC ms ranges of summer time (offset +2 h) for the years ``y0..y1`` (EU rule: last Sundays, 01:00 UTC)."""
    out = []
    for y in range(y0, y1 + 1):
        def last_sunday(month: int) -> dt.date:
            d = dt.date(y, month, 31)
            return d - dt.timedelta(days=(d.weekday() + 1) % 7)
        a = dt.datetime.combine(last_sunday(3), dt.time(1), dt.UTC)
        b = dt.datetime.combine(last_sunday(10), dt.time(1), dt.UTC)
        out.append((int(a.timestamp() * 1000), int(b.timestamp() * 1000)))
    return out


def _day_expr(t: sa.ColumnElement, t0_ms: int, t1_ms: int) -> sa.ColumnElement:
    """SQL: date ordinal of the local day of ``t`` (UTC ms) for times in ``[t0, t1)``."""
    big = sa.BigInteger
    whens = [(sa.and_(t >= a, t < b), sa.literal(7_200_000, big))
             for a, b in _dst_periods(local_day(t0_ms).year, local_day(max(t1_ms - 1, t0_ms)).year)]
    off = sa.case(*whens, else_=sa.literal(3_600_000, big)) if whens else sa.literal(3_600_000, big)
    return (t + off) // sa.literal(DAY_MS, big) + sa.literal(_EPOCH_ORD, big)


def energy_signal_ids(store: Store) -> dict[str, int]:
    """name → id of the energy signals registered in the store (missing ones are skipped)."""
    ids = store.signal_ids()
    if not all(n in ids for n in ENERGY_SIGNALS):
        store._sig_ids = {}  # another process may have registered them since: re-read
        ids = store.signal_ids()
    return {n: ids[n] for n in ENERGY_SIGNALS if n in ids}


def _minutes_query(sig_ids: list[int], t0_ms: int, t1_ms: int) -> sa.Subquery:
    """Minute rows (signal_id, t_ms, mean, max) in ``[t0, t1)`` from the 1-min table and the raw table."""
    m1, m = S.measurements_1min, S.measurements
    big = sa.BigInteger
    q1 = sa.select(m1.c.signal_id, m1.c.t_ms, m1.c.mean.label("mean"), m1.c.max.label("mx")).where(
        m1.c.signal_id.in_(sig_ids), m1.c.t_ms >= t0_ms, m1.c.t_ms < t1_ms, m1.c.n_good > 0,
        m1.c.mean.is_not(None))
    minute = (m.c.t_ms // sa.literal(60_000, big)) * sa.literal(60_000, big)
    q2 = (sa.select(m.c.signal_id, minute.label("t_ms"), sa.func.avg(m.c.value).label("mean"),
                    sa.func.max(m.c.value).label("mx"))
          .where(m.c.signal_id.in_(sig_ids), m.c.t_ms >= t0_ms, m.c.t_ms < t1_ms, m.c.quality == 0,
                 m.c.value.is_not(None))
          .group_by(m.c.signal_id, minute))
    return sa.union_all(q1, q2).subquery("mins")


def _daily_rows(c: sa.Connection, sig_ids: list[int], t0_ms: int, t1_ms: int) -> list[dict[str, object]]:
    mins = _minutes_query(sig_ids, t0_ms, t1_ms)
    day = _day_expr(mins.c.t_ms, t0_ms, t1_ms).label("day")
    q = (sa.select(mins.c.signal_id, day, sa.func.sum(mins.c.mean),
                   sa.func.sum(sa.case((mins.c.mean > 0, mins.c.mean), else_=0.0)), sa.func.count(),
                   sa.func.sum(sa.case((mins.c.mx != 0, 1), else_=0)))
         .group_by(mins.c.signal_id, day))
    return [{"signal_id": int(r[0]), "day": int(r[1]), "sum_mean": float(r[2] or 0.0), "sum_pos": float(r[3] or 0.0),
             "n_min": int(r[4]), "n_nonzero": int(r[5] or 0)} for r in c.execute(q)]


def _month_key(day_ord: int) -> int:
    d = dt.date.fromordinal(day_ord)
    return d.year * 100 + d.month


def _month_bounds(key: int) -> tuple[int, int]:
    y, m = divmod(key, 100)
    first = dt.date(y, m, 1)
    nxt = dt.date(y + (m == 12), m % 12 + 1, 1)
    return first.toordinal(), nxt.toordinal()


def _get_state(c: sa.Connection, key: str) -> int | None:
    return c.execute(sa.select(M.kpi_agg_state.c.value).where(M.kpi_agg_state.c.key == key)).scalar()


def _set_state(c: sa.Connection, key: str, value: int) -> None:
    st = M.kpi_agg_state
    if c.execute(st.update().where(st.c.key == key).values(value=value)).rowcount == 0:
        c.execute(st.insert().values(key=key, value=value))


@dataclass(frozen=True)
class RefreshResult:
    """What one :func:`refresh` did."""

    days: int
    months: int
    from_day: dt.date | None
    newest_data_ms: int | None


def refresh(store: Store, now_ms: int | None = None, full: bool = False) -> RefreshResult:
    """Bring ``kpi_daily`` and ``kpi_monthly`` up to date.

    Parameters
    ----------
    store : Store
        The store (rows computed on the read engine, swapped in with one short write transaction).
    now_ms : int, optional
        Current time (default wall clock); days up to and including its local day are computed.
    full : bool
        Recompute everything from the oldest data (e.g. after history was imported).
    """
    from h2quarters.store.store import now_ms as _now

    now = _now() if now_ms is None else int(now_ms)
    sig = energy_signal_ids(store)
    if not sig:
        return RefreshResult(0, 0, None, None)
    ids = sorted(sig.values())
    m1, m = S.measurements_1min, S.measurements
    # read phase on the read engine (WAL readers never block the controller's writer); the write transaction
    # below only swaps the computed rows in
    with store.r.connect() as c, c.begin():
        start_ms = None if full else _get_state(c, "daily_from_ms")
        # newest *valid* data, read first: anything newer lands on or after its day, which stays open
        newest = [c.execute(sa.select(sa.func.max(m1.c.t_ms)).where(m1.c.signal_id == i, m1.c.n_good > 0)).scalar()
                  for i in ids]
        newest += [c.execute(sa.select(sa.func.max(m.c.t_ms)).where(m.c.signal_id == i, m.c.quality == 0)).scalar()
                   for i in ids]
        newest_ms = max((n for n in newest if n is not None), default=None)
        if start_ms is None:
            oldest = [c.execute(sa.select(sa.func.min(t.c.t_ms)).where(t.c.signal_id == i)).scalar()
                      for t in (m1, m) for i in ids]
            oldest = [o for o in oldest if o is not None]
            if not oldest:
                return RefreshResult(0, 0, None, None)
            start_ms = local_midnight_ms(local_day(min(oldest)))
        end_ms = local_midnight_ms(local_day(now) + dt.timedelta(days=1))
        from_day = local_day(start_ms)
        rows = _daily_rows(c, ids, start_ms, end_ms)
    d, mo = M.kpi_daily, M.kpi_monthly
    first_month = from_day.year * 100 + from_day.month
    lo, _ = _month_bounds(first_month)
    with store.w.begin() as c:
        c.execute(d.delete().where(d.c.day >= from_day.toordinal()))
        if rows:
            c.execute(d.insert(), rows)
        # months touched: recompute from their days
        agg: dict[tuple[int, int], list[float]] = defaultdict(lambda: [0.0, 0.0, 0, 0])
        for r in c.execute(sa.select(d).where(d.c.day >= lo)):
            a = agg[(r.signal_id, _month_key(r.day))]
            a[0] += r.sum_mean
            a[1] += r.sum_pos
            a[2] += r.n_min
            a[3] += r.n_nonzero
        c.execute(mo.delete().where(mo.c.month >= first_month))
        if agg:
            c.execute(mo.insert(), [{"signal_id": s, "month": k, "sum_mean": v[0], "sum_pos": v[1],
                                     "n_min": int(v[2]), "n_nonzero": int(v[3])} for (s, k), v in agg.items()])
        if newest_ms is not None:
            _set_state(c, "newest_data_ms", int(newest_ms))
        # the last day with data stays open: it is recomputed next time
        last_day = local_day(newest_ms) if newest_ms is not None else from_day
        _set_state(c, "daily_from_ms", local_midnight_ms(min(last_day, local_day(now))))
    return RefreshResult(len(rows), len({k for _, k in agg}), from_day, newest_ms)


def newest_data_ms(store: Store) -> int | None:
    """Time of the newest measurement seen by the last :func:`refresh`."""
    with store.r.connect() as c:
        return _get_state(c, "newest_data_ms")


def _to_sums(rows: Iterable[sa.Row], names: dict[int, str], window_minutes: int) -> EnergySums:
    per: dict[str, tuple[float, float, int, int]] = {}
    for sid, s, sp, n, nz in rows:
        if sid in names:
            per[names[sid]] = (float(s or 0.0), float(sp or 0.0), int(n or 0), int(nz or 0))
    return sums_from_signals(per, window_minutes)


def _window_minutes(d0: dt.date, d1: dt.date) -> int:
    return (local_midnight_ms(d1) - local_midnight_ms(d0)) // 60_000


def period_sums(store: Store, d0: dt.date, d1: dt.date) -> EnergySums:
    """Summed energies of the local days ``[d0, d1)`` from ``kpi_daily``."""
    sig = energy_signal_ids(store)
    names = {v: k for k, v in sig.items()}
    d = M.kpi_daily
    q = (sa.select(d.c.signal_id, sa.func.sum(d.c.sum_mean), sa.func.sum(d.c.sum_pos), sa.func.sum(d.c.n_min),
                   sa.func.sum(d.c.n_nonzero))
         .where(d.c.signal_id.in_(list(names)), d.c.day >= d0.toordinal(), d.c.day < d1.toordinal())
         .group_by(d.c.signal_id))
    with store.r.connect() as c:
        return _to_sums(c.execute(q), names, _window_minutes(d0, d1))


def monthly_sums(store: Store, first: int, last: int) -> dict[int, EnergySums]:
    """EnergySums per month key (year·100 + month) in ``[first, last]`` from ``kpi_monthly``."""
    sig = energy_signal_ids(store)
    names = {v: k for k, v in sig.items()}
    mo = M.kpi_monthly
    q = (sa.select(mo.c.month, mo.c.signal_id, mo.c.sum_mean, mo.c.sum_pos, mo.c.n_min, mo.c.n_nonzero)
         .where(mo.c.signal_id.in_(list(names)), mo.c.month >= first, mo.c.month <= last))
    by: dict[int, list[tuple[int, float, float, int, int]]] = defaultdict(list)
    with store.r.connect() as c:
        for r in c.execute(q):
            by[int(r[0])].append((r[1], r[2], r[3], r[4], r[5]))
    out = {}
    for k, rows in by.items():
        lo, hi = _month_bounds(k)
        out[k] = _to_sums(rows, names, _window_minutes(dt.date.fromordinal(lo), dt.date.fromordinal(hi)))  # type: ignore[arg-type]
    return out


def daily_sums(store: Store, d0: dt.date, d1: dt.date) -> dict[dt.date, EnergySums]:
    """EnergySums per local day in ``[d0, d1)``."""
    sig = energy_signal_ids(store)
    names = {v: k for k, v in sig.items()}
    d = M.kpi_daily
    q = (sa.select(d.c.day, d.c.signal_id, d.c.sum_mean, d.c.sum_pos, d.c.n_min, d.c.n_nonzero)
         .where(d.c.signal_id.in_(list(names)), d.c.day >= d0.toordinal(), d.c.day < d1.toordinal()))
    by: dict[int, list[tuple[int, float, float, int, int]]] = defaultdict(list)
    with store.r.connect() as c:
        for r in c.execute(q):
            by[int(r[0])].append((r[1], r[2], r[3], r[4], r[5]))
    return {dt.date.fromordinal(k): _to_sums(rows, names, _window_minutes(dt.date.fromordinal(k),  # type: ignore[arg-type]
                                                                          dt.date.fromordinal(k + 1)))
            for k, rows in by.items()}


__all__ = ["RefreshResult", "daily_sums", "energy_signal_ids", "local_day", "local_midnight_ms", "monthly_sums",
           "newest_data_ms", "period_sums", "refresh"]
