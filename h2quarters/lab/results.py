"""Class results of a lesson, read from the stored events only (so a closed or past lesson shows the same):
learner × task heat map, most frequent mistakes, time on task, CSV exports (results, Moodle gradebook import,
instruction record) and the instruction record as PDF.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from collections import Counter
from typing import Any
from zoneinfo import ZoneInfo

from h2quarters.lab import store as LS
from h2quarters.store import Store
from h2quarters.lab.service import get_exercise

TZ = ZoneInfo("Europe/Berlin")


def results(store: Store, lesson_id: int) -> dict[str, Any]:
    """Heat map (fraction of each task's points per learner), mistakes, time on task.

    A task is one quantity of one exercise (``E10.fault``); a cell is ``None`` where the learner has not answered.
    """
    row = LS.lesson_row(store, lesson_id)
    if row is None:
        raise KeyError(f"lesson {lesson_id} unknown")
    exs = [get_exercise(e) for e in row["exercises"]]
    tasks = [{"id": f"{e.id}.{q.id}", "exercise_id": e.id, "quantity_id": q.id, "points": q.points,
              "text": q.text.model_dump()} for e in exs for q in e.quantities]
    learners = LS.learners(store, lesson_id)
    evs = LS.events(store, lesson_id, ("measure", "answer", "hint"))
    last: dict[tuple[int, str], dict[str, list[float]]] = {}
    t_first: dict[tuple[int, str], int] = {}
    t_last: dict[tuple[int, str], int] = {}
    mistakes: Counter[tuple[str, str, str]] = Counter()
    for e in evs:
        key = (e["learner_id"], e["exercise_id"])
        t_first.setdefault(key, e["t_ms"])
        t_last[key] = e["t_ms"]
        if e["kind"] == "answer":
            last[key] = e["data"].get("scores", {})
            if e["code"] not in ("correct", None) and (e["score"] or 0.0) < 1.0:
                mistakes[(e["exercise_id"], e["quantity_id"], e["mistake_id"] or e["code"])] += 1
    rows = []
    for lr in learners:
        cells, earned, points = [], 0.0, 0.0
        for t in tasks:
            sc = last.get((lr["learner_id"], t["exercise_id"]), {}).get(t["quantity_id"])
            cells.append(None if sc is None or not _answered(evs, lr["learner_id"], t) else round(sc[0] / sc[1], 3))
            if sc is not None:
                earned += sc[0]
            points += t["points"]
        tot = {e.id: round((t_last.get((lr["learner_id"], e.id), 0) - t_first.get((lr["learner_id"], e.id), 0))
                           / 1000, 1) for e in exs}
        rows.append({"learner_id": lr["learner_id"], "pseudonym": lr["pseudonym"], "group_id": lr["group_id"],
                     "cells": cells, "earned": round(earned, 3), "points": points, "time_on_task_s": tot})
    return {"lesson": row, "tasks": tasks, "learners": rows,
            "mistakes": [{"exercise_id": k[0], "quantity_id": k[1], "mistake": k[2], "count": n}
                         for k, n in mistakes.most_common(10)]}


def _answered(evs: list[dict[str, Any]], learner_id: int, t: dict[str, Any]) -> bool:
    return any(e["kind"] == "answer" and e["learner_id"] == learner_id and e["exercise_id"] == t["exercise_id"]
               and e["quantity_id"] == t["quantity_id"] for e in evs)


def _csv(head: list[str], rows: list[list[Any]]) -> bytes:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(head)
    w.writerows(rows)
    return buf.getvalue().encode("utf-8-sig")  # BOM: Excel and Moodle read the umlauts right


def results_csv(store: Store, lesson_id: int) -> bytes:
    """One row per learner: pseudonym, group, each task's score fraction, points, time on task per exercise."""
    r = results(store, lesson_id)
    exs = r["lesson"]["exercises"]
    head = ["pseudonym", "group_id"] + [t["id"] for t in r["tasks"]] + ["earned", "points"] + \
        [f"time_on_task_s.{e}" for e in exs]
    rows = [[x["pseudonym"], x["group_id"]] + ["" if c is None else c for c in x["cells"]] +
            [x["earned"], x["points"]] + [x["time_on_task_s"].get(e, 0) for e in exs] for x in r["learners"]]
    return _csv(head, rows)


MOODLE_ID = "Email address"
"""The identifier column of the Moodle file. Learners are pseudonyms without Moodle accounts, so it is left empty:
the teacher fills in each pseudonym's Moodle e-mail address and maps it in Moodle's CSV grade import
("Identify user by": map from ``Email address`` to ``Email address``); steps in ``docs/exercises.md``."""


def moodle_csv(store: Store, lesson_id: int) -> bytes:
    """Moodle gradebook import (Grades → Import → CSV file): ``Pseudonym`` (map to *Ignore*), an empty
    :data:`MOODLE_ID` column the teacher fills in, and one grade column per exercise in percent of its points
    (0–100, a point as decimal separator: a new grade item's default maximum grade is 100)."""
    r = results(store, lesson_id)
    exs = [get_exercise(e) for e in r["lesson"]["exercises"]]
    head = ["Pseudonym", MOODLE_ID] + [f"{e.id} {e.title.de} (%)" for e in exs]
    rows = []
    for x in r["learners"]:
        per = []
        for e in exs:
            idx = [i for i, t in enumerate(r["tasks"]) if t["exercise_id"] == e.id]
            total = sum(r["tasks"][i]["points"] for i in idx)
            earned = sum((x["cells"][i] or 0.0) * r["tasks"][i]["points"] for i in idx)
            per.append(round(100.0 * earned / total, 1) if total else 0.0)
        rows.append([x["pseudonym"], "", *per])
    return _csv(head, rows)


LABELS = {
    "de": {"title": "Unterweisungsnachweis", "date": "Datum", "class": "Klasse", "org": "Organisation",
           "teacher": "Lehrkraft", "exercises": "Übungen", "topics": "Themen der Unterweisung (DGUV Information "
           "209-072 Wasserstoff)", "participants": "Teilnehmende (Pseudonyme)", "n": "Anzahl",
           "sign": "Unterschrift der Lehrkraft", "none": "keine sicherheitsbezogenen Themen"},
    "en": {"title": "Instruction record", "date": "Date", "class": "Class", "org": "Organisation",
           "teacher": "Teacher", "exercises": "Exercises", "topics": "Topics of the instruction (DGUV Information "
           "209-072 hydrogen)", "participants": "Participants (pseudonyms)", "n": "Number",
           "sign": "Teacher's signature", "none": "no safety topics"},
}


def instruction_record(store: Store, lesson_id: int, lang: str = "de") -> dict[str, Any]:
    """Date, class, teacher, exercises, the safety topics (DGUV 209-072) of the exercises, participants."""
    row = LS.lesson_row(store, lesson_id)
    if row is None:
        raise KeyError(f"lesson {lesson_id} unknown")
    exs = [get_exercise(e) for e in row["exercises"]]
    topics: list[str] = []
    for e in exs:
        for t in e.safety + [g for g in e.goals if "DGUV" in g.de]:
            if t.get(lang) not in topics:
                topics.append(t.get(lang))
    t0 = row["t_started_ms"] or row["t_created_ms"]
    return {"date": dt.datetime.fromtimestamp(t0 / 1000, TZ).date().isoformat(), "class": row["class_name"],
            "organisation": row["organisation"], "teacher": row["teacher"],
            "exercises": [f"{e.id} {e.title.get(lang)}" for e in exs], "topics": topics,
            "participants": [lr["pseudonym"] for lr in LS.learners(store, lesson_id)]}


def instruction_csv(store: Store, lesson_id: int, lang: str = "de") -> bytes:
    """The instruction record as CSV (one row per participant, lesson data repeated)."""
    r = instruction_record(store, lesson_id, lang)
    L = LABELS.get(lang, LABELS["de"])
    head = [L["date"], L["class"], L["org"], L["teacher"], L["exercises"], L["topics"], L["participants"]]
    common = [r["date"], r["class"], r["organisation"], r["teacher"], " | ".join(r["exercises"]),
              " | ".join(r["topics"]) or L["none"]]
    return _csv(head, [[*common, p] for p in r["participants"]] or [[*common, ""]])


def instruction_pdf(store: Store, lesson_id: int, lang: str = "de") -> bytes:
    """The instruction record as a one-page PDF (reportlab) with a signature line."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle
    from xml.sax.saxutils import escape

    r = instruction_record(store, lesson_id, lang)
    L = LABELS.get(lang, LABELS["de"])
    st = getSampleStyleSheet()
    info = Table([[L["date"], r["date"]], [L["class"], escape(r["class"])], [L["org"], escape(r["organisation"])],
                  [L["teacher"], escape(r["teacher"])], [L["n"], str(len(r["participants"]))]],
                 colWidths=[4 * cm, 12 * cm])
    info.setStyle(TableStyle([("FONT", (0, 0), (0, -1), "Helvetica-Bold"), ("FONTSIZE", (0, 0), (-1, -1), 10)]))
    story: list[Any] = [Paragraph(L["title"], st["Title"]), info, Spacer(1, 0.4 * cm),
                        Paragraph(L["exercises"], st["Heading2"])]
    story += [Paragraph("• " + escape(x), st["Normal"]) for x in r["exercises"]]
    story += [Spacer(1, 0.3 * cm), Paragraph(L["topics"], st["Heading2"])]
    story += [Paragraph("• " + escape(x), st["Normal"]) for x in r["topics"]] or [Paragraph(L["none"], st["Normal"])]
    story += [Spacer(1, 0.3 * cm), Paragraph(L["participants"], st["Heading2"])]
    parts = r["participants"] or ["–"]
    cols = 4
    grid = [[escape(p) for p in parts[i:i + cols]] + [""] * (cols - len(parts[i:i + cols]))
            for i in range(0, len(parts), cols)]
    pt = Table(grid, colWidths=[4 * cm] * cols)
    pt.setStyle(TableStyle([("GRID", (0, 0), (-1, -1), 0.3, colors.HexColor("#c3ccd5")),
                            ("FONTSIZE", (0, 0), (-1, -1), 9)]))
    story += [pt, Spacer(1, 1.6 * cm), Paragraph("_" * 40, st["Normal"]), Paragraph(L["sign"], st["Normal"])]
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title=L["title"], author="h2quarters").build(story)
    return buf.getvalue()


# ====================================================================== counts for the city's KPIs
def counts(store: Store, school_year: str | None = None) -> dict[str, Any]:
    """The measure's own counts per school year, from the lessons held (closed or running, not merely created):
    qualification offers (lessons, distinct exercises offered), learners reached (distinct pseudonyms, case- and
    space-insensitive, counted once per school year), teachers, organisations (distinct organisations and
    classes) and exercises run (lesson × exercise)."""
    held = [r for r in LS.lessons(store, limit=100_000) if r["t_started_ms"] is not None]
    years = sorted({r["school_year"] for r in held})
    out = {}
    for y in years if school_year is None else [school_year]:
        ls = [r for r in held if r["school_year"] == y]
        names = {" ".join(lr["pseudonym"].lower().split()) for r in ls for lr in LS.learners(store, r["lesson_id"])}
        out[y] = {"lessons": len(ls), "exercises_offered": len({e for r in ls for e in r["exercises"]}),
                  "learners": len(names), "teachers": len({r["teacher"] for r in ls}),
                  "organisations": len({r["organisation"].strip().lower() for r in ls if r["organisation"].strip()}),
                  "classes": len({(r["organisation"].strip().lower(), r["class_name"].strip().lower()) for r in ls}),
                  "exercises_run": sum(len(r["exercises"]) for r in ls)}
    return {"school_years": out}


def book_kpi_counts(store: Store, row: dict[str, Any]) -> list[Any]:
    """When a lesson closes: book it into the city's counted KPIs (``kpi_values`` with ``source='counted'``):
    one qualification offer, and the learners and the teacher not yet counted in this school year."""
    from h2quarters.monitoring import entries as E

    if row.get("t_started_ms") is None:
        return []  # a lesson that never ran is no offer
    y = row["school_year"]
    earlier = [r for r in LS.lessons(store, limit=100_000) if r["school_year"] == y and r["t_started_ms"] is not None
               and r["lesson_id"] != row["lesson_id"] and r["status"] == "closed"]
    seen = {" ".join(lr["pseudonym"].lower().split()) for r in earlier for lr in LS.learners(store, r["lesson_id"])}
    mine = {" ".join(lr["pseudonym"].lower().split()) for lr in LS.learners(store, row["lesson_id"])}
    new_people = len(mine - seen) + (0 if any(r["teacher"] == row["teacher"] for r in earlier) else 1)
    cat, _ = E.active_catalogue(store)
    day = dt.datetime.fromtimestamp((row["t_closed_ms"] or row["t_started_ms"]) / 1000, TZ).date()
    why = f"lesson {row['lesson_id']} ({row['class_name']}), school year {y}"
    out = [E.add_value(store, cat, "qualification_offers", day, 1, why, row["teacher"], "teacher", source="counted")]
    if new_people:
        out.append(E.add_value(store, cat, "learners_reached", day, new_people, why, row["teacher"], "teacher",
                               source="counted"))
    return out
