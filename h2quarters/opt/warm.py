"""A MIP start for the next MPC re-plan that is feasible by construction.

The previous plan shifted by the steps executed since, with its last step repeated, is *not* a solution of
the next model: the appended step meets new PV, load and demand (power and tank balances break), the
cumulative-demand rows of the reserve memory refer to the new horizon start, and the measured state may
differ from the planned one. Given such a start, HiGHS runs a repair LP — timed against the reused
instance's cumulative run clock, so that after a while every repair ends at the time limit and the start is
silently dropped.

:class:`WarmStart` completes the shifted plan in numpy instead. It keeps the commitment decisions (producing,
standby, fuel cell on, battery and electrolyser set-points) and recomputes everything that follows from
them and from the new data: cold starts and the start-up fraction, up/down indicators, hydrogen and heat
flows, the tank and battery trajectories from the measured state (with the smallest unmet-demand / vent
slacks that keep the tank in its window), the reserve memory, and the grid flows that close every power
balance. The appended steps either hold the last decisions or switch the units off, whichever is feasible.
The result is verified against the live matrix (rows, bounds, integrality) before it is offered; a start
that fails the check is not offered (and counted), so HiGHS never has to repair one.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
import scipy.sparse as sp

FEAS_TOL = 1e-7
"""Largest row or bound violation a start may have (HiGHS' primal feasibility tolerance)."""


def column_index(m: pyo.ConcreteModel, col_pos: dict[int, int]) -> dict[str, np.ndarray]:
    """Column of every variable, per component, as arrays ``(S, T)``, ``(S, T+1)`` or ``(S, T, K)`` (−1 where
    Pyomo dropped an unused variable)."""
    out: dict[str, np.ndarray] = {}
    for var in m.component_objects(pyo.Var, descend_into=False):
        keys = list(var.keys())
        if not keys or not isinstance(keys[0], tuple) or len(keys[0]) < 2:
            continue
        shape = tuple(max(k[i] for k in keys) + 1 for i in range(len(keys[0])))
        arr = np.full(shape, -1, dtype=np.int64)
        for k, v in var.items():
            arr[k] = col_pos.get(id(v), -1)
        out[var.local_name] = arr
    return out


class WarmStart:
    """Completes a shifted previous solution into a feasible start for a :class:`DirectHighs` model.

    Parameters
    ----------
    m : ConcreteModel
        The model that was compiled (from :func:`h2quarters.opt.model.build_model`).
    col_pos : dict
        ``id(var) → column`` of the compiled standard form.
    a : scipy.sparse matrix
        The constraint matrix; entries are rewritten through :meth:`set_entries` when coefficients change.
    col_lower, col_upper : ndarray
        Column bounds.
    integer : ndarray of bool
        Which columns are integer.
    """

    def __init__(self, m: pyo.ConcreteModel, col_pos: dict[int, int], a: sp.spmatrix, col_lower: np.ndarray,
                 col_upper: np.ndarray, integer: np.ndarray) -> None:
        self.m = m
        self.idx = column_index(m, col_pos)
        self.a = sp.csr_matrix(a, dtype=float, copy=True)
        self.a.sum_duplicates()
        self.a.sort_indices()
        self.lo, self.up = np.asarray(col_lower, float), np.asarray(col_upper, float)
        self.integer = np.asarray(integer, bool)

    def entry_positions(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Positions of matrix entries ``(rows[i], cols[i])`` in the CSR data array."""
        ip, ind = self.a.indptr, self.a.indices
        return np.array([ip[r] + int(np.searchsorted(ind[ip[r]:ip[r + 1]], c)) for r, c in zip(rows, cols)],
                        dtype=np.int64)

    def set_entries(self, pos: np.ndarray, values: np.ndarray) -> None:
        """Write changed coefficients (positions from :meth:`entry_positions`)."""
        self.a.data[pos] = values

    # --------------------------------------------------------------------------------------------------
    def _get(self, x: np.ndarray, name: str) -> np.ndarray:
        p = self.idx[name]
        return np.where(p >= 0, x[np.maximum(p, 0)], 0.0)

    def _set(self, x: np.ndarray, name: str, values: np.ndarray) -> None:
        if name not in self.idx:
            return
        p = self.idx[name]
        ok = p >= 0
        x[p[ok]] = np.broadcast_to(values, p.shape)[ok]

    def _integral(self, x: np.ndarray, name: str) -> np.ndarray:
        """Values of a binary component, rounded; a fractional value (a step of the previous plan's relaxed
        tail, see ``DirectHighs(int_steps=…)``) becomes 0, the safe completion (unit off). Integral values are
        feasible for relaxed columns too, and the hull cuts hold only for integral commitment."""
        v = self._get(x, name)
        r = np.round(v)
        return np.where(np.abs(v - r) <= 1e-6, r, 0.0)

    def violation(self, x: np.ndarray, row_lower: np.ndarray, row_upper: np.ndarray) -> float:
        """Largest violation of a row, a bound or integrality by ``x``."""
        act = self.a @ x
        v_row = np.max(np.maximum(row_lower - act, act - row_upper), initial=0.0)
        v_col = np.max(np.maximum(self.lo - x, x - self.up), initial=0.0)
        xi = x[self.integer]
        v_int = np.max(np.abs(xi - np.round(xi)), initial=0.0)
        return float(max(v_row, v_col, v_int))

    def complete(self, x_shifted: np.ndarray, theta: dict[str, np.ndarray], n_new: int,
                 row_lower: np.ndarray, row_upper: np.ndarray) -> tuple[np.ndarray | None, str]:
        """A feasible start from the shifted previous solution, or None.

        Parameters
        ----------
        x_shifted : ndarray
            The previous solution moved ``n_new`` steps earlier (last step repeated).
        theta : dict
            The current Param values (``PARAM_NAMES``, as held by :class:`DirectHighs`).
        n_new : int
            Steps appended at the end of the horizon.
        row_lower, row_upper : ndarray
            The current row bounds.

        Returns
        -------
        (ndarray or None, str)
            The start and how its appended steps were completed ('held' or 'off'), or (None, reason).
        """
        worst = np.inf
        for tail in ("held", "off"):
            x = self._fill(x_shifted, theta, n_new, tail)
            v = self.violation(x, row_lower, row_upper)
            if v <= FEAS_TOL:
                return x, tail
            worst = min(worst, v)
        return None, f"violation {worst:.3g}"

    def _fill(self, x_in: np.ndarray, th: dict[str, np.ndarray], n_new: int, tail: str) -> np.ndarray:
        m = self.m
        plant, dt = m.plant, m.dt_h
        ely, tank, fc, bat = plant.electrolyser, plant.tank, plant.fuel_cell, plant.battery
        n, ns = m.n_steps, m.n_scenarios
        x = x_in.copy()
        g = lambda name: self._get(x, name)  # noqa: E731
        on, sb = self._integral(x, "on"), self._integral(x, "sb")
        dl = g("dl")
        fc_on = self._integral(x, "fc_on") if fc is not None else None
        dfc = g("dfc") if fc is not None else None
        p_ch = g("p_ch") if bat is not None else None
        p_dis = g("p_dis") if bat is not None else None
        n_first = getattr(m, "n_first", 0)
        if ns > 1 and n_first:
            # first-stage decisions are shared by all scenarios (non-anticipativity)
            for arr in (on, sb, dl, fc_on, dfc, p_ch, p_dis):
                if arr is not None:
                    arr[1:, :n_first] = arr[0, :n_first]
        if tail == "off" and n_new > 0:
            k = slice(n - min(n_new, n), n)
            for arr in (on, sb, dl, fc_on, dfc, p_ch, p_dis):
                if arr is not None:
                    arr[:, k] = 0.0
        # --- electrolyser: cold starts, start-up fraction, segments, up/down indicators ------------------
        w = on + sb
        w_prev = np.concatenate([np.full((ns, 1), th["w_prev"][0]), w[:, :-1]], axis=1)
        on_prev = np.concatenate([np.full((ns, 1), th["on_prev"][0]), on[:, :-1]], axis=1)
        cs = np.maximum(w - w_prev, 0.0)
        lam = np.zeros_like(on)
        if m.r_frac > 0:
            k = m.k_full
            lam[:, k:] = m.r_frac * cs[:, :n - k] * on[:, k:]
            if k == 0:  # (equal for integer values; the larger one for a relaxed tail, see c_lam3)
                lam = np.maximum(lam, m.r_frac * (cs - sb))
        z = on - lam
        widths = ely.curve.widths
        dl = np.clip(dl, 0.0, None)
        dl = np.minimum(dl, widths[None, None, :] * z[:, :, None])
        h2 = float(ely.curve.y[0]) * z + dl @ ely.curve.slopes
        p_st = ely.p_min_kw * z + dl.sum(axis=2)
        p_el = p_st + ely.p_bop_kw * on + ely.p_standby_kw * sb + tank.w_comp_kwh_per_kg * h2
        for name, val in (("on", on), ("sb", sb), ("cs", cs), ("lam", lam), ("dl", dl),
                          ("ys", np.maximum(on - on_prev, 0.0)), ("yd", np.maximum(w_prev - w, 0.0))):
            self._set(x, name, val)
        # --- fuel cell ------------------------------------------------------------------------------------
        if fc is not None:
            dfc = np.minimum(np.clip(dfc, 0.0, None), fc.curve.widths[None, None, :] * fc_on[:, :, None])
            fc_h2 = float(fc.curve.y[0]) * fc_on + dfc @ fc.curve.slopes
            # the fuel cell may run only from a tank at its reserve (c_reserve) and not below the minimum
            fc_floor = fc.m_reserve_kg if hasattr(m, "c_reserve") else tank.m_min_kg
        else:
            fc_h2 = np.zeros_like(on)
        # --- tank from the measured mass, smallest slacks that keep it in its window --------------------
        demand = th["h2_demand_kg"]
        m_tank = np.empty((ns, n + 1))
        u_h2 = np.zeros((ns, n))
        vent = np.zeros((ns, n))
        m_tank[:, 0] = th["m0_kg"][0]
        for t in range(n):
            if fc is not None and t >= n_first:
                # a step whose fuel-cell run the completed tank cannot carry (a rounded relaxed-tail step, or
                # the previous plan's tank ran lower than measured): fuel cell off in that step
                bad = (fc_on[:, t] > 0.0) & ((m_tank[:, t] < fc_floor - 1e-9) | (
                    m_tank[:, t] + dt * (h2[:, t] - fc_h2[:, t]) - demand[t] < tank.m_min_kg - 1e-9))
                if bad.any():
                    fc_on[bad, t] = 0.0
                    dfc[bad, t, :] = 0.0
                    fc_h2[bad, t] = 0.0
            nxt = m_tank[:, t] + dt * (h2[:, t] - fc_h2[:, t]) - demand[t]
            u = np.clip(tank.m_min_kg - nxt, 0.0, demand[t])
            nxt = nxt + u
            v = np.maximum(nxt - tank.m_max_kg, 0.0)
            u_h2[:, t], vent[:, t], m_tank[:, t + 1] = u, v, nxt - v
        # --- fuel-cell power, heat ----------------------------------------------------------------------
        if fc is not None:
            p_fc = fc.p_min_kw * fc_on + dfc.sum(axis=2)
            self._set(x, "fc_on", fc_on)
            self._set(x, "dfc", dfc)
            from h2quarters.models.constants import LHV_H2_KWH_PER_KG

            fc_heat = fc.heat_frac_of_h2 * LHV_H2_KWH_PER_KG * fc_h2
        else:
            p_fc = fc_heat = np.zeros_like(on)
        if "q_boil" in self.idx:
            self._set(x, "q_boil", np.maximum(th["heat_kw"][None, :] - fc_heat, 0.0))
        self._set(x, "m_tank", m_tank)
        self._set(x, "u_h2", u_h2)
        self._set(x, "vent", vent)
        if "res_h" in self.idx and fc is not None:
            self._set(x, "res_h", np.maximum.accumulate(m.k_res * fc_on + th["h2_demand_cum_prev_kg"][None, :],
                                                        axis=1))
        # --- battery ----------------------------------------------------------------------------------------
        if bat is not None:
            p_ch, p_dis = np.clip(p_ch, 0.0, bat.p_charge_kw), np.clip(p_dis, 0.0, bat.p_discharge_kw)
            b_frac = None
            if "b_ch" in self.idx:
                # charging and discharging in one step (a relaxed-tail step, b_ch fractional) is possible only
                # while p_ch/P_ch + p_dis/P_dis ≤ 1 with a fractional b_ch; in an integral step (or beyond that)
                # keep only the net flow — the same stored energy, one direction
                pos = self.idx["b_ch"]
                integ = (pos >= 0) & self.integer[np.maximum(pos, 0)]
                both = (p_ch > 0.0) & (p_dis > 0.0)
                share = p_ch / bat.p_charge_kw + p_dis / bat.p_discharge_kw
                fix = both & (integ | (share > 1.0))
                net = bat.eta_charge * p_ch - p_dis / bat.eta_discharge
                p_ch = np.where(fix, np.maximum(net, 0.0) / bat.eta_charge, p_ch)
                p_dis = np.where(fix, np.maximum(-net, 0.0) * bat.eta_discharge, p_dis)
                b_frac = np.where(both & ~fix, p_ch / bat.p_charge_kw, np.nan)
            keep = 1.0 - bat.self_discharge_per_h * dt
            e = np.empty((ns, n + 1))
            e[:, 0] = th["e0_kwh"][0]
            e_lo, e_hi = bat.soc_min * bat.e_kwh, bat.soc_max * bat.e_kwh
            for t in range(n):
                # a step the completed battery cannot carry (two-stage: a scenario's recourse step moved into
                # the shared first stage took the P50 scenario's battery power; or a held tail step): charge or
                # discharge only as far as the window allows — the grid closes the balance below. Scenarios
                # share e[:, t] while their decisions are shared, so shared steps stay shared.
                room_up = (e_hi - keep * e[:, t]) / dt
                room_down = (keep * e[:, t] - e_lo) / dt
                net = bat.eta_charge * p_ch[:, t] - p_dis[:, t] / bat.eta_discharge
                over, under = net > room_up, net < -room_down
                if over.any():
                    p_ch[over, t] = np.clip((room_up[over] + p_dis[over, t] / bat.eta_discharge)
                                            / bat.eta_charge, 0.0, p_ch[over, t])
                if under.any():
                    p_dis[under, t] = np.clip((room_down[under] + bat.eta_charge * p_ch[under, t])
                                              * bat.eta_discharge, 0.0, p_dis[under, t])
                e[:, t + 1] = keep * e[:, t] + dt * (bat.eta_charge * p_ch[:, t] - p_dis[:, t] / bat.eta_discharge)
            self._set(x, "p_ch", p_ch)
            self._set(x, "p_dis", p_dis)
            self._set(x, "e_bat", e)
            if "b_ch" in self.idx:
                b_old = np.round(g("b_ch"))
                b = np.where(p_ch > 0.0, 1.0, np.where(p_dis > 0.0, 0.0, b_old))
                both = (p_ch > 0.0) & (p_dis > 0.0)  # only where the fractional b_ch above allows both
                self._set(x, "b_ch", np.where(both & np.isfinite(b_frac), b_frac, b))
        else:
            p_ch = p_dis = np.zeros_like(on)
        # --- grid closes every power balance ------------------------------------------------------------
        pv = th["pv_kw"].reshape(ns, n)
        load = th["load_kw"][None, :]
        short = load + p_el + p_ch - pv - p_fc - p_dis
        imp = np.maximum(short, 0.0)
        u_load = np.zeros_like(imp)
        if plant.p_import_max_kw is not None:
            u_load = np.minimum(np.maximum(imp - plant.p_import_max_kw, 0.0), np.broadcast_to(load, imp.shape))
            imp = imp - u_load
        surplus = np.maximum(-short, 0.0)
        # curtail rather than export at a negative feed-in tariff; never export beyond the limit
        cur = np.where(th["price_export"][None, :] < 0.0, np.minimum(surplus, pv), 0.0)
        exp = surplus - cur
        if plant.p_export_max_kw is not None:
            over = np.maximum(exp - plant.p_export_max_kw, 0.0)
            exp, cur = exp - over, cur + over
        self._set(x, "p_imp", imp)
        self._set(x, "p_exp", exp)
        self._set(x, "p_cur", cur)
        self._set(x, "u_load", u_load)
        if "g_imp" in self.idx:
            self._set(x, "g_imp", (imp > 0.0).astype(float))
        return x
