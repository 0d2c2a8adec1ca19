"""Synthetic 1-minute history for benchmarks, tests and demonstrations of the cockpit (SQLite, bulk SQL).

One ``INSERT … SELECT`` over a recursive minute counter per signal writes a year of minutes in seconds instead of
minutes of Python loops. The energy signals follow a plausible day: PV as a clipped sine scaled by season, a
constant lab load, the electrolyser running on PV surplus, grid import/export as the balance; every other signal
gets a constant. It is *test data*, never shown as measurements of the real pilot.
"""

from __future__ import annotations

from collections.abc import Iterable

from h2quarters.store import Store

_MINUTE = "(:t0 + m * 60000)"
# local solar hour ≈ UTC hour + 1 (Kassel 9.5° E); day of year for the season
_HOUR = f"((({_MINUTE} / 60000) % 1440) / 60.0 + 1.0)"
_DOY = f"((({_MINUTE} / 86400000) % 365))"
_DAY = f"({_MINUTE} / 86400000)"
# season × daily weather (a deterministic pseudo-random factor per day, so years differ) × sun path
_PV = (f"(CASE WHEN {_HOUR} BETWEEN 6 AND 20 THEN 30.0 * (0.35 + 0.65 * (0.5 - 0.5 * cos(2 * pi() * ({_DOY} - 10) / 365)))"
       f" * (0.45 + 0.55 * abs(sin({_DAY} * 12.9898)))"
       f" * max(sin(pi() * ({_HOUR} - 6) / 14), 0) ELSE 0.0 END)")
_LOAD = "2.85"
_EL = f"(CASE WHEN {_PV} > 9.0 THEN 5.4 ELSE 0.0 END)"
EXPRESSIONS: dict[str, str] = {
    "pv_power_kw": _PV,
    "load_power_kw": _LOAD,
    "el_power_kw": _EL,
    "compressor_power_kw": f"({_EL} * 0.012)",
    "grid_import_kw": f"max({_LOAD} + {_EL} * 1.012 - {_PV}, 0.0)",
    "grid_export_kw": f"max({_PV} - {_LOAD} - {_EL} * 1.012, 0.0)",
    "el_h2_flow_nlh": f"({_EL} * 1000.0 / 4.9)",  # ≈ 54.5 kWh/kg system SEC
    "el_health": "(CASE WHEN m % 50000 < 300 THEN 4 ELSE 0 END)",  # a maintenance window now and then
    "fc_power_kw": f"(CASE WHEN {_HOUR} BETWEEN 18 AND 20 THEN 1.5 ELSE 0.0 END)",
    "fc_heat_kw": f"(CASE WHEN {_HOUR} BETWEEN 18 AND 20 THEN 1.1 ELSE 0.0 END)",
    "fc_h2_kg_per_h": f"(CASE WHEN {_HOUR} BETWEEN 18 AND 20 THEN 0.1 ELSE 0.0 END)",
    "battery_power_kw": "0.0",
}


def fill_minutes(store: Store, names_units: Iterable[tuple[str, str]], t0_ms: int, n_minutes: int) -> int:
    """Write ``n_minutes`` of 1-min rows from ``t0_ms`` (minute-aligned) for every signal; return rows written.

    Raises
    ------
    ValueError
        Not SQLite, or ``t0_ms`` not on a minute.
    """
    if store.dialect != "sqlite":
        raise ValueError(f"synthetic history is written with SQLite's recursive SQL; got {store.dialect}")
    if t0_ms % 60_000:
        raise ValueError(f"t0_ms = {t0_ms} must be on a whole minute")
    wanted = list(names_units)
    ids = store.ensure_signals(wanted)
    n = 0
    raw = store.w.raw_connection()  # DB-API level: SQLAlchemy would open a transaction before the PRAGMA
    try:
        cur = raw.cursor()
        # test data: no fsync per statement (the store's durable settings are for real measurements)
        cur.execute("PRAGMA synchronous=OFF")
        cur.execute("BEGIN IMMEDIATE")
        for name, _unit in wanted:
            sid = ids[name]
            expr = EXPRESSIONS.get(name, f"{float(sid % 7)}")
            sql = (f"WITH RECURSIVE mins(m) AS (SELECT 0 UNION ALL SELECT m + 1 FROM mins WHERE m + 1 < :n) "
                   f"INSERT INTO measurements_1min (signal_id, t_ms, mean, min, max, n_good, n) "
                   f"SELECT :sid, t, v, v, v, 60, 60 FROM (SELECT {_MINUTE} AS t, {expr} AS v FROM mins)")
            cur.execute(sql.replace(":t0", str(int(t0_ms))).replace(":n", str(int(n_minutes)))
                        .replace(":sid", str(int(sid))))
            n += n_minutes
        cur.execute("COMMIT")
        cur.execute("PRAGMA synchronous=FULL")
        cur.close()
    finally:
        raw.close()
    return n


__all__ = ["EXPRESSIONS", "fill_minutes"]
