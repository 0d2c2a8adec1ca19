"""The quarter's hydrogen site (school electrolyser, tank, compressor; Stadtteilzentrum fuel cell) as a
:class:`~h2quarters.config.scenario.Scenario`, with the three sizing knobs of a variant study applied.

Sizing rules (kept physical, costs scale with size):

* ``pv_kwp`` — the school's PV arrays are scaled together to this total peak power.
* ``electrolyser_kw`` — rated power; the number of stacks follows at the reference unit power (Enapter
  EL 2.1 class, 2.4 kW), so the per-stack operating point and efficiency stay those of the calibrated unit;
  standby, balance-of-plant, thermal mass/cooling, compressor power and electrolyser CAPEX scale linearly.
* ``tank_kg`` — usable mass between ``p_min_bar`` and ``p_max_bar``; the volume follows from the real-gas
  density (Leachman EOS), storage CAPEX scales linearly with usable mass.
"""

from __future__ import annotations

import math

from h2quarters.config import load_scenario
from h2quarters.config.scenario import Scenario
from h2quarters.models.storage import HydrogenTank
from h2quarters.quarter.config import Quarter

#: Parameters a variant study may vary, with the allowed range (closed interval).
VARIANT_PARAMS: dict[str, tuple[float, float]] = {
    "pv_kwp": (0.0, 10_000.0),  # 0 = the "no PV" case
    "electrolyser_kw": (0.5, 5_000.0),
    "tank_kg": (0.5, 50_000.0),
}
UNIT_KW = 2.35  # stack DC power of one reference unit: Enapter EL 2.1's 2.4 kW input − 0.05 kW BoP (oskar-von-miller calibration)


def check_overrides(overrides: dict[str, float]) -> dict[str, float]:
    """Validate variant overrides; raise ValueError naming the parameter, value and allowed range."""
    out: dict[str, float] = {}
    for k, v in overrides.items():
        if k not in VARIANT_PARAMS:
            raise ValueError(f"variant parameter '{k}' unknown; allowed: {sorted(VARIANT_PARAMS)}")
        lo, hi = VARIANT_PARAMS[k]
        fv = float(v)
        if not (lo <= fv <= hi) or math.isnan(fv):
            raise ValueError(f"variant parameter {k}={v} outside the allowed range [{lo:g}, {hi:g}]")
        out[k] = fv
    return out


def hydrogen_scenario(q: Quarter, overrides: dict[str, float] | None = None) -> Scenario:
    """Load ``q.hydrogen_site`` and apply ``overrides`` (see module docstring).

    Parameters
    ----------
    q : Quarter
        The quarter (its ``hydrogen_site`` path is resolved against the quarter directory).
    overrides : dict, optional
        Any of ``pv_kwp``, ``electrolyser_kw``, ``tank_kg``.

    Returns
    -------
    Scenario
        A new, validated scenario.
    """
    scn = load_scenario(q.resolve(q.hydrogen_site))
    ov = check_overrides(overrides or {})
    data = scn.model_dump()
    base_dir = scn.base_dir
    if "pv_kwp" in ov:
        total = sum(a["p_kwp"] for a in data["pv"])
        if total <= 0:
            raise ValueError("pv_kwp override needs at least one PV array in the hydrogen site")
        if ov["pv_kwp"] == 0.0:
            data["pv"] = []  # no PV at the school: the electrolyser runs on grid electricity only
        for a in data["pv"]:
            a["p_kwp"] = a["p_kwp"] * ov["pv_kwp"] / total
    if "electrolyser_kw" in ov:
        e = data["electrolyser"]
        f = ov["electrolyser_kw"] / e["p_rated_kw"]
        e["n_stacks"] = max(1, round(ov["electrolyser_kw"] / UNIT_KW))
        e["p_rated_kw"] = ov["electrolyser_kw"]
        e["p_standby_kw"] *= f
        e["p_bop_kw"] *= f
        e["thermal"]["c_th_kj_per_k"] *= f
        e["thermal"]["r_th_k_per_kw"] /= f
        e["thermal"]["p_cool_max_kw"] *= f
        comp = data["storage"].get("compressor")
        if comp is not None:
            comp["p_max_kw"] *= f
        if data["costs"].get("electrolyser"):
            data["costs"]["electrolyser"]["capex_eur"] *= f
        if data["costs"].get("compressor"):
            data["costs"]["compressor"]["capex_eur"] *= f
    if "tank_kg" in ov:
        tank = HydrogenTank(scn.storage)
        f = ov["tank_kg"] / tank.m_usable_kg
        data["storage"]["volume_m3"] = scn.storage.volume_m3 * f
        if data["costs"].get("storage"):
            data["costs"]["storage"]["capex_eur"] *= f
    data.pop("base_dir", None)
    new = Scenario.model_validate(data)
    new.base_dir = base_dir
    return new
