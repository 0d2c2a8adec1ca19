"""Tables of the KPI monitoring (``h2quarters.monitoring``), defined on the shared ``metadata``.

``kpi_daily``               per signal and local (Europe/Berlin) day: Σ minute means, Σ positive minute means,
                            minutes with data, minutes whose maximum was not 0 — energies are Σ/60 (kWh for kW)
``kpi_monthly``             the same per calendar month (``month`` = year·100 + month), rolled up from the days
``kpi_agg_state``           key → integer (watermark of the aggregation, newest data time)
``kpi_values``              hand-entered and counted values, append-only; a correction supersedes an older row
``kpi_catalogue_versions``  every catalogue version with who and when
"""

from __future__ import annotations

import sqlalchemy as sa

from h2quarters.store.schema import metadata

kpi_daily = sa.Table(
    "kpi_daily", metadata,
    sa.Column("signal_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("day", sa.Integer, primary_key=True, autoincrement=False),  # date.toordinal() of the local day
    sa.Column("sum_mean", sa.Double, nullable=False),
    sa.Column("sum_pos", sa.Double, nullable=False),
    sa.Column("n_min", sa.Integer, nullable=False),
    sa.Column("n_nonzero", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

kpi_monthly = sa.Table(
    "kpi_monthly", metadata,
    sa.Column("signal_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("month", sa.Integer, primary_key=True, autoincrement=False),  # year * 100 + month
    sa.Column("sum_mean", sa.Double, nullable=False),
    sa.Column("sum_pos", sa.Double, nullable=False),
    sa.Column("n_min", sa.Integer, nullable=False),
    sa.Column("n_nonzero", sa.Integer, nullable=False),
    sqlite_with_rowid=False,
)

kpi_agg_state = sa.Table(
    "kpi_agg_state", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.BigInteger, nullable=False),
)

kpi_values = sa.Table(
    "kpi_values", metadata,
    sa.Column("value_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kpi_id", sa.String(48), nullable=False),
    sa.Column("day", sa.Integer, nullable=False),  # date.toordinal() the value belongs to
    sa.Column("value", sa.Double, nullable=False),
    sa.Column("reason", sa.Text, nullable=False, server_default=""),
    sa.Column("source", sa.String(16), nullable=False),  # manual | counted
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("t_entered_ms", sa.BigInteger, nullable=False),
    sa.Column("supersedes", sa.Integer, nullable=True),
)
sa.Index("ix_kpi_values_kpi_day", kpi_values.c.kpi_id, kpi_values.c.day)

kpi_catalogue_versions = sa.Table(
    "kpi_catalogue_versions", metadata,
    sa.Column("version_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("user_name", sa.String(64), nullable=False),
    sa.Column("origin", sa.String(16), nullable=False),  # package | upload
    sa.Column("sha256", sa.String(64), nullable=False),
    sa.Column("comment", sa.Text, nullable=False, server_default=""),
    sa.Column("text", sa.Text, nullable=False),
)
