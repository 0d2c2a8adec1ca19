"""The quarter's low-voltage grid: a SimBench network with the quarter's buildings, and yearly power flows.

Three ways to compute the same AC power flows (Newton-Raphson, same network model):

* :func:`powerflow_fast` — lightsim2grid's C++ ``TimeSeriesCPP`` solves all steps in one call; branch flows
  are then computed in bulk with numpy from the bus voltages and pandapower's own branch admittances
  (``Yf``, ``Yt`` of the network's ``ppc``), so loadings are defined exactly as pandapower defines them.
* :func:`powerflow_runpp` — pandapower ``runpp`` step by step (the reference; used on sampled steps).
* :func:`powerflow_run_timeseries` — pandapower's own ``run_timeseries`` with ``ConstControl`` (benchmark).

Each building is one load (its consumption, at the building's power factor) and one static generator (its
PV and, at the Stadtteilzentrum, the fuel cell; unity power factor) on its bus.

Violations follow EN 50160 (10-min mean voltage within Un ± 10 %, configurable) and the thermal limit of
lines and the transformer (loading > 100 %).

References
----------
Meinecke et al. (2020), SimBench — A Benchmark Dataset of Electric Power Systems to Compare Innovative
Solutions Based on Power Flow Analysis, Energies 13(12) 3290.
EN 50160:2010 Voltage characteristics of electricity supplied by public electricity networks.
"""

from __future__ import annotations

import copy
import time
import warnings
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np
import pandas as pd

_LOAD_PCT_COLUMNS = ("const_z_p_percent", "const_i_p_percent", "const_z_q_percent", "const_i_q_percent")


@lru_cache(maxsize=4)
def _simbench_cached(code: str):
    import simbench as sb

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return sb.get_simbench_net(code)


def source_net(code: str):
    """The SimBench network ``code`` with a continuous bus index and its NaN load-model columns fixed.

    simbench 1.6.1 leaves pandapower 3.3's ZIP-load percentages NaN, which makes ``runpp`` diverge; they are
    set to 0 (constant-power loads, SimBench's intent).
    """
    import pandapower as pp

    net = copy.deepcopy(_simbench_cached(code))
    for col in _LOAD_PCT_COLUMNS:
        if col in net.load.columns:
            net.load[col] = net.load[col].fillna(0.0)
    pp.toolbox.create_continuous_bus_index(net)
    return net


def connection_buses(code: str) -> list[str]:
    """Bus names of the source grid's connection points (one entry per SimBench load, in load order)."""
    net = source_net(code)
    return [str(net.bus.at[b, "name"]) for b in net.load.bus.to_numpy()]


@dataclass
class QuarterNet:
    """The pandapower net of the quarter and the order of its loads/static generators (= buildings)."""

    net: object
    building_names: list[str]
    cos_phi: np.ndarray
    v_min_pu: float
    v_max_pu: float
    loading_max_pct: float

    @property
    def tan_phi(self) -> np.ndarray:
        """tan φ of each building's consumption."""
        return np.tan(np.arccos(self.cos_phi))

    def copy(self) -> QuarterNet:
        """Deep copy (pandapower nets carry results; keep the template clean)."""
        return QuarterNet(copy.deepcopy(self.net), list(self.building_names), self.cos_phi.copy(), self.v_min_pu,
                          self.v_max_pu, self.loading_max_pct)


