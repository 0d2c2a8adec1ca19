"""The exercise catalogue: ``curricula/*.yaml`` loaded through the shared loader, with per-learner parameters."""

from __future__ import annotations

import zlib
from pathlib import Path

import numpy as np

from h2quarters.config import ConfigError, Problem, load_yaml_model
from h2quarters.training.schema import Exercise, FaultChoice

CURRICULA_DIR = Path(__file__).resolve().parents[2] / "curricula"
"""The exercises shipped with the project."""


def load_exercise(path: str | Path) -> Exercise:
    """Load one exercise file.

    Raises
    ------
    h2quarters.config.ConfigError
        Every problem of the file with its YAML path, line, value and what is allowed.
    """
    return load_yaml_model(path, Exercise)


def load_catalog(directory: str | Path = CURRICULA_DIR) -> dict[str, Exercise]:
    """All exercises of ``directory`` by id, in file-name order.

    Raises
    ------
    h2quarters.config.ConfigError
        A file is invalid, or two files declare the same id.
    """
    d = Path(directory)
    if not d.is_dir():
        raise ConfigError(str(d), [Problem("", None, "curricula directory not found")])
    out: dict[str, Exercise] = {}
    where: dict[str, Path] = {}
    for f in sorted(d.glob("*.yaml")):
        ex = load_exercise(f)
        if ex.id in out:
            raise ConfigError(str(f), [Problem("id", None, f"exercise id {ex.id!r} is also used by {where[ex.id]}")])
        out[ex.id] = ex
        where[ex.id] = f
    return out


def get_exercise(exercise_id: str, directory: str | Path = CURRICULA_DIR) -> Exercise:
    """One exercise by id (case-insensitive); KeyError lists the known ids."""
    cat = load_catalog(directory)
    for k, ex in cat.items():
        if k.lower() == exercise_id.lower():
            return ex
    raise KeyError(f"exercise {exercise_id!r} not found; known: {', '.join(cat)}")


def _rng(exercise: Exercise, seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([int(seed) & 0xFFFFFFFF, zlib.crc32(exercise.id.encode()), stream])


def draw_params(exercise: Exercise, seed: int) -> dict[str, float]:
    """Per-learner parameters (uniform on the ``step`` grid of [min, max]; same seed, same values) plus ``given``."""
    rng = _rng(exercise, seed, 1)
    out: dict[str, float] = dict(exercise.given)
    for p in exercise.params:
        n = int(round((p.max - p.min) / p.step))
        v = p.min + p.step * int(rng.integers(0, n + 1)) if n > 0 else p.min
        out[p.id] = float(round(v, 10))
    return out


def draw_fault(exercise: Exercise, seed: int) -> FaultChoice | None:
    """The hidden fault drawn for this learner (``None`` when the exercise has no fault choices)."""
    choices = exercise.plant.fault_choices
    if not choices:
        return None
    return choices[int(_rng(exercise, seed, 2).integers(0, len(choices)))]
