"""Economics: CRF known values, VDI 2067 annuities against explicit cash flows, attribution, LCOH."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from h2quarters.config.scenario import ComponentCost, Costs
from h2quarters.kpi import (
    annuity_eur_per_a,
    attributed_grid_import_kw,
    capital_recovery_factor,
    electricity_cost_eur,
    lcoh,
    lcoh_from_costs,
    price_dynamic_cash_value_factor,
    vdi2067_capital_annuity_eur_per_a,
    vdi2067_operating_annuity_eur_per_a,
)


@pytest.mark.parametrize(
    ("rate", "years", "crf"),
    [(0.05, 10, 0.129505), (0.08, 20, 0.101852), (0.05, 20, 0.080243), (0.10, 5, 0.263797)],
)
def test_crf_published_values(rate: float, years: int, crf: float) -> None:
    # standard annuity-table values
    assert capital_recovery_factor(rate, years) == pytest.approx(crf, abs=5e-7)


def test_crf_limits() -> None:
    assert capital_recovery_factor(0.0, 20) == pytest.approx(0.05)
    # tiny rate converges smoothly to 1/n (no cancellation)
    assert capital_recovery_factor(1e-12, 20) == pytest.approx(0.05, rel=1e-9)
    # CRF is the payment whose present value over n years equals 1
    r, n = 0.05, 10
    pv = sum(capital_recovery_factor(r, n) / (1 + r) ** t for t in range(1, n + 1))
    assert pv == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"rate": -1.0, "lifetime_a": 10}, "rate = -1.0 is outside the allowed range"),
        ({"rate": 0.05, "lifetime_a": 0}, "lifetime_a = 0.0 is outside"),
        ({"rate": float("nan"), "lifetime_a": 10}, "rate must be finite"),
        ({"rate": "five", "lifetime_a": 10}, "rate must be a number"),
    ],
)
def test_crf_errors(kwargs: dict, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        capital_recovery_factor(**kwargs)


def test_annuity() -> None:
    assert annuity_eur_per_a(10_000, 0.05, 10) == pytest.approx(1295.05, abs=0.01)
    with pytest.raises(ValueError, match="capex_eur"):
        annuity_eur_per_a(-1, 0.05, 10)


def _npv_capital(a0: float, tn: float, t: float, q: float, r: float) -> float:
    """Explicit present value: purchase at 0, replacements every tn inside (0, t), linear residual at t."""
    pv, k = 0.0, 0
    while k * tn < t - 1e-9:
        pv += a0 * r ** (k * tn) / q ** (k * tn)
        k += 1
    last = (k - 1) * tn
    remaining = (last + tn - t) / tn
    return pv - a0 * r**last * remaining / q**t


def test_vdi2067_equals_crf_when_period_is_lifetime_multiple() -> None:
    a = 1000 * capital_recovery_factor(0.05, 10)
    assert vdi2067_capital_annuity_eur_per_a(1000, 10, 0.05) == pytest.approx(a)
    assert vdi2067_capital_annuity_eur_per_a(1000, 10, 0.05, period_a=20) == pytest.approx(a)
    assert vdi2067_capital_annuity_eur_per_a(1000, 10, 0.05, period_a=30) == pytest.approx(a)


def test_vdi2067_hand_case_with_residual_value() -> None:
    # T = 15, T_N = 10: one replacement at 10 a, half of it left at 15 a
    a1 = 1000 / 1.05**10  # 613.91
    rw = 1000 * 0.5 / 1.05**15  # 240.51
    expected = (1000 + a1 - rw) * capital_recovery_factor(0.05, 15)
    assert expected == pytest.approx(132.317, abs=1e-3)
    assert vdi2067_capital_annuity_eur_per_a(1000, 10, 0.05, period_a=15) == pytest.approx(expected)


@pytest.mark.parametrize(("tn", "t", "dp"), [(8, 20, 0.02), (10, 5, 0.0), (7, 30, 0.03), (12.5, 20, -0.01)])
def test_vdi2067_matches_explicit_cash_flows(tn: float, t: float, dp: float) -> None:
    q, r = 1.06, 1 + dp
    expected = _npv_capital(5000, tn, t, q, r) * capital_recovery_factor(q - 1, t)
    got = vdi2067_capital_annuity_eur_per_a(5000, tn, 0.06, period_a=t, price_change_per_a=dp)
    assert got == pytest.approx(expected)


def test_price_dynamic_factor() -> None:
    a = capital_recovery_factor(0.05, 10)
    assert price_dynamic_cash_value_factor(0.05, 0.0, 10) == pytest.approx(1 / a)
    # b is the sum of discounted escalating unit payments
    b = sum(1.02 ** (t - 1) / 1.05**t for t in range(1, 11))
    assert price_dynamic_cash_value_factor(0.05, 0.02, 10) == pytest.approx(b)
    # r = q: every term is 1/q
    assert price_dynamic_cash_value_factor(0.05, 0.05, 10) == pytest.approx(10 / 1.05)
    assert vdi2067_operating_annuity_eur_per_a(100.0, 0.05, 10) == pytest.approx(100.0)
    assert vdi2067_operating_annuity_eur_per_a(100.0, 0.05, 10, 0.02) == pytest.approx(100 * a * b)
    assert vdi2067_operating_annuity_eur_per_a(100.0, 0.05, 10, 0.02) > 100.0


def test_attribution_methods_hand_case() -> None:
    c, tot, imp = [2.0], [5.0], [2.5]
    assert attributed_grid_import_kw(c, tot, imp, "pro_rata")[0] == pytest.approx(1.0)
    assert attributed_grid_import_kw(c, tot, imp, "consumer_first")[0] == pytest.approx(0.0)
    assert attributed_grid_import_kw(c, tot, imp, "consumer_last")[0] == pytest.approx(2.0)
    with pytest.raises(ValueError, match="method must be"):
        attributed_grid_import_kw(c, tot, imp, "fifo")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="consumer_kw .* exceeds consumption_kw"):
        attributed_grid_import_kw([6.0], tot, imp)


def test_attribution_conserves_grid_import() -> None:
    """Consumer's share plus the rest's share equals the import that covered consumption."""
    rng = np.random.default_rng(11)
    n = 200
    c = rng.uniform(0, 3, n)
    rest = rng.uniform(0, 5, n)
    tot = c + rest
    imp = rng.uniform(0, 9, n)
    imp_eff = np.minimum(imp, tot)
    pr = attributed_grid_import_kw(c, tot, imp) + attributed_grid_import_kw(rest, tot, imp)
    np.testing.assert_allclose(pr, imp_eff, rtol=1e-12, atol=1e-12)
    fl = (attributed_grid_import_kw(c, tot, imp, "consumer_first")
          + attributed_grid_import_kw(rest, tot, imp, "consumer_last"))
    np.testing.assert_allclose(fl, imp_eff, rtol=1e-12, atol=1e-12)
    # bounds: consumer_first <= pro_rata <= consumer_last <= consumer
    lo = attributed_grid_import_kw(c, tot, imp, "consumer_first")
    mid = attributed_grid_import_kw(c, tot, imp, "pro_rata")
    hi = attributed_grid_import_kw(c, tot, imp, "consumer_last")
    assert np.all(lo <= mid + 1e-12) and np.all(mid <= hi + 1e-12) and np.all(hi <= c + 1e-12)


def test_attribution_keeps_series_index() -> None:
    idx = pd.date_range("2025-01-01", periods=2, freq="1h", tz="Europe/Berlin")
    out = attributed_grid_import_kw(pd.Series([1.0, 0.0], index=idx), pd.Series([2.0, 0.0], index=idx),
                                    pd.Series([1.0, 0.0], index=idx))
    assert isinstance(out, pd.Series) and out.index.equals(idx)
    assert out.tolist() == pytest.approx([0.5, 0.0])


def test_electricity_cost() -> None:
    # step 1: ely 2 of 5 kW, import 2.5 -> pro rata 1 kW import + 1 kW on site; step 2: ely 2 kW all PV
    cost = electricity_cost_eur([2.0, 2.0], [5.0, 2.0], [2.5, 0.0], 1.0, 0.30, onsite_eur_per_kwh=0.068)
    assert cost == pytest.approx(1 * 0.30 + 3 * 0.068)
    # hourly price series
    cost2 = electricity_cost_eur([2.0, 2.0], [2.0, 2.0], [2.0, 1.0], 1.0, [0.10, -0.05])
    assert cost2 == pytest.approx(2 * 0.10 + 1 * -0.05)
    with pytest.raises(ValueError, match="import_eur_per_kwh has 1 steps"):
        electricity_cost_eur([2.0, 2.0], [2.0, 2.0], [2.0, 1.0], 1.0, [0.10])


def test_lcoh_hand_case_and_breakdown() -> None:
    b = lcoh(100.0, capex_eur=10_000, crf=capital_recovery_factor(0.05, 10), fixed_om_eur_per_a=300,
             variable_om_eur_per_a=50, energy_eur_per_a=2000, by_product_revenue_eur_per_a=100)
    assert b.capital_eur_per_a == pytest.approx(1295.05, abs=0.01)
    assert b.total_eur_per_a == pytest.approx(3545.05, abs=0.01)
    assert b.lcoh_eur_per_kg == pytest.approx(35.4505, abs=1e-4)
    parts = b.per_kg()
    assert sum(parts.values()) == pytest.approx(b.lcoh_eur_per_kg)
    assert parts["by_product_revenue_eur_per_kg"] == pytest.approx(-1.0)
    d = b.as_dict()
    assert d["lcoh_eur_per_kg"] == b.lcoh_eur_per_kg and d["energy_eur_per_kg"] == pytest.approx(20.0)


def test_lcoh_zero_production_is_nan() -> None:
    b = lcoh(0.0, capex_eur=1000, crf=0.1)
    assert math.isnan(b.lcoh_eur_per_kg)
    assert b.total_eur_per_a == pytest.approx(100.0)


def test_lcoh_errors_name_argument() -> None:
    with pytest.raises(ValueError, match="m_h2_kg_per_a"):
        lcoh(-1.0, capex_eur=1000, crf=0.1)
    with pytest.raises(ValueError, match="by_product_revenue_eur_per_a"):
        lcoh(1.0, capex_eur=1000, crf=0.1, by_product_revenue_eur_per_a=-5)
    with pytest.raises(ValueError, match="costs must be"):
        lcoh_from_costs({"discount_rate": 0.05}, 1.0, 0.0)  # type: ignore[arg-type]


def test_lcoh_from_costs_lab_numbers() -> None:
    costs = Costs(
        discount_rate=0.05,
        electrolyser=ComponentCost(capex_eur=18_000, lifetime_a=10, opex_frac_per_a=0.03),
        storage=ComponentCost(capex_eur=12_000, lifetime_a=20),
        compressor=ComponentCost(capex_eur=15_000, lifetime_a=15, opex_frac_per_a=0.04),
        water_eur_per_kg_h2=0.05,
    )
    m, energy = 30.0, 500.0
    b = lcoh_from_costs(costs, m, energy)
    cap = 18_000 * 0.1295046 + 12_000 * 0.0802426 + 15_000 * 0.0963423
    fixed = 18_000 * 0.03 + 12_000 * 0.02 + 15_000 * 0.04
    assert b.capital_eur_per_a == pytest.approx(cap, rel=1e-6)
    assert b.capital_by_component_eur_per_a["storage"] == pytest.approx(962.91, abs=0.01)
    assert b.fixed_om_eur_per_a == pytest.approx(fixed)
    assert b.variable_om_eur_per_a == pytest.approx(1.5)
    assert b.lcoh_eur_per_kg == pytest.approx((cap + fixed + 1.5 + energy) / m, rel=1e-6)
    # common 20-year period: the electrolyser is bought twice, the compressor once plus a replacement
    b20 = lcoh_from_costs(costs, m, energy, period_a=20)
    own, common = b.capital_by_component_eur_per_a, b20.capital_by_component_eur_per_a
    assert common["electrolyser"] == pytest.approx(own["electrolyser"])
    assert common["storage"] == pytest.approx(own["storage"])
    # the compressor's replacement at 15 a keeps 2/3 residual value at 20 a, which is discounted
    assert common["compressor"] > own["compressor"]


def test_lcoh_from_costs_absent_components_cost_nothing() -> None:
    b = lcoh_from_costs(Costs(), 10.0, 100.0)
    assert b.capital_eur_per_a == 0.0 and b.capital_by_component_eur_per_a == {}
    assert b.lcoh_eur_per_kg == pytest.approx(10.0)
