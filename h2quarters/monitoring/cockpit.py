"""The cockpit's views over the catalogue, the aggregates and the hand values: the four monitoring levels, a KPI's
detail (series against its target path, trend, data age, forecast) and the energy view of a period.

Everything a page, an export or a JSON endpoint shows comes from here, so they cannot disagree.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from h2quarters.monitoring import aggregates as A
from h2quarters.monitoring import entries as E
from h2quarters.monitoring.catalogue import Catalogue, Kpi
from h2quarters.monitoring.energy import FORMULAS, EnergySums, self_sufficiency_pct, simulated_value, \
    solar_self_use_pct
from h2quarters.monitoring.rating import Child, Rating, RollUp, rate, roll_up, target_at
from h2quarters.store import Store

log = logging.getLogger(__name__)
TZ = A.TZ
REFRESH_EVERY_S = 120.0


def _month_end(y: int, m: int) -> dt.date:
    return dt.date(y + (m == 12), m % 12 + 1, 1) - dt.timedelta(days=1)


@dataclass
class Period:
    """An energy-view period: a local day, month or year."""

    kind: str  # day | month | year
    start: dt.date
    end: dt.date  # exclusive

    @classmethod
    def parse(cls, kind: str, when: str | None, today: dt.date) -> "Period":
        """``kind`` day/month/year and ``when`` (2026-06-21, 2026-06, 2026; default: the current one)."""
        try:
            if kind == "day":
                d = dt.date.fromisoformat(when) if when else today
                return cls("day", d, d + dt.timedelta(days=1))
            if kind == "month":
                y, m = (int(x) for x in when.split("-")[:2]) if when else (today.year, today.month)
                s = dt.date(y, m, 1)
                return cls("month", s, _month_end(y, m) + dt.timedelta(days=1))
            if kind == "year":
                y = int(when) if when else today.year
                return cls("year", dt.date(y, 1, 1), dt.date(y + 1, 1, 1))
        except (ValueError, TypeError):
            raise ValueError(f"when = {when!r} does not fit period {kind!r} (e.g. 2026-06-21, 2026-06, 2026)") \
                from None
        raise ValueError(f"period = {kind!r}; allowed: day, month, year")

    def year_before(self) -> "Period":
        """The same period one year earlier."""
        def back(d: dt.date) -> dt.date:
            try:
                return d.replace(year=d.year - 1)
            except ValueError:  # 29 February
                return d.replace(year=d.year - 1, day=28)
        return Period(self.kind, back(self.start), back(self.end))

    @property
    def label(self) -> str:
        """2026-06-21, 2026-06 or 2026."""
        return {"day": self.start.isoformat(), "month": self.start.strftime("%Y-%m"),
                "year": str(self.start.year)}[self.kind]


class Cockpit:
    """Views for one store; caches ratings for a few seconds and refreshes the aggregates in the background.

    Parameters
    ----------
    store : Store
        The store.
    scenario : Scenario, optional
        Site scenario for the simulator's forecast (annual simulation, run once in the background).
    """

    def __init__(self, store: Store, scenario: Any = None) -> None:
        self.store = store
        self.scenario = scenario
        self._lock = threading.Lock()
        self._cat: tuple[float, Catalogue, int] | None = None
        self._ratings: tuple[float, bool, dict[str, Any]] | None = None
        self._entries: tuple[float, list[E.Entry]] | None = None
        self._refresh_at = 0.0
        self._refreshing = False
        self.sim_kpis: dict[str, Any] | None = None
        self.sim_time: dt.datetime | None = None
        self._sim_started = False

    # ------------------------------------------------------------------ data sources
    def catalogue(self) -> tuple[Catalogue, int]:
        """Active catalogue and version: synced with the package on first use, re-parsed only when a new version
        was stored (one cheap query for the newest version id per call)."""
        c = self._cat
        if c is None:
            cat, vid = E.sync_catalogue(self.store)
            self._cat = c = (time.monotonic(), cat, vid)
            return cat, vid
        if E.latest_version_id(self.store) != c[2]:
            cat, vid = E.active_catalogue(self.store)
            self._cat = c = (time.monotonic(), cat, vid)
        return c[1], c[2]

    def invalidate(self) -> None:
        """Drop the cached ratings and entries (after an entry or a catalogue upload)."""
        self._ratings = None
        self._entries = None

    def entries(self) -> list[E.Entry]:
        """Live hand/counted values (cached 5 s)."""
        now = time.monotonic()
        if self._entries is None or now - self._entries[0] > 5.0:
            self._entries = (now, E.values(self.store))
        return self._entries[1]

    def maybe_refresh(self, wait: bool = False) -> None:
        """Refresh the aggregates if the last refresh is older than ``REFRESH_EVERY_S`` (in a thread)."""
        now = time.monotonic()
        with self._lock:
            if self._refreshing or now < self._refresh_at:
                return
            self._refreshing = True

        def run() -> None:
            try:
                A.refresh(self.store)
            except Exception:  # noqa: BLE001 - a failed refresh keeps the old aggregates; logged, retried
                log.exception("KPI aggregate refresh failed")
            finally:
                with self._lock:
                    self._refreshing = False
                    self._refresh_at = time.monotonic() + REFRESH_EVERY_S
                self._ratings = None

        if wait:
            run()
        else:
            threading.Thread(target=run, name="kpi-refresh", daemon=True).start()

    def use_simulation(self, site_kpis: dict[str, Any]) -> None:
        """Use key figures of an annual simulation computed elsewhere (no background run is started)."""
        self._sim_started = True
        self.sim_kpis = site_kpis
        self.sim_time = dt.datetime.now(TZ)
        self._ratings = None

    def start_simulation(self, wait: bool = False) -> None:
        """Run the scenario's annual simulation once (background) for the forecast and simulated KPIs."""
        if self._sim_started or self.scenario is None:
            return
        self._sim_started = True

        def run() -> None:
            try:
                if wait:
                    kpis = simulate_site_kpis(self.scenario)
                else:
                    # a separate process: the annual simulation must not hold the GIL of the process that also
                    # runs the control loop (``h2q serve``)
                    import multiprocessing as mp
                    from concurrent.futures import ProcessPoolExecutor

                    with ProcessPoolExecutor(max_workers=1, mp_context=mp.get_context("spawn")) as ex:
                        kpis = ex.submit(simulate_site_kpis, self.scenario).result(timeout=900)
                self.sim_kpis = kpis
                self.sim_time = dt.datetime.now(TZ)
                self._ratings = None
            except Exception:  # noqa: BLE001 - no forecast rather than no cockpit
                log.exception("annual simulation for the KPI forecast failed")

        if wait:
            run()
        else:
            threading.Thread(target=run, name="kpi-simulation", daemon=True).start()

    # ------------------------------------------------------------------ values
    def energy_sums(self, d0: dt.date, d1: dt.date) -> EnergySums:
        """Summed energies of local days ``[d0, d1)``."""
        return A.period_sums(self.store, d0, d1)

    def _measured(self, kpi: Kpi, sums: EnergySums) -> float | None:
        cat, _ = self.catalogue()
        ef = cat.emission_factor
        return FORMULAS[kpi.formula](sums, grid_g_per_kwh=ef.grid_g_per_kwh,  # type: ignore[index]
                                     gas_g_per_kwh=ef.gas_g_per_kwh)

    def value_as_of(self, kpi: Kpi, day: dt.date, newest_ms: int | None = None,
                    memo: dict[tuple[dt.date, dt.date], EnergySums] | None = None
                    ) -> tuple[float | None, dt.datetime | None]:
        """(value, time of its newest data) of ``kpi`` as of the end of local ``day``.

        ``memo`` shares the summed energies of equal windows between KPIs (one query per window, not per KPI).
        """
        if kpi.source == "measured":
            d1 = day + dt.timedelta(days=1)
            key = (d1 - dt.timedelta(days=kpi.window_days), d1)
            sums = memo.get(key) if memo is not None else None
            if sums is None:
                sums = self.energy_sums(*key)
                if memo is not None:
                    memo[key] = sums
            v = self._measured(kpi, sums)
            t = newest_ms if newest_ms is not None else A.newest_data_ms(self.store)
            if t is not None:  # as of a past day, the newest data that day could show is the day's end
                t = min(t, A.local_midnight_ms(d1) - 1)
            return v, None if t is None else dt.datetime.fromtimestamp(t / 1000, TZ)
        if kpi.source == "simulated":
            if self.sim_kpis is None:
                return None, None
            return simulated_value(kpi.formula or "", self.sim_kpis), self.sim_time
        v, t = E.value_as_of(self.entries(), kpi, day)
        return v, None if t is None else dt.datetime.fromtimestamp(t / 1000, TZ)

    def ratings(self, now: dt.datetime | None = None, public_only: bool = False) -> dict[str, Rating]:
        """Rating of every KPI as of ``now`` (default: the current time, cached 10 s; other times not cached)."""
        current = now is None
        now = now or dt.datetime.now(TZ)
        cache = self._ratings
        if current and cache is not None and time.monotonic() - cache[0] < 10.0 and cache[1] is False:
            allr = cache[2]
        else:
            cat, _ = self.catalogue()
            newest = A.newest_data_ms(self.store)
            allr = {}
            memo: dict[tuple[dt.date, dt.date], EnergySums] = {}
            for k in cat.kpis:
                m = cat.measure(k.measure)
                v, t = self.value_as_of(k, now.date(), newest, memo)
                allr[k.id] = rate(k, v, now, t, m.red_max_pct, m.yellow_max_pct)
            if current:
                self._ratings = (time.monotonic(), False, allr)
        if public_only:
            cat, _ = self.catalogue()
            pub = {k.id for k in cat.kpis if k.public}
            return {i: r for i, r in allr.items() if i in pub}
        return dict(allr)

    # ------------------------------------------------------------------ levels
    def measure_rollup(self, measure_id: str, ratings: dict[str, Rating]) -> RollUp:
        """Level 2: a measure's score from its KPIs (maturity KPIs rate the transfer dimensions instead)."""
        cat, _ = self.catalogue()
        m = cat.measure(measure_id)
        kids = [Child(k.id, ratings[k.id].score, k.weight, ratings[k.id].current)
                for k in cat.kpis_of(measure_id) if k.dimension is None and k.id in ratings]
        return roll_up(kids, m.red_max_pct, m.yellow_max_pct)

    def target_picture_rollup(self, tp_id: str, ratings: dict[str, Rating]) -> RollUp:
        """Level 3: a target picture's tachometer from its measures."""
        cat, _ = self.catalogue()
        kids = []
        for m in cat.measures_of(tp_id):
            r = self.measure_rollup(m.id, ratings)
            kids.append(Child(m.id, r.score, m.weight, r.score is not None))
        return roll_up(kids)

    def dimension_rollup(self, dim_id: str, ratings: dict[str, Rating]) -> tuple[RollUp, float | None]:
        """A transfer dimension's tachometer from the maturity KPIs of all measures, and the mean stage."""
        cat, _ = self.catalogue()
        ks = [k for k in cat.kpis if k.dimension == dim_id and k.id in ratings]
        r = roll_up([Child(k.id, ratings[k.id].score, k.weight, ratings[k.id].current) for k in ks])
        stages = [ratings[k.id].value for k in ks if ratings[k.id].current and ratings[k.id].value is not None]
        return r, (sum(stages) / len(stages) if stages else None)  # type: ignore[arg-type]

    def overview(self, lang: str = "de", public_only: bool = False, now: dt.datetime | None = None) -> dict[str, Any]:
        """Level 4: tachometers of the target pictures and the transfer dimensions."""
        cat, vid = self.catalogue()
        rt = self.ratings(now, public_only)
        tps = []
        for tp in cat.target_pictures:
            r = self.target_picture_rollup(tp.id, rt)
            tps.append({"id": tp.id, "name": tp.name.get(lang), **r.as_dict(),
                        "measures": [m.id for m in cat.measures_of(tp.id)]})
        dims = []
        for d in cat.dimensions:
            r, stage = self.dimension_rollup(d.id, rt)
            dims.append({"id": d.id, "name": d.name.get(lang), **r.as_dict(), "stage": stage})
        return {"level": 4, "target_pictures": tps, "dimensions": dims, **self.meta(vid)}

    def target_picture(self, tp_id: str, lang: str = "de", public_only: bool = False,
                       now: dt.datetime | None = None) -> dict[str, Any]:
        """Levels 3 and 2: the target picture's tachometer and its measures coloured by their rating."""
        cat, vid = self.catalogue()
        tp = cat.target_picture(tp_id)
        rt = self.ratings(now, public_only)
        r = self.target_picture_rollup(tp_id, rt)
        ms = [{"id": m.id, "name": m.name.get(lang), **self.measure_rollup(m.id, rt).as_dict()}
              for m in cat.measures_of(tp_id)]
        return {"level": 3, "id": tp.id, "name": tp.name.get(lang), **r.as_dict(), "measures": ms, **self.meta(vid)}

    def measure(self, measure_id: str, lang: str = "de", public_only: bool = False,
                now: dt.datetime | None = None) -> dict[str, Any]:
        """Level 1: a measure's dashboard with its KPIs grouped into content, organisation, participation, data."""
        cat, vid = self.catalogue()
        m = cat.measure(measure_id)
        rt = self.ratings(now, public_only)
        groups: dict[str, list[dict[str, Any]]] = {g: [] for g in ("content", "organisation", "participation", "data")}
        for k in cat.kpis_of(measure_id):
            if k.id in rt:
                groups[k.group].append(self.kpi_row(k, rt[k.id], lang))
        r = self.measure_rollup(measure_id, rt)
        return {"level": 1, "id": m.id, "name": m.name.get(lang), **r.as_dict(),
                "target_pictures": [cat.target_picture(t).name.get(lang) for t in m.target_pictures],
                "bands": [m.red_max_pct, m.yellow_max_pct], "groups": groups, **self.meta(vid)}

    def kpi_row(self, k: Kpi, r: Rating, lang: str) -> dict[str, Any]:
        """One KPI's line in a dashboard or export."""
        return {"id": k.id, "name": k.name.get(lang), "unit": k.unit, "group": k.group, "source": k.source,
                "public": k.public, "decimals": k.decimals, "baseline": k.baseline.value, **r.as_dict()}

    def fact_sheet(self, k: Kpi, lang: str | None = None) -> dict[str, Any]:
        """The KPI's fact sheet as JSON (both languages unless ``lang``)."""
        d = k.model_dump(mode="json")
        if lang:
            for key in ("name", "definition", "data_quality", "numerator", "denominator"):
                d[key] = getattr(k, key).get(lang)
        d["max_age_days"] = k.max_age_days
        return d

    # ------------------------------------------------------------------ detail
    def kpi_detail(self, kpi_id: str, lang: str = "de", now: dt.datetime | None = None) -> dict[str, Any]:
        """Series against the target path and baseline, trend against the last month, data age, forecast."""
        cat, vid = self.catalogue()
        k = cat.kpi(kpi_id)
        r = self.ratings(now)[k.id]  # None: the current (cached) ratings
        now = now or dt.datetime.now(TZ)
        series = self.series(k, now.date())
        prev = series[-2]["value"] if len(series) >= 2 else None
        trend = None
        if r.value is not None and prev is not None:
            span = abs(k.target.value - k.baseline.value) or 1.0
            delta = r.value - prev
            trend = "flat" if abs(delta) < 0.01 * span else ("up" if delta > 0 else "down")
        better = None if trend in (None, "flat") else (trend == "up") == (k.better == "higher")
        return {"kpi": self.fact_sheet(k, lang), "rating": r.as_dict(), "series": series,
                "trend": trend, "trend_better": better, "previous": prev, "forecast": self.forecast(k, series),
                **self.meta(vid)}

    def series(self, k: Kpi, today: dt.date, months: int = 24) -> list[dict[str, Any]]:
        """Month-end values (trailing window as of each month end) with the target for that date."""
        ends = []
        y, m = today.year, today.month
        for _ in range(months):
            ends.append(min(_month_end(y, m), today))
            y, m = (y - 1, 12) if m == 1 else (y, m - 1)
        ends.reverse()
        out = []
        if k.source == "measured":
            # rolling sums over months (ratios from the summed energies of the window, never mean percentages)
            n = max(1, round(k.window_days / 30.44))
            idx = ends[0].year * 12 + ends[0].month - 1 - (n - 1)
            fy, fm = divmod(idx, 12)
            fm += 1
            mons = A.monthly_sums(self.store, fy * 100 + fm, today.year * 100 + today.month)
            for e in ends:
                tot = EnergySums()
                yy, mm = e.year, e.month
                any_data = False
                for _ in range(n):
                    s = mons.get(yy * 100 + mm)
                    if s is not None:
                        tot = tot + s
                        any_data = True
                    yy, mm = (yy - 1, 12) if mm == 1 else (yy, mm - 1)
                v = self._measured(k, tot) if any_data else None
                out.append({"date": e.isoformat(), "value": v, "target": target_at(k, e), "baseline": k.baseline.value})
        else:
            for e in ends:
                v, _ = self.value_as_of(k, e)
                out.append({"date": e.isoformat(), "value": v, "target": target_at(k, e), "baseline": k.baseline.value})
        return out

    def forecast(self, k: Kpi, series: list[dict[str, Any]]) -> dict[str, Any] | None:
        """Value expected in the target year: the simulator's annual value for energy KPIs, else the linear trend."""
        cat, _ = self.catalogue()
        m = cat.measure(k.measure)
        when = dt.datetime.combine(k.target.date, dt.time(12), TZ)
        if k.formula and self.sim_kpis is not None and k.window_days >= 365:
            v = simulated_value(k.formula, self.sim_kpis)
            if v is not None:
                r = rate(k, v, when, when, m.red_max_pct, m.yellow_max_pct)
                return {"year": k.target.year, "value": v, "method": "simulation", "score": r.score,
                        "colour": r.colour, "scenario": self.sim_kpis.get("scenario")}
        pts = [(dt.date.fromisoformat(p["date"]).toordinal(), p["value"]) for p in series[-12:]
               if p["value"] is not None]
        if len(pts) < 3:
            return None
        xm = sum(x for x, _ in pts) / len(pts)
        ym = sum(y for _, y in pts) / len(pts)
        sxx = sum((x - xm) ** 2 for x, _ in pts)
        slope = sum((x - xm) * (y - ym) for x, y in pts) / sxx if sxx else 0.0
        v = ym + slope * (k.target.date.toordinal() - xm)
        if k.min_value is not None:
            v = max(v, k.min_value)
        if k.max_value is not None:
            v = min(v, k.max_value)
        r = rate(k, v, when, when, m.red_max_pct, m.yellow_max_pct)
        return {"year": k.target.year, "value": v, "method": "trend", "score": r.score, "colour": r.colour}

    # ------------------------------------------------------------------ energy view
    def energy(self, period: Period) -> dict[str, Any]:
        """Sums, Sankey flows, self-sufficiency and solar self-use of a period and of the same period a year
        earlier."""
        _, vid = self.catalogue()

        def block(p: Period) -> dict[str, Any]:
            s = self.energy_sums(p.start, p.end)
            return {"period": p.label, "start": p.start.isoformat(), "end": p.end.isoformat(), "sums": s.as_dict(),
                    "self_sufficiency_pct": self_sufficiency_pct(s), "solar_self_use_pct": solar_self_use_pct(s),
                    "flows": sankey_flows(s), "h2_flows": h2_flows(s)}

        return {"kind": period.kind, "current": block(period), "year_before": block(period.year_before()),
                **self.meta(vid)}

    def meta(self, version: int) -> dict[str, Any]:
        """Licence and provenance carried by every answer."""
        cat, _ = self.catalogue()
        return {"licence": cat.licence, "licence_url": cat.licence_url, "publisher": cat.publisher,
                "catalogue_version": version, "generated": dt.datetime.now(TZ).isoformat(timespec="seconds"),
                "data_until": _iso_ms(A.newest_data_ms(self.store))}


