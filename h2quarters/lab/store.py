"""Durable side of the classroom: lessons, groups, learners, events and plant snapshots in the shared store.

Every function is one short transaction on :class:`h2quarters.store.Store` (SQLite WAL or PostgreSQL). Snapshots
are the group plant pickled with the scenario's shared, read-only parts (register map, PV/load profile,
compressor table, scenario) replaced by their names, so a snapshot is ~100 kB and loads into the current process's
shared parts. Only this server writes them into its own database (the same trust boundary as the password hashes
in it); a snapshot is never accepted from a client.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import pickle
import zlib
from typing import Any

import sqlalchemy as sa

from h2quarters.store import Store
from h2quarters.store import schema_lab as L
from h2quarters.store.store import now_ms

KEEP_AUTO = 20
"""Automatic backtracks kept per group (older ones are deleted)."""


def school_year(t_ms: int) -> str:
    """School year of a time: 1 August .. 31 July (Hesse), e.g. ``2026/27``."""
    d = dt.datetime.fromtimestamp(t_ms / 1000, dt.timezone.utc).date()
    y = d.year if d.month >= 8 else d.year - 1
    return f"{y}/{(y + 1) % 100:02d}"


def token_hash(token: str) -> str:
    """What the store keeps of a learner's token (a leaked database does not hand out sessions)."""
    return hashlib.sha256(token.encode()).hexdigest()


# ====================================================================== lessons
def insert_lesson(store: Store, row: dict[str, Any], groups: list[tuple[str, int]]) -> tuple[int, list[int]]:
    """Insert a lesson and its groups in one transaction; returns (lesson id, group ids)."""
    with store.w.begin() as c:
        lid = int(c.execute(L.lab_lessons.insert().values(**row)).inserted_primary_key[0])  # type: ignore[index]
        gids = [int(c.execute(L.lab_groups.insert().values(lesson_id=lid, name=n, seed=s))
                    .inserted_primary_key[0]) for n, s in groups]  # type: ignore[index]
    return lid, gids


def update_lesson(store: Store, lesson_id: int, **values: Any) -> None:
    """Update columns of a lesson."""
    with store.w.begin() as c:
        c.execute(L.lab_lessons.update().where(L.lab_lessons.c.lesson_id == lesson_id).values(**values))


def lesson_row(store: Store, lesson_id: int | None = None, code: str | None = None) -> dict[str, Any] | None:
    """One lesson by id or join code (``exercises`` decoded)."""
    t = L.lab_lessons
    q = sa.select(t).where(t.c.lesson_id == lesson_id) if lesson_id is not None else \
        sa.select(t).where(t.c.code == code)
    with store.r.connect() as c:
        r = c.execute(q).first()
    return None if r is None else _lesson(r)