def build_quarter_net(code: str, buildings: list[tuple[str, str, float]], v_min_pu: float = 0.9,
                      v_max_pu: float = 1.1, loading_max_pct: float = 100.0,
                      ext_grid_vm_pu: float | None = None) -> QuarterNet:
    """Replace the SimBench loads and generators by the quarter's buildings.

    Parameters
    ----------
    code : str
        SimBench code, e.g. ``"1-LV-urban6--0-sw"``.
    buildings : list of (name, bus_name, cos_phi)
        One load and one static generator per building, in this order.
    v_min_pu, v_max_pu : float
        Voltage band (EN 50160: 0.9–1.1 p.u.).
    loading_max_pct : float
        Thermal limit of lines and transformers (%).
    ext_grid_vm_pu : float, optional
        Voltage set-point of the MV grid (p.u.); default SimBench's.

    Returns
    -------
    QuarterNet
    """
    import pandapower as pp

    net = source_net(code)
    names = net.bus.name.astype(str)
    bus_of = {n: i for i, n in zip(net.bus.index, names)}
    net.load.drop(net.load.index, inplace=True)
    net.sgen.drop(net.sgen.index, inplace=True)
    for extra in ("storage", "gen", "shunt"):
        if extra in net and len(net[extra]):
            net[extra].drop(net[extra].index, inplace=True)
    if ext_grid_vm_pu is not None:
        net.ext_grid["vm_pu"] = float(ext_grid_vm_pu)
    for name, bus_name, _ in buildings:
        if bus_name not in bus_of:
            raise ValueError(f"building '{name}': bus '{bus_name}' is not in grid {code}; "
                             f"buses are e.g. {sorted(bus_of)[:5]} …")
    bus_idx = [bus_of[b[1]] for b in buildings]
    zeros = np.zeros(len(buildings))
    # bulk creation: one call per table instead of one per building (pandapower's create_* are slow per row)
    pp.create_loads(net, bus_idx, p_mw=zeros, q_mvar=zeros, name=[b[0] for b in buildings])
    pp.create_sgens(net, bus_idx, p_mw=zeros, q_mvar=zeros, name=[f"{b[0]} gen" for b in buildings])
    cos_phi = [float(b[2]) for b in buildings]
    # plain constant-power loads; drop SimBench bookkeeping columns that pandapower/lightsim2grid do not need
    for col in _LOAD_PCT_COLUMNS:
        net.load[col] = 0.0
    net.sgen["current_source"] = False
    for col in ("min_p_mw", "max_p_mw", "min_q_mvar", "max_q_mvar"):
        if col in net.sgen.columns:
            net.sgen.drop(columns=col, inplace=True)
        if col in net.load.columns:
            net.load.drop(columns=col, inplace=True)
    return QuarterNet(net, [b[0] for b in buildings], np.asarray(cos_phi), v_min_pu, v_max_pu, loading_max_pct)


@dataclass
class PowerFlowResult:
    """Power-flow results per step (rows) for buses, lines and transformers.

    Attributes
    ----------
    vm_pu : ndarray (n_steps, n_bus)
        Voltage magnitude, columns in ``net.bus`` order.
    va_degree : ndarray (n_steps, n_bus)
        Voltage angle.
    line_loading_pct, line_i_ka : ndarray (n_steps, n_line)
        pandapower's definition: max of both ends' currents over the rated current × df × parallel.
    trafo_loading_pct : ndarray (n_steps, n_trafo)
        Current-based loading (pandapower default).
    p_slack_mw, losses_mw : ndarray (n_steps,)
        Power drawn from the MV grid and total line + transformer losses.
    branch_losses_mw : ndarray (n_steps,)
        Sum of ``Re(S_from + S_to)`` over all branches (an independent check of ``losses_mw``).
    runtime_s : float
        Wall time of the computation.
    """

    index: pd.DatetimeIndex | None
    vm_pu: np.ndarray
    va_degree: np.ndarray
    line_loading_pct: np.ndarray
    line_i_ka: np.ndarray
    trafo_loading_pct: np.ndarray
    p_slack_mw: np.ndarray
    losses_mw: np.ndarray
    branch_losses_mw: np.ndarray
    runtime_s: float = 0.0
    method: str = ""
    info: dict = field(default_factory=dict)


@dataclass
class _Branches:
    """pandapower's internal branch admittances and lookups, computed once per network."""

    yf: object
    yt: object
    ybus: object
    base_mva: float
    base_kv_bus: np.ndarray
    f_bus: np.ndarray
    t_bus: np.ndarray
    bus_pp2ppc: np.ndarray
    slack_ppc: int
    line_slice: tuple[int, int]
    trafo_slice: tuple[int, int]
    line_i_max_ka: np.ndarray
    trafo_vn_kv: np.ndarray
    trafo_sn_mva: np.ndarray
    trafo_div: np.ndarray


