"""Pyomo builds, highspy runs: a compiled model that is re-parameterised with numpy between solves.

Most of the dispatch model's mutable Params (``PARAM_NAMES``) enter only constraint right-hand sides,
objective coefficients and the objective constant; the hull-cut Params (``COEF_PARAM_NAMES``) are
coefficients of single matrix entries. All are affine in the Param values θ: ``rhs(θ) = rhs₀ + B (θ − θ₀)``,
``c(θ) = c₀ + C (θ − θ₀)``, ``a_ij(θ) = a_ij(θ₀) + (θ − θ₀)_k`` for the entries a coefficient Param ``k``
multiplies. :class:`DirectHighs` compiles the model once with Pyomo's ``LinearStandardFormCompiler``, finds
``B``, ``C`` and the coefficient entries by compiling once more per Param component with all its values
raised by one (each value of a component touches its own rows/columns — the row's or column's time index
says which), hands the matrix to highspy once, and from then on a re-plan is a few numpy operations,
``changeRowsBounds``/``changeColsCost``/``changeCoeff`` and ``run``.

Between re-plans the previous solution, shifted by the number of steps executed and completed into a feasible
point (:mod:`h2quarters.opt.warm`), is offered to HiGHS as a starting incumbent.

LP first (``lp_first=True``): a second highspy instance holds the same model with integrality relaxed and gets
the same numpy changes; its dual simplex restarts from the previous basis, so the LP bound of a re-plan costs a
fraction of a MIP run (which solves its root LP from scratch). If the feasible start, or the LP solution with
its binaries rounded and completed the same way, is within the MIP gap of that bound, it *is* a plan proven
within the gap and HiGHS' MIP does not run; otherwise the better of the two is the MIP's starting incumbent.
"""

from __future__ import annotations

import time

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from h2quarters.opt.model import COEF_PARAM_NAMES, PARAM_NAMES, write_values
from h2quarters.opt.results import VAR_ST1, solution_arrays, var_positions
from h2quarters.opt.settings import OptSettings
from h2quarters.opt.solve import SolveInfo, _highs_options, _status, highs_lp
from h2quarters.opt.warm import WarmStart

_INF = highspy.kHighsInf


def _compile(m: pyo.ConcreteModel):
    return LinearStandardFormCompiler().write(m, mixed_form=True)


def _current_values(m: pyo.ConcreteModel, name: str) -> np.ndarray:
    comp = getattr(m, name)
    if comp.is_indexed():
        return np.fromiter((pyo.value(v) for v in comp.values()), float, len(comp))
    return np.array([pyo.value(comp)])


def _param_key(comp: pyo.Param, idx: object) -> object:
    """Which value of Param ``comp`` a row/column with index ``idx`` (s, t, …) depends on."""
    if not comp.is_indexed():
        return None
    if comp.dim() == 2:  # (s, t)
        return (idx[0], idx[1])
    return idx[1] if isinstance(idx, tuple) else idx


