"""The quarter's dispatch with every building on its own meter: a rolling MILP solved directly with HiGHS.

The site optimiser (:mod:`h2quarters.opt`) plans one site behind one grid connection. In the quarter the
electrolyser sits behind the school's meter and the fuel cell behind the Stadtteilzentrum's; school PV exported
at the feed-in tariff cannot pay for the Stadtteilzentrum's imports at the same hour. This model has one
electricity balance per meter (or one shared meter, ``metering: shared``, e.g. a tenant-electricity or
energy-community model) and one hydrogen pool (school tank + bundle buffer), which the hydrogen reaches only
through the supply chain. It reuses the site optimiser's plant numbers
(:class:`h2quarters.opt.plant.PlantParams`: electrolyser and fuel-cell chords, compressor work, tank limits)
and its settings (start-up cost, terminal hydrogen value, penalties), builds the matrix with numpy and hands it
to highspy in one call, re-planned every ``commit_h`` from the measured tank.

Per step ``t`` (kW unless noted)::

    school:  imp_s − exp_s = load_s + ely_el + comp − pv            (per_building)
    stz:     imp_z − exp_z = load_z + hp_el − fc                     (per_building)
    shared:  imp − exp     = both right-hand sides summed            (shared)
    ely_el   = p_min·on + Σ seg + p_bop·on,   h2_ely = y0·on + Σ slope·seg   (seg_k ≤ width_k·on)
    fc       = p_min·fc_on + Σ fseg,          h2_fc  = y0·fc_on + Σ slope·fseg
    heat:    q_fc + backup = heat,  q_fc ≤ heat_frac·LHV·h2_fc;  hp_el = backup / COP  (or gas = backup / η)
    tank:    m_t = m_{t−1} + dt·(h2_ely − h2_fc) − vent_t,   m_min + reserve ≤ m_t ≤ m_max
    cost  =  Σ dt·(price·imp − feed·exp) per meter + gas + start-ups + penalties − terminal value·m_T

The cost terms of the meters are exactly :func:`meter_bills_eur` of the planned net flows: the KPIs bill the
realised flows with the same function (a test checks the identity).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import highspy
import numpy as np
import pandas as pd
from scipy import sparse

from h2quarters.models.constants import LHV_H2_KWH_PER_KG
from h2quarters.opt.plant import PlantParams
from h2quarters.opt.settings import OptSettings
from h2quarters.sim.dispatch import PlantState, Setpoints

_INF = highspy.kHighsInf


def meter_bills_eur(net_kw: dict[str, np.ndarray], dt_h: float, price: np.ndarray | float,
                    feed: np.ndarray | float) -> dict[str, float]:
    """Each meter's bill (EUR): imports at ``price``, exports credited at ``feed``.

    Parameters
    ----------
    net_kw : dict
        Meter name → net import per step (kW; negative = export).
    """
    return {k: float(np.sum((np.maximum(v, 0.0) * price - np.maximum(-v, 0.0) * feed) * dt_h))
            for k, v in net_kw.items()}


@dataclass
class MeterInputs:
    """Per-step inputs of the two-meter model over the whole simulated period (numpy, kW / EUR/kWh)."""

    school_load_kw: np.ndarray
    stz_load_kw: np.ndarray
    pv_kw: np.ndarray
    heat_kw: np.ndarray
    cop: np.ndarray  # heat-pump COP (NaN when the backup is a gas boiler)
    price: np.ndarray
    feed: np.ndarray
    gas_eur_per_kwh: float
    boiler_eta: float


@dataclass
class TrailerPlan:
    """What the dispatch needs to know about the bundle trailer."""

    payload_kg: float
    cap_kg: float
    working: np.ndarray  # bool per step of the whole period: a delivery may arrive
    lead_steps: int
    eur_per_trip: float
    ordering: str = "optimiser"  # "policy": deliveries fixed by :meth:`MeterDispatcher._order`, not MILP binaries


@dataclass
class _Index:
    """Column offsets of the variable blocks in one window."""

    n: int
    n_es: int
    n_fs: int
    names: list[str] = field(default_factory=list)
    start: dict[str, int] = field(default_factory=dict)
    size: dict[str, int] = field(default_factory=dict)

    def add(self, name: str, size: int) -> None:
        self.start[name] = sum(self.size.values())
        self.size[name] = size
        self.names.append(name)

    def __call__(self, name: str, t: np.ndarray | int, k: int = 0) -> np.ndarray:
        per = self.size[name] // self.n
        return self.start[name] + np.asarray(t) * per + k

    @property
    def total(self) -> int:
        return sum(self.size.values())


@dataclass
class _Window:
    """One window's MILP as arrays (what goes to HiGHS) plus what is needed to read and shift its solution."""

    ix: _Index
    n: int
    cost: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    rlo: np.ndarray
    rhi: np.ndarray
    a: sparse.csc_matrix
    integ: np.ndarray
    meters: tuple[str, ...]
    load_s: np.ndarray
    load_z: np.ndarray
    heat: np.ndarray
    inv_cop: np.ndarray
    price: np.ndarray
    feed: np.ndarray
    m_start: float
    b0_kg: float
    ely_on0: bool
    n_lead: int  # deliveries fixed by bounds at the start of the window


