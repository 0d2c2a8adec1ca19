"""The database schema (SQLAlchemy Core): one ``MetaData`` for SQLite and PostgreSQL alike.

Times are integer milliseconds since the Unix epoch (``t_ms``, UTC): integer division buckets them identically in
both databases (``t_ms / 60000 * 60000`` is the minute), which keeps resampling and downsampling in SQL.

Tables
------
``signals``            name ↔ small integer id, unit (measurements refer to the id)
``measurements``       raw values per control cycle: (signal_id, t_ms) → value, quality
``measurements_1min``  downsampled history: mean/min/max/n per signal and minute (kept for years)
``commands``           the audit row, committed *before* a command is sent (user, role, id, value, time, source)
``command_results``    the result row, written after the command was sent; missing after a crash → "unknown"
``alarms``             raised/cleared/acknowledged alarms
``users``              accounts with argon2 hashes and a role
``sessions``           server-side sessions (token id, user, expiry, revocation): logout revokes at once
``plans``/``forecasts``  plans of the optimiser and PV forecasts as JSON column tables
``meta``               key/value (e.g. the token signing secret)
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

signals = sa.Table(
    "signals", metadata,
    sa.Column("signal_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("name", sa.String(64), nullable=False, unique=True),
    sa.Column("unit", sa.String(16), nullable=False, server_default=""),
)

measurements = sa.Table(
    "measurements", metadata,
    sa.Column("signal_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("t_ms", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("value", sa.Double, nullable=True),  # None when the quality is not GOOD: never a stale value
    sa.Column("quality", sa.SmallInteger, nullable=False),
    sqlite_with_rowid=False,  # clustered on the primary key: no second b-tree of rowids
)
sa.Index("ix_measurements_t", measurements.c.t_ms)

measurements_1min = sa.Table(
    "measurements_1min", metadata,
    sa.Column("signal_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("t_ms", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("mean", sa.Double, nullable=True),
    sa.Column("min", sa.Double, nullable=True),
    sa.Column("max", sa.Double, nullable=True),
    sa.Column("n_good", sa.Integer, nullable=False),
    sa.Column("n", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

commands = sa.Table(
    "commands", metadata,
    sa.Column("command_id", sa.String(64), primary_key=True),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("source", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False),
    sa.Column("target", sa.String(64), nullable=False),
    sa.Column("value", sa.Text, nullable=False),  # JSON
)
sa.Index("ix_commands_t", commands.c.t_ms)

command_results = sa.Table(
    "command_results", metadata,
    sa.Column("command_id", sa.String(64), sa.ForeignKey("commands.command_id"), primary_key=True),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # ok | refused | failed | unknown
    sa.Column("detail", sa.Text, nullable=False, server_default=""),
    # the result as a message code with parameters (JSON), so pages word it in their language
    sa.Column("code", sa.String(64), nullable=False, server_default=""),
    sa.Column("params", sa.Text, nullable=True),
)

alarms = sa.Table(
    "alarms", metadata,
    sa.Column("alarm_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(64), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),  # info | warning | alarm | trip
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("t_raised_ms", sa.BigInteger, nullable=False),
    sa.Column("t_cleared_ms", sa.BigInteger, nullable=True),
    sa.Column("t_acked_ms", sa.BigInteger, nullable=True),
    sa.Column("acked_by", sa.String(64), nullable=True),
    sa.Column("params", sa.Text, nullable=True),  # JSON parameters of the message code (translated in the HMI)
)
sa.Index("ix_alarms_code_open", alarms.c.code, alarms.c.t_cleared_ms)

users = sa.Table(
    "users", metadata,
    sa.Column("name", sa.String(64), primary_key=True),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("pw_hash", sa.Text, nullable=False),
    sa.Column("t_created_ms", sa.BigInteger, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, server_default=sa.true()),
)

sessions = sa.Table(
    "sessions", metadata,
    sa.Column("sid", sa.String(32), primary_key=True),  # the token's jti
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("t_issued_ms", sa.BigInteger, nullable=False),
    sa.Column("t_expires_ms", sa.BigInteger, nullable=False),
    sa.Column("t_revoked_ms", sa.BigInteger, nullable=True),
)
sa.Index("ix_sessions_user", sessions.c.user_name)

plans = sa.Table(
    "plans", metadata,
    sa.Column("plan_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("t_created_ms", sa.BigInteger, nullable=False),
    sa.Column("t_start_ms", sa.BigInteger, nullable=False),
    sa.Column("dt_s", sa.Integer, nullable=False),
    sa.Column("n_steps", sa.Integer, nullable=False),
    sa.Column("status", sa.String(32), nullable=False),
    sa.Column("solve_s", sa.Double, nullable=False),
    sa.Column("data", sa.Text, nullable=False),  # JSON {column: [values]}
)
sa.Index("ix_plans_created", plans.c.t_created_ms)

forecasts = sa.Table(
    "forecasts", metadata,
    sa.Column("forecast_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("t_created_ms", sa.BigInteger, nullable=False),
    sa.Column("t_start_ms", sa.BigInteger, nullable=False),
    sa.Column("dt_s", sa.Integer, nullable=False),
    sa.Column("provider", sa.String(64), nullable=False),
    sa.Column("pv_kw", sa.Text, nullable=False),  # JSON list, one value per step
    sa.Column("persistence_kw", sa.Double, nullable=True),  # measured PV at issue time (persistence reference)
)
sa.Index("ix_forecasts_created", forecasts.c.t_created_ms)

meta = sa.Table(
    "meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)
from h2quarters.store import schema_monitoring as _schema_monitoring  # noqa: E402,F401  (KPI monitoring tables)
from h2quarters.store import schema_lab as _schema_lab  # noqa: E402,F401  (learning-lab classroom tables)
from h2quarters.store import schema_planning as _schema_planning  # noqa: E402,F401  (planners' workspace)
