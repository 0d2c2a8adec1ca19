"""The quarter's buildings as a table, and their electricity, heat and PV per time step.

Named buildings (school, Stadtteilzentrum) come from the quarter file; residential blocks take every remaining
connection point of the source grid, their types placed by a deterministic largest-remainder sequence so that
type shares hold along every feeder, and roof PV on every ``1/pv_adoption``-th block of a type.

Profiles are computed once per kind and scaled (BDEW profiles are linear in annual energy; PV is linear in
kWp), so 100+ buildings cost about as much as a handful.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from h2quarters.config.scenario import ElectricalLoad, HeatLoad, PVArray
from h2quarters.models.loads import electrical_load_kw, heat_load_kw
from h2quarters.models.pv import site_pv_kw
from h2quarters.quarter.config import Quarter


@dataclass(frozen=True)
class BuildingSpec:
    """One building of the quarter, flattened for bulk computation."""

    name: str
    role: str
    kind: str
    bus: str
    cos_phi: float
    e_kwh_per_a: float
    heat_kwh_per_a: float
    pv_kwp: float
    households: int = 0
    connection: int = -1  # index of the source grid's connection point (SimBench load) the block replaces


def _interleave(shares: list[float], n: int) -> list[int]:
    """Type index for ``n`` slots so that every prefix follows ``shares`` as closely as possible."""
    w = np.asarray(shares, float) / float(np.sum(shares))
    counts = np.zeros(len(w))
    out = []
    for k in range(1, n + 1):
        j = int(np.argmax(w * k - counts))
        counts[j] += 1
        out.append(j)
    return out


def building_table(q: Quarter, connection_buses: list[str]) -> list[BuildingSpec]:
    """All buildings: the named ones, then one residential block per remaining grid connection.

    Parameters
    ----------
    q : Quarter
        The quarter configuration.
    connection_buses : list of str
        Bus name of every connection point of the source grid (see
        :func:`h2quarters.quarter.grid.connection_buses`).
    """
    specs: list[BuildingSpec] = []
    free = list(range(len(connection_buses)))
    for b in q.buildings:
        taken = next((k for k in free if connection_buses[k] == b.bus), None)
        if taken is not None:
            free.remove(taken)  # the named building takes one of the grid's connection points at its bus
        specs.append(BuildingSpec(
            name=b.name, role=b.role, kind=b.role, bus=b.bus, cos_phi=b.cos_phi,
            e_kwh_per_a=sum(el.e_kwh_per_a or 0.0 for el in b.electrical_loads),
            heat_kwh_per_a=sum(h.e_kwh_per_a for h in b.heat_loads), pv_kwp=b.pv_kwp))
    types = q.residential.types
    order = _interleave([t.share for t in types], len(free))
    seen = np.zeros(len(types), int)
    for k, (conn, j) in enumerate(zip(free, order)):
        bus = connection_buses[conn]
        t = types[j]
        seen[j] += 1
        # PV on the blocks where the running adoption count steps up (1 in 1/adoption)
        has_pv = np.floor(seen[j] * t.pv_adoption + 1e-9) > np.floor((seen[j] - 1) * t.pv_adoption + 1e-9)
        specs.append(BuildingSpec(
            name=f"{t.name}-{k + 1:03d}", role="residential", kind=t.name, bus=bus, cos_phi=t.cos_phi,
            e_kwh_per_a=t.households * t.e_kwh_per_household_a,
            heat_kwh_per_a=t.heated_area_m2 * t.heat_kwh_per_m2_a, pv_kwp=t.roof_pv_kwp if has_pv else 0.0,
            households=t.households, connection=conn))
    return specs


@dataclass
class BuildingProfiles:
    """Per-step power of every building (columns in :func:`building_table` order), kW."""

    index: pd.DatetimeIndex
    names: list[str]
    load_kw: np.ndarray
    heat_kw: np.ndarray
    pv_kw: np.ndarray
    t_air_c: np.ndarray

    def frame(self, what: str) -> pd.DataFrame:
        """One of ``load_kw``, ``heat_kw``, ``pv_kw`` as a labelled DataFrame."""
        return pd.DataFrame(getattr(self, what), index=self.index, columns=self.names)


SIMBENCH_PROFILE_YEAR = 2016  # SimBench's profiles: 35,136 quarter-hours of 2016, local wall-clock time


def simbench_load_profiles(code: str, index: pd.DatetimeIndex) -> np.ndarray:
    """SimBench's own 15-min active-power profile of every connection point of grid ``code``, laid on ``index``.

    Each column (one per SimBench load, in :func:`h2quarters.quarter.grid.connection_buses` order) is the
    load's own household profile (``H0-A`` … ``H0-L``; connections SimBench gives a commercial profile get the
    household profiles in turn, since a residential block replaces them), shifted by whole days so that
    weekdays match the target calendar,
    averaged to the step of ``index`` and normalised to 1 kWh over ``index``'s year. Scaled by a block's annual
    energy it keeps SimBench's peak/mean ratio and the diversity between its household profiles.

    References
    ----------
    Meinecke et al. (2020), SimBench, Energies 13(12) 3290 (profiles ``LoadProfile.csv``).
    """
    from h2quarters.quarter.grid import source_net

    net = source_net(code)
    prof = net.profiles["load"]
    names = net.load.profile.astype(str).to_numpy().copy()
    # a residential block on a connection SimBench gave a commercial profile (G1 …) takes a household profile
    house = sorted({n for n in names if n.startswith("H")})
    if house:
        k = 0
        for i, n in enumerate(names):
            if not n.startswith("H"):
                names[i] = house[k % len(house)]
                k += 1
    base = np.column_stack([prof[f"{n}_pload"].to_numpy(float) for n in names])  # (35136, n_loads), relative
    out, step_h = _on_index(base, index)
    e = out.sum(axis=0) * step_h
    return out / np.where(e > 0, e, 1.0)


def _on_index(base: np.ndarray, index: pd.DatetimeIndex) -> tuple[np.ndarray, float]:
    """SimBench quarter-hour rows laid on ``index``: shifted by whole days so that weekdays match the target
    calendar, averaged to the step of ``index``; returns the rows and the step (h)."""
    n_q = base.shape[0]
    local = index.tz_localize(None) if index.tz is not None else index
    year = int(local[0].year)
    # whole-day shift so that 1 Jan of the target year falls on the same weekday as the SimBench day used
    shift_days = (pd.Timestamp(year, 1, 1).dayofweek - pd.Timestamp(SIMBENCH_PROFILE_YEAR, 1, 1).dayofweek) % 7
    freq = index.freq or (pd.infer_freq(index) if len(index) >= 3 else None)
    if freq is None:  # critical days of a short run need not follow each other: the smallest gap is the step
        gaps = np.diff(index.asi8)
        step = pd.Timedelta(int(gaps[gaps > 0].min()) if (gaps > 0).any() else pd.Timedelta("15min").value)
    else:
        step = pd.Timedelta(freq)
    n_sub = max(1, int(step / pd.Timedelta("15min")))
    q0 = ((local - pd.Timestamp(year, 1, 1)) // pd.Timedelta("15min")).to_numpy() + shift_days * 96
    out = np.zeros((len(index), base.shape[1]))
    for k in range(n_sub):  # mean of the quarter-hours inside each step
        out += base[(q0 + k) % n_q]
    out /= n_sub
    return out, step / pd.Timedelta("1h")  # hours as a float (ndarray × Timedelta rounds to ns)


def simbench_pv_profiles(code: str, index: pd.DatetimeIndex, buses: list[str]) -> np.ndarray:
    """SimBench's own 15-min PV feed-in (kW per kWp installed) for roofs at ``buses`` of grid ``code``.

    A roof takes the profile of the SimBench PV unit at its bus (``sgen.profile``, e.g. ``PV5``); a bus without
    one takes SimBench's PV profiles in turn. Laid on ``index`` like :func:`simbench_load_profiles` (whole-day
    shift, mean within a step) but not normalised: the values are SimBench's per-unit feed-in of installed
    power, so a block's feed-in is the profile × its kWp (SimBench's ``PV_p`` convention).

    References
    ----------
    Meinecke et al. (2020), SimBench, Energies 13(12) 3290 (profiles ``RESProfile.csv``).
    """
    from h2quarters.quarter.grid import _simbench_cached

    net = _simbench_cached(code)  # read only: no copy of the 35,136-row profiles per call
    ren = net.profiles["renewables"]
    pv_names = sorted(c for c in ren.columns if str(c).startswith("PV"))
    if not pv_names:
        raise ValueError(f"grid.code '{code}': SimBench ships no PV profile for this grid")
    sg = net.sgen[net.sgen.profile.astype(str).isin(pv_names)]
    at_bus = {str(net.bus.at[b, "name"]): str(pr) for b, pr in zip(sg.bus, sg.profile)}
    names, k = [], 0
    for b in buses:
        if b in at_bus:
            names.append(at_bus[b])
        else:
            names.append(pv_names[k % len(pv_names)])
            k += 1
    base = np.column_stack([ren[n].to_numpy(float) for n in names])
    return _on_index(base, index)[0]


def building_profiles(q: Quarter, specs: list[BuildingSpec], index: pd.DatetimeIndex,
                      weather: pd.DataFrame) -> BuildingProfiles:
    """Electricity (BDEW), heat (BDEW, temperature driven) and roof PV (pvlib) of every building.

    Parameters
    ----------
    q : Quarter
        Configuration (named buildings' load definitions, residential types, PV orientation).
    specs : list of BuildingSpec
        From :func:`building_table`.
    index : DatetimeIndex
        A whole calendar year, tz-aware, hourly or 15-min.
    weather : DataFrame
        Weather on ``index`` (``t_air_c`` and the irradiance columns pvlib needs).
    """
    n, m = len(index), len(specs)
    load = np.zeros((n, m))
    heat = np.zeros((n, m))
    pv = np.zeros((n, m))
    named = {b.name: b for b in q.buildings}
    t_air = weather["t_air_c"]
    unit_pv = site_pv_kw(weather, [PVArray(name="unit", p_kwp=1.0, tilt_deg=q.residential.pv_tilt_deg,
                                           azimuth_deg=q.residential.pv_azimuth_deg)], q.location).to_numpy()
    h25 = electrical_load_kw(ElectricalLoad(name="h25", profile="H25", e_kwh_per_a=1.0), index).to_numpy()
    sb_unit = (simbench_load_profiles(q.grid.code, index) if q.residential.load_profile == "simbench" else None)
    heat_unit: dict[int, np.ndarray] = {}
    for j, s in enumerate(specs):
        if s.role in ("school", "stz"):
            b = named[s.name]
            for el in b.electrical_loads:
                load[:, j] += electrical_load_kw(el, index).to_numpy()
            for hl in b.heat_loads:
                heat[:, j] += heat_load_kw(hl, t_air).to_numpy()
        else:
            t = next(t for t in q.residential.types if t.name == s.kind)
            load[:, j] = (h25 if sb_unit is None else sb_unit[:, s.connection]) * s.e_kwh_per_a
            if t.building_class not in heat_unit:
                heat_unit[t.building_class] = heat_load_kw(
                    HeatLoad(name="mfh", shlp_type="MFH", e_kwh_per_a=1.0, building_class=t.building_class),
                    t_air).to_numpy()
            heat[:, j] = heat_unit[t.building_class] * s.heat_kwh_per_a
        pv[:, j] = unit_pv * s.pv_kwp
    return BuildingProfiles(index=index, names=[s.name for s in specs], load_kw=load, heat_kw=heat, pv_kw=pv,
                            t_air_c=t_air.to_numpy(float))
