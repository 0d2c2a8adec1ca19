"""Tables of the planners' workspace (``h2quarters.jobs``), defined on the shared ``metadata``.

``plan_scenarios``     a planner's copy of a shipped scenario: its YAML files as one JSON object, owner-scoped
``plan_jobs``          background jobs (simulate, quarter simulate, quarter study): status, settings, progress,
                       the finished result (KPI tables as JSON) and the HTML report
``plan_job_variants``  one row per variant of a job: status and KPIs (a resumed job skips the finished rows)
"""

from __future__ import annotations

import sqlalchemy as sa

from h2quarters.store.schema import metadata

plan_scenarios = sa.Table(
    "plan_scenarios", metadata,
    sa.Column("scenario_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("name", sa.String(80), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),  # site | quarter
    sa.Column("base", sa.String(64), nullable=False),  # the shipped scenario it was copied from
    sa.Column("files", sa.Text, nullable=False),  # JSON {file name: YAML text}
    sa.Column("t_created_ms", sa.BigInteger, nullable=False),
    sa.Column("t_updated_ms", sa.BigInteger, nullable=False),
)
sa.Index("ix_plan_scenarios_owner", plan_scenarios.c.owner)

plan_jobs = sa.Table(
    "plan_jobs", metadata,
    sa.Column("job_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(24), nullable=False),  # simulate | quarter_simulate | quarter_study
    sa.Column("title", sa.String(120), nullable=False),
    sa.Column("scenario", sa.Text, nullable=False),  # JSON {name, kind, base, files} frozen at submission
    sa.Column("params", sa.Text, nullable=False),  # JSON (period, dispatch, vary ...)
    sa.Column("status", sa.String(16), nullable=False),  # queued|running|done|failed|cancelled|interrupted
    sa.Column("message", sa.Text, nullable=False, server_default=""),
    sa.Column("shared", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("n_variants", sa.Integer, nullable=False),
    sa.Column("t_created_ms", sa.BigInteger, nullable=False),
    sa.Column("t_started_ms", sa.BigInteger, nullable=True),
    sa.Column("t_finished_ms", sa.BigInteger, nullable=True),
    sa.Column("result", sa.Text, nullable=True),  # JSON: table, Pareto, KPIs
    sa.Column("report_html", sa.Text, nullable=True),
)
sa.Index("ix_plan_jobs_owner", plan_jobs.c.owner, plan_jobs.c.t_created_ms)

plan_job_variants = sa.Table(
    "plan_job_variants", metadata,
    sa.Column("job_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("variant", sa.String(200), primary_key=True),
    sa.Column("overrides", sa.Text, nullable=False),  # JSON {name: value}
    sa.Column("status", sa.String(16), nullable=False),  # queued | running | done | failed
    sa.Column("t_started_ms", sa.BigInteger, nullable=True),
    sa.Column("t_finished_ms", sa.BigInteger, nullable=True),
    sa.Column("kpis", sa.Text, nullable=True),  # JSON
    sa.Column("message", sa.Text, nullable=False, server_default=""),
)
