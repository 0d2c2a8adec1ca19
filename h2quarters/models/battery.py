"""Stationary battery: energy-reservoir model with charge/discharge efficiencies and self-discharge.

State is the stored (DC-side, usable) energy ``E``; ``soc = E / e_kwh``. Over a step of ``dt`` hours with
AC-side power ``p`` (> 0 charging, < 0 discharging)::

    E_new = E - E_sd + p_ch * eta_ch * dt - p_dis / eta_dis * dt
    E_sd  = E * (1 - (1 - k)^dt)            # self-discharge, k = self_discharge_per_h

The exponential form makes self-discharge independent of the step length (two 30-min steps lose exactly
what one 1-h step loses). Conversion losses are ``p_ch (1 - eta_ch) dt`` when charging and
``p_dis (1/eta_dis - 1) dt`` when discharging, so ``p dt = (E_new - E) + E_loss`` holds exactly.

Limits per step: power limits from the configuration AND the SOC window [soc_min, soc_max] evaluated after
this step's self-discharge. Requests beyond them are clamped (the applied power is returned). The
dispatcher can never push SOC outside the window; self-discharge alone can take an idle battery below
soc_min (physics), after which discharging is blocked until it is recharged.

Reference: the same reservoir form as PyPSA ``StorageUnit`` (``efficiency_store``, ``efficiency_dispatch``,
``standing_loss``) and oemof-solph ``GenericStorage``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from h2quarters.config.scenario import Battery

_S_PER_H: float = 3600.0


@dataclass(frozen=True)
class BatteryStep:
    """Result of one battery step.

    Attributes
    ----------
    p_kw : float
        AC power actually applied in kW (> 0 charging, < 0 discharging), after clamping.
    e_loss_kwh : float
        Energy lost in this step in kWh (conversion losses + self-discharge).
    soc : float
        State of charge after the step (fraction of ``e_kwh``).
    e_stored_kwh : float
        Stored energy after the step in kWh.
    e_self_discharge_kwh : float
        Part of ``e_loss_kwh`` due to self-discharge in kWh.
    clamped : bool
        True when the request exceeded a limit and was reduced.
    """

    p_kw: float
    e_loss_kwh: float
    soc: float
    e_stored_kwh: float = 0.0
    e_self_discharge_kwh: float = 0.0
    clamped: bool = False


class BatteryModel:
    """Battery state and step function.

    Parameters
    ----------
    cfg : Battery
        Capacity, power limits, efficiencies, SOC window, initial SOC and self-discharge.

    Attributes
    ----------
    e_kwh : float
        Nominal capacity in kWh.
    soc : float
        Current state of charge (fraction of e_kwh).
    e_stored_kwh : float
        Current stored energy in kWh (``soc * e_kwh``).
    """

    def __init__(self, cfg: Battery) -> None:
        self.cfg = cfg
        self.e_kwh = float(cfg.e_kwh)
        self.p_charge_kw = float(cfg.p_charge_kw)
        self.p_discharge_kw = float(cfg.p_discharge_kw)
        self.eta_charge = float(cfg.eta_charge)
        self.eta_discharge = float(cfg.eta_discharge)
        self.e_min_kwh = float(cfg.soc_min) * self.e_kwh
        self.e_max_kwh = float(cfg.soc_max) * self.e_kwh
        self.self_discharge_per_h = float(cfg.self_discharge_per_h)
        self.e_stored_kwh = float(cfg.soc_init) * self.e_kwh

    @property
    def soc(self) -> float:
        """State of charge (fraction of the nominal capacity)."""
        return self.e_stored_kwh / self.e_kwh

    @soc.setter
    def soc(self, value: float) -> None:
        if not (0.0 <= value <= 1.0) or not math.isfinite(value):
            raise ValueError(f"soc = {value!r} outside the allowed range [0, 1]")
        self.e_stored_kwh = float(value) * self.e_kwh

    @staticmethod
    def _dt_h(dt_s: float) -> float:
        if not (math.isfinite(dt_s) and dt_s > 0.0):
            raise ValueError(f"dt_s = {dt_s!r} outside the allowed range (0, inf)")
        return dt_s / _S_PER_H

    def self_discharge_kwh(self, dt_s: float) -> float:
        """Energy lost to self-discharge in the next ``dt_s`` seconds from the current state, in kWh."""
        dt_h = self._dt_h(dt_s)
        return self.e_stored_kwh * -math.expm1(dt_h * math.log1p(-self.self_discharge_per_h))

    def limits_kw(self, dt_s: float) -> tuple[float, float]:
        """Largest charging and discharging AC power in kW for a step of ``dt_s`` seconds.

        Returns
        -------
        tuple of float
            ``(p_charge_max_kw, p_discharge_max_kw)``, both >= 0: the configured power limits, reduced so that
            holding the power for the whole step keeps SOC inside [soc_min, soc_max] after self-discharge.
        """
        dt_h = self._dt_h(dt_s)
        e_after_sd = self.e_stored_kwh - self.self_discharge_kwh(dt_s)
        p_ch = min(self.p_charge_kw, max(0.0, (self.e_max_kwh - e_after_sd) / (self.eta_charge * dt_h)))
        p_dis = min(self.p_discharge_kw, max(0.0, (e_after_sd - self.e_min_kwh) * self.eta_discharge / dt_h))
        return p_ch, p_dis

    def step(self, p_kw: float, dt_s: float) -> BatteryStep:
        """Apply AC power ``p_kw`` (> 0 charge, < 0 discharge) for ``dt_s`` seconds and update the state.

        The request is clamped to :meth:`limits_kw`. Energy balance (exact up to rounding):
        ``p_kw * dt_h = (e_stored_new - e_stored_old) + e_loss_kwh``.
        """
        p_req = float(p_kw)
        if not math.isfinite(p_req):
            raise ValueError(f"p_kw = {p_kw!r} outside the allowed range (-inf, inf) (must be finite)")
        dt_h = self._dt_h(dt_s)
        p_ch_max, p_dis_max = self.limits_kw(dt_s)
        e_sd = self.self_discharge_kwh(dt_s)
        if p_req >= 0.0:
            p = min(p_req, p_ch_max)
            e_in = p * self.eta_charge * dt_h
            e_conv_loss = p * dt_h - e_in
            e_new = self.e_stored_kwh - e_sd + e_in
            if p == p_ch_max and p > 0.0 and p_ch_max < self.p_charge_kw:
                e_new = min(e_new, self.e_max_kwh)  # remove rounding overshoot (~1e-16 kWh) at the SOC limit
        else:
            p_dis = min(-p_req, p_dis_max)
            p = -p_dis
            e_out = p_dis / self.eta_discharge * dt_h
            e_conv_loss = e_out - p_dis * dt_h
            e_new = self.e_stored_kwh - e_sd - e_out
            if p_dis == p_dis_max and p_dis > 0.0 and p_dis_max < self.p_discharge_kw:
                e_new = max(e_new, self.e_min_kwh)
        self.e_stored_kwh = e_new
        return BatteryStep(
            p_kw=p,
            e_loss_kwh=e_conv_loss + e_sd,
            soc=self.soc,
            e_stored_kwh=e_new,
            e_self_discharge_kwh=e_sd,
            clamped=p != p_req,
        )
