"""Scripted learners for the calibration tests: textbook formulas on the noisy readings, written independently of
``h2quarters.training.references`` (only the task texts' constants are used, as a learner would).

A *careful* learner takes every measurement of the plan, keeps the digits the instruments show and answers with 4
significant digits. A *sloppy* learner rounds its answers to one significant digit and, where an exercise asks for
choices, skips the checks a careful learner makes.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace

import numpy as np

from h2quarters.training.session import ExerciseSession

F = 96485.33
R = 8.314
VM_N = 22.414  # L/mol at 0 °C, 1.01325 bar (task texts)
RHO_N = 0.08988  # kg/m³
LHV, HHV = 33.33, 39.41
RS = 4124.5


def z_quad(p_bar: float) -> float:
    """The Z approximation printed in E9 and E12."""
    return 1 + 6.02e-4 * p_bar + 1.46e-7 * p_bar**2


def sig(x: float, n: int) -> float:
    """``x`` rounded to ``n`` significant digits."""
    if x == 0 or not math.isfinite(x):
        return x
    return round(x, n - 1 - int(math.floor(math.log10(abs(x)))))


Answers = dict[str, "str | list[str]"]


def _r(s: ExerciseSession, mid: str, sig_: str) -> float:
    return s.readings[mid].values[sig_]


def e1(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    pts = [(_r(s, m.id, "el_stack_current_a"), _r(s, m.id, "el_cell_voltage_v")) for m in s.exercise.measurements]
    x, y = np.array(pts).T
    slope, icpt = np.polyfit(x, y, 1)
    cells = 24 if v.get("stack_voltage") else 1
    return {"u_d": (icpt * cells, "V"), "r_cell": (slope * 1000 / (2 if v.get("total_current") else 1), "mΩ")}


def e2(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    i = 0.5 * (_r(s, "start", "el_stack_current_a") + _r(s, "end", "el_stack_current_a"))
    dt = s.readings["end"].t_s - s.readings["start"].t_s
    z = 4 if v.get("z4") else 2
    n = (24 if v.get("one_stack") else 48) * i * dt / (z * F)
    if v.get("operating_litres"):
        t_k = _r(s, "end", "el_electrolyte_temperature_c") + 273.15  # gas at stack temperature and 35 bar
        v_theo = n * R * t_k / 35e5 * 1000
    elif v.get("bar_in_si"):
        v_theo = n * R * 273.15 / 1.01325 * 1000
    else:
        v_theo = n * VM_N
    dv = _r(s, "end", "el_h2_total_nl") - _r(s, "start", "el_h2_total_nl")
    de = _r(s, "end", "el_energy_kwh") - _r(s, "start", "el_energy_kwh")
    hv = HHV if v.get("hhv_used") else LHV
    return {"v_theo": (v_theo, "NL"), "eta_f": (dv / v_theo * 100, "%"),
            "eta_lhv": (dv / 1000 * RHO_N * hv / de * 100, "%")}


def e3(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    p_el, q = _r(s, "run", "el_power_kw"), _r(s, "run", "el_h2_flow_nlh")
    p_fc, m_fc = _r(s, "run", "fc_power_kw"), _r(s, "run", "fc_h2_kg_per_h")
    lhv, hhv = (HHV, LHV) if v.get("swap") else (LHV, HHV)
    m_el = q / 1000 * RHO_N
    return {"el_lhv": (m_el * lhv / p_el * 100, "%"), "el_hhv": (m_el * hhv / p_el * 100, "%"),
            "fc_lhv": (p_fc / (m_fc * lhv) * 100, "%"), "fc_hhv": (p_fc / (m_fc * hhv) * 100, "%")}


def e4(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    def d(a: str, b: str, sg: str) -> float:
        return _r(s, b, sg) - _r(s, a, sg)

    e_prod = d("start", "end_production", "el_energy_kwh")
    e_day = d("start", "next_morning", "el_energy_kwh")
    if not v.get("no_compressor"):
        e_day += d("start", "next_morning", "compressor_energy_kwh")
    return {"sec_production": (e_prod / d("start", "end_production", "h2_to_tank_kg"), "kWh/kg"),
            "sec_day": (e_day / d("start", "next_morning", "h2_to_tank_kg"), "kWh/kg")}


def e5(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    pts = [(_r(s, m.id, "i_a"), _r(s, m.id, "u_v")) for m in s.exercise.measurements]
    p = [i * u for i, u in pts]
    k = 1 if v.get("first_point") else int(np.argmax(p))
    return {"u_oc": (_r(s, "i0", "u_v"), "V"), "p_max": (p[k], "W"), "i_mpp": (pts[k][0], "A")}


def e6(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    du = _r(s, "warm", "el_cell_voltage_v") - _r(s, "cold", "el_cell_voltage_v")
    dtk = _r(s, "warm", "el_electrolyte_temperature_c") - _r(s, "cold", "el_electrolyte_temperature_c")
    t = _r(s, "warm", "el_electrolyte_temperature_c") + (0.0 if v.get("celsius") else 273.15)
    return {"du_dt": (du / dtk * 1000, "mV/K"),
            "nernst": (R * t / (2 * F) * math.log(35 * math.sqrt(1.01325)) * 1000, "mV")}


def e7(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    u = _r(s, "unit1", "u_v") + _r(s, "unit2", "u_v")
    if v.get("averaged"):
        u /= 2
    return {"u_series": (u, "V"), "p_series": (u * s.params["load_a"], "W"),
            "i_parallel": (_r(s, "parallel", "i1_a") + _r(s, "parallel", "i2_a"), "A")}


def e8(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    def d(sg: str) -> float:
        return _r(s, "end", sg) - _r(s, "start", sg)

    hv = HHV if v.get("hhv") else LHV
    el = d("h2_to_tank_kg") * hv / d("el_energy_kwh")
    st = d("h2_to_tank_kg") * LHV / (d("h2_to_tank_kg") * LHV + d("compressor_energy_kwh"))
    fc = d("fc_energy_kwh") / (d("h2_from_tank_kg") * hv)
    return {"eta_el": (el * 100, "%"), "eta_storage": (st * 100, "%"), "eta_fc": (fc * 100, "%"),
            "eta_chain": ((el + st + fc) * 100 if v.get("added") else el * st * fc * 100, "%")}


def _mass(p_bar: float, vol_m3: float, t_c: float, z: float, v: dict) -> float:
    t_k = t_c + (0.0 if v.get("celsius") else 273.15)
    pa = p_bar * (1.0 if v.get("bar_in_si") else 1e5)
    return pa * vol_m3 / ((1.0 if v.get("ideal_gas") else z) * RS * t_k)


def e9(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    p1, p2 = _r(s, "m1", "tank_pressure_bar"), _r(s, "m2", "tank_pressure_bar")
    m1, m2 = _mass(p1, 0.6, 15.0, z_quad(p1), v), _mass(p2, 0.6, 15.0, z_quad(p2), v)
    dm_c = (_r(s, "m2", "el_h2_total_nl") - _r(s, "m1", "el_h2_total_nl")) / 1000 * RHO_N
    # balance: kept at 4 significant digits of its own size (an absolute tolerance)
    return {"mass1": (m1, "kg"), "mass2": (m2, "kg"), "dm_tank": (m2 - m1, "kg"), "dm_counter": (dm_c, "kg"),
            "balance": ((m2 - m1) - dm_c, "kg")}


def e10(s: ExerciseSession, v: dict) -> Answers:
    b, a = s.readings["before"].values, s.readings["after"].values
    dm = (a["el_h2_total_nl"] - b["el_h2_total_nl"]) / 1000 * RHO_N
    # pressure rise expected from the gas counter (ideal-gas slope with Z at ~100 bar is close enough to judge)
    dp_expected = dm * z_quad(b["tank_pressure_bar"]) * RS * 288.15 / 0.6 / 1e5
    dp = a["tank_pressure_bar"] - b["tank_pressure_bar"]
    if b["pv_power_kw"] > 0.5 and a["pv_power_kw"] < 0.1 * b["pv_power_kw"]:  # the sun does not vanish in 30 min
        return {"fault": "inverter_trip", "evidence": ["pv_power_kw", "grid_import_kw"]}
    if a["h2_detector_lel_pct"] > 1.0:
        return {"fault": "h2_leak", "evidence": ["h2_detector_lel_pct", "tank_pressure_bar"]}
    if a["el_stack_current_a"] < 1.0:  # tripped: only the stack temperature interlock stops it here
        return {"fault": "cooling_failure", "evidence": ["el_electrolyte_temperature_c"]}
    if a["el_electrolyte_temperature_c"] > b["el_electrolyte_temperature_c"] + 1.0:
        return {"fault": "cooling_failure", "evidence": ["el_electrolyte_temperature_c"]}
    if a["el_cell_voltage_v"] > b["el_cell_voltage_v"] + 0.05:
        return {"fault": "membrane_ageing", "evidence": ["el_cell_voltage_v", "el_h2_flow_nlh"]}
    # Faraday: H2 flow per stack current is fixed by 2F; a drop at unchanged voltage means H2 goes elsewhere
    if a["el_h2_flow_nlh"] / a["el_stack_current_a"] < 0.93 * b["el_h2_flow_nlh"] / b["el_stack_current_a"]:
        return {"fault": "gas_crossover", "evidence": ["el_h2_flow_nlh", "el_stack_current_a"]}
    if dp < 0.6 * dp_expected:
        return {"fault": "sensor_stuck", "evidence": ["tank_pressure_bar", "el_h2_total_nl"]}
    return {"fault": "sensor_drift", "evidence": ["tank_pressure_bar", "el_h2_total_nl"]}


def e11(s: ExerciseSession, v: dict) -> Answers:
    lel = _r(s, "alarm", "h2_detector_lel_pct")
    steps = ["leave_warn", "no_ignition", "shut_off_outside", "alert", "keep_ventilation", "measure_before_entry",
             "find_and_fix", "purge_and_test"]
    return {"vol_pct": f"{sig(lel * 0.04, 4)} %", "steps": ", ".join(steps)}


def e12(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    p1, p2 = _r(s, "start", "tank_pressure_bar"), _r(s, "end", "tank_pressure_bar")
    dt_h = (s.readings["end"].t_s - s.readings["start"].t_s) / 3600
    leak = (_mass(p1, 0.6, 15, z_quad(p1), v) - _mass(p2, 0.6, 15, z_quad(p2), v)) / dt_h * 1000
    p_dc = _r(s, "dc", "el_stack_voltage_v") * _r(s, "dc", "el_stack_current_a") * (1 if v.get("one_stack") else 2)
    vol = s.params["vol_l"] / 1000
    return {"leak_rate": (leak, "g/h"), "p_dc": (p_dc / 1000, "kW"),
            "p_bop": (_r(s, "dc", "el_power_kw") - p_dc / 1000, "kW"),
            "m700": (_mass(700, vol, 15, 1.466, v), "kg"), "m350": (_mass(350, vol, 15, 1.227, v), "kg")}


def e13(s: ExerciseSession, v: dict) -> dict[str, tuple[float, str]]:
    sec = _r(s, "rated", "el_power_kw") / (_r(s, "rated", "el_h2_flow_nlh") / 1000 * RHO_N)
    d = s.params["demand_kg_d"]
    hours = 24.0 if v.get("round_the_clock") else s.params["hours_h"]
    return {"sec": (sec, "kWh/kg"), "el_kw": (d * sec / hours, "kW"),
            "pv_kwp": (d * sec / s.params["yield_kwh_kwp_d"], "kWp"),
            "tank_m3": (d * s.params["days"] / (21.2 - (0.0 if v.get("full_tank") else 2.48)), "m³")}


SCRIPTS: dict[str, Callable[[ExerciseSession, dict], dict]] = {
    "E1": e1, "E2": e2, "E3": e3, "E4": e4, "E5": e5, "E6": e6, "E7": e7, "E8": e8, "E9": e9, "E10": e10,
    "E11": e11, "E12": e12, "E13": e13}


def careful_answers(s: ExerciseSession, variant: dict | None = None, digits: int = 4) -> Answers:
    """Take every measurement of the plan, then compute the answers (4 significant digits)."""
    for m in s.exercise.measurements:
        if m.id not in s.readings:
            s.take(m.id)
    raw = SCRIPTS[s.exercise.id](s, variant or {})
    out: Answers = {}
    for k, val in raw.items():
        if isinstance(val, tuple):
            x, unit = val
            out[k] = f"{sig(x, digits)} {unit}"
        else:
            out[k] = val
    return out


SLIPS: dict[str, dict] = {"E5": {"first_point": True}, "E7": {"averaged": True},
                          "E13": {"full_tank": True, "round_the_clock": True}}
"""Conceptual slips of the sloppy learner where rounding alone stays inside the tolerance."""


class _Notebook:
    """The readings as a sloppy learner writes them down: one significant digit."""

    def __init__(self, s: ExerciseSession) -> None:
        self.exercise, self.params, self.quantities = s.exercise, s.params, s.quantities
        self.readings = {k: replace(r, values={n: sig(x, 1) for n, x in r.values.items()})
                         for k, r in s.readings.items()}


def sloppy_answers(s: ExerciseSession) -> Answers:
    """Readings noted with one significant digit, answers with two; for choices, the first plausible option
    without checking the data, and the safety steps half remembered."""
    for m in s.exercise.measurements:
        if m.id not in s.readings:
            s.take(m.id)
    try:
        raw = SCRIPTS[s.exercise.id](_Notebook(s), SLIPS.get(s.exercise.id, {}))  # type: ignore[arg-type]
    except ZeroDivisionError:  # two readings noted alike: the sloppy learner writes 0
        raw = {q.id: (0.0, q.unit) for q in s.exercise.quantities if q.kind == "number"}
    ans: Answers = {k: (f"{sig(v[0], 2)} {v[1]}" if isinstance(v, tuple) else v) for k, v in raw.items()}
    if s.exercise.id == "E10":
        ans = {"fault": "membrane_ageing", "evidence": ["el_power_kw"]}
    if s.exercise.id == "E11":
        ans["steps"] = "leave_warn, alert, find_and_fix, purge_and_test"
    return ans


def answer_all(s: ExerciseSession, answers: Answers) -> None:
    """Answer every asked quantity once."""
    for q in s.quantities:
        if q.id in answers:
            s.answer(q.id, answers[q.id])
