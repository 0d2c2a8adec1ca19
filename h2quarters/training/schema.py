"""Pydantic models of an exercise file in ``curricula/`` (one YAML file per exercise).

An exercise names its plant setup, the per-learner randomised parameters, the measurements a learner takes
(setpoints to apply, plant time to wait, signals to read) and the quantities they answer. A numeric quantity
names a *reference* function of :mod:`h2quarters.training.references`; the checker evaluates it at the learner's
own measured values, so the reference answer always follows the plant's physics. A quantity lists the typical
mistakes it recognises, each with its own feedback text (German and English). The file format is described in
``docs/exercises.md``; files are loaded through the shared loader :func:`h2quarters.config.load_yaml_model`.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, model_validator

from h2quarters.config.scenario import Strict

Trade = Literal["SHK", "Elektro", "Kfz", "IT"]
"""Trades of the vocational classes: plant/supply (Anlagenmechaniker SHK), electrical (Elektroniker für Energie- und
Gebäudetechnik), vehicle (Kfz-Mechatroniker), IT (Fachinformatiker)."""

Detector = Literal["z_4", "celsius_for_kelvin", "lhv_hhv_swapped", "bar_for_pa", "operating_litres_for_normal"]
"""Built-in mistake detectors: each re-evaluates the reference with one physics assumption changed."""

ID_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")


class Text(Strict):
    """A text in German and English (both required: every exercise is bilingual)."""

    de: Annotated[str, Field(min_length=1)]
    en: Annotated[str, Field(min_length=1)]

    def get(self, lang: str) -> str:
        """The text in ``lang`` (``de`` or ``en``)."""
        return self.de if lang == "de" else self.en


class Param(Strict):
    """A per-learner randomised parameter: uniform in [min, max], rounded to ``step`` (seeded, reproducible)."""

    id: str
    min: float
    max: float
    step: Annotated[float, Field(gt=0.0)] = 1.0
    unit: str = ""
    text: Text | None = None

    @model_validator(mode="after")
    def _order(self) -> Param:
        if self.max < self.min:
            raise ValueError(f"param {self.id!r}: max ({self.max}) must be >= min ({self.min})")
        return self


class Fault(Strict):
    """A fault to inject (kinds of :mod:`h2quarters.plc.faults`); ``choices`` draws one per learner (seeded)."""

    kind: str
    target: str | None = None
    value: float | str | None = None
    hidden: bool = True
    at_s: Annotated[float, Field(ge=0.0)] = 0.0


class FaultChoice(Strict):
    """One candidate of a hidden fault drawn per learner; ``id`` is the right answer of a ``choice`` quantity."""

    id: str
    faults: list[Fault]
    text: Text
    evidence: list[str] = []


class PlantSetup(Strict):
    """How the exercise plant starts.

    ``kind``: ``plant`` is the site plant behind the virtual PLC (:class:`h2quarters.plc.plant.PlantState`) of
    ``scenario``; ``fc_bench`` is a fuel-cell test bench of ``n_units`` stacks (polarisation model of
    :func:`h2quarters.models.fuelcell.pem_cell_voltage_v`); ``none`` is a paper task (no plant).

    ``observe`` lists the ways a lesson may run the exercise on the pilot itself, read-only, instead of a simulated
    plant: ``live`` (the pilot's current values, as the HMI shows them) or ``recorded`` (a stored day of the
    pilot played back). Only ``kind: plant`` exercises whose answers follow from readings alone qualify; their
    setpoints are then skipped, nothing is ever written to the pilot.
    """

    kind: Literal["plant", "fc_bench", "none"] = "plant"
    scenario: str = "oskar-von-miller"
    start: str = "2025-06-16T09:00:00"
    speed: Annotated[float, Field(gt=0.0, le=1000.0)] = 10.0
    producing: bool = False
    el_rate_pct: Annotated[float, Field(ge=0.0, le=100.0)] = 0.0
    t_stack_c: float | None = None
    p_tank_bar: Annotated[float, Field(gt=0.0)] | None = None
    fc_kw: Annotated[float, Field(ge=0.0)] = 0.0
    faults: list[Fault] = []
    fault_choices: list[FaultChoice] = []
    faults_visible: bool = False
    n_units: Annotated[int, Field(ge=1, le=4)] = 1
    n_cells: Annotated[int, Field(ge=1, le=200)] = 10
    cell_area_cm2: Annotated[float, Field(gt=0.0, le=1000.0)] = 50.0
    t_fc_c: Annotated[float, Field(ge=0.0, le=100.0)] = 60.0
    observe: list[Literal["live", "recorded"]] = []
    observe_tasks: Text | None = None
    """The tasks as they read when the lesson observes the pilot (nothing is set); required with ``observe``."""

    @model_validator(mode="after")
    def _observable(self) -> PlantSetup:
        if self.observe and self.kind != "plant":
            raise ValueError(f"observe = {self.observe}: only a kind 'plant' exercise can observe the pilot "
                             f"(kind is {self.kind!r})")
        if self.observe and (self.faults or self.fault_choices):
            raise ValueError("observe: an exercise with faults cannot observe the pilot (no fault is injected "
                             "into the pilot)")
        if len(set(self.observe)) != len(self.observe):
            raise ValueError(f"observe = {self.observe}: each mode once")
        if self.observe and self.observe_tasks is None:
            raise ValueError(f"observe = {self.observe} needs observe_tasks: the tasks as they read on the pilot, "
                             "where nothing can be set")
        return self


class Setpoint(Strict):
    """A setpoint written before a reading: a plant signal, or a bench control (``load_a``, ``wiring``)."""

    signal: str
    value: float | str


class Measurement(Strict):
    """One reading a learner takes: apply setpoints, let ``wait_s`` of plant time pass, read ``signals``.

    Setpoint values and ``wait_s`` may name a parameter (``"{rate_pct}"``).
    """

    id: str
    text: Text
    setpoints: list[Setpoint] = []
    wait_s: float | str = 0.0
    signals: Annotated[list[str], Field(min_length=1)]
    observe_text: Text | None = None
    """What the learner does when the lesson observes the pilot (its setpoints are skipped there); required for a
    measurement with setpoints in an exercise that can observe."""


class Mistake(Strict):
    """A typical mistake: how it is recognised and what the learner is told.

    Exactly one of ``detector`` (built-in physics variant), ``reference`` (alternative formula of
    :mod:`h2quarters.training.references`) or ``factor`` (answer off by this factor) recognises it.
    """

    id: str
    detector: Detector | None = None
    reference: str | None = None
    factor: float | None = None
    args: dict[str, float | str | bool] = {}
    feedback: Text
    credit: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0

    @model_validator(mode="after")
    def _one_rule(self) -> Mistake:
        n = sum(x is not None for x in (self.detector, self.reference, self.factor))
        if n != 1:
            raise ValueError(f"mistake {self.id!r}: give exactly one of detector, reference, factor (got {n})")
        return self


class Option(Strict):
    """An option of a ``choice``, ``set`` or ``sequence`` quantity."""

    id: str
    text: Text
    critical: bool = False


class Quantity(Strict):
    """A quantity the learner answers.

    ``kind``: ``number`` (value with unit, checked against ``reference`` with ``rtol``/``atol``), ``choice`` (one
    option id; the right one is ``answer`` or, for hidden faults, the drawn fault choice), ``set`` (option ids;
    ``answer`` lists the right ones, credit = right picks minus wrong picks over right ones), ``sequence``
    (option ids in order; a missing ``critical`` option fails; order errors cost ``order_penalty`` each).
    """

    id: str
    text: Text
    kind: Literal["number", "choice", "set", "sequence"] = "number"
    unit: str = ""
    reference: str | None = None
    args: dict[str, float | str | bool] = {}
    uses: list[str] = []
    rtol: Annotated[float, Field(ge=0.0, le=1.0)] = 0.02
    atol: Annotated[float, Field(ge=0.0)] = 0.0
    points: Annotated[float, Field(gt=0.0, le=100.0)] = 1.0
    scale_credit: Annotated[float, Field(ge=0.0, le=1.0)] = 0.5
    options: list[Option] = []
    answer: list[str] = []
    answer_from: Literal["fault", "fault_evidence"] | None = None
    order_penalty: Annotated[float, Field(ge=0.0, le=1.0)] = 0.25
    hint: Text | None = None
    mistakes: list[Mistake] = []
    trades: list[Trade] = []

    @model_validator(mode="after")
    def _consistent(self) -> Quantity:
        if self.kind == "number" and not self.reference:
            raise ValueError(f"quantity {self.id!r}: a number needs a reference (a function name)")
        if self.kind != "number" and not self.options:
            raise ValueError(f"quantity {self.id!r}: kind {self.kind!r} needs options")
        if self.kind != "number" and not self.answer and self.answer_from is None:
            raise ValueError(f"quantity {self.id!r}: kind {self.kind!r} needs answer (option ids) or answer_from")
        ids = {o.id for o in self.options}
        bad = [a for a in self.answer if a not in ids]
        if bad:
            raise ValueError(f"quantity {self.id!r}: answer {bad} not among the options {sorted(ids)}")
        return self


class Exercise(Strict):
    """One exercise (one YAML file in ``curricula/``)."""

    id: str
    title: Text
    introduction: Text
    tasks: Text
    trades: Annotated[list[Trade], Field(min_length=1)]
    learning_fields: list[str] = []
    duration_min: Annotated[int, Field(ge=5, le=600)]
    goals: Annotated[list[Text], Field(min_length=1)]
    safety: list[Text] = []
    given: dict[str, float] = {}
    plant: PlantSetup = PlantSetup()
    params: list[Param] = []
    measurements: list[Measurement] = []
    quantities: Annotated[list[Quantity], Field(min_length=1)]
    hint_penalty: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    retry_penalty: Annotated[float, Field(ge=0.0, le=1.0)] = 0.1
    max_tries: Annotated[int, Field(ge=1, le=10)] = 3
    pass_frac: Annotated[float, Field(gt=0.0, le=1.0)] = 0.6
    simulate_design: bool = False

    @model_validator(mode="after")
    def _references(self) -> Exercise:
        from h2quarters.training.references import REFERENCES

        for kind, items in (("param", self.params), ("measurement", self.measurements),
                            ("quantity", self.quantities)):
            seen: set[str] = set()
            for it in items:
                if not ID_RE.match(it.id):
                    raise ValueError(f"{kind} id {it.id!r} must start with a letter and hold only letters, "
                                     "digits and _")
                if it.id in seen:
                    raise ValueError(f"{kind} id {it.id!r} appears twice")
                seen.add(it.id)
        if self.plant.observe:
            silent = [m.id for m in self.measurements if m.setpoints and m.observe_text is None]
            if silent:
                raise ValueError(f"observe = {self.plant.observe}: measurements {silent} set something, so they "
                                 "need observe_text (what to do on the pilot, where nothing is set)")
        earlier: set[str] = set()
        for q in self.quantities:
            for name in [q.reference] + [m.reference for m in q.mistakes]:
                if name is not None and name not in REFERENCES:
                    raise ValueError(f"quantity {q.id!r}: reference {name!r} unknown; known: "
                                     f"{', '.join(sorted(REFERENCES))}")
            later = [u for u in q.uses if u not in earlier]
            if later:
                raise ValueError(f"quantity {q.id!r}: uses {later}, which are not earlier quantities")
            earlier.add(q.id)
        return self

    def quantity(self, qid: str) -> Quantity:
        """The quantity ``qid``; KeyError names the known ones."""
        for q in self.quantities:
            if q.id == qid:
                return q
        raise KeyError(f"exercise {self.id}: no quantity {qid!r}; known: {[q.id for q in self.quantities]}")

    def measurement(self, mid: str) -> Measurement:
        """The measurement ``mid``; KeyError names the known ones."""
        for m in self.measurements:
            if m.id == mid:
                return m
        raise KeyError(f"exercise {self.id}: no measurement {mid!r}; known: {[m.id for m in self.measurements]}")
