"""Tables of the learning lab's classroom (``h2quarters.lab``), defined on the shared ``metadata``.

``lab_lessons``    a lesson: class, organisation, teacher, exercises, join code, state, speed, school year
``lab_groups``     the groups of a lesson; each runs its own in-process exercise plant (never the pilot)
``lab_learners``   pseudonyms that joined a lesson (no account, no personal data), unique per lesson
``lab_events``     append-only record of every lesson action (measurement, answer, hint, setpoint, fault, speed,
                   freeze, snapshot, restore ...) with wall and plant time: results, heat map and restore read it
``lab_snapshots``  plant states of a group (``manual`` on demand, ``auto`` backtracks: the last 20 kept)
"""

from __future__ import annotations

import sqlalchemy as sa

from h2quarters.store.schema import metadata

lab_lessons = sa.Table(
    "lab_lessons", metadata,
    sa.Column("lesson_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("code", sa.String(12), nullable=False, unique=True),
    sa.Column("class_name", sa.String(80), nullable=False),
    sa.Column("organisation", sa.String(120), nullable=False, server_default=""),
    sa.Column("teacher", sa.String(64), nullable=False),
    sa.Column("exercises", sa.Text, nullable=False),  # JSON list of exercise ids
    sa.Column("start_state", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),  # created | running | frozen | closed
    sa.Column("speed", sa.Double, nullable=False),
    sa.Column("backtrack_every_s", sa.Integer, nullable=False),
    sa.Column("revealed", sa.Boolean, nullable=False, server_default=sa.false()),
    sa.Column("school_year", sa.String(9), nullable=False),  # 2026/27 (1 August .. 31 July)
    sa.Column("t_created_ms", sa.BigInteger, nullable=False),
    sa.Column("t_started_ms", sa.BigInteger, nullable=True),
    sa.Column("t_closed_ms", sa.BigInteger, nullable=True),
    sa.Column("t_expires_ms", sa.BigInteger, nullable=False),  # joining is refused after this
)

lab_groups = sa.Table(
    "lab_groups", metadata,
    sa.Column("group_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lesson_id", sa.Integer, sa.ForeignKey("lab_lessons.lesson_id"), nullable=False),
    sa.Column("name", sa.String(40), nullable=False),
    sa.Column("seed", sa.Integer, nullable=False),
)
sa.Index("ix_lab_groups_lesson", lab_groups.c.lesson_id)

lab_learners = sa.Table(
    "lab_learners", metadata,
    sa.Column("learner_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lesson_id", sa.Integer, sa.ForeignKey("lab_lessons.lesson_id"), nullable=False),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("lab_groups.group_id"), nullable=False),
    sa.Column("pseudonym", sa.String(40), nullable=False),
    sa.Column("secret", sa.String(64), nullable=False),  # the learner's lesson-scoped token id
    sa.Column("t_joined_ms", sa.BigInteger, nullable=False),
    sa.UniqueConstraint("lesson_id", "pseudonym", name="uq_lab_learner_pseudonym"),
)

lab_events = sa.Table(
    "lab_events", metadata,
    sa.Column("event_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lesson_id", sa.Integer, sa.ForeignKey("lab_lessons.lesson_id"), nullable=False),
    sa.Column("group_id", sa.Integer, nullable=True),
    sa.Column("learner_id", sa.Integer, nullable=True),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("plant_t_s", sa.Double, nullable=True),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("exercise_id", sa.String(16), nullable=True),
    sa.Column("quantity_id", sa.String(48), nullable=True),
    sa.Column("score", sa.Double, nullable=True),
    sa.Column("code", sa.String(32), nullable=True),
    sa.Column("mistake_id", sa.String(48), nullable=True),
    sa.Column("data", sa.Text, nullable=False, server_default="{}"),  # JSON
)
sa.Index("ix_lab_events_lesson", lab_events.c.lesson_id, lab_events.c.event_id)
sa.Index("ix_lab_events_learner", lab_events.c.learner_id, lab_events.c.event_id)  # a learner's page polls this

lab_snapshots = sa.Table(
    "lab_snapshots", metadata,
    sa.Column("snapshot_id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("lesson_id", sa.Integer, sa.ForeignKey("lab_lessons.lesson_id"), nullable=False),
    sa.Column("group_id", sa.Integer, sa.ForeignKey("lab_groups.group_id"), nullable=False),
    sa.Column("t_ms", sa.BigInteger, nullable=False),
    sa.Column("plant_t_s", sa.Double, nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # manual | auto
    sa.Column("label", sa.String(80), nullable=False, server_default=""),
    sa.Column("data", sa.LargeBinary, nullable=False),  # zlib(pickle) of the group's plant, shared parts by name
)
sa.Index("ix_lab_snapshots_group", lab_snapshots.c.group_id, lab_snapshots.c.snapshot_id)