def simulate_site_kpis(scenario: Any) -> dict[str, Any]:
    """Key figures of the scenario's annual simulation (its default year and dispatcher)."""
    from h2quarters.sim.annual import simulate
    from h2quarters.sim.results import site_kpis

    return site_kpis(simulate(scenario))


def _iso_ms(t: int | None) -> str | None:
    return None if t is None else dt.datetime.fromtimestamp(t / 1000, TZ).isoformat(timespec="seconds")


def sankey_flows(s: EnergySums) -> list[tuple[str, str, float]]:
    """Electric flows (source, sink, kWh) of a period, shared pro rata.

    Sources: PV used on site, grid import, fuel cell, battery discharge; PV export goes straight to the grid.
    Sinks: load, electrolyser + compressor, battery charge. Each on-site source feeds the sinks in proportion to
    their consumption (sums carry no minute-by-minute attribution).
    """
    pv_site = max(s.pv_kwh - s.grid_export_kwh, 0.0)
    sources = {"pv": pv_site, "grid": s.grid_import_kwh, "fuel_cell": s.fc_kwh, "battery": s.battery_discharge_kwh}
    sinks = {"load": s.load_kwh, "electrolyser": s.el_kwh + s.compressor_kwh, "battery_charge": s.battery_charge_kwh}
    total_sink = sum(sinks.values())
    flows = [("pv", "grid_export", min(s.grid_export_kwh, s.pv_kwh))] if s.grid_export_kwh > 0 else []
    if total_sink > 0:
        for a, va in sources.items():
            for b, vb in sinks.items():
                f = va * vb / total_sink
                if f > 1e-9:
                    flows.append((a, b, f))
    return flows


def h2_flows(s: EnergySums) -> list[tuple[str, str, float]]:
    """Hydrogen flows (kg): electrolyser → tank → fuel cell, and what stayed in the tank or went to the
    Stadtteilzentrum (the remainder)."""
    out = []
    if s.h2_kg > 0:
        out.append(("electrolyser", "tank", s.h2_kg))
    if s.fc_h2_kg > 0:
        out.append(("tank", "fuel_cell", s.fc_h2_kg))
    rest = s.h2_kg - s.fc_h2_kg
    if rest > 1e-9:
        out.append(("tank", "stadtteilzentrum", rest))
    return out


__all__ = ["Cockpit", "Period", "h2_flows", "sankey_flows"]
