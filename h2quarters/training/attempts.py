"""Attempt records: plain pydantic models (JSON-ready), kept per learner and exercise.

An attempt holds every reading (signals, plant time), every answer with its check result, every hint, and the
score. :class:`AttemptLog` appends attempts to a JSON-lines file; the classroom (issue 11) stores the same models in
the database.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pydantic import BaseModel


class ReadingRecord(BaseModel):
    """A reading the learner took."""

    measurement_id: str
    t_s: float
    time: str
    values: dict[str, float]


class AnswerRecord(BaseModel):
    """One answer and its check result."""

    quantity_id: str
    answer: str
    try_no: int
    hints_before: int = 0
    t_s: float
    wall_s: float
    score: float
    code: str
    mistake_id: str | None = None
    feedback_de: str
    feedback_en: str
    expected: Any = None
    value: Any = None


class QuantityScore(BaseModel):
    """Points of one quantity after hint and retry penalties."""

    quantity_id: str
    points: float
    earned: float
    tries: int
    hints: int
    best_code: str | None = None


class AttemptRecord(BaseModel):
    """A learner's attempt at an exercise."""

    exercise_id: str
    seed: int
    learner: str = ""
    trade: str | None = None
    params: dict[str, float]
    fault: str | None = None
    started_at: str
    duration_s: float
    plant_time_s: float
    readings: list[ReadingRecord]
    answers: list[AnswerRecord]
    hints: dict[str, int]
    scores: list[QuantityScore]
    score: float
    max_score: float
    passed: bool


class AttemptLog:
    """Append-only JSON-lines file of attempts (one line per attempt; every attempt is kept)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()

    def append(self, record: AttemptRecord) -> None:
        """Add one attempt (the directory is created when missing)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as f:
            f.write(record.model_dump_json() + "\n")

    def read(self, exercise_id: str | None = None, learner: str | None = None) -> list[AttemptRecord]:
        """Stored attempts, optionally of one exercise and learner."""
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            r = AttemptRecord.model_validate(json.loads(line))
            if (exercise_id is None or r.exercise_id == exercise_id) and (learner is None or r.learner == learner):
                out.append(r)
        return out
