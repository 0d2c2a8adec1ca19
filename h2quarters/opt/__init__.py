"""Dispatch optimisation: a Pyomo MILP solved with HiGHS (highspy, in-process).

Modules
-------
settings   ``OptSettings``: objective, start-up cost, minimum up/down times, terminal values, penalties,
           horizons, solver gap/time limit (everything that is not part of a site's scenario).
plant      ``PlantParams.from_scenario``: the numbers the MILP needs, taken from the physical models
           (electrolyser piecewise curve and its error, tank window, compressor work, fuel-cell curve).
model      ``build_model``: the MILP over index sets with mutable Params; ``set_inputs``/``set_initial_state``.
solve      hand-off to HiGHS: ``matrix`` (standard-form arrays → ``highspy.passModel``) or Pyomo's
           persistent interface.
direct     ``DirectHighs``: compiled once, re-parameterised with numpy (the fast MPC path).
plan       ``plan``: one-shot optimisation (day-ahead, monolithic annual) → ``PlanResult``.
mpc        ``RollingMPC`` (one persistent model + solver) and ``run_closed_loop``.
annual     rolling annual planning with overlap and its comparison with the monolithic plan.
stochastic two-stage P10/P50/P90 MPC against the deterministic MPC on the same realised PV.
results    schedules as labelled DataFrames, summaries, and unmet requirements explained in words.

Example
-------
>>> from h2quarters.config import load_scenario                          # doctest: +SKIP
>>> from h2quarters.opt.plant import PlantParams
>>> from h2quarters.opt.plan import plan
>>> from h2quarters.sim.inputs import site_inputs
>>> sc = load_scenario("scenarios/oskar-von-miller")
>>> res = plan(PlantParams.from_scenario(sc), site_inputs(sc, "2025-06-02", "2025-06-04", "15min"))
>>> res.schedule[["ely_state", "ely_p_stack_kw", "tank_m_end_kg"]]; res.messages
"""
