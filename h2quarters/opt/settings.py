"""Settings of the dispatch optimiser that are not part of a site's scenario.

The scenario (``h2quarters.config.scenario``) says what the plant *is*; these settings say how the optimiser
*plans* with it: what it minimises, how much a cold start or an unmet requirement is worth, how long its
horizons are and how hard HiGHS should try.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator


class OptSettings(BaseModel):
    """Optimiser settings (objective, commitment rules, terminal values, horizons, solver).

    Unknown keys are errors so that a typo is reported rather than silently ignored.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    # --- objective -------------------------------------------------------------------------------------
    objective: Literal["cost", "co2", "weighted"] = Field(
        "cost",
        description="What is minimised: operating cost (EUR), grid+gas CO2 (kg), or cost + co2_price × CO2.",
    )
    co2_price_eur_per_t: Annotated[float, Field(ge=0.0, le=10_000.0)] = Field(
        100.0, description="CO2 price used by objective='weighted' (EUR per tonne CO2).")
    cost_tiebreak_in_co2_mode: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        1e-3, description="Weight of cost (EUR) next to CO2 (kg) in objective='co2', to break ties.")

    # --- electrolyser commitment ------------------------------------------------------------------------
    startup_cost_eur: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        0.5, description="Cost of one cold start (off → standby/producing): wear, purge gas, operator time (EUR).")
    min_up_h: Annotated[float, Field(ge=0.0, le=168.0)] = Field(
        0.0, description="Minimum producing time once production starts (h); rounded up to whole steps.")
    min_down_h: Annotated[float, Field(ge=0.0, le=168.0)] = Field(
        0.0, description="Minimum time switched off once switched off (h); rounded up to whole steps.")

    # --- values at the end of a horizon ---------------------------------------------------------------
    terminal_h2_eur_per_kg: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        4.0, description="Value of hydrogen left in the tank at the end of a horizon (EUR/kg); keeps a horizon "
                         "from emptying the tank. Default ≈ 16 kWh of fuel-cell power at 0.25 EUR/kWh.")
    terminal_h2_co2_kg_per_kg: Annotated[float, Field(ge=0.0, le=100.0)] = Field(
        6.0, description="CO2 credit of hydrogen left in the tank for objective='co2' (kg CO2 per kg H2).")
    terminal_battery_eur_per_kwh: Annotated[float, Field(ge=0.0, le=10.0)] = Field(
        0.10, description="Value of energy left in the battery at the end of a horizon (EUR/kWh).")
    terminal_battery_co2_kg_per_kwh: Annotated[float, Field(ge=0.0, le=2.0)] = Field(
        0.15, description="CO2 credit of energy left in the battery for objective='co2' (kg/kWh).")

    # --- penalties that make infeasible requests explainable ------------------------------------------
    penalty_h2_unmet_eur_per_kg: Annotated[float, Field(gt=0.0)] = Field(
        1000.0, description="Penalty for hydrogen demand that cannot be delivered (EUR/kg).")
    penalty_load_unmet_eur_per_kwh: Annotated[float, Field(gt=0.0)] = Field(
        100.0, description="Penalty for electrical load that cannot be served (EUR/kWh).")
    penalty_h2_vent_eur_per_kg: Annotated[float, Field(gt=0.0)] = Field(
        200.0, description="Penalty for hydrogen that must be vented because the tank is full (EUR/kg).")

    battery_exclusive: Literal["binary", "lp"] = Field(
        "binary", description="'binary' forbids simultaneous charge and discharge with a binary per step; 'lp' "
                              "relaxes it (exact whenever stored energy never has negative value, i.e. "
                              "non-negative prices; schedules are checked and a violation is reported).")

    # --- heat ------------------------------------------------------------------------------------------
    boiler_eta: Annotated[float, Field(gt=0.3, le=1.1)] = Field(
        0.92, description="Efficiency of the gas boiler that covers heat the fuel cell does not (heat/gas).")

    # --- horizons --------------------------------------------------------------------------------------
    mpc_horizon_h: Annotated[float, Field(gt=0.0, le=168.0)] = Field(48.0, description="MPC horizon (h).")
    mpc_step: Literal["15min", "1h"] = Field("15min", description="MPC time step.")
    mpc_replan_steps: Annotated[int, Field(ge=1, le=96)] = Field(
        1, description="Re-plan every this many steps; in between the plan is followed.")
    annual_window_h: Annotated[int, Field(ge=24, le=8760)] = Field(
        48, description="Rolling annual planning: window length (h).")
    annual_commit_h: Annotated[int, Field(ge=1, le=8760)] = Field(
        24, description="Rolling annual planning: hours committed per window (window − commit = overlap).")
    stochastic_first_stage_steps: Annotated[int, Field(ge=1, le=96)] = Field(
        1, description="Two-stage MPC: steps whose decisions are shared by all PV scenarios.")
    pv_spread_frac: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.35, description="Two-stage MPC: relative P90−P50 (and P50−P10) spread of the PV forecast after "
                          "24 h; grows linearly from 0 at the first step.")

    # --- solver ----------------------------------------------------------------------------------------
    mip_rel_gap: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        1e-4, description="HiGHS relative MIP gap for one-shot plans (day-ahead, annual).")
    mpc_mip_rel_gap: Annotated[float, Field(ge=0.0, le=1.0)] = Field(
        0.01, description="HiGHS relative MIP gap for MPC re-plans (each plan is superseded a step later).")
    mpc_time_limit_s: Annotated[float, Field(gt=0.0, le=3600.0)] = Field(
        30.0, description="Wall-clock safety per MPC re-plan after the first (s). Re-plans are limited by work "
                          "(mpc_max_nodes, the gaps), not by time, so that the same inputs give the same plan "
                          "on a busy machine; this cap only guards against a pathological case and every re-plan "
                          "it stops is reported (status 'time_limit_feasible'; the plan kept is at least as good "
                          "as the previous one shifted, which is given to HiGHS as a feasible start).")
    mpc_max_nodes: Annotated[int, Field(ge=1, le=10_000_000)] = Field(
        500, description="Branch-and-bound nodes per MPC re-plan after the first (a work limit: deterministic, "
                         "unlike a time limit). A re-plan that stops here keeps its best plan (status "
                         "'work_limit_feasible').")
    mpc_mip_abs_gap: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        0.10, description="Absolute MIP gap of MPC re-plans in objective units (EUR with objective='cost'): a "
                          "re-plan stops once its plan is proven within this many EUR of the optimum, or within "
                          "mpc_mip_rel_gap, whichever comes first. A relative gap alone is hard to prove when "
                          "the objective is a few euros or mostly an uncontrollable load cost. 0.10 EUR per 48 h "
                          "plan is about the electrolyser's fractional start-up cost the LP relaxation leaves "
                          "(June, 24 h closed loop: 0.02 → 15 of 96 re-plans capped by the clock and 0.113 EUR "
                          "more realised cost; 0.10 → 0 capped).")
    mpc_presolve: bool = Field(
        False, description="HiGHS presolve in MPC re-plans. Measured on the school's 192-step plans (closed "
                           "loop, warm start): off 54 ms median, on 83 ms — presolve costs more than it saves "
                           "once the hull cuts make the root LP nearly integral.")
    mpc_feasibility_jump: bool = Field(
        False, description="HiGHS' feasibility-jump heuristic in warm-started MPC re-plans. The shifted previous "
                           "plan already is an incumbent; the heuristic costs ≈60 ms per re-plan and rarely "
                           "beats it. The first (cold) plan always runs it.")
    mpc_sub_mip_heuristics: bool = Field(
        False, description="HiGHS' sub-MIP and LP-based heuristics (RINS, RENS, root reduced cost; "
                           "mip_heuristic_effort) in warm-started MPC re-plans. With an accepted start they rarely "
                           "improve on it but were most of a re-plan's work: on a June re-plan 4.6 of 5.9 thousand "
                           "LP iterations and 7.3 → 1.1 s CPU without them (same plan, same proven gap). The first "
                           "(cold) plan, and a re-plan whose start was rejected, always run them.")
    mpc_lp_first: bool = Field(
        True, description="MPC re-plans: solve the LP relaxation first (a second HiGHS instance, warm-started "
                          "from its previous basis); if the shifted previous plan, or the LP with its binaries "
                          "rounded and completed, is within the MIP gap (mpc_mip_abs_gap or mpc_mip_rel_gap) of "
                          "the LP bound, it is the re-plan — proven within the gap without a MIP run (counted "
                          "as 'n_lp_accepted'); otherwise the MIP runs from the better of the two.")
    mpc_integer_h: Annotated[float, Field(gt=0.0, le=168.0)] | None = Field(
        6.0, description="MPC re-plans: hours from the horizon start in which commitment decisions stay binary; "
                         "later steps are relaxed to the LP (only the first steps are applied before the next "
                         "re-plan; the tail only values the future). None: the whole horizon is binary. With "
                         "mpc_lp_first the LP relaxation of such a re-plan is mostly integral already, so it is "
                         "the plan without a MIP run (school, 15 min, 48 h horizon, one week closed loop each, "
                         "against all 48 h binary: CPU median January 0.16 → 0.07 s, June 0.14 → 0.05 s; realised cost January "
                         "+0.33 EUR (+0.3 %, within the re-plans' 1 % gap), June −0.30 EUR). The steps executed "
                         "before the next re-plan are always binary. Figures: benchmarks/opt_README.md, session 6.")
    mip_abs_gap: Annotated[float, Field(ge=0.0, le=1e6)] = Field(
        1e-6, description="Absolute MIP gap of one-shot plans in objective units (EUR with objective='cost'): "
                          "HiGHS stops once the plan is proven within mip_rel_gap or within this many EUR of the "
                          "optimum, whichever comes first. Default: HiGHS' own (the relative gap governs).")
    time_limit_s: Annotated[float, Field(gt=0.0, le=86_400.0)] = Field(
        300.0, description="HiGHS wall-clock safety for one-shot plans and the first MPC plan (s); a plan it "
                           "stops is reported with its gap.")
    threads: Annotated[int, Field(ge=1, le=64)] = Field(1, description="HiGHS threads.")
    reserve_memory_cut: Literal["auto", "on", "off"] = Field(
        "auto", description="The fuel-cell reserve-memory cut (valid; tightens the LP where the fuel cell runs "
                            "down to its reserve). 'auto' adds it to horizons up to 2000 steps: it took winter "
                            "MPC re-plans from the 2 s cap to 1.2 s, but slowed the annual plan 39 → 66 s.")
    fc_hull_rows: Literal["auto", "on", "off"] = Field(
        "off", description="The fuel cell's hull rows (one row per chord, reserve big-M from the reserve floor; "
                           "valid, they tighten only the LP relaxation); 'auto' adds them to horizons up to 2000 "
                           "steps. Off by default: on the January week they raised the LP bound from 106.26 to "
                           "106.44 EUR (optimum 106.53) but the day-ahead plan then took 199 s CPU instead of 70 s "
                           "— the branch and bound over the electrolyser's start-ups took a longer path "
                           "(benchmarks/opt_README.md, session 6).")
    lp_guided_start: Literal["auto", "on", "off"] = Field(
        "auto", description="One-shot plans: solve the LP relaxation, fix the binaries it already sets to 0/1, "
                            "solve that small MILP (a RENS dive done once, before the search) and return its plan "
                            "if the LP bound proves it within the gap, else hand it to HiGHS as the starting "
                            "incumbent. 'auto' does it from 5000 binaries on (the annual plan: 131 s → 39 s "
                            "measured); small models do not need it.")
    handoff: Literal["matrix", "persistent"] = Field(
        "matrix", description="How a one-shot model reaches HiGHS: 'matrix' compiles Pyomo's standard form to "
                             "sparse arrays and passes them to highspy in one call (fast); 'persistent' uses "
                             "Pyomo's persistent HiGHS interface (used by the MPC).")

    @model_validator(mode="after")
    def _windows(self) -> OptSettings:
        if self.annual_commit_h > self.annual_window_h:
            raise ValueError(f"annual_commit_h ({self.annual_commit_h}) must not exceed annual_window_h "
                             f"({self.annual_window_h})")
        return self
