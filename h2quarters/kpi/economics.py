"""Economic KPIs: capital recovery factor, VDI 2067 annuities, electricity cost attribution, LCOH.

All money in EUR, periods in years (a). Rates are real rates as fractions (0.05 = 5 %/a); price changes
are fractions per year (0.02 = prices rise 2 %/a).

References
----------
VDI 2067 Blatt 1 (2012) "Wirtschaftlichkeit gebäudetechnischer Anlagen", annuity method: annuity factor
``a = (q − 1) / (1 − q^−T)`` (= capital recovery factor), replacements and residual value for components
whose service life differs from the observation period, price-dynamic cash value factor
``b = (1 − (r/q)^T) / (q − r)``. LCOH as in ``shared/reference/kpis.md``:
``LCOH = (CAPEX · CRF + fixed O&M + variable O&M + energy cost − by-product revenue) / annual kg``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike

from h2quarters.config.scenario import ComponentCost, Costs
from h2quarters.kpi._checks import (
    Number,
    ratio,
    same_length,
    scalar,
    series_values,
    step_hours_values,
)

__all__ = [
    "capital_recovery_factor",
    "annuity_eur_per_a",
    "price_dynamic_cash_value_factor",
    "vdi2067_capital_annuity_eur_per_a",
    "vdi2067_operating_annuity_eur_per_a",
    "attributed_grid_import_kw",
    "electricity_cost_eur",
    "LCOHBreakdown",
    "lcoh",
    "lcoh_from_costs",
]

AttributionMethod = Literal["pro_rata", "consumer_first", "consumer_last"]


def _rate(rate: Number, name: str = "rate") -> float:
    # Real rates may be slightly negative; below -100 % the formulas lose meaning.
    return scalar(rate, name, lo=-1.0, hi=1.0, lo_open=True)


def _years(x: Number, name: str) -> float:
    return scalar(x, name, lo=0.0, hi=200.0, lo_open=True)


def capital_recovery_factor(rate: Number, lifetime_a: Number) -> float:
    """Capital recovery factor (VDI 2067 annuity factor ``a``).

    ``CRF = r (1 + r)^n / ((1 + r)^n − 1)``, and ``1/n`` for ``r = 0``. Example: CRF(5 %, 10 a) = 0.129505.

    Parameters
    ----------
    rate : float
        Interest (discount) rate per year as a fraction, in (-1, 1].
    lifetime_a : float
        Annuity period in years, in (0, 200]; need not be an integer.

    Returns
    -------
    float
        CRF in 1/a.
    """
    r = _rate(rate)
    n = _years(lifetime_a, "lifetime_a")
    if r == 0.0:
        return 1.0 / n
    # r / (1 − (1+r)^−n), written with expm1/log1p so that small rates do not lose precision
    return r / -math.expm1(-n * math.log1p(r))


def annuity_eur_per_a(capex_eur: Number, rate: Number, lifetime_a: Number) -> float:
    """Constant yearly payment that repays an investment with interest.

    ``A = CAPEX · CRF(r, n)``

    Parameters
    ----------
    capex_eur : float
        Investment in EUR, >= 0.
    rate : float
        Interest rate per year (fraction).
    lifetime_a : float
        Service life in years.

    Returns
    -------
    float
        Annuity in EUR/a.
    """
    c = scalar(capex_eur, "capex_eur", lo=0.0)
    return c * capital_recovery_factor(rate, lifetime_a)


def price_dynamic_cash_value_factor(rate: Number, price_change_per_a: Number, period_a: Number) -> float:
    """VDI 2067 price-dynamic cash value factor ``b``.

    ``b = (1 − (r/q)^T) / (q − r)`` with ``q = 1 + rate``, ``r = 1 + price_change_per_a``; ``b = T/q`` when
    ``r = q``. Multiplying a first-year payment by ``a · b`` gives its annuity under rising prices; with no
    price change ``b = 1/a``.

    Parameters
    ----------
    rate : float
        Interest rate per year (fraction).
    price_change_per_a : float
        Yearly price change (fraction, e.g. 0.02), in (-1, 1].
    period_a : float
        Observation period ``T`` in years.

    Returns
    -------
    float
        ``b`` in a.
    """
    q = 1.0 + _rate(rate)
    r = 1.0 + _rate(price_change_per_a, "price_change_per_a")
    t = _years(period_a, "period_a")
    if math.isclose(r, q, rel_tol=0.0, abs_tol=1e-12):
        return t / q
    return (1.0 - (r / q) ** t) / (q - r)


def vdi2067_capital_annuity_eur_per_a(
    capex_eur: Number,
    lifetime_a: Number,
    rate: Number,
    period_a: Number | None = None,
    price_change_per_a: Number = 0.0,
) -> float:
    """Capital-related annuity of one component per VDI 2067-1, with replacements and residual value.

    ``A_N,K = (A_0 + A_1 + … + A_n − R_W) · a``,
    ``A_k = A_0 · r^(k·T_N) / q^(k·T_N)``,
    ``R_W = A_0 · r^(n·T_N) · ((n+1)·T_N − T) / T_N · 1/q^T``,
    ``a = CRF(q − 1, T)``, ``n = ⌈T / T_N⌉ − 1`` replacements in the observation period ``T``,
    ``q = 1 + rate``, ``r = 1 + price_change_per_a``; the residual value is linear in the remaining life.

    With ``period_a`` equal to ``lifetime_a`` (the default) this is ``capex · CRF``; it also equals
    ``capex · CRF(T_N)`` whenever ``T`` is a multiple of ``T_N`` and prices do not change.

    Parameters
    ----------
    capex_eur : float
        Investment ``A_0`` in EUR, >= 0.
    lifetime_a : float
        Service life ``T_N`` of the component in years.
    rate : float
        Interest rate per year (fraction).
    period_a : float, optional
        Observation period ``T`` in years (the plant's economic period); default ``lifetime_a``.
    price_change_per_a : float, default 0
        Yearly change of the replacement price (fraction).

    Returns
    -------
    float
        Capital-related annuity in EUR/a.
    """
    a0 = scalar(capex_eur, "capex_eur", lo=0.0)
    tn = _years(lifetime_a, "lifetime_a")
    t = tn if period_a is None else _years(period_a, "period_a")
    q = 1.0 + _rate(rate)
    r = 1.0 + _rate(price_change_per_a, "price_change_per_a")
    # replacements strictly inside the period; the tolerance keeps T = 2·T_N from counting a third unit
    n = max(math.ceil(t / tn - 1e-9) - 1, 0)
    present = sum(a0 * (r / q) ** (k * tn) for k in range(n + 1))
    residual = a0 * r ** (n * tn) * ((n + 1) * tn - t) / tn / q**t
    return (present - residual) * capital_recovery_factor(q - 1.0, t)


def vdi2067_operating_annuity_eur_per_a(
    first_year_eur: Number,
    rate: Number,
    period_a: Number,
    price_change_per_a: Number = 0.0,
) -> float:
    """Annuity of a yearly payment that changes with prices (VDI 2067-1 demand/operation-related costs).

    ``A_N = A_1 · a · b`` with ``a`` the annuity factor and ``b`` the price-dynamic cash value factor.
    With ``price_change_per_a = 0`` the result is ``A_1``.

    Parameters
    ----------
    first_year_eur : float
        Payment in the first year in EUR (may be negative for revenues).
    rate : float
        Interest rate per year (fraction).
    period_a : float
        Observation period in years.
    price_change_per_a : float, default 0
        Yearly price change (fraction).

    Returns
    -------
    float
        Annuity in EUR/a.
    """
    a1 = scalar(first_year_eur, "first_year_eur")
    return a1 * capital_recovery_factor(rate, period_a) * price_dynamic_cash_value_factor(
        rate, price_change_per_a, period_a
    )


def attributed_grid_import_kw(
    consumer_kw: ArrayLike,
    consumption_kw: ArrayLike,
    grid_import_kw: ArrayLike,
    method: AttributionMethod = "pro_rata",
) -> np.ndarray | pd.Series:
    """Part of the grid import attributable to one consumer (e.g. electrolyser + compressor), per step.

    With ``C`` total consumption, ``c`` the consumer, ``I' = min(I, C)`` the import that covers consumption
    and ``S = C − I'`` the on-site supply (PV, battery, fuel cell):

    - ``pro_rata``: ``I_c = I' · c / C`` (every kWh consumed has the same mix; 0 when ``C = 0``),
    - ``consumer_first``: the consumer gets on-site supply first, ``I_c = max(c − S, 0)``,
    - ``consumer_last``: the consumer gets the import first, ``I_c = min(I', c)``.

    Parameters
    ----------
    consumer_kw : array-like
        The consumer's power per step in kW; must not exceed ``consumption_kw``.
    consumption_kw : array-like
        Total on-site consumption per step in kW (including the consumer).
    grid_import_kw : array-like
        Grid import per step in kW.
    method : {'pro_rata', 'consumer_first', 'consumer_last'}
        Attribution rule.

    Returns
    -------
    ndarray or Series
        Attributed import in kW per step (Series with the input index if ``consumer_kw`` is a Series).
    """
    c = series_values(consumer_kw, "consumer_kw")
    tot = series_values(consumption_kw, "consumption_kw")
    imp = series_values(grid_import_kw, "grid_import_kw")
    same_length(consumer_kw=(consumer_kw, c), consumption_kw=(consumption_kw, tot),
                grid_import_kw=(grid_import_kw, imp))
    over = c > tot * (1.0 + 1e-9) + 1e-9
    if over.any():
        i = int(np.flatnonzero(over)[0])
        raise ValueError(
            f"consumer_kw ({c[i]!r}) exceeds consumption_kw ({tot[i]!r}) at position {i}; "
            "consumption_kw must include the consumer"
        )
    c = np.minimum(c, tot)
    imp_eff = np.minimum(imp, tot)
    if method == "pro_rata":
        share = np.zeros_like(c)
        np.divide(c, tot, out=share, where=tot > 0.0)
        out = imp_eff * share
    elif method == "consumer_first":
        out = np.maximum(c - (tot - imp_eff), 0.0)
    elif method == "consumer_last":
        out = np.minimum(imp_eff, c)
    else:
        raise ValueError(f"method must be 'pro_rata', 'consumer_first' or 'consumer_last', got {method!r}")
    if isinstance(consumer_kw, pd.Series):
        return pd.Series(out, index=consumer_kw.index, name="attributed_import_kw")
    return out


def electricity_cost_eur(
    consumer_kw: ArrayLike,
    consumption_kw: ArrayLike,
    grid_import_kw: ArrayLike,
    dt_h: ArrayLike | Number,
    import_eur_per_kwh: ArrayLike | Number,
    method: AttributionMethod = "pro_rata",
    onsite_eur_per_kwh: ArrayLike | Number = 0.0,
) -> float:
    """Electricity cost of one consumer: attributed grid import at the import price, plus on-site supply.

    ``C_el = Σ_t (I_c,t · p_import,t + (c_t − I_c,t) · p_onsite,t) · Δt_t``

    ``I_c`` from :func:`attributed_grid_import_kw`. ``onsite_eur_per_kwh`` values self-supplied PV, e.g. at
    the foregone feed-in tariff (opportunity cost); the default 0 counts PV as free.

    Parameters
    ----------
    consumer_kw, consumption_kw, grid_import_kw : array-like
        Power per step in kW (see :func:`attributed_grid_import_kw`).
    dt_h : float or array-like
        Step length in h.
    import_eur_per_kwh : float or array-like
        Grid import price in EUR/kWh, constant or per step (may be negative).
    method : {'pro_rata', 'consumer_first', 'consumer_last'}
        Attribution rule.
    onsite_eur_per_kwh : float or array-like, default 0
        Value of on-site electricity in EUR/kWh.

    Returns
    -------
    float
        Cost in EUR over the period.
    """
    imp_c = np.asarray(attributed_grid_import_kw(consumer_kw, consumption_kw, grid_import_kw, method))
    c = series_values(consumer_kw, "consumer_kw")
    dt = step_hours_values(dt_h, c.shape[0])
    p_imp = _price(import_eur_per_kwh, "import_eur_per_kwh", consumer_kw, c)
    p_on = _price(onsite_eur_per_kwh, "onsite_eur_per_kwh", consumer_kw, c)
    onsite = np.maximum(c - imp_c, 0.0)
    return float(np.sum((imp_c * p_imp + onsite * p_on) * dt))


def _price(x: ArrayLike | Number, name: str, ref: ArrayLike, ref_arr: np.ndarray) -> np.ndarray | float:
    if np.ndim(x) == 0:
        return scalar(x, name)
    arr = series_values(x, name, nonnegative=False)
    same_length(consumer_kw=(ref, ref_arr), **{name: (x, arr)})
    return arr


@dataclass(frozen=True)
class LCOHBreakdown:
    """Levelised cost of hydrogen and its parts (all EUR per year unless stated).

    ``lcoh_eur_per_kg = total_eur_per_a / m_h2_kg_per_a``, NaN when ``m_h2_kg_per_a == 0`` (nothing
    produced: cost per kg undefined).
    """

    m_h2_kg_per_a: float
    capital_eur_per_a: float
    fixed_om_eur_per_a: float
    variable_om_eur_per_a: float
    energy_eur_per_a: float
    by_product_revenue_eur_per_a: float
    capital_by_component_eur_per_a: Mapping[str, float] = field(default_factory=dict)
    fixed_om_by_component_eur_per_a: Mapping[str, float] = field(default_factory=dict)

    @property
    def total_eur_per_a(self) -> float:
        """Net yearly cost in EUR/a (capital + O&M + energy − by-product revenue)."""
        return (self.capital_eur_per_a + self.fixed_om_eur_per_a + self.variable_om_eur_per_a
                + self.energy_eur_per_a - self.by_product_revenue_eur_per_a)

    @property
    def lcoh_eur_per_kg(self) -> float:
        """Levelised cost of hydrogen in EUR/kg (NaN if no hydrogen)."""
        return ratio(self.total_eur_per_a, self.m_h2_kg_per_a)

    def per_kg(self) -> dict[str, float]:
        """Each part divided by the yearly mass, EUR/kg (revenue negative); sums to the LCOH."""
        return {
            "capital_eur_per_kg": ratio(self.capital_eur_per_a, self.m_h2_kg_per_a),
            "fixed_om_eur_per_kg": ratio(self.fixed_om_eur_per_a, self.m_h2_kg_per_a),
            "variable_om_eur_per_kg": ratio(self.variable_om_eur_per_a, self.m_h2_kg_per_a),
            "energy_eur_per_kg": ratio(self.energy_eur_per_a, self.m_h2_kg_per_a),
            "by_product_revenue_eur_per_kg": -ratio(self.by_product_revenue_eur_per_a, self.m_h2_kg_per_a),
        }

    def as_dict(self) -> dict[str, float]:
        """Flat dict of all yearly parts, per-kg parts, per-component capital/O&M and the LCOH."""
        out: dict[str, float] = {
            "m_h2_kg_per_a": self.m_h2_kg_per_a,
            "capital_eur_per_a": self.capital_eur_per_a,
            "fixed_om_eur_per_a": self.fixed_om_eur_per_a,
            "variable_om_eur_per_a": self.variable_om_eur_per_a,
            "energy_eur_per_a": self.energy_eur_per_a,
            "by_product_revenue_eur_per_a": self.by_product_revenue_eur_per_a,
            "total_eur_per_a": self.total_eur_per_a,
            "lcoh_eur_per_kg": self.lcoh_eur_per_kg,
        }
        out.update(self.per_kg())
        out.update({f"capital_{k}_eur_per_a": v for k, v in self.capital_by_component_eur_per_a.items()})
        out.update({f"fixed_om_{k}_eur_per_a": v for k, v in self.fixed_om_by_component_eur_per_a.items()})
        return out


def lcoh(
    m_h2_kg_per_a: Number,
    *,
    capex_eur: Number,
    crf: Number,
    fixed_om_eur_per_a: Number = 0.0,
    variable_om_eur_per_a: Number = 0.0,
    energy_eur_per_a: Number = 0.0,
    by_product_revenue_eur_per_a: Number = 0.0,
) -> LCOHBreakdown:
    """Levelised cost of hydrogen from yearly figures (annuity method).

    ``LCOH = (CAPEX · CRF + fixed O&M + variable O&M + energy cost − by-product revenue) / m_H2``

    Parameters
    ----------
    m_h2_kg_per_a : float
        Hydrogen produced per year in kg, >= 0 (annualise partial-year simulations first).
    capex_eur : float
        Total investment in EUR, >= 0.
    crf : float
        Capital recovery factor in 1/a (:func:`capital_recovery_factor`), in [0, 2].
    fixed_om_eur_per_a : float
        Fixed operation and maintenance in EUR/a, >= 0.
    variable_om_eur_per_a : float
        Variable O&M (water, consumables) in EUR/a, >= 0.
    energy_eur_per_a : float
        Electricity cost in EUR/a (e.g. from :func:`electricity_cost_eur`; may be negative with negative
        prices).
    by_product_revenue_eur_per_a : float
        Revenue from oxygen, heat etc. in EUR/a, >= 0.

    Returns
    -------
    LCOHBreakdown
        Parts and ``lcoh_eur_per_kg``.
    """
    m = scalar(m_h2_kg_per_a, "m_h2_kg_per_a", lo=0.0)
    capital = scalar(capex_eur, "capex_eur", lo=0.0) * scalar(crf, "crf", lo=0.0, hi=2.0)
    return LCOHBreakdown(
        m_h2_kg_per_a=m,
        capital_eur_per_a=capital,
        fixed_om_eur_per_a=scalar(fixed_om_eur_per_a, "fixed_om_eur_per_a", lo=0.0),
        variable_om_eur_per_a=scalar(variable_om_eur_per_a, "variable_om_eur_per_a", lo=0.0),
        energy_eur_per_a=scalar(energy_eur_per_a, "energy_eur_per_a"),
        by_product_revenue_eur_per_a=scalar(by_product_revenue_eur_per_a, "by_product_revenue_eur_per_a", lo=0.0),
    )


def lcoh_from_costs(
    costs: Costs,
    m_h2_kg_per_a: Number,
    energy_eur_per_a: Number,
    by_product_revenue_eur_per_a: Number = 0.0,
    other_variable_om_eur_per_a: Number = 0.0,
    period_a: Number | None = None,
) -> LCOHBreakdown:
    """LCOH from the scenario's :class:`~h2quarters.config.scenario.Costs`.

    Per component (electrolyser, storage, compressor; absent ones cost nothing):
    capital annuity ``capex · CRF(discount_rate, lifetime_a)`` — or, with ``period_a``, the VDI 2067
    annuity over that observation period including replacements and residual value
    (:func:`vdi2067_capital_annuity_eur_per_a`); fixed O&M ``opex_frac_per_a · capex``.
    Variable O&M ``water_eur_per_kg_h2 · m_H2 + other_variable_om_eur_per_a``.

    Parameters
    ----------
    costs : Costs
        Cost configuration (``scenario.costs``).
    m_h2_kg_per_a : float
        Hydrogen produced per year in kg, >= 0.
    energy_eur_per_a : float
        Electricity cost attributable to hydrogen production in EUR/a (see :func:`electricity_cost_eur`),
        or a given value.
    by_product_revenue_eur_per_a : float, default 0
        Oxygen/heat revenue in EUR/a, >= 0.
    other_variable_om_eur_per_a : float, default 0
        Further variable O&M in EUR/a, >= 0.
    period_a : float, optional
        Common observation period in years for the VDI 2067 method; ``None`` annualises each component over
        its own lifetime.

    Returns
    -------
    LCOHBreakdown
        Parts with per-component capital and fixed O&M, and ``lcoh_eur_per_kg``.
    """
    if not isinstance(costs, Costs):
        raise ValueError(f"costs must be a h2quarters.config.scenario.Costs, got {type(costs).__name__}")
    m = scalar(m_h2_kg_per_a, "m_h2_kg_per_a", lo=0.0)
    comps: dict[str, ComponentCost] = {
        name: c for name in ("electrolyser", "storage", "compressor")
        if (c := getattr(costs, name)) is not None
    }
    capital = {
        name: vdi2067_capital_annuity_eur_per_a(c.capex_eur, c.lifetime_a, costs.discount_rate, period_a)
        for name, c in comps.items()
    }
    fixed = {name: c.opex_frac_per_a * c.capex_eur for name, c in comps.items()}
    variable = costs.water_eur_per_kg_h2 * m + scalar(
        other_variable_om_eur_per_a, "other_variable_om_eur_per_a", lo=0.0
    )
    return LCOHBreakdown(
        m_h2_kg_per_a=m,
        capital_eur_per_a=sum(capital.values()),
        fixed_om_eur_per_a=sum(fixed.values()),
        variable_om_eur_per_a=variable,
        energy_eur_per_a=scalar(energy_eur_per_a, "energy_eur_per_a"),
        by_product_revenue_eur_per_a=scalar(by_product_revenue_eur_per_a, "by_product_revenue_eur_per_a", lo=0.0),
        capital_by_component_eur_per_a=capital,
        fixed_om_by_component_eur_per_a=fixed,
    )
