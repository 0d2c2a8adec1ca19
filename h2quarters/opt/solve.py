"""Handing a Pyomo model to HiGHS and getting the solution back.

Two hand-offs:

``matrix``
    Pyomo's ``LinearStandardFormCompiler`` turns the model into sparse arrays (``A``, bounds, costs) in one
    pass; these go to ``highspy.Highs.passModel`` in one call and the solution vector comes back into the
    Pyomo variables in one loop. This is the fast path for one-shot (day-ahead, annual) models.
``persistent``
    ``pyomo.contrib.solver.solvers.highs.Highs`` keeps the HiGHS instance alive; after a change of mutable
    Params only the affected coefficients/bounds are updated (used by the rolling MPC).

Large one-shot MILPs (the annual plan) get a starting incumbent first (:func:`lp_guided_start`): with the
hull cuts the LP relaxation already sets most binaries to 0 or 1, and the MILP over the remaining ones is
small. HiGHS on its own spends its time in root cut rounds looking for an incumbent within the gap (on the
school's year: 145 s and 1.4 GiB); the start is usually proven within the gap by the LP bound already, and
the full MILP is then not run at all.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field

import highspy
import numpy as np
import pyomo.environ as pyo
from pyomo.repn.plugins.standard_form import LinearStandardFormCompiler

from h2quarters.opt.settings import OptSettings

_INF = highspy.kHighsInf


@dataclass
class SolveInfo:
    """Outcome of one solve.

    Attributes
    ----------
    status : str
        'optimal' (within the gap), 'work_limit_feasible' (node limit reached, best plan kept),
        'time_limit_feasible' (wall-clock safety fired, best plan kept), 'infeasible', 'error', ...
    objective : float
        Objective value of the returned solution (model units: EUR or kg CO2).
    mip_gap : float
        Relative MIP gap reported by HiGHS (0 for pure LPs).
    handoff_s, solve_s, load_s : float
        Wall time to pass the model to HiGHS, to solve, to load values back (s).
    highs_run_s : float
        Time HiGHS itself reports for ``run()`` (s).
    """

    status: str
    objective: float = math.nan
    mip_gap: float = math.nan
    bound: float = math.nan
    handoff_s: float = 0.0
    solve_s: float = 0.0
    load_s: float = 0.0
    highs_run_s: float = 0.0
    n_cols: int = 0
    n_rows: int = 0
    n_int: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """True if a feasible solution was loaded."""
        return self.status in ("optimal", "time_limit_feasible", "work_limit_feasible", "feasible")

    @property
    def capped(self) -> bool:
        """True if the wall-clock safety stopped the solve (the plan may depend on the machine's load)."""
        return self.status.startswith("time_limit")

    def to_dict(self) -> dict:
        """Plain dict for JSON."""
        return asdict(self)


def _highs_options(h: highspy.Highs, settings: OptSettings) -> None:
    h.setOptionValue("output_flag", False)
    h.setOptionValue("mip_rel_gap", float(settings.mip_rel_gap))
    h.setOptionValue("mip_abs_gap", float(settings.mip_abs_gap))
    h.setOptionValue("time_limit", float(settings.time_limit_s))
    h.setOptionValue("threads", int(settings.threads))


def _status(h: highspy.Highs) -> str:
    ms = h.getModelStatus()
    info = h.getInfo()
    has_sol = info.primal_solution_status == 2  # kSolutionStatusFeasible
    if ms == highspy.HighsModelStatus.kOptimal:
        return "optimal"
    if ms in (highspy.HighsModelStatus.kInfeasible,):
        return "infeasible"
    if ms in (highspy.HighsModelStatus.kUnbounded, highspy.HighsModelStatus.kUnboundedOrInfeasible):
        return "unbounded_or_infeasible"
    if ms == highspy.HighsModelStatus.kTimeLimit:
        return "time_limit_feasible" if has_sol else "time_limit_no_solution"
    if ms == highspy.HighsModelStatus.kSolutionLimit:  # node or improving-solution limit: a work limit
        return "work_limit_feasible" if has_sol else "work_limit_no_solution"
    return ("feasible" if has_sol else "error") + f"({h.modelStatusToString(ms)})"


def highs_lp(sf) -> tuple[highspy.HighsLp, np.ndarray]:
    """A ``highspy.HighsLp`` (column-wise matrix, integrality) from Pyomo's compiled standard form.

    Parameters
    ----------
    sf
        Result of ``LinearStandardFormCompiler().write(model, mixed_form=True)``.

    Returns
    -------
    (HighsLp, ndarray of bool)
        The model for ``Highs.passModel`` and which columns are integer.
    """
    ncol, nrow = len(sf.columns), len(sf.rows)
    a = sf.A.tocsc()
    sense = np.fromiter((r[1] for r in sf.rows), int, nrow)
    rhs = np.asarray(sf.rhs, float)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = ncol, nrow
    lp.col_cost_ = np.asarray(sf.c.todense(), float).ravel() if sf.c.shape[0] else np.zeros(ncol)
    lp.col_lower_ = np.fromiter((-_INF if v.lb is None else v.lb for v in sf.columns), float, ncol)
    lp.col_upper_ = np.fromiter((_INF if v.ub is None else v.ub for v in sf.columns), float, ncol)
    lp.row_lower_ = np.where(sense == 1, -_INF, rhs)  # sense: 1 is ≤, −1 is ≥, 0 is =
    lp.row_upper_ = np.where(sense == -1, _INF, rhs)
    lp.offset_ = float(sf.c_offset[0]) if len(sf.c_offset) else 0.0
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(float)
    lp.a_matrix_.num_col_, lp.a_matrix_.num_row_ = ncol, nrow
    integ = np.fromiter((v.is_integer() for v in sf.columns), bool, ncol)
    if integ.any():
        lp.integrality_ = [highspy.HighsVarType.kInteger if i else highspy.HighsVarType.kContinuous
                           for i in integ]
    return lp, integ


class MatrixModel:
    """A Pyomo model compiled to arrays and loaded into a (re-usable) highspy instance."""

    def __init__(self, model: pyo.ConcreteModel, settings: OptSettings) -> None:
        t0 = time.perf_counter()
        sf = LinearStandardFormCompiler().write(model, mixed_form=True)
        self.columns = sf.columns
        self.col_pos = {id(v): j for j, v in enumerate(sf.columns)}
        ncol = len(sf.columns)
        self.n_cols = ncol
        self.x: np.ndarray | None = None
        lp, integ = highs_lp(sf)
        self.offset = float(lp.offset_)
        self.h = highspy.Highs()
        _highs_options(self.h, settings)
        self.h.passModel(lp)
        self.n_rows = lp.num_row_
        self.n_int = int(integ.sum())
        self.integer = integ
        self.settings = settings
        self.handoff_s = time.perf_counter() - t0

    def release(self) -> None:
        """Drop every reference to the Pyomo model's variables so that the model can be freed before HiGHS
        runs (a year-long model holds ≈300 MiB); the solution then stays in :attr:`x` only."""
        self.columns = None
        self.col_pos = None

    def _load(self, model: pyo.ConcreteModel | None) -> None:
        """Copy :attr:`x` into the Pyomo variables (not after :meth:`release` or without a model)."""
        if model is not None and self.columns is not None:
            for v, val in zip(self.columns, self.x.tolist()):
                v.set_value(val, skip_validation=True)

    def solve(self, model: pyo.ConcreteModel | None) -> SolveInfo:
        """Run HiGHS (after :func:`lp_guided_start` if the settings ask for it); keep the primal solution in
        :attr:`x` and load it into the Pyomo variables unless ``model`` is None or :meth:`release` was
        called."""
        st = self.settings
        guided = st.lp_guided_start == "on" or (st.lp_guided_start == "auto" and self.n_int >= GUIDED_START_MIN_INT)
        run0 = float(self.h.getRunTime())
        t0 = time.perf_counter()
        start: dict = {}
        x0 = None
        if guided and self.n_int:
            # The start only has to be good, not proven: half the requested gap (so that the LP bound can prove
            # it within the gap) but no tighter than 0.25 %, and at most a quarter of the time budget — with a
            # tight requested gap HiGHS improves on it in the full solve anyway.
            start, x0 = lp_guided_start(self.h, self.integer, max(st.mip_rel_gap / 2, 2.5e-3),
                                        0.25 * st.time_limit_s)
            self.h.setOptionValue("time_limit", max(1.0, st.time_limit_s - (time.perf_counter() - t0)))
        lb, ub = start.get("lp_objective", math.nan), start.get("start_objective", math.nan)
        if x0 is not None and (ub - lb) <= st.mip_rel_gap * max(abs(ub), 1e-9):
            # The LP relaxation is a lower bound: the start is already proven within the gap (HiGHS' own
            # measure |ub − lb| / |ub|), so the full MILP need not run (saves its root LP, ≈10 s on a year).
            self.x = x0
            out = SolveInfo(status="optimal", objective=ub, mip_gap=(ub - lb) / max(abs(ub), 1e-9), bound=lb,
                            handoff_s=self.handoff_s, solve_s=time.perf_counter() - t0,
                            highs_run_s=start["lp_s"] + start["sub_s"], n_cols=self.n_cols, n_rows=self.n_rows,
                            n_int=self.n_int, extra={"lp_guided_start": start, "proven_by": "lp_relaxation"})
            t1 = time.perf_counter()
            self._load(model)
            out.load_s = time.perf_counter() - t1
            return out
        self.h.run()
        t1 = time.perf_counter()
        status = _status(self.h)
        info = self.h.getInfo()
        out = SolveInfo(status=status, handoff_s=self.handoff_s, solve_s=t1 - t0,
                        highs_run_s=float(self.h.getRunTime()) - run0, n_cols=self.n_cols, n_rows=self.n_rows,
                        n_int=self.n_int)
        if out.ok:
            self.x = np.asarray(self.h.getSolution().col_value, float)
            self._load(model)
            out.objective = float(info.objective_function_value)
            out.mip_gap = float(info.mip_gap) if self.n_int else 0.0
            out.bound = float(info.mip_dual_bound) if self.n_int else out.objective
        out.load_s = time.perf_counter() - t1
        if start:
            out.extra["lp_guided_start"] = start
        return out


GUIDED_START_MIN_INT = 5000
"""``lp_guided_start='auto'`` applies from this many integer columns on."""


def lp_guided_start(h: highspy.Highs, integer: np.ndarray, gap: float, time_limit_s: float
                    ) -> tuple[dict, np.ndarray | None]:
    """Give ``h`` a starting incumbent from its LP relaxation (relaxation-enforced neighbourhood search).

    Solves the LP relaxation, fixes every integer column the LP sets to an integer value, solves the MILP
    over the remaining ones to ``gap`` and offers its solution to ``h`` with ``setSolution``. Bounds and
    options of ``h`` are restored afterwards; ``h`` is ready for ``run()``.

    Parameters
    ----------
    h : highspy.Highs
        A MILP loaded into HiGHS.
    integer : ndarray of bool
        Which columns are integer.
    gap : float
        Relative gap for the restricted MILP.
    time_limit_s : float
        Wall-clock cap for relaxation and restricted MILP together.

    Returns
    -------
    (dict, ndarray or None)
        ``lp_s``, ``sub_s`` (s), ``lp_objective`` (a lower bound of the MILP), ``start_objective`` (NaN
        without a start), ``n_fixed``; and the start's column values.
    """
    out = {"lp_s": 0.0, "sub_s": 0.0, "lp_objective": math.nan, "start_objective": math.nan, "n_fixed": 0}
    t0 = time.perf_counter()
    h.setOptionValue("solve_relaxation", True)
    h.setOptionValue("time_limit", float(time_limit_s))
    try:
        h.run()
    finally:
        h.setOptionValue("solve_relaxation", False)
    out["lp_s"] = time.perf_counter() - t0
    if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
        return out, None
    out["lp_objective"] = float(h.getInfo().objective_function_value)
    x = np.asarray(h.getSolution().col_value, float)
    h.clearSolver()  # the simplex working set of a year-long LP is ≈330 MiB; the MILP below builds its own
    idx = np.flatnonzero(integer)
    settled = idx[np.abs(x[idx] - np.round(x[idx])) < 1e-6].astype(np.int32)
    out["n_fixed"] = len(settled)
    lp = h.getLp()
    lo = np.asarray(lp.col_lower_, float)[settled]
    up = np.asarray(lp.col_upper_, float)[settled]
    gap0 = float(h.getOptionValue("mip_rel_gap")[1])  # highspy returns (status, value)
    fix = np.round(x[settled])
    h.changeColsBounds(len(settled), settled, fix, fix)
    h.setOptionValue("mip_rel_gap", float(gap))
    h.setOptionValue("time_limit", max(1.0, float(time_limit_s) - out["lp_s"]))
    t1 = time.perf_counter()
    try:
        h.run()
        ok = h.getInfo().primal_solution_status == 2
        start = np.asarray(h.getSolution().col_value, float) if ok else None
        if ok:
            out["start_objective"] = float(h.getInfo().objective_function_value)
    finally:
        h.clearSolver()
        h.changeColsBounds(len(settled), settled, lo, up)
        h.setOptionValue("mip_rel_gap", gap0)
    out["sub_s"] = time.perf_counter() - t1
    if start is not None:
        sol = highspy.HighsSolution()
        sol.col_value = start
        sol.value_valid = True
        h.setSolution(sol)
    return out, start


def solve_once(model: pyo.ConcreteModel, settings: OptSettings) -> SolveInfo:
    """Solve a model once with the hand-off chosen in ``settings.handoff``."""
    if settings.handoff == "matrix":
        mm = MatrixModel(model, settings)
        return mm.solve(model)
    ps = PersistentHighs(model, settings)
    return ps.solve()


class PersistentHighs:
    """Pyomo's persistent HiGHS interface, configured to look only for changed Params between solves."""

    def __init__(self, model: pyo.ConcreteModel, settings: OptSettings) -> None:
        from pyomo.contrib.solver.solvers.highs import Highs

        self.model = model
        self.solver = Highs()
        cfg = self.solver.config
        cfg.load_solutions = True
        cfg.raise_exception_on_nonoptimal_result = False
        cfg.time_limit = settings.time_limit_s
        cfg.rel_gap = settings.mip_rel_gap
        cfg.threads = settings.threads
        au = self.solver.config.auto_updates
        au.check_for_new_or_removed_constraints = False
        au.check_for_new_or_removed_vars = False
        au.check_for_new_or_removed_params = False
        au.check_for_new_objective = False
        au.update_constraints = False
        au.update_vars = False
        au.update_named_expressions = False
        au.update_objective = False
        au.update_parameters = True
        t0 = time.perf_counter()
        self.solver.set_instance(model)
        self.handoff_s = time.perf_counter() - t0
        self.first = True

    def solve(self) -> SolveInfo:
        """Update changed Params in HiGHS, solve and load values."""
        h = self.solver._solver_model
        run0 = float(h.getRunTime()) if h is not None else 0.0
        t0 = time.perf_counter()
        res = self.solver.solve(self.model)
        t1 = time.perf_counter()
        h = self.solver._solver_model
        status = _status(h)
        info = h.getInfo()
        out = SolveInfo(status=status, handoff_s=self.handoff_s if self.first else 0.0, solve_s=t1 - t0,
                        highs_run_s=float(h.getRunTime()) - run0, n_cols=h.getNumCol(), n_rows=h.getNumRow())
        self.first = False
        if out.ok:
            out.objective = float(info.objective_function_value)
            out.mip_gap = float(info.mip_gap) if info.mip_node_count >= 0 else 0.0
            out.bound = float(info.mip_dual_bound)
        out.extra["termination"] = str(res.termination_condition)
        return out