class MeterPlanner:
    """The two-meter MILP over one window, re-planned on a live HiGHS instance.

    Every window has the same structure (only the last one of a period may be shorter), so the model is handed
    to HiGHS once per window length; later windows only change costs, column and row bounds and the
    heat-pump coefficients (``changeColsCost``/``changeColsBounds``/``changeRowsBounds``/``changeCoeff``).
    With ``warm_start`` the previous plan, shifted by the steps executed since and completed into a feasible
    point from the measured state (:meth:`_warm_start`), is offered to HiGHS as its first incumbent; presolve
    and the feasibility-jump heuristic are off then (the root LP of a ≈1,000-column window solves in
    milliseconds, and the incumbent usually proves the gap at the root). ``warm_start=False`` is the path before
    (model passed anew, cold solve), kept for the benchmark.

    Parameters
    ----------
    plant : PlantParams
        Plant numbers from the hydrogen site.
    settings : OptSettings
        Start-up cost, terminal hydrogen value, vent penalty, ``mpc_mip_rel_gap``, ``mpc_mip_abs_gap``,
        ``mpc_max_nodes`` (warm re-plans), time limits.
    dt_h : float
        Step length (h).
    metering : {"per_building", "shared"}
        One meter per building, or one shared connection.
    heat : {"heat_pump", "gas_boiler"}
        What covers the Stadtteilzentrum's heat the fuel cell does not.
    warm_start : bool
        Re-plan on the live instance from the previous plan (default) or solve every window cold.
    lp_first : bool
        Before the MILP, solve the window's LP relaxation and round its unit commitment (:meth:`_round_lp`);
        if the rounded plan is within the MIP gap of the LP bound it is the plan (a proven gap, no MILP run),
        otherwise it is offered to HiGHS as incumbent when it beats the shifted previous plan. Needs
        ``warm_start`` (the live model).
    """

    def __init__(self, plant: PlantParams, settings: OptSettings, dt_h: float, metering: str = "per_building",
                 heat: str = "heat_pump", warm_start: bool = True, lp_first: bool = False) -> None:
        if plant.fuel_cell is None:
            raise ValueError("the quarter's hydrogen site needs a fuel_cell (at the Stadtteilzentrum)")
        if metering not in ("per_building", "shared"):
            raise ValueError(f"metering '{metering}' not allowed; choose per_building or shared")
        self.plant, self.settings, self.dt_h = plant, settings, dt_h
        self.metering, self.heat = metering, heat
        self.warm_start = warm_start
        self.lp_first = lp_first and warm_start
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("mip_rel_gap", settings.mpc_mip_rel_gap)
        self.h.setOptionValue("threads", 1)
        self.h.setOptionValue("time_limit", float(settings.mpc_time_limit_s))  # best plan found so far after that
        if warm_start:
            self.h.setOptionValue("mip_abs_gap", float(settings.mpc_mip_abs_gap))
            self.h.setOptionValue("presolve", "off")
        self.last: dict[str, np.ndarray] = {}
        self._live: _Window | None = None  # the window whose structure HiGHS holds
        self._prev: tuple[int, _Window, np.ndarray] | None = None  # (first step, window, solution) of the last plan
        self.attempts = 0
        self.warm_used: list[str] = []  # per solve: 'cold', 'accepted', 'rejected'
        self.lp_used: list[str] = []  # per solve with lp_first: 'rounded' (no MILP run) or 'milp'

    # ------------------------------------------------------------------------------------------------
    def _build(self, inp: MeterInputs, i0: int, n: int, m0_kg: float, ely_on0: bool,
               trailer: TrailerPlan | None, b0_kg: float, fixed_deliveries: np.ndarray | None) -> _Window:
        p, s, dt = self.plant, self.settings, self.dt_h
        ely, fc, tank = p.electrolyser, p.fuel_cell, p.tank
        assert fc is not None
        sl = slice(i0, i0 + n)
        n = len(inp.pv_kw[sl])
        es, fs = ely.curve.slopes, fc.curve.slopes
        ew, fw = ely.curve.widths, fc.curve.widths
        ix = _Index(n, len(es), len(fs))
        blocks = [("on", 1), ("start", 1), ("eseg", len(es)), ("fon", 1), ("fseg", len(fs)), ("q", 1), ("m", 1),
                  ("vent", 1)]
        if trailer is not None:
            blocks += [("d", 1), ("b", 1)]
        for name, per in blocks:
            ix.add(name, per * n)
        meters = ("s", "z") if self.metering == "per_building" else ("x",)
        for mt in meters:
            ix.add(f"imp_{mt}", n)
            ix.add(f"exp_{mt}", n)
        nv = ix.total
        t = np.arange(n)
        lo = np.zeros(nv)
        hi = np.full(nv, _INF)
        cost = np.zeros(nv)
        integ = np.zeros(nv, dtype=np.int32)
        for b in ("on", "start", "fon"):
            hi[ix(b, t)] = 1.0
            integ[ix(b, t)] = 1
        for k in range(len(es)):
            hi[ix("eseg", t, k)] = ew[k]
        for k in range(len(fs)):
            hi[ix("fseg", t, k)] = fw[k]
        nl = 0
        if trailer is None:
            lo[ix("m", t)] = min(tank.m_min_kg + fc.m_reserve_kg, m0_kg)  # the fuel cell keeps its reserve
            hi[ix("m", t)] = tank.m_max_kg
            m_start = m0_kg
        else:
            m_start = m0_kg - b0_kg  # the school tank's share of the pool
            lo[ix("m", t)] = min(tank.m_min_kg, m_start)
            hi[ix("m", t)] = tank.m_max_kg
            hi[ix("b", t)] = trailer.cap_kg
            integ[ix("d", t)] = 1
            hi[ix("d", t)] = trailer.working[i0:i0 + n].astype(float)
            # policy ordering: every delivery of the window was decided by the ordering rule (fixed by bounds);
            # otherwise only those inside the lead time, the MILP chooses the rest
            nl = n if trailer.ordering == "policy" else min(trailer.lead_steps, n)
            fixed = np.zeros(nl) if fixed_deliveries is None else np.asarray(fixed_deliveries[:nl], float)
            lo[ix("d", t[:nl])] = fixed
            hi[ix("d", t[:nl])] = fixed
            cost[ix("b", n - 1)] -= s.terminal_h2_eur_per_kg
            cost[ix("d", t)] = trailer.eur_per_trip
        heat = inp.heat_kw[sl]
        hi[ix("q", t)] = heat
        price, feed = inp.price[sl], inp.feed[sl]
        for mt in meters:
            cost[ix(f"imp_{mt}", t)] = price * dt
            cost[ix(f"exp_{mt}", t)] = -feed * dt
        cost[ix("start", t)] = s.startup_cost_eur
        cost[ix("vent", t)] = s.penalty_h2_vent_eur_per_kg
        cost[ix("m", n - 1)] -= s.terminal_h2_eur_per_kg
        if self.heat == "heat_pump":
            inv_cop = 1.0 / inp.cop[sl]
            gas_coef = np.zeros(n)
        else:
            inv_cop = np.zeros(n)
            gas_coef = inp.gas_eur_per_kwh / inp.boiler_eta * dt * np.ones(n)
        # backup = heat − q: its gas cost is constant minus gas_coef·q
        cost[ix("q", t)] -= gas_coef
        rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row, col, val)
        rlo: list[np.ndarray] = []
        rhi: list[np.ndarray] = []
        r0 = 0

        def block(cols_vals: list[tuple[np.ndarray, np.ndarray | float]], low: np.ndarray, up: np.ndarray) -> None:
            nonlocal r0
            rr = r0 + t
            for c, v in cols_vals:
                rows.append((rr, np.asarray(c), np.broadcast_to(np.asarray(v, float), (n,)).copy()))
            rlo.append(np.broadcast_to(low, (n,)).astype(float))
            rhi.append(np.broadcast_to(up, (n,)).astype(float))
            r0 += n

        ely_el, h2_ely, fc_p, h2_fc, comp = self._expressions(ix, t)
        # segments only when on
        for k in range(len(es)):
            block([(ix("eseg", t, k), 1.0), (ix("on", t), -ew[k])], np.full(n, -_INF), np.zeros(n))
        for k in range(len(fs)):
            block([(ix("fseg", t, k), 1.0), (ix("fon", t), -fw[k])], np.full(n, -_INF), np.zeros(n))
        # start-ups: start_t − on_t + on_{t−1} ≥ 0; at t = 0 the measured state stands in for on_{−1}
        block([(ix("start", t), 1.0), (ix("on", t), -1.0)], np.zeros(n), np.full(n, _INF))
        rows.append((r0 - n + t[1:], ix("on", t[1:] - 1), np.ones(n - 1)))
        rlo[-1] = rlo[-1].copy()
        rlo[-1][0] = -float(ely_on0)
        # fuel-cell heat used ≤ heat from its hydrogen
        block([(ix("q", t), 1.0)] + [(c, -v * fc.heat_frac_of_h2 * LHV_H2_KWH_PER_KG) for c, v in h2_fc],
              np.full(n, -_INF), np.zeros(n))
        # tank: m_t − m_{t−1} − dt·h2_ely + dt·h2_fc + vent = 0 (m_{−1} = m0); with the trailer the fuel
        # cell draws on the buffer and the school tank gives whole bundles
        out_of_tank = ([(ix("d", t), trailer.payload_kg)] if trailer is not None
                       else [(c, dt * v) for c, v in h2_fc])
        cols = [(ix("m", t), 1.0), (ix("vent", t), 1.0)] + [(c, -dt * v) for c, v in h2_ely] + out_of_tank
        rhs = np.zeros(n)
        rhs[0] = m_start
        block(cols, rhs, rhs)
        rows.append((r0 - n + t[1:], ix("m", t[1:] - 1), -np.ones(n - 1)))
        if trailer is not None:
            # buffer: b_t − b_{t−1} − payload·d_t + dt·h2_fc = 0
            rhs = np.zeros(n)
            rhs[0] = b0_kg
            block([(ix("b", t), 1.0), (ix("d", t), -trailer.payload_kg)] + [(c, dt * v) for c, v in h2_fc],
                  rhs, rhs)
            rows.append((r0 - n + t[1:], ix("b", t[1:] - 1), -np.ones(n - 1)))
            # a bundle is swapped as a whole: it arrives only when a place is empty (b_{t−1} ≤ cap − payload).
            # b_{t−1} + payload·d_t ≤ cap says exactly that for d ∈ {0, 1} (b ≤ cap holds anyway); it is the
            # tightest big-M (M = payload; the model before used cap, kept for warm_start=False)
            big = trailer.payload_kg if self.warm_start else trailer.cap_kg
            rr = r0 + t
            rows.append((rr[1:], ix("b", t[1:] - 1), np.ones(n - 1)))
            rows.append((rr, ix("d", t), np.full(n, big)))
            lim = np.full(n, trailer.cap_kg - trailer.payload_kg + big)
            lim[0] -= b0_kg
            rlo.append(np.full(n, -_INF))
            rhi.append(lim)
            r0 += n
        if trailer is not None and self.warm_start and trailer.ordering != "policy":
            # (warm_start=False: the model before, benchmark baseline; policy ordering: no free bundle to cut)
            # valid cut (a mixed-integer rounding of the tank balance; it tightens the LP relaxation and changes
            # no integer plan): the bundles filled up to step t need payload·D_t ≤ R + P_t (R what the school tank
            # holds above its floor at the start, P_t the production since); D_t integer gives
            # D_t ≤ ⌊R/payload⌋ + P_t / (payload − r), r = R − payload·⌊R/payload⌋. Without it the relaxation
            # fills a fraction of a bundle from a nearly empty winter tank and runs the fuel cell on it (root gap
            # ≈11 % in January, which HiGHS closed only with ≈1,400 cuts per window).
            pay = trailer.payload_kg
            big_r = max(m_start - lo[ix("m", 0)], 0.0)
            k0 = np.floor(big_r / pay + 1e-9)
            rest = big_r - k0 * pay
            if rest < 1e-6:  # R a whole number of bundles: the cut is the tank balance itself (kept, so that
                rest = 0.0   # every window has the same structure)
            tri_r, tri_c = np.tril_indices(n)
            rows.append((r0 + tri_r, ix("d", tri_c), np.ones(len(tri_r))))
            for c, v in h2_ely:
                rows.append((r0 + tri_r, np.asarray(c)[tri_c],
                             np.broadcast_to(-dt * np.asarray(v, float) / (pay - rest), (n,))[tri_c].copy()))
            rlo.append(np.full(n, -_INF))
            rhi.append(np.full(n, k0))
            r0 += n
        # meters
        load_s = inp.school_load_kw[sl] - inp.pv_kw[sl]
        load_z = inp.stz_load_kw[sl] + heat * inv_cop
        school = [(c, -v) for c, v in ely_el] + [(c, -v) for c, v in comp]
        stz = [(c, v) for c, v in fc_p] + [(ix("q", t), inv_cop)]  # fuel-cell heat saves heat-pump power
        if self.metering == "per_building":
            block([(ix("imp_s", t), 1.0), (ix("exp_s", t), -1.0)] + school, load_s, load_s)
            block([(ix("imp_z", t), 1.0), (ix("exp_z", t), -1.0)] + stz, load_z, load_z)
        else:
            both = load_s + load_z
            block([(ix("imp_x", t), 1.0), (ix("exp_x", t), -1.0)] + school + stz, both, both)
        r = np.concatenate([a for a, _, _ in rows])
        c = np.concatenate([b for _, b, _ in rows])
        v = np.concatenate([x for _, _, x in rows])
        a = sparse.csc_matrix((v, (r, c)), shape=(r0, nv))
        a.sort_indices()
        return _Window(ix=ix, n=n, cost=cost, lo=lo, hi=hi, rlo=np.concatenate(rlo), rhi=np.concatenate(rhi),
                       a=a, integ=integ, meters=meters, load_s=load_s, load_z=load_z, heat=heat, inv_cop=inv_cop,
                       price=price, feed=feed, m_start=m_start, b0_kg=b0_kg, ely_on0=bool(ely_on0), n_lead=nl)

    def _expressions(self, ix: _Index, t: np.ndarray) -> tuple[list, list, list, list, list]:
        """Electrolyser power, its hydrogen, fuel-cell power and hydrogen, compressor power as column lists."""
        p = self.plant
        ely, fc, tank = p.electrolyser, p.fuel_cell, p.tank
        assert fc is not None
        es, fs = ely.curve.slopes, fc.curve.slopes
        ely_el = [(ix("on", t), ely.p_min_kw + ely.p_bop_kw)] + [(ix("eseg", t, k), 1.0) for k in range(len(es))]
        h2_ely = [(ix("on", t), float(ely.curve.y[0]))] + [(ix("eseg", t, k), es[k]) for k in range(len(es))]
        fc_p = [(ix("fon", t), fc.p_min_kw)] + [(ix("fseg", t, k), 1.0) for k in range(len(fs))]
        h2_fc = [(ix("fon", t), float(fc.curve.y[0]))] + [(ix("fseg", t, k), fs[k]) for k in range(len(fs))]
        comp = [(c, v * tank.w_comp_kwh_per_kg) for c, v in h2_ely]
        return ely_el, h2_ely, fc_p, h2_fc, comp

    # ------------------------------------------------------------------------------------------------
    def _load(self, w: _Window) -> None:
        """Hand ``w`` to HiGHS: the whole model when the structure is new, else only what changed."""
        live = self._live
        same = (live is not None and live.a.shape == w.a.shape and np.array_equal(live.a.indptr, w.a.indptr)
                and np.array_equal(live.a.indices, w.a.indices) and np.array_equal(live.integ, w.integ))
        changed = np.flatnonzero(live.a.data != w.a.data) if same and live is not None else None
        if changed is None or changed.size > 200:  # a new structure, or many coefficients: pass it whole (≈1 ms)
            lp = highspy.HighsLp()
            lp.num_col_, lp.num_row_ = w.a.shape[1], w.a.shape[0]
            lp.col_cost_, lp.col_lower_, lp.col_upper_ = w.cost, w.lo, w.hi
            lp.row_lower_, lp.row_upper_ = w.rlo, w.rhi
            lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
            lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = w.a.indptr, w.a.indices, w.a.data
            lp.integrality_ = [highspy.HighsVarType(int(x)) for x in w.integ]
            self.h.clearModel()
            self.h.passModel(lp)
        else:
            assert live is not None
            nc, nr = w.a.shape[1], w.a.shape[0]
            cols, rows = np.arange(nc, dtype=np.int32), np.arange(nr, dtype=np.int32)
            self.h.changeColsCost(nc, cols, w.cost)
            self.h.changeColsBounds(nc, cols, w.lo, w.hi)
            self.h.changeRowsBounds(nr, rows, w.rlo, w.rhi)
            if changed.size:  # the heat pump's 1/COP per step
                col_of = np.repeat(np.arange(nc), np.diff(w.a.indptr))
                for k in changed.tolist():
                    self.h.changeCoeff(int(w.a.indices[k]), int(col_of[k]), float(w.a.data[k]))
        self._live = w

    def _warm_start(self, w: _Window, i0: int, trailer: TrailerPlan | None) -> np.ndarray | None:
        """The previous plan moved to the window starting at ``i0`` and completed into a feasible point.

        The decisions (electrolyser and fuel cell on/off and set-points, bundles beyond the lead time) are kept
        for the steps both windows share; the appended steps are off. Everything that follows from them is
        recomputed from the measured state: start-ups, fuel-cell heat, tank and buffer, meter flows. Where the
        buffer (or the tank, without trailer) would run below its bound the fuel cell is switched off at that
        step, and a bundle that would not fit is not brought. Returns None if the result still violates a row or
        bound (HiGHS then starts cold; it is never asked to repair a start).
        """
        if self._prev is None:
            return None
        j0, pw, px = self._prev
        k = i0 - j0
        if k <= 0 or k >= pw.n:
            return None
        p, dt = self.plant, self.dt_h
        ely, fc, tank = p.electrolyser, p.fuel_cell, p.tank
        assert fc is not None
        n, ix, pix = w.n, w.ix, pw.ix
        x = np.zeros(w.a.shape[1])
        keep = min(pw.n - k, n)  # steps of the new window the old plan covers

        def shifted(name: str) -> np.ndarray:
            per = pix.size[name] // pw.n
            old = px[pix.start[name]:pix.start[name] + pix.size[name]].reshape(pw.n, per)
            new = np.zeros((n, per))
            new[:keep] = old[k:k + keep]
            return new

        on = np.round(shifted("on")[:, 0])
        fon = np.round(shifted("fon")[:, 0])
        eseg = np.clip(shifted("eseg"), 0.0, ely.curve.widths[None, :] * on[:, None])
        fseg = np.clip(shifted("fseg"), 0.0, fc.curve.widths[None, :] * fon[:, None])
        d = np.zeros(n)
        if trailer is not None:
            d = np.round(shifted("d")[:, 0]) * w.hi[ix("d", np.arange(n))]
            d[:w.n_lead] = w.lo[ix("d", np.arange(w.n_lead))]
        y0_e, y0_f = float(ely.curve.y[0]), float(fc.curve.y[0])
        h2_ely = y0_e * on + eseg @ ely.curve.slopes
        m_lo, m_hi = w.lo[ix("m", 0)], tank.m_max_kg
        m = np.empty(n)
        vent = np.zeros(n)
        b = np.zeros(n)
        m_prev, b_prev = w.m_start, w.b0_kg
        for t in range(n):  # sequential: the state decides whether the fuel cell and a bundle can run
            h2_fc = y0_f * fon[t] + fseg[t] @ fc.curve.slopes
            if trailer is not None:
                if d[t] and t >= w.n_lead and (b_prev > trailer.cap_kg - trailer.payload_kg + 1e-9
                                              or m_prev + dt * h2_ely[t] - trailer.payload_kg < m_lo):
                    d[t] = 0.0
                if b_prev + trailer.payload_kg * d[t] - dt * h2_fc < 0.0:
                    fon[t], fseg[t] = 0.0, 0.0
                    h2_fc = 0.0
                b[t] = b_prev + trailer.payload_kg * d[t] - dt * h2_fc
                nxt = m_prev + dt * h2_ely[t] - trailer.payload_kg * d[t]
            else:
                if m_prev + dt * (h2_ely[t] - h2_fc) < m_lo:
                    fon[t], fseg[t] = 0.0, 0.0
                    h2_fc = 0.0
                nxt = m_prev + dt * (h2_ely[t] - h2_fc)
            vent[t] = max(nxt - m_hi, 0.0)
            m[t] = nxt - vent[t]
            m_prev, b_prev = m[t], b[t]
        on_prev = np.concatenate([[float(w.ely_on0)], on[:-1]])
        h2_fc = y0_f * fon + fseg @ fc.curve.slopes
        q = np.minimum(w.heat, fc.heat_frac_of_h2 * LHV_H2_KWH_PER_KG * h2_fc)
        for name, val in (("on", on), ("start", np.maximum(on - on_prev, 0.0)), ("fon", fon), ("q", q),
                          ("m", m), ("vent", vent)):
            x[ix(name, np.arange(n))] = val
        x[ix.start["eseg"]:ix.start["eseg"] + ix.size["eseg"]] = eseg.ravel()
        x[ix.start["fseg"]:ix.start["fseg"] + ix.size["fseg"]] = fseg.ravel()
        if trailer is not None:
            x[ix("d", np.arange(n))] = d
            x[ix("b", np.arange(n))] = b
        ely_el = ely.p_min_kw * on + ely.p_bop_kw * on + eseg.sum(axis=1)
        net_s = w.load_s + ely_el + tank.w_comp_kwh_per_kg * h2_ely
        net_z = w.load_z - (fc.p_min_kw * fon + fseg.sum(axis=1)) - w.inv_cop * q
        nets = {"s": net_s, "z": net_z} if w.meters == ("s", "z") else {"x": net_s + net_z}
        for mt, net in nets.items():
            x[ix(f"imp_{mt}", np.arange(n))] = np.maximum(net, 0.0)
            x[ix(f"exp_{mt}", np.arange(n))] = np.maximum(-net, 0.0)
        act = w.a @ x
        tol = 1e-7
        ok = (np.all(act >= w.rlo - tol * (1 + np.abs(w.rlo))) and np.all(act <= w.rhi + tol * (1 + np.abs(w.rhi)))
              and np.all(x >= w.lo - tol) and np.all(x <= w.hi + tol))
        return x if ok else None

    def _round_lp(self, w: _Window) -> tuple[np.ndarray | None, float, float]:
        """LP relaxation of the live window, then its integer columns rounded and fixed, the rest re-solved.

        The on/off columns (and bundles) are rounded at three thresholds — "on wherever the relaxation runs the
        unit at all" (v > 1e-6), v > 0.25 and v > 0.5 — and the best feasible plan is kept. Start-ups stay
        continuous: with the on/off fixed and a positive start-up cost they come out as max(0, on_t − on_{t−1})
        (rounding them on their own would contradict the on/off). Integrality and bounds are restored on the
        live model afterwards. Returns (plan or None, its objective, the LP bound).
        """
        h = self.h
        ic = np.flatnonzero(w.integ == 1).astype(np.int32)
        starts = w.ix("start", np.arange(w.n))
        rc = np.setdiff1d(ic, starts).astype(np.int32)  # the columns rounded and fixed
        h.changeColsIntegrality(len(ic), ic, np.zeros(len(ic), dtype=np.uint8))
        best: tuple[np.ndarray | None, float] = (None, np.inf)
        bound = -np.inf
        try:
            h.run()
            if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                return None, np.inf, bound
            bound = float(h.getInfo().objective_function_value)
            xl = np.asarray(h.getSolution().col_value)[rc]
            lo, hi = w.lo[rc], w.hi[rc]
            for cut in (1e-6, 0.25, 0.5):
                v = np.clip((xl > cut).astype(float), lo, hi)
                h.changeColsBounds(len(rc), rc, v, v)
                h.run()
                if h.getModelStatus() == highspy.HighsModelStatus.kOptimal:
                    obj = float(h.getInfo().objective_function_value)
                    if obj < best[1]:
                        best = (np.asarray(h.getSolution().col_value).copy(), obj)
        finally:
            h.changeColsBounds(len(rc), rc, w.lo[rc], w.hi[rc])
            h.changeColsIntegrality(len(ic), ic, w.integ[ic].astype(np.uint8))
        return best[0], best[1], bound

    def solve(self, inp: MeterInputs, i0: int, n: int, m0_kg: float, ely_on0: bool,
              trailer: TrailerPlan | None = None, b0_kg: float = 0.0,
              fixed_deliveries: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Plan steps ``i0 … i0+n−1`` from the pool ``m0_kg`` (school tank + buffer, as the simulator measures
        it) of which ``b0_kg`` is in the Stadtteilzentrum's bundle buffer; returns per-step arrays.

        With ``trailer`` the hydrogen reaches the fuel cell only through whole bundles delivered in working
        hours; deliveries inside the lead time are ``fixed_deliveries`` (already ordered) or none.
        """
        s = self.settings
        w = self._build(inp, i0, n, m0_kg, ely_on0, trailer, b0_kg, fixed_deliveries)
        n, ix = w.n, w.ix
        t = np.arange(n)
        x0 = None
        if self.warm_start:
            self._load(w)
            xr, obj_r = None, np.inf
            if self.lp_first:
                xr, obj_r, bound = self._round_lp(w)
                if xr is not None and obj_r - bound <= max(float(s.mpc_mip_abs_gap),
                                                           float(s.mpc_mip_rel_gap) * abs(obj_r)):
                    self.lp_used.append("rounded")
                    self.warm_used.append("unused")  # no MILP run: the shifted plan is not needed
                    self.attempts = 1
                    return self._result(w, i0, trailer, xr, obj_r, (obj_r - bound) / max(abs(obj_r), 1e-9))
                self.lp_used.append("milp")
            x0 = self._warm_start(w, i0, trailer)
            self.warm_used.append("cold" if self._prev is None else ("accepted" if x0 is not None else "rejected"))
            if xr is not None and (x0 is None or obj_r < float(w.cost @ x0)):
                x0 = xr  # the rounded LP plan beats the shifted one as the first incumbent
            # the shifted plan is the incumbent; without one HiGHS' own heuristics find the first
            self.h.setOptionValue("mip_heuristic_run_feasibility_jump", x0 is None)
            self.h.setOptionValue("mip_max_nodes", int(s.mpc_max_nodes) if x0 is not None else 2**31 - 1)
        else:
            self._live = None
            self._load(w)
            self.warm_used.append("cold")
        # a busy machine can hit the per-plan time limit before any plan is found: then try longer, and last
        # without the deliveries an earlier plan fixed inside the lead time (the plant may have drifted from it)
        attempts = [(float(s.mpc_time_limit_s), None), (float(s.time_limit_s), None)]
        if trailer is not None:
            attempts.append((float(s.time_limit_s), ix("d", t[:w.n_lead])))
        status = None
        for limit, release in attempts:
            if release is not None:
                w.lo[release] = 0.0
                w.hi[release] = trailer.working[i0:i0 + n][:len(release)].astype(float)
                self.h.changeColsBounds(len(release), release.astype(np.int32), w.lo[release], w.hi[release])
                x0 = None
            if x0 is not None:
                sol = highspy.HighsSolution()
                sol.col_value = x0
                sol.value_valid = True
                self.h.setSolution(sol)
            self.h.setOptionValue("time_limit", limit)
            self.h.run()
            status = self.h.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal or self.h.getInfo().primal_solution_status == 2:
                break
        else:
            raise RuntimeError(f"quarter dispatch window at step {i0} failed: HiGHS "
                               f"{self.h.modelStatusToString(status)}")
        self.attempts = attempts.index((limit, release)) + 1
        info = self.h.getInfo()
        return self._result(w, i0, trailer, np.asarray(self.h.getSolution().col_value),
                            float(info.objective_function_value), float(info.mip_gap))

    def _result(self, w: _Window, i0: int, trailer: TrailerPlan | None, x: np.ndarray, objective: float,
                gap: float) -> dict[str, np.ndarray]:
        """The plan's per-step arrays from the solution ``x`` of window ``w``."""
        n, ix = w.n, w.ix
        t = np.arange(n)
        self._prev = (i0, w, x)
        ely_el, h2_ely, fc_p, h2_fc, comp = self._expressions(ix, t)
        ely = self.plant.electrolyser

        def val(cols_vals: list[tuple[np.ndarray, np.ndarray | float]]) -> np.ndarray:
            return sum(x[cc] * vv for cc, vv in cols_vals)

        on = np.round(x[ix("on", t)])
        out = {"ely_on": on, "ely_el_kw": val(ely_el), "ely_p_stack_kw": val(ely_el) - ely.p_bop_kw * on,
               "h2_ely_kg_per_h": val(h2_ely), "compressor_kw": val(comp), "fc_kw": val(fc_p),
               "h2_fc_kg_per_h": val(h2_fc), "q_fc_kw": x[ix("q", t)], "m_kg": x[ix("m", t)],
               "deliveries": np.round(x[ix("d", t)]) if trailer is not None else np.zeros(n),
               "buffer_kg": x[ix("b", t)] if trailer is not None else np.zeros(n),
               "objective_eur": objective, "mip_gap": gap}
        for mt in w.meters:
            out[f"imp_{mt}"] = x[ix(f"imp_{mt}", t)]
            out[f"exp_{mt}"] = x[ix(f"exp_{mt}", t)]
        out["school_net_kw"] = w.load_s + out["ely_el_kw"] + out["compressor_kw"]
        out["stz_net_kw"] = w.load_z - out["fc_kw"] - out["q_fc_kw"] * w.inv_cop
        out["price"], out["feed"] = w.price, w.feed
        return out


class MeterDispatcher:
    """Rolling two-meter dispatch for the physical simulator (:class:`h2quarters.sim.dispatch.Dispatcher`).

    Every ``commit_steps`` it plans ``window_steps`` ahead from the measured pool and its own account of the
    bundle buffer, and follows the plan in between; the simulator's physics (start-up delay, part-load
    efficiency, tank pressure) decide what really happens. Deliveries inside the lead time were decided by an
    earlier plan and are kept. ``deliveries`` records the bundles that arrived, per step.
    """

    def __init__(self, plant: PlantParams, settings: OptSettings, inputs: MeterInputs, dt_h: float,
                 window_steps: int, commit_steps: int, metering: str = "per_building",
                 heat: str = "heat_pump", trailer: TrailerPlan | None = None, warm_start: bool = True,
                 lp_first: bool = False) -> None:
        self.planner = MeterPlanner(plant, settings, dt_h, metering, heat, warm_start, lp_first)
        self.inputs, self.window, self.commit = inputs, window_steps, commit_steps
        self.trailer, self.dt_h = trailer, dt_h
        self.m_min_kg = plant.tank.m_min_kg
        n = len(inputs.pv_kw)
        self.deliveries = np.zeros(n)
        self._ordered = np.zeros(n)  # bundles decided by the last plan, per absolute step
        self.buffer_start_kg: float | None = None
        self._b = 0.0
        self._plan: dict[str, np.ndarray] | None = None
        self._i0 = 0
        self._last_i = -1
        self.solve_times_s: list[float] = []  # wall time per plan (s)
        self.solve_cpu_s: list[float] = []  # CPU time per plan (s): comparable on a busy machine
        self.orders: list[tuple[int, int]] = []  # (step ordered, step due) of the ordering policy
        self.plans: list[tuple[int, dict[str, np.ndarray]]] = []

    def decide(self, state: PlantState, inputs: pd.DataFrame, i: int) -> Setpoints:
        """Setpoints for step ``i`` (re-plans every ``commit_steps``)."""
        tr = self.trailer
        if tr is not None:
            if self.buffer_start_kg is None:  # the buffer starts filled from the pool (part of its balance)
                self._b = float(min(tr.cap_kg, max(0.0, state.m_tank_kg - self.m_min_kg)))
                self.buffer_start_kg = self._b
            elif self._plan is not None and self._last_i >= 0:
                k = self._last_i - self._i0
                used = float(self._plan["h2_fc_kg_per_h"][k]) * self.dt_h
                self._b = max(0.0, self._b + tr.payload_kg * self._plan["deliveries"][k] - used)
            self._b = min(self._b, max(0.0, state.m_tank_kg - self.m_min_kg))
        if self._plan is None or i - self._i0 >= self.commit:
            t0, c0 = time.perf_counter(), time.process_time()
            n = min(self.window, len(self.inputs.pv_kw) - i)
            fixed = self._ordered[i:i + n] if tr is not None else None
            self._plan = self.planner.solve(self.inputs, i, n, float(state.m_tank_kg), state.ely_state == 3,
                                            tr, self._b, fixed)
            self._i0 = i
            if tr is not None:
                self._ordered[i:i + n] = self._plan["deliveries"]
                if tr.ordering == "policy":
                    self._order(i, float(state.m_tank_kg))
            self.solve_times_s.append(time.perf_counter() - t0)
            self.solve_cpu_s.append(time.process_time() - c0)
            self.plans.append((i, self._plan))
        k = i - self._i0
        self._last_i = i
        if tr is not None:
            self.deliveries[i] = self._plan["deliveries"][k]
        on = bool(self._plan["ely_on"][k] > 0.5)
        nxt = k + 1 < len(self._plan["ely_on"]) and self._plan["ely_on"][k + 1] > 0.5
        return Setpoints(ely_p_stack_kw=float(self._plan["ely_p_stack_kw"][k]) if on else 0.0,
                         ely_standby=on or nxt, fc_p_kw=float(self._plan["fc_kw"][k]))

    def _order(self, i: int, pool_kg: float) -> None:
        """The ordering policy, reviewed once per plan: a periodic-review (R, s, Q) rule on the plan's forecast.

        R is the re-plan interval, Q one whole bundle, and the reorder point s says "one bundle place will be
        empty when it arrives": a bundle is ordered at review step ``i`` for the first working step ``a`` at
        least ``lead_steps`` later if the buffer, plus what is already on order, minus the fuel cell's forecast
        use until ``a`` is at most ``cap − payload``, and if the school tank holds a full payload above its floor
        beyond what is already promised. The forecast is the plan just made (it knows prices, loads and heat of
        the window); beyond the window no use is assumed, so a bundle never arrives at a full place if the next
        plans use no less than this one (the MILP keeps the buffer ≤ capacity, burning if it must). Orders are
        written into ``_ordered`` at their arrival step; later windows take them as fixed deliveries.
        """
        tr, plan = self.trailer, self._plan
        assert tr is not None and plan is not None
        n_all = len(self.inputs.pv_kw)
        work = np.flatnonzero(tr.working[i + max(tr.lead_steps, 1):]) + i + max(tr.lead_steps, 1)
        if work.size == 0:
            return
        a = int(work[0])
        use = np.asarray(plan["h2_fc_kg_per_h"], float) * self.dt_h  # the plan's forecast from step i
        use_until = float(use[:max(0, min(a - i, use.size))].sum())
        b_now = self._b  # the buffer at the start of step i (before its use)
        on_order = float(self._ordered[i:n_all].sum())
        spare = pool_kg - b_now - self.m_min_kg - tr.payload_kg * on_order
        # one bundle per review: the trailer carries one, and a second place empties only after a day's use
        if (b_now + tr.payload_kg * on_order - use_until <= tr.cap_kg - tr.payload_kg + 1e-9
                and spare >= tr.payload_kg - 1e-9 and self._ordered[a] == 0):
            self._ordered[a] = 1.0
            self.orders.append((i, a))