def _branches(qnet: QuarterNet) -> _Branches:
    import pandapower as pp
    from pandapower.pypower.idx_brch import F_BUS, T_BUS
    from pandapower.pypower.idx_bus import BASE_KV
    from pandapower.pypower.makeYbus import makeYbus

    net = qnet.net
    pp.runpp(net, calculate_voltage_angles=True, numba=False)
    ppc = net._ppc
    ybus, yf, yt = makeYbus(ppc["baseMVA"], ppc["bus"], ppc["branch"])
    lk = net._pd2ppc_lookups
    line = net.line
    trafo = net.trafo
    eg_bus = int(net.ext_grid.bus.iloc[0])
    return _Branches(
        yf=yf.tocsr(), yt=yt.tocsr(), ybus=ybus.tocsr(), base_mva=float(ppc["baseMVA"]),
        base_kv_bus=ppc["bus"][:, BASE_KV].real.astype(float),
        f_bus=ppc["branch"][:, F_BUS].real.astype(np.int64), t_bus=ppc["branch"][:, T_BUS].real.astype(np.int64),
        bus_pp2ppc=np.asarray(lk["bus"])[net.bus.index.to_numpy()], slack_ppc=int(lk["bus"][eg_bus]),
        line_slice=lk["branch"]["line"], trafo_slice=lk["branch"]["trafo"],
        line_i_max_ka=(line.max_i_ka * line.df * line.parallel).to_numpy(float),
        trafo_vn_kv=np.vstack([trafo.vn_hv_kv.to_numpy(float), trafo.vn_lv_kv.to_numpy(float)]).T,
        trafo_sn_mva=trafo.sn_mva.to_numpy(float), trafo_div=(trafo.parallel * trafo.df).to_numpy(float),
    )


def _flows_from_voltages(br: _Branches, v_ppc: np.ndarray, chunk: int = 4096) -> dict[str, np.ndarray]:
    """Branch currents, loadings, slack power and losses from complex bus voltages (rows = steps)."""
    n = v_ppc.shape[0]
    n_line = br.line_slice[1] - br.line_slice[0]
    n_trafo = br.trafo_slice[1] - br.trafo_slice[0]
    out = {"line_i_ka": np.empty((n, n_line)), "line_loading_pct": np.empty((n, n_line)),
           "trafo_loading_pct": np.empty((n, n_trafo)), "p_slack_mw": np.empty(n),
           "branch_losses_mw": np.empty(n)}
    for a in range(0, n, chunk):
        v = v_ppc[a:a + chunk]
        i_f = (br.yf @ v.T).T  # p.u. currents at the from/to ends, all steps at once
        i_t = (br.yt @ v.T).T
        s_f = v[:, br.f_bus] * np.conj(i_f) * br.base_mva
        s_t = v[:, br.t_bus] * np.conj(i_t) * br.base_mva
        vm_f = np.abs(v[:, br.f_bus]) * br.base_kv_bus[br.f_bus]
        vm_t = np.abs(v[:, br.t_bus]) * br.base_kv_bus[br.t_bus]
        with np.errstate(invalid="ignore", divide="ignore"):
            ia_f = np.abs(s_f) / vm_f / np.sqrt(3.0)
            ia_t = np.abs(s_t) / vm_t / np.sqrt(3.0)
        lf, lt = br.line_slice
        i_line = np.maximum(ia_f[:, lf:lt], ia_t[:, lf:lt])
        out["line_i_ka"][a:a + chunk] = i_line
        out["line_loading_pct"][a:a + chunk] = i_line / br.line_i_max_ka * 100.0
        tf, tt = br.trafo_slice
        ld = np.maximum(ia_f[:, tf:tt] * br.trafo_vn_kv[:, 0], ia_t[:, tf:tt] * br.trafo_vn_kv[:, 1])
        out["trafo_loading_pct"][a:a + chunk] = ld * np.sqrt(3.0) / br.trafo_sn_mva * 100.0 / br.trafo_div
        s_bus = v[:, br.slack_ppc] * np.conj(br.ybus[br.slack_ppc] @ v.T).ravel() * br.base_mva
        out["p_slack_mw"][a:a + chunk] = s_bus.real
        out["branch_losses_mw"][a:a + chunk] = (s_f + s_t).real.sum(axis=1)
    return out