def _lesson(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    d["exercises"] = json.loads(d["exercises"])
    return d


def lessons(store: Store, teacher: str | None = None, status: tuple[str, ...] | None = None,
            limit: int = 200) -> list[dict[str, Any]]:
    """Lessons, newest first (of one teacher and/or in some states)."""
    t = L.lab_lessons
    q = sa.select(t).order_by(t.c.lesson_id.desc()).limit(limit)
    if teacher is not None:
        q = q.where(t.c.teacher == teacher)
    if status is not None:
        q = q.where(t.c.status.in_(status))
    with store.r.connect() as c:
        return [_lesson(r) for r in c.execute(q)]


def groups(store: Store, lesson_id: int) -> list[dict[str, Any]]:
    """Groups of a lesson in creation order."""
    g = L.lab_groups
    with store.r.connect() as c:
        return [dict(r._mapping) for r in c.execute(sa.select(g).where(g.c.lesson_id == lesson_id)
                                                    .order_by(g.c.group_id))]


# ====================================================================== learners
def insert_learner(store: Store, lesson_id: int, group_id: int, pseudonym: str, token: str) -> int | None:
    """Add a learner; None if the pseudonym is taken in this lesson."""
    from sqlalchemy.exc import IntegrityError

    try:
        with store.w.begin() as c:
            res = c.execute(L.lab_learners.insert().values(lesson_id=lesson_id, group_id=group_id,
                                                           pseudonym=pseudonym, secret=token_hash(token),
                                                           t_joined_ms=now_ms()))
            return int(res.inserted_primary_key[0])  # type: ignore[index]
    except IntegrityError:
        return None


def learners(store: Store, lesson_id: int) -> list[dict[str, Any]]:
    """Learners of a lesson in join order (without token hashes)."""
    t = L.lab_learners
    with store.r.connect() as c:
        return [{k: v for k, v in r._mapping.items() if k != "secret"}
                for r in c.execute(sa.select(t).where(t.c.lesson_id == lesson_id).order_by(t.c.learner_id))]


def learner_by_token(store: Store, token: str) -> dict[str, Any] | None:
    """The learner whose token this is."""
    t = L.lab_learners
    with store.r.connect() as c:
        r = c.execute(sa.select(t).where(t.c.secret == token_hash(token))).first()
    return None if r is None else {k: v for k, v in r._mapping.items() if k != "secret"}


# ====================================================================== events
def add_event(store: Store, lesson_id: int, kind: str, group_id: int | None = None, learner_id: int | None = None,
              plant_t_s: float | None = None, exercise_id: str | None = None, quantity_id: str | None = None,
              score: float | None = None, code: str | None = None, mistake_id: str | None = None,
              data: dict[str, Any] | None = None, t_ms: int | None = None) -> int:
    """Append one event (returns its id)."""
    with store.w.begin() as c:
        res = c.execute(L.lab_events.insert().values(
            lesson_id=lesson_id, group_id=group_id, learner_id=learner_id, t_ms=now_ms() if t_ms is None else t_ms,
            plant_t_s=plant_t_s, kind=kind, exercise_id=exercise_id, quantity_id=quantity_id, score=score,
            code=code, mistake_id=mistake_id, data=json.dumps(data or {}, default=str)))
        return int(res.inserted_primary_key[0])  # type: ignore[index]


def events(store: Store, lesson_id: int, kinds: tuple[str, ...] | None = None,
           learner_id: int | None = None) -> list[dict[str, Any]]:
    """Events of a lesson in order (``data`` decoded)."""
    t = L.lab_events
    q = sa.select(t).where(t.c.lesson_id == lesson_id).order_by(t.c.event_id) if learner_id is None else \
        sa.select(t).where(t.c.learner_id == learner_id, t.c.lesson_id == lesson_id).order_by(t.c.event_id)
    if kinds is not None:
        q = q.where(t.c.kind.in_(kinds))
    with store.r.connect() as c:
        out = []
        for r in c.execute(q):
            d = dict(r._mapping)
            d["data"] = json.loads(d["data"] or "{}")
            out.append(d)
        return out


# ====================================================================== snapshots
class _Pickler(pickle.Pickler):
    def __init__(self, f: io.BytesIO, shared: dict[int, str]) -> None:
        super().__init__(f, protocol=5)
        self.shared = shared

    def persistent_id(self, obj: Any) -> str | None:  # noqa: D102 - pickle hook
        return self.shared.get(id(obj))


class _Unpickler(pickle.Unpickler):
    def __init__(self, f: io.BytesIO, objs: dict[str, Any]) -> None:
        super().__init__(f)
        self.objs = objs

    def persistent_load(self, pid: Any) -> Any:  # noqa: D102 - pickle hook
        if pid not in self.objs:
            raise pickle.UnpicklingError(f"snapshot refers to unknown shared part {pid!r}")
        return self.objs[pid]


def _shared(plant: Any) -> dict[str, Any]:
    from h2quarters.training.plant import _scenario, _shared_parts

    rmap, profile, comp, no_comp = _shared_parts(plant.setup.scenario, plant.setup.start)
    return {"rmap": rmap, "profile": profile, "comp": comp, "no_comp": no_comp,
            "scenario": _scenario(plant.setup.scenario)}


def dump_plant(plant: Any) -> bytes:
    """Serialise an exercise plant (shared parts by name; the plant-time clock is re-bound on load)."""
    objs = _shared(plant)
    shared = {id(v): k for k, v in objs.items() if v is not None}
    st = getattr(plant, "state", None)
    clock = st.clock if st is not None else None
    listeners = getattr(st, "listeners", None)
    if st is not None:
        st.clock = None  # a closure over the plant: not picklable, rebuilt in load_plant
        st.listeners = []
    try:
        buf = io.BytesIO()
        _Pickler(buf, shared).dump(plant)
    finally:
        if st is not None:
            st.clock = clock
            st.listeners = listeners
    return zlib.compress(buf.getvalue(), 1)  # fast: a class of 12 groups snapshots at once


def load_plant(data: bytes, setup: Any) -> Any:
    """The plant of :func:`dump_plant` (``setup``: its PlantSetup, to find the shared parts)."""
    from types import SimpleNamespace

    objs = _shared(SimpleNamespace(setup=setup))
    plant = _Unpickler(io.BytesIO(zlib.decompress(data)), objs).load()
    st = getattr(plant, "state", None)
    if st is not None:
        st.clock = lambda: plant.t_s
    return plant


def save_snapshot(store: Store, lesson_id: int, group_id: int, plant: Any, kind: str, label: str = "") -> int:
    """Store a snapshot; for ``auto`` keep only the newest :data:`KEEP_AUTO` of the group."""
    t = L.lab_snapshots
    data = dump_plant(plant)
    with store.w.begin() as c:
        sid = int(c.execute(t.insert().values(lesson_id=lesson_id, group_id=group_id, t_ms=now_ms(),
                                              plant_t_s=float(plant.t_s), kind=kind, label=label[:80],
                                              data=data)).inserted_primary_key[0])  # type: ignore[index]
        if kind == "auto":
            keep = sa.select(t.c.snapshot_id).where(t.c.group_id == group_id, t.c.kind == "auto") \
                .order_by(t.c.snapshot_id.desc()).limit(KEEP_AUTO)
            keep_ids = [r[0] for r in c.execute(keep)]
            c.execute(t.delete().where(t.c.group_id == group_id, t.c.kind == "auto", t.c.snapshot_id.not_in(keep_ids)))
    return sid


def snapshots(store: Store, lesson_id: int) -> list[dict[str, Any]]:
    """Snapshots of a lesson, newest first (without data)."""
    t = L.lab_snapshots
    with store.r.connect() as c:
        return [dict(r._mapping) for r in c.execute(
            sa.select(t.c.snapshot_id, t.c.group_id, t.c.t_ms, t.c.plant_t_s, t.c.kind, t.c.label)
            .where(t.c.lesson_id == lesson_id).order_by(t.c.snapshot_id.desc()))]


def snapshot_data(store: Store, snapshot_id: int) -> dict[str, Any] | None:
    """One snapshot with its data."""
    t = L.lab_snapshots
    with store.r.connect() as c:
        r = c.execute(sa.select(t).where(t.c.snapshot_id == snapshot_id)).first()
    return None if r is None else dict(r._mapping)


def latest_snapshot(store: Store, group_id: int) -> dict[str, Any] | None:
    """The newest snapshot of a group (any kind)."""
    t = L.lab_snapshots
    with store.r.connect() as c:
        r = c.execute(sa.select(t).where(t.c.group_id == group_id).order_by(t.c.snapshot_id.desc()).limit(1)).first()
    return None if r is None else dict(r._mapping)
