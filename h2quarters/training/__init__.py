"""Learning lab: exercises in ``curricula/`` checked against an in-process exercise plant.

Public API (reused by the browser classroom):

* :mod:`~h2quarters.training.schema` — pydantic models of an exercise file;
  :func:`~h2quarters.training.catalog.load_catalog` / :func:`~h2quarters.training.catalog.get_exercise`;
* :class:`~h2quarters.training.plant.ExercisePlant` / :class:`~h2quarters.training.plant.FuelCellBench` /
  :class:`~h2quarters.training.replay.ReplayPlant` — plants to tick, advance, write and read (noisy, recorded);
* :class:`~h2quarters.training.session.ExerciseSession` — readings, answers, hints, scores of one learner;
* :func:`~h2quarters.training.checker.check_number` / :func:`~h2quarters.training.checker.check_options` →
  :class:`~h2quarters.training.checker.CheckResult` (score, code, de/en feedback, mistake id);
* :mod:`~h2quarters.training.attempts` — attempt records (pydantic) and an append-only log.
"""