def _injections(qnet: QuarterNet, load_p_mw: np.ndarray, sgen_p_mw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    load_p = np.ascontiguousarray(load_p_mw, dtype=float)
    sgen_p = np.ascontiguousarray(sgen_p_mw, dtype=float)
    n_b = len(qnet.building_names)
    if load_p.ndim != 2 or load_p.shape[1] != n_b or sgen_p.shape != load_p.shape:
        raise ValueError(f"load_p_mw and sgen_p_mw must both have shape (n_steps, {n_b}); got "
                         f"{load_p.shape} and {sgen_p.shape}")
    if not (np.all(np.isfinite(load_p)) and np.all(np.isfinite(sgen_p))):
        raise ValueError("load_p_mw/sgen_p_mw hold NaN or inf")
    return load_p, sgen_p


def powerflow_fast(qnet: QuarterNet, load_p_mw: np.ndarray, sgen_p_mw: np.ndarray,
                   index: pd.DatetimeIndex | None = None, tol_pu: float = 1e-10, max_iter: int = 30
                   ) -> PowerFlowResult:
    """All steps' AC power flows with lightsim2grid's time-series solver (Newton-Raphson, KLU).

    Parameters
    ----------
    qnet : QuarterNet
        From :func:`build_quarter_net`.
    load_p_mw, sgen_p_mw : ndarray (n_steps, n_buildings)
        Consumption and generation of each building (MW); reactive consumption follows each building's
        ``cos_phi``, generators run at unity power factor.
    index : DatetimeIndex, optional
        Labels of the steps.
    tol_pu : float
        Newton tolerance on the power mismatch (p.u. of 1 MVA).

    Returns
    -------
    PowerFlowResult
    """
    from lightsim2grid.network import init_from_pandapower
    from lightsim2grid.timeSerie import TimeSeriesCPP

    load_p, sgen_p = _injections(qnet, load_p_mw, sgen_p_mw)
    t0 = time.perf_counter()
    net = qnet.net
    br = _branches(qnet)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        grid = init_from_pandapower(net)
    computer = TimeSeriesCPP(grid)
    n = load_p.shape[0]
    n_gen = len(grid.get_generators())
    load_q = np.ascontiguousarray(load_p * qnet.tan_phi)
    # start from the flat MV voltage on every bus, with the transformer's phase shift on the LV side
    v0 = net.res_bus.vm_pu.to_numpy() * np.exp(1j * np.deg2rad(net.res_bus.va_degree.to_numpy()))
    status = computer.compute_Vs(np.zeros((n, n_gen)), sgen_p, load_p, load_q, v0.astype(complex), max_iter, tol_pu)
    if status != 1:
        raise RuntimeError(f"lightsim2grid power flow diverged after {computer.nb_solved()} of {n} steps")
    v_ls = computer.get_voltages()  # lightsim2grid bus order == pandapower bus index (continuous)
    v_ppc = np.zeros((n, br.base_kv_bus.size), complex)
    v_ppc[:, br.bus_pp2ppc] = v_ls[:, : len(net.bus)]
    flows = _flows_from_voltages(br, v_ppc)
    total = load_p.sum(axis=1) - sgen_p.sum(axis=1)
    return PowerFlowResult(
        index=index, vm_pu=np.abs(v_ls[:, : len(net.bus)]), va_degree=np.rad2deg(np.angle(v_ls[:, : len(net.bus)])),
        line_loading_pct=flows["line_loading_pct"], line_i_ka=flows["line_i_ka"],
        trafo_loading_pct=flows["trafo_loading_pct"], p_slack_mw=flows["p_slack_mw"],
        losses_mw=flows["p_slack_mw"] - total, branch_losses_mw=flows["branch_losses_mw"],
        runtime_s=time.perf_counter() - t0, method="lightsim2grid TimeSeriesCPP + numpy branch flows",
    )


def _set_step(net, qnet: QuarterNet, p_load: np.ndarray, p_sgen: np.ndarray) -> None:
    net.load["p_mw"] = p_load
    net.load["q_mvar"] = p_load * qnet.tan_phi
    net.sgen["p_mw"] = p_sgen


def powerflow_runpp(qnet: QuarterNet, load_p_mw: np.ndarray, sgen_p_mw: np.ndarray, steps: np.ndarray | None = None,
                    index: pd.DatetimeIndex | None = None, tolerance_mva: float = 1e-10) -> PowerFlowResult:
    """pandapower ``runpp`` step by step (the reference), on all or only the given ``steps``."""
    import pandapower as pp

    load_p, sgen_p = _injections(qnet, load_p_mw, sgen_p_mw)
    steps = np.arange(load_p.shape[0]) if steps is None else np.asarray(steps, int)
    q = qnet.copy()
    net = q.net
    t0 = time.perf_counter()
    cols: dict[str, list] = {k: [] for k in ("vm", "va", "ll", "li", "tl", "ps", "pl")}
    for s in steps:
        _set_step(net, q, load_p[s], sgen_p[s])
        pp.runpp(net, calculate_voltage_angles=True, tolerance_mva=tolerance_mva, numba=False)
        cols["vm"].append(net.res_bus.vm_pu.to_numpy(copy=True))
        cols["va"].append(net.res_bus.va_degree.to_numpy(copy=True))
        cols["ll"].append(net.res_line.loading_percent.to_numpy(copy=True))
        cols["li"].append(net.res_line.i_ka.to_numpy(copy=True))
        cols["tl"].append(net.res_trafo.loading_percent.to_numpy(copy=True))
        cols["ps"].append(float(net.res_ext_grid.p_mw.sum()))
        cols["pl"].append(float(net.res_line.pl_mw.sum() + net.res_trafo.pl_mw.sum()))
    a = {k: np.asarray(v) for k, v in cols.items()}
    total = load_p[steps].sum(axis=1) - sgen_p[steps].sum(axis=1)
    return PowerFlowResult(
        index=None if index is None else index[steps], vm_pu=a["vm"], va_degree=a["va"], line_loading_pct=a["ll"],
        line_i_ka=a["li"], trafo_loading_pct=a["tl"], p_slack_mw=a["ps"], losses_mw=a["ps"] - total,
        branch_losses_mw=a["pl"], runtime_s=time.perf_counter() - t0, method="pandapower runpp",
    )


def powerflow_run_timeseries(qnet: QuarterNet, load_p_mw: np.ndarray, sgen_p_mw: np.ndarray,
                             index: pd.DatetimeIndex | None = None, tolerance_mva: float = 1e-10
                             ) -> PowerFlowResult:
    """pandapower's ``run_timeseries`` with ``ConstControl`` on load p/q and sgen p (the benchmark reference)."""
    import pandapower.timeseries as pts
    from pandapower import control

    load_p, sgen_p = _injections(qnet, load_p_mw, sgen_p_mw)
    q = qnet.copy()
    net = q.net
    n = load_p.shape[0]
    nl = len(net.load)
    ds = pts.DFData(pd.DataFrame(np.hstack([load_p, load_p * q.tan_phi, sgen_p]),
                                 columns=[f"lp{i}" for i in range(nl)] + [f"lq{i}" for i in range(nl)]
                                 + [f"sp{i}" for i in range(nl)]))
    control.ConstControl(net, "load", "p_mw", element_index=net.load.index, data_source=ds,
                         profile_name=[f"lp{i}" for i in range(nl)])
    control.ConstControl(net, "load", "q_mvar", element_index=net.load.index, data_source=ds,
                         profile_name=[f"lq{i}" for i in range(nl)])
    control.ConstControl(net, "sgen", "p_mw", element_index=net.sgen.index, data_source=ds,
                         profile_name=[f"sp{i}" for i in range(nl)])
    ow = pts.OutputWriter(net, output_path=None, log_variables=[])
    for tab, var in (("res_bus", "vm_pu"), ("res_bus", "va_degree"), ("res_line", "loading_percent"),
                     ("res_line", "i_ka"), ("res_line", "pl_mw"), ("res_trafo", "loading_percent"),
                     ("res_trafo", "pl_mw"), ("res_ext_grid", "p_mw")):
        ow.log_variable(tab, var)
    t0 = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pts.run_timeseries(net, time_steps=range(n), calculate_voltage_angles=True, tolerance_mva=tolerance_mva,
                           numba=False, verbose=False)
    rt = time.perf_counter() - t0
    o = ow.output
    ps = o["res_ext_grid.p_mw"].to_numpy().sum(axis=1)
    total = load_p.sum(axis=1) - sgen_p.sum(axis=1)
    return PowerFlowResult(
        index=index, vm_pu=o["res_bus.vm_pu"].to_numpy(), va_degree=o["res_bus.va_degree"].to_numpy(),
        line_loading_pct=o["res_line.loading_percent"].to_numpy(), line_i_ka=o["res_line.i_ka"].to_numpy(),
        trafo_loading_pct=o["res_trafo.loading_percent"].to_numpy(), p_slack_mw=ps, losses_mw=ps - total,
        branch_losses_mw=o["res_line.pl_mw"].to_numpy().sum(axis=1) + o["res_trafo.pl_mw"].to_numpy().sum(axis=1),
        runtime_s=rt, method="pandapower run_timeseries",
    )


def violations(qnet: QuarterNet, res: PowerFlowResult) -> dict:
    """Count EN 50160 voltage-band and thermal violations.

    Returns
    -------
    dict
        Steps (and step-bus / step-branch pairs) outside the band or above the loading limit, extremes, and
        which buses/lines are worst. Only LV buses (< 1 kV) are checked against the band.
    """
    net = qnet.net
    lv = (net.bus.vn_kv < 1.0).to_numpy()
    vm = res.vm_pu[:, lv]
    under = vm < qnet.v_min_pu
    over = vm > qnet.v_max_pu
    lim = qnet.loading_max_pct
    line_over = res.line_loading_pct > lim
    trafo_over = res.trafo_loading_pct > lim
    lv_names = net.bus.name.to_numpy()[lv]
    return {
        "v_min_pu": float(vm.min()), "v_max_pu": float(vm.max()),
        "v_min_bus": str(lv_names[np.unravel_index(vm.argmin(), vm.shape)[1]]),
        "v_band_pu": [qnet.v_min_pu, qnet.v_max_pu],
        "steps_undervoltage": int(under.any(axis=1).sum()), "steps_overvoltage": int(over.any(axis=1).sum()),
        "bus_steps_out_of_band": int(under.sum() + over.sum()),
        "line_loading_max_pct": float(res.line_loading_pct.max()),
        "line_max_name": str(net.line.name.to_numpy()[res.line_loading_pct.max(axis=0).argmax()]),
        "trafo_loading_max_pct": float(res.trafo_loading_pct.max()),
        "steps_line_overload": int(line_over.any(axis=1).sum()),
        "steps_trafo_overload": int(trafo_over.any(axis=1).sum()),
        "loading_limit_pct": lim,
        "steps_with_violation": int((under.any(axis=1) | over.any(axis=1) | line_over.any(axis=1)
                                     | trafo_over.any(axis=1)).sum()),
        "losses_mwh": None,
    }