class DirectHighs:
    """A dispatch model compiled to a live highspy instance, updated through numpy.

    Parameters
    ----------
    m : ConcreteModel
        From :func:`h2quarters.opt.model.build_model`, with *some* Param values set (they are the base
        point θ₀; any values work because the dependence is affine).
    settings : OptSettings
        Gap, time limit, threads.
    int_steps : int, optional
        Keep integer variables integer only in the first ``int_steps`` steps and relax the rest of the horizon
        to the LP (a standard MPC reduction: only the first steps are applied before the next re-plan, the
        tail only values the future). Default: every step integer.
    lp_first : bool
        Keep a warm-started LP relaxation next to the MIP and accept a warm start (or the rounded LP) that its
        bound proves within the gap without running the MIP (see the module docstring).
    """

    def __init__(self, m: pyo.ConcreteModel, settings: OptSettings, int_steps: int | None = None,
                 lp_first: bool = False) -> None:
        t0 = time.perf_counter()
        self.m = m
        self.n = m.n_steps
        # Coefficient Params are compiled at a non-zero probe value so that every entry they touch exists
        # in the matrix (a zero coefficient would be dropped); their real values are applied below.
        coef_now = {name: _current_values(m, name) for name in COEF_PARAM_NAMES}
        write_values(m, {name: np.ones_like(v) for name, v in coef_now.items()})
        sf = _compile(m)
        self.columns = sf.columns
        self.col_pos = {id(v): j for j, v in enumerate(sf.columns)}
        self._rows = [r[0] for r in sf.rows]
        nrow = sf.A.shape[0]
        self.sense = np.fromiter((r[1] for r in sf.rows), int, nrow)
        self.rhs0 = np.asarray(sf.rhs, float)
        self.c0 = np.asarray(sf.c.todense(), float).ravel()
        self.off0 = float(sf.c_offset[0])
        self.theta0 = {name: _current_values(m, name) for name in PARAM_NAMES}
        self.maps: dict[str, tuple] = {}
        for name in PARAM_NAMES:
            comp = getattr(m, name)
            pos = {k: i for i, k in enumerate(comp.keys())} if comp.is_indexed() else {None: 0}
            write_values(m, {name: self.theta0[name] + 1.0})
            sf1 = _compile(m)
            write_values(m, {name: self.theta0[name]})
            if len(sf1.rows) != nrow:
                raise RuntimeError(f"row set changed when perturbing Param {name}")
            d_rhs = np.asarray(sf1.rhs, float) - self.rhs0
            rows = np.flatnonzero(np.abs(d_rhs) > 1e-12)
            r_p = np.fromiter((pos[_param_key(comp, sf.rows[r][0].index())] for r in rows), int, len(rows))
            d_c = np.asarray(sf1.c.todense(), float).ravel() - self.c0
            cols = np.flatnonzero(np.abs(d_c) > 1e-12)
            c_p = np.fromiter((pos[_param_key(comp, sf.columns[j].index())] for j in cols), int, len(cols))
            d_off = float(sf1.c_offset[0]) - self.off0
            if comp.is_indexed() and abs(d_off) > 1e-12:
                raise RuntimeError(f"indexed Param {name} enters the objective constant; not supported")
            self.maps[name] = (rows, d_rhs[rows], r_p, cols, d_c[cols], c_p, d_off)
        a_probe = sf.A.tocsr()
        self.coef_maps: dict[str, tuple] = {}
        self.coef_theta = {name: np.ones_like(v) for name, v in coef_now.items()}
        for name in COEF_PARAM_NAMES:
            comp = getattr(m, name)
            pos = {k: i for i, k in enumerate(comp.keys())}
            write_values(m, {name: self.coef_theta[name] + 1.0})
            sf1 = _compile(m)
            write_values(m, {name: self.coef_theta[name]})
            d_a = (sf1.A.tocsr() - a_probe).tocoo()
            hit = np.abs(d_a.data) > 1e-12
            rows, cols, slope = d_a.row[hit], d_a.col[hit], d_a.data[hit]
            base = np.asarray(a_probe[rows, cols]).ravel()
            k_p = np.fromiter((pos[_param_key(comp, sf.rows[r][0].index())] for r in rows), int, len(rows))
            self.coef_maps[name] = (rows.astype(np.int32), cols.astype(np.int32), base, slope, k_p)
        self.param_rows = np.unique(np.concatenate([v[0] for v in self.maps.values()])).astype(np.int32)
        self.param_cols = np.unique(np.concatenate([v[3] for v in self.maps.values()])).astype(np.int32)

        lp, integ = highs_lp(sf)  # at the base point θ₀ (rhs0, c0, off0 above are the same numbers)
        self.int_steps = int_steps
        if int_steps is not None and integ.any():
            step = np.fromiter((v.index()[1] if isinstance(v.index(), tuple) and len(v.index()) >= 2 else -1
                                for v in sf.columns), int, len(sf.columns))
            integ = integ & (step < int_steps)
            lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                               for i in integ]
        self.n_int = int(integ.sum())
        self.warm = WarmStart(m, self.col_pos, a_probe, np.asarray(lp.col_lower_, float),
                              np.asarray(lp.col_upper_, float), integ)
        self._coef_pos = {name: self.warm.entry_positions(v[0], v[1]) for name, v in self.coef_maps.items()}
        self.h = highspy.Highs()
        _highs_options(self.h, settings)
        self.h.passModel(lp)
        self._effort = float(self.h.getOptionValue("mip_heuristic_effort")[1])  # HiGHS' default, restored
        self.abs_gap, self.rel_gap = float(settings.mip_abs_gap), float(settings.mip_rel_gap)
        self.h_lp: highspy.Highs | None = None
        self._lp_limit_s = float(settings.time_limit_s)
        if lp_first and self.n_int:
            # the relaxation: same matrix, no integrality; presolve off so that each re-plan's dual simplex
            # restarts from the previous basis (bounds and costs change, the basis stays valid)
            self.h_lp = highspy.Highs()
            _highs_options(self.h_lp, settings)
            self.h_lp.setOptionValue("presolve", "off")
            self.h_lp.passModel(lp)
            ic = np.flatnonzero(integ).astype(np.int32)
            self.h_lp.changeColsIntegrality(len(ic), ic, np.zeros(len(ic), dtype=np.uint8))
        self._set_coefficients(coef_now)
        write_values(m, coef_now)
        self._x: np.ndarray | None = None
        self._shift_cache: dict[int, np.ndarray] = {}
        self._row_shift_cache: dict[int, np.ndarray] = {}
        self._positions = var_positions(m, self.col_pos)
        self.setup_s = time.perf_counter() - t0

    # ------------------------------------------------------------------------------------------------
    def _shift(self, k: int) -> np.ndarray:
        """Column permutation that moves a solution ``k`` steps earlier (last step repeated)."""
        if k not in self._shift_cache:
            src = np.arange(len(self.columns))
            for j, v in enumerate(self.columns):
                idx = v.index()
                if isinstance(idx, tuple) and len(idx) >= 2 and isinstance(idx[1], int):
                    comp = v.parent_component()
                    t_max = self.n if comp.name in VAR_ST1 else self.n - 1
                    t_new = min(idx[1] + k, t_max)
                    target = comp[(idx[0], t_new) + tuple(idx[2:])]
                    src[j] = self.col_pos.get(id(target), j)
            self._shift_cache[k] = src
        return self._shift_cache[k]

    def _row_shift(self, k: int) -> np.ndarray:
        """Row permutation that moves the rows of step ``t + k`` to step ``t`` (the last step repeated)."""
        if k not in self._row_shift_cache:
            pos = {id(c): r for r, c in enumerate(self._rows)}
            src = np.arange(len(self._rows))
            for r, c in enumerate(self._rows):
                idx = c.index()
                if isinstance(idx, tuple) and len(idx) >= 2 and isinstance(idx[1], int):
                    comp = c.parent_component()
                    for t_new in range(idx[1] + k, idx[1], -1):  # the latest step of this row that exists
                        key = (idx[0], t_new) + tuple(idx[2:])
                        if key in comp:
                            src[r] = pos.get(id(comp[key]), r)
                            break
            self._row_shift_cache[k] = src
        return self._row_shift_cache[k]

    def _shift_lp_basis(self, k: int) -> None:
        """Give the LP relaxation its previous basis moved ``k`` steps earlier: the new horizon's steps are the
        old one's later steps, so the dual simplex restarts near the new optimum (an unshifted basis is a
        step off everywhere and saves little). Passed as an *alien* basis: HiGHS completes it to a square,
        non-singular one itself (the appended step repeats the last one)."""
        h = self.h_lp
        old = h.getBasis()
        if not old.valid:
            return
        st = highspy.HighsBasisStatus
        lut = [st(i) for i in range(5)]
        cs = np.fromiter(map(int, old.col_status), np.int64, len(self.columns))[self._shift(k)]
        rs = np.fromiter(map(int, old.row_status), np.int64, len(self._rows))[self._row_shift(k)]
        new = highspy.HighsBasis()
        new.col_status = [lut[v] for v in cs.tolist()]
        new.row_status = [lut[v] for v in rs.tolist()]
        new.alien = True
        new.valid = True
        if h.setBasis(new) != highspy.HighsStatus.kOk:
            h.setBasis(old)

    def _set_coefficients(self, values: dict[str, np.ndarray]) -> None:
        """Write coefficient Params into the live matrix (only entries whose value changes)."""
        for name, (rows, cols, base, slope, k_p) in self.coef_maps.items():
            if name not in values:
                continue
            new = np.asarray(values[name], float)
            old = self.coef_theta[name]
            changed = np.flatnonzero(new[k_p] != old[k_p])
            vals = base[changed] + slope[changed] * (new[k_p[changed]] - 1.0)
            for h in self._instances():
                for r, c, v in zip(rows[changed].tolist(), cols[changed].tolist(), vals.tolist()):
                    h.changeCoeff(r, c, v)
            self.warm.set_entries(self._coef_pos[name][changed], vals)
            self.coef_theta[name] = new.copy()

    def update(self, values: dict[str, np.ndarray]) -> None:
        """Apply new Param values (flat arrays in each Param's index order, as from ``input_values``)."""
        rhs = self.rhs0.copy()
        c = self.c0.copy()
        off = self.off0
        for name, (rows, d_rhs, r_p, cols, d_c, c_p, d_off) in self.maps.items():
            if name not in values:
                continue
            delta = np.asarray(values[name], float) - self.theta0[name]
            rhs[rows] += d_rhs * delta[r_p]
            c[cols] += d_c * delta[c_p]
            off += d_off * float(delta[0]) if d_off else 0.0
        self.theta0 = {**self.theta0, **{k: np.asarray(v, float) for k, v in values.items() if k in self.maps}}
        self.rhs0, self.c0, self.off0 = rhs, c, off
        r = self.param_rows
        sense = self.sense[r]
        lo, up = np.where(sense == 1, -_INF, rhs[r]), np.where(sense == -1, _INF, rhs[r])
        for h in self._instances():
            h.changeRowsBounds(len(r), r, lo, up)
            h.changeColsCost(len(self.param_cols), self.param_cols, c[self.param_cols])
            h.changeObjectiveOffset(off)
        self._set_coefficients(values)

    def _instances(self) -> list[highspy.Highs]:
        """The MIP instance and, with LP first, the relaxation: both get every change."""
        return [self.h] if self.h_lp is None else [self.h, self.h_lp]

    def row_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Current lower and upper row bounds."""
        return (np.where(self.sense == 1, -_INF, self.rhs0), np.where(self.sense == -1, _INF, self.rhs0))

    def solve(self, warm_shift: int | None = None, time_limit_s: float | None = None,
              heuristics_when_warm: bool = True, sub_mip_when_warm: bool = True) -> SolveInfo:
        """Run HiGHS, optionally from the previous solution shifted by ``warm_shift`` steps.

        The shifted solution is completed into a feasible start (:class:`h2quarters.opt.warm.WarmStart`) and
        offered only if it passes the feasibility check, so HiGHS never runs a repair LP for it.
        ``SolveInfo.extra['warm_start']`` says what happened: 'none' (no previous solution or not asked),
        'accepted', 'rejected' (the completion failed the check; HiGHS started cold), 'ignored' (offered,
        but a better plan was returned) or 'unused' (LP first: the LP relaxation was integral, so it is the
        plan and the start was not completed). With LP first, ``extra['proven_by'] == 'lp_relaxation'`` marks
        a plan returned without a MIP run (``extra['plan_from']``: 'lp_integral', 'lp_rounded' or
        'warm_start').

        Parameters
        ----------
        warm_shift : int, optional
            Steps executed since the previous solve.
        time_limit_s : float, optional
            Wall-clock cap of this run (a last-resort safety; the instance's own limit applies otherwise).
        heuristics_when_warm : bool
            Run the feasibility-jump heuristic even when a start is offered (it always runs without one).
        sub_mip_when_warm : bool
            Run HiGHS' sub-MIP and LP heuristics (RINS, RENS, root reduced cost, ``mip_heuristic_effort``)
            even when a start is offered (they always run without one).
        """
        if time_limit_s is not None:
            self.h.setOptionValue("time_limit", float(time_limit_s))
            self._lp_limit_s = float(time_limit_s)
        extra: dict = {"warm_start": "none"}
        start_obj = None
        x0 = None
        c0 = time.perf_counter()
        lo, up = self.row_bounds()
        want_warm = warm_shift is not None and self._x is not None and self.n_int
        lp = None
        if self.h_lp is not None:
            if warm_shift and self._x is not None:
                self._shift_lp_basis(int(warm_shift))
            lp = self._lp_relaxation(extra)
            if lp is not None and lp[1]:  # integral: the LP solution is the plan (gap 0), no start needed
                if want_warm:
                    extra["warm_start"] = "unused"
                return self._lp_plan(lp[0], extra["lp_bound"], "lp_integral", extra, c0)
        if want_warm:
            x0, how = self.warm.complete(self._x[self._shift(warm_shift)], self.theta0, warm_shift, lo, up)
            if x0 is None:
                extra.update(warm_start="rejected", warm_start_reason=how)
            else:
                start_obj = float(self.c0 @ x0 + self.off0)
                extra.update(warm_start="accepted", warm_start_tail=how, start_objective=start_obj)
        if lp is not None:
            proven = self._lp_first(lp[0], x0, start_obj, extra, c0)
            if proven is not None:
                return proven
            if extra.get("lp_rounded_objective", np.inf) < (np.inf if start_obj is None else start_obj):
                # the rounded LP beats the shifted plan: it is the MIP's first incumbent
                x0, start_obj = extra.pop("_x_rounded"), extra["lp_rounded_objective"]
                extra.update(start_objective=start_obj, start_from="lp_rounded")
            extra.pop("_x_rounded", None)
        if x0 is not None:
            sol = highspy.HighsSolution()
            sol.col_value = x0
            sol.value_valid = True
            self.h.setSolution(sol)
        extra["pre_s"] = time.perf_counter() - c0
        self.h.setOptionValue("mip_heuristic_run_feasibility_jump",
                              bool(heuristics_when_warm) or start_obj is None)
        sub = bool(sub_mip_when_warm) or start_obj is None
        for name in ("mip_heuristic_run_rins", "mip_heuristic_run_rens", "mip_heuristic_run_root_reduced_cost"):
            self.h.setOptionValue(name, sub)
        self.h.setOptionValue("mip_heuristic_effort", self._effort if sub else 0.0)
        run0 = float(self.h.getRunTime())
        t0 = time.perf_counter()
        self.h.run()
        t1 = time.perf_counter()
        out = SolveInfo(status=_status(self.h), solve_s=t1 - t0,
                        highs_run_s=float(self.h.getRunTime()) - run0 + extra.get("lp_s", 0.0),
                        n_cols=len(self.columns), n_rows=len(self.sense), n_int=self.n_int, extra=extra)
        if out.ok:
            info = self.h.getInfo()
            self._x = np.asarray(self.h.getSolution().col_value, float)
            out.objective = float(info.objective_function_value)
            out.mip_gap = float(info.mip_gap) if self.n_int else 0.0
            out.bound = float(info.mip_dual_bound) if self.n_int else out.objective
            out.extra["mip_nodes"] = int(info.mip_node_count)
            if start_obj is not None and out.objective > start_obj + 1e-7 * max(1.0, abs(start_obj)):
                extra["warm_start"] = "ignored"
        return out

    ROUND_AT = (0.5, 1e-6)
    """Thresholds at which the LP relaxation's binaries are rounded ("on" above it) and fixed for a candidate."""

    def _lp_relaxation(self, extra: dict) -> tuple[np.ndarray, bool] | None:
        """Solve the LP relaxation from its (shifted) previous basis: (solution, integral?) or None."""
        t0 = time.perf_counter()
        h = self.h_lp
        self._arm_lp_clock()
        h.run()
        extra["lp_iterations"] = int(h.getInfo().simplex_iteration_count)
        extra["lp_s"] = time.perf_counter() - t0
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            extra["lp_status"] = h.modelStatusToString(h.getModelStatus())
            h.clearSolver()  # next time from scratch, not from a basis that failed
            return None
        extra["lp_bound"] = float(h.getInfo().objective_function_value)
        x = np.asarray(h.getSolution().col_value, float)
        xi = x[self.warm.integer]
        integral = bool(np.all(np.abs(xi - np.round(xi)) <= 1e-6))
        if integral:
            x[self.warm.integer] = np.round(xi)
        return x, integral

    def _lp_first(self, x_lp: np.ndarray, x0: np.ndarray | None, start_obj: float | None, extra: dict,
                  c0: float) -> SolveInfo | None:
        """The start or the rounded LP as a plan proven within the gap by the LP bound, or None (then ``extra``
        holds any rounded candidate as ``_x_rounded``).

        The rounded candidate: the integer columns rounded at :attr:`ROUND_AT` and fixed, the rest re-solved
        as an LP (from the relaxation's basis; the quarter dispatch does the same, ``_round_lp``). Every
        column HiGHS' MIP keeps integer is then integral and the plan meets every row: it is a MIP solution.
        """
        t0 = time.perf_counter()
        h = self.h_lp
        lb = extra["lp_bound"]
        best, best_obj, plan = x0, (np.inf if start_obj is None else start_obj), "warm_start"
        ic = np.flatnonzero(self.warm.integer).astype(np.int32)
        xi = x_lp[ic]
        if best_obj - lb > self._tolerance(best_obj):
            basis = h.getBasis()
            col_lo, col_up = self.warm.lo[ic], self.warm.up[ic]
            try:
                for cut in self.ROUND_AT:
                    v = np.clip((xi > cut).astype(float), col_lo, col_up)
                    h.changeColsBounds(len(ic), ic, v, v)
                    self._arm_lp_clock()
                    h.run()
                    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
                        continue
                    obj = float(h.getInfo().objective_function_value)
                    if obj < extra.get("lp_rounded_objective", np.inf):
                        x = np.asarray(h.getSolution().col_value, float)
                        x[ic] = v  # exactly integral (the LP holds them at their fixed bounds anyway)
                        extra["lp_rounded_objective"], extra["_x_rounded"] = obj, x
                    if obj < best_obj - 1e-9:
                        best, best_obj, plan = extra["_x_rounded"], obj, "lp_rounded"
                    if best_obj - lb <= self._tolerance(best_obj):
                        break
            finally:
                h.changeColsBounds(len(ic), ic, col_lo, col_up)
                h.setBasis(basis)  # the next re-plan restarts from the relaxation's basis
        extra["lp_s"] += time.perf_counter() - t0
        if best is None or best_obj - lb > self._tolerance(best_obj):
            return None
        extra.pop("_x_rounded", None)
        return self._lp_plan(best, best_obj, plan, extra, c0)

    def _lp_plan(self, x: np.ndarray, objective: float, plan: str, extra: dict, c0: float) -> SolveInfo:
        """Return ``x`` as the re-plan, proven within the gap by the LP bound (no MIP run)."""
        lb = extra["lp_bound"]
        self._x = x
        if plan != "warm_start" and extra["warm_start"] == "accepted":
            extra["warm_start"] = "ignored"  # a better plan than the shifted one was returned
        extra.update(proven_by="lp_relaxation", plan_from=plan, mip_nodes=0)
        return SolveInfo(status="optimal", objective=objective, mip_gap=(objective - lb) / max(abs(objective), 1e-9),
                         bound=lb, solve_s=time.perf_counter() - c0, highs_run_s=extra["lp_s"],
                         n_cols=len(self.columns), n_rows=len(self.sense), n_int=self.n_int, extra=extra)

    def _arm_lp_clock(self) -> None:
        """Time limit of the next LP run: HiGHS checks an LP against the instance's *cumulative* run clock, so
        the limit is set relative to it (else every LP after ``time_limit`` s in total would stop at once)."""
        self.h_lp.setOptionValue("time_limit", float(self.h_lp.getRunTime()) + self._lp_limit_s)

    def _tolerance(self, objective: float) -> float:
        """How far above the bound a plan may be and still count as within the MIP gap (HiGHS' own measures:
        absolute ``ub − lb`` or relative ``(ub − lb)/|ub|``)."""
        if not np.isfinite(objective):
            return -np.inf
        return max(self.abs_gap, self.rel_gap * abs(objective))

    def arrays(self, values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Primal arrays of scenario 0 in the layout of :func:`h2quarters.opt.results.model_arrays`."""
        return solution_arrays(self._x, self._positions, values, self.n)

    def load_into_pyomo(self) -> None:
        """Copy the last solution into the Pyomo variables (for summaries via Pyomo expressions)."""
        for v, val in zip(self.columns, self._x):
            v.set_value(float(val), skip_validation=True)
