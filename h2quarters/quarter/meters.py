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


class MeterPlanner:
    """One window of the two-meter MILP (built per solve; a 48-step window has ≈1,000 columns).

    Parameters
    ----------
    plant : PlantParams
        Plant numbers from the hydrogen site.
    settings : OptSettings
        Start-up cost, terminal hydrogen value, vent penalty, gap.
    dt_h : float
        Step length (h).
    metering : {"per_building", "shared"}
        One meter per building, or one shared connection.
    heat : {"heat_pump", "gas_boiler"}
        What covers the Stadtteilzentrum's heat the fuel cell does not.
    """

    def __init__(self, plant: PlantParams, settings: OptSettings, dt_h: float, metering: str = "per_building",
                 heat: str = "heat_pump") -> None:
        if plant.fuel_cell is None:
            raise ValueError("the quarter's hydrogen site needs a fuel_cell (at the Stadtteilzentrum)")
        if metering not in ("per_building", "shared"):
            raise ValueError(f"metering '{metering}' not allowed; choose per_building or shared")
        self.plant, self.settings, self.dt_h = plant, settings, dt_h
        self.metering, self.heat = metering, heat
        self.h = highspy.Highs()
        self.h.setOptionValue("output_flag", False)
        self.h.setOptionValue("mip_rel_gap", settings.mpc_mip_rel_gap)
        self.h.setOptionValue("threads", 1)
        self.h.setOptionValue("time_limit", float(settings.mpc_time_limit_s))  # best plan found so far after that
        self.last: dict[str, np.ndarray] = {}

    def solve(self, inp: MeterInputs, i0: int, n: int, m0_kg: float, ely_on0: bool,
              trailer: TrailerPlan | None = None, b0_kg: float = 0.0,
              fixed_deliveries: np.ndarray | None = None) -> dict[str, np.ndarray]:
        """Plan steps ``i0 … i0+n−1`` from the pool ``m0_kg`` (school tank + buffer, as the simulator measures
        it) of which ``b0_kg`` is in the Stadtteilzentrum's bundle buffer; returns per-step arrays.

        With ``trailer`` the hydrogen reaches the fuel cell only through whole bundles delivered in working
        hours; deliveries inside the lead time are ``fixed_deliveries`` (already ordered) or none.
        """
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
            nl = min(trailer.lead_steps, n)
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

        # electrolyser electrical power and hydrogen per step (expressions as column lists)
        ely_el = [(ix("on", t), ely.p_min_kw + ely.p_bop_kw)] + [(ix("eseg", t, k), 1.0) for k in range(len(es))]
        h2_ely = [(ix("on", t), float(ely.curve.y[0]))] + [(ix("eseg", t, k), es[k]) for k in range(len(es))]
        fc_p = [(ix("fon", t), fc.p_min_kw)] + [(ix("fseg", t, k), 1.0) for k in range(len(fs))]
        h2_fc = [(ix("fon", t), float(fc.curve.y[0]))] + [(ix("fseg", t, k), fs[k]) for k in range(len(fs))]
        comp = [(c, v * tank.w_comp_kwh_per_kg) for c, v in h2_ely]
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
            # a bundle is swapped as a whole: it arrives only when a place is empty (b_{t−1} ≤ cap − payload)
            big = trailer.cap_kg
            rr = r0 + t
            rows.append((rr[1:], ix("b", t[1:] - 1), np.ones(n - 1)))
            rows.append((rr, ix("d", t), np.full(n, big)))
            lim = np.full(n, trailer.cap_kg - trailer.payload_kg + big)
            lim[0] -= b0_kg
            rlo.append(np.full(n, -_INF))
            rhi.append(lim)
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
        lp = highspy.HighsLp()
        lp.num_col_, lp.num_row_ = nv, r0
        lp.col_cost_, lp.col_lower_, lp.col_upper_ = cost, lo, hi
        lp.row_lower_, lp.row_upper_ = np.concatenate(rlo), np.concatenate(rhi)
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_, lp.a_matrix_.index_, lp.a_matrix_.value_ = a.indptr, a.indices, a.data
        lp.integrality_ = [highspy.HighsVarType(int(x)) for x in integ]
        # a busy machine can hit the per-plan time limit before any plan is found: then try longer, and last
        # without the deliveries an earlier plan fixed inside the lead time (the plant may have drifted from it)
        attempts = [(float(s.mpc_time_limit_s), None), (float(s.time_limit_s), None)]
        if trailer is not None:
            attempts.append((float(s.time_limit_s), ix("d", t[:min(trailer.lead_steps, n)])))
        status = None
        for limit, release in attempts:
            if release is not None:
                lo[release] = 0.0
                hi[release] = trailer.working[i0:i0 + n][:len(release)].astype(float)
                lp.col_lower_, lp.col_upper_ = lo, hi
            self.h.clearModel()
            self.h.passModel(lp)
            self.h.setOptionValue("time_limit", limit)
            self.h.run()
            status = self.h.getModelStatus()
            if status == highspy.HighsModelStatus.kOptimal or self.h.getInfo().primal_solution_status == 2:
                break
        else:
            raise RuntimeError(f"quarter dispatch window at step {i0} failed: HiGHS "
                               f"{self.h.modelStatusToString(status)}")
        self.attempts = attempts.index((limit, release)) + 1
        x = np.asarray(self.h.getSolution().col_value)

        def val(cols_vals: list[tuple[np.ndarray, np.ndarray | float]]) -> np.ndarray:
            return sum(x[cc] * vv for cc, vv in cols_vals)

        out = {"ely_on": np.round(x[ix("on", t)]), "ely_el_kw": val(ely_el),
               "ely_p_stack_kw": val(ely_el) - ely.p_bop_kw * np.round(x[ix("on", t)]),
               "h2_ely_kg_per_h": val(h2_ely), "compressor_kw": val(comp), "fc_kw": val(fc_p),
               "h2_fc_kg_per_h": val(h2_fc), "q_fc_kw": x[ix("q", t)], "m_kg": x[ix("m", t)],
               "deliveries": np.round(x[ix("d", t)]) if trailer is not None else np.zeros(n),
               "buffer_kg": x[ix("b", t)] if trailer is not None else np.zeros(n),
               "objective_eur": float(self.h.getInfo().objective_function_value)}
        for mt in meters:
            out[f"imp_{mt}"] = x[ix(f"imp_{mt}", t)]
            out[f"exp_{mt}"] = x[ix(f"exp_{mt}", t)]
        out["school_net_kw"] = load_s + out["ely_el_kw"] + out["compressor_kw"]
        out["stz_net_kw"] = load_z - out["fc_kw"] - out["q_fc_kw"] * inv_cop
        out["price"], out["feed"] = price, feed
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
                 heat: str = "heat_pump", trailer: TrailerPlan | None = None) -> None:
        self.planner = MeterPlanner(plant, settings, dt_h, metering, heat)
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
        self.solve_times_s: list[float] = []
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
            t0 = time.perf_counter()
            n = min(self.window, len(self.inputs.pv_kw) - i)
            fixed = self._ordered[i:i + n] if tr is not None else None
            self._plan = self.planner.solve(self.inputs, i, n, float(state.m_tank_kg), state.ely_state == 3,
                                            tr, self._b, fixed)
            self._i0 = i
            if tr is not None:
                self._ordered[i:i + n] = self._plan["deliveries"]
            self.solve_times_s.append(time.perf_counter() - t0)
            self.plans.append((i, self._plan))
        k = i - self._i0
        self._last_i = i
        if tr is not None:
            self.deliveries[i] = self._plan["deliveries"][k]
        on = bool(self._plan["ely_on"][k] > 0.5)
        nxt = k + 1 < len(self._plan["ely_on"]) and self._plan["ely_on"][k + 1] > 0.5
        return Setpoints(ely_p_stack_kw=float(self._plan["ely_p_stack_kw"][k]) if on else 0.0,
                         ely_standby=on or nxt, fc_p_kw=float(self._plan["fc_kw"][k]))
