"""``h2q exercise``: the learning lab in the terminal (list, show, run, solution, check)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from h2quarters.cli import app

exercise_app = typer.Typer(help="Learning lab: exercises checked against an exercise plant (curricula/).",
                           no_args_is_help=True)
app.add_typer(exercise_app, name="exercise")

Lang = Annotated[str, typer.Option("--lang", help="Language: de or en.")]
Dir = Annotated[Path | None, typer.Option("--dir", help="Curricula directory (default: the shipped curricula/).")]
ExerciseId = Annotated[str, typer.Argument(help="Exercise id, e.g. E2.")]
Seed = Annotated[int, typer.Option(help="Learner's seed (parameters, hidden fault, noise).")]
TradeTasks = Annotated[str | None, typer.Option(help="Only the tasks of this trade (E12).")]
AsJson = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]

_T = {
    "de": {"params": "Ihre Parameter", "measurements": "Messungen", "quantities": "Gefragt", "given": "Gegeben",
           "safety": "Sicherheit", "goals": "Lernziele", "help": (
               "Befehle: m ID (messen) | a ID WERT [EINHEIT] (antworten) | hint ID | wait SEKUNDEN | score | "
               "list | quit"),
           "score": "Punkte", "passed": "bestanden", "failed": "nicht bestanden", "reading": "Ablesung",
           "plant_time": "Anlagenzeit", "design": "Simulator (7 Tage Juni) mit Ihrer Auslegung: Bedarf gedeckt zu",
           "no_hint": "Kein Hinweis vorhanden.", "unknown": "Unbekannter Befehl.", "duration": "Dauer",
           "trades": "Gewerke", "options": "Optionen (IDs oder Nummern, durch Komma getrennt)"},
    "en": {"params": "Your parameters", "measurements": "Measurements", "quantities": "Asked", "given": "Given",
           "safety": "Safety", "goals": "Learning goals", "help": (
               "Commands: m ID (measure) | a ID VALUE [UNIT] (answer) | hint ID | wait SECONDS | score | "
               "list | quit"),
           "score": "Points", "passed": "passed", "failed": "not passed", "reading": "Reading",
           "plant_time": "plant time", "design": "Simulator (7 days in June) with your design: demand covered",
           "no_hint": "No hint available.", "unknown": "Unknown command.", "duration": "Duration",
           "trades": "Trades", "options": "Options (ids or numbers, comma separated)"},
}


def _lang(lang: str) -> str:
    if lang not in ("de", "en"):
        typer.echo(f"--lang: value '{lang}' not allowed; choose de or en", err=True)
        raise typer.Exit(2)
    return lang


def _get(exercise_id: str, directory: Path | None) -> Any:
    from h2quarters.config import ConfigError
    from h2quarters.training.catalog import CURRICULA_DIR, get_exercise

    try:
        return get_exercise(exercise_id, directory or CURRICULA_DIR)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    except KeyError as exc:
        typer.echo(str(exc.args[0]), err=True)
        raise typer.Exit(2) from None


@exercise_app.command("list")
def list_cmd(trade: Annotated[str | None, typer.Option(help="Only exercises for this trade (SHK, Elektro, Kfz, IT).")]
             = None, lang: Lang = "de", directory: Dir = None) -> None:
    """List the exercises (id, title, trades, duration)."""
    from h2quarters.config import ConfigError
    from h2quarters.training.catalog import CURRICULA_DIR, load_catalog

    lg = _lang(lang)
    if trade is not None and trade not in ("SHK", "Elektro", "Kfz", "IT"):
        typer.echo(f"--trade: value '{trade}' not allowed; choose SHK, Elektro, Kfz or IT", err=True)
        raise typer.Exit(2)
    try:
        cat = load_catalog(directory or CURRICULA_DIR)
    except ConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    for ex in cat.values():
        if trade is not None and trade not in ex.trades:
            continue
        typer.echo(f"{ex.id:<4} {ex.title.get(lg):<60} {','.join(ex.trades):<22} {ex.duration_min:>3} min")


def _show(ex: Any, lg: str, params: dict[str, float] | None = None) -> None:
    t = _T[lg]
    typer.echo(f"{ex.id}: {ex.title.get(lg)}\n")
    typer.echo(ex.introduction.get(lg).strip() + "\n")
    typer.echo(ex.tasks.get(lg).strip() + "\n")
    typer.echo(f"{t['trades']}: {', '.join(ex.trades)} · {ex.duration_min} min")
    typer.echo(f"{t['goals']}: " + "; ".join(g.get(lg) for g in ex.goals))
    for s in ex.safety:
        typer.echo(f"{t['safety']}: {s.get(lg)}")
    if params:
        typer.echo(f"{t['params']}: " + ", ".join(
            f"{k} = {v:g} {next((p.unit for p in ex.params if p.id == k), '')}".rstrip() for k, v in params.items()))
    if ex.measurements:
        typer.echo(f"\n{t['measurements']}:")
        for m in ex.measurements:
            typer.echo(f"  {m.id:<16} {m.text.get(lg)}  [{', '.join(m.signals)}]")
    typer.echo(f"\n{t['quantities']}:")
    for q in ex.quantities:
        extra = f" [{q.unit}]" if q.kind == "number" else f" ({q.kind})"
        trades = f"  ({', '.join(q.trades)})" if q.trades else ""
        typer.echo(f"  {q.id:<16} {q.text.get(lg)}{extra}{trades}")
        if q.kind != "number":
            for i, o in enumerate(q.options, 1):
                typer.echo(f"      {i}. {o.id}: {o.text.get(lg)}")


@exercise_app.command("show")
def show_cmd(exercise_id: ExerciseId, lang: Lang = "de",
             seed: Annotated[int | None, typer.Option(help="Show a learner's parameters for this seed.")] = None,
             directory: Dir = None) -> None:
    """Show an exercise: introduction, tasks, goals, safety notes, measurements and quantities."""
    from h2quarters.training.catalog import draw_params

    lg = _lang(lang)
    ex = _get(exercise_id, directory)
    _show(ex, lg, draw_params(ex, seed) if seed is not None else None)


def _fmt_reading(r: Any, lg: str) -> str:
    vals = ", ".join(f"{k} = {v:.10g}" for k, v in r.values.items())
    return f"{_T[lg]['reading']} {r.measurement_id} ({_T[lg]['plant_time']} {r.time[11:19]}): {vals}"


def _feedback(res: Any, lg: str) -> str:
    mark = {"correct": "✔", "carried_forward": "✔"}.get(res.code, "✘" if res.score == 0 else "◐")
    return f"{mark} [{res.code}{':' + res.mistake_id if res.mistake_id else ''}] {res.feedback.get(lg)}"


def _design_feedback(session: Any, lg: str) -> str | None:
    """E13: after the three sizes are answered, run the simulator on the learner's own values."""
    from h2quarters.training.design import simulate_design

    own = {k: session.own_answer(k) for k in ("el_kw", "pv_kwp", "tank_m3")}
    if any(v is None for v in own.values()):
        return None
    try:
        r = simulate_design(session.plant.scenario, float(own["el_kw"].to("kW").magnitude),
                            float(own["pv_kwp"].to("kW").magnitude), float(own["tank_m3"].to("m**3").magnitude),
                            session.params["demand_kg_d"])
    except ValueError as exc:
        return str(exc)
    return (f"{_T[lg]['design']} {r.coverage * 100:.0f} % ({r.delivered_kg:.2f} / {r.demand_kg:.2f} kg), "
            f"p_tank {r.tank_p_min_bar:.0f}–{r.tank_p_max_bar:.0f} bar")


@exercise_app.command("run")
def run_cmd(exercise_id: ExerciseId,
            seed: Seed,
            lang: Lang = "de",
            trade: TradeTasks = None,
            learner: Annotated[str, typer.Option(help="Learner name, stored with the attempt.")] = "",
            log: Annotated[Path | None, typer.Option(help="Append the attempt to this JSON-lines file.")] = None,
            replay_csv: Annotated[Path | None, typer.Option(help="Replay a CSV export instead of a live plant.")]
            = None,
            replay_store: Annotated[str | None, typer.Option(help="Replay a day of this store (database URL).")]
            = None,
            day: Annotated[str | None, typer.Option(help="Day of --replay-store (YYYY-MM-DD).")] = None,
            at: Annotated[str | None, typer.Option(help="Start the replay cursor here (ISO time).")] = None,
            directory: Dir = None) -> None:
    """Work through an exercise in the terminal: take measurements, answer, get feedback (reads stdin).

    With --replay-csv or --replay-store the exercise runs on recorded data (read-only; ``seek TIME`` and
    ``wait ±SECONDS`` move the cursor)."""
    from h2quarters.plc.registers import WriteRefused
    from h2quarters.training.attempts import AttemptLog
    from h2quarters.training.session import ExerciseSession

    lg = _lang(lang)
    ex = _get(exercise_id, directory)
    t = _T[lg]
    plant = None
    if replay_csv is not None or replay_store is not None:
        from h2quarters.training.replay import ReplayPlant

        try:
            if replay_csv is not None:
                plant = ReplayPlant.from_csv(replay_csv, start=at)
            else:
                if day is None:
                    typer.echo("--day: required with --replay-store (YYYY-MM-DD)", err=True)
                    raise typer.Exit(2)
                plant = ReplayPlant.from_store(replay_store, day, start=at)
        except (ValueError, FileNotFoundError, KeyError) as exc:
            typer.echo(f"replay: {exc}", err=True)
            raise typer.Exit(2) from None
    s = ExerciseSession(ex, seed, learner=learner, trade=trade, plant=plant)
    _show(ex, lg, s.params)
    typer.echo("\n" + t["help"])
    for line in sys.stdin:
        parts = line.strip().split()
        if not parts:
            continue
        cmd, args = parts[0].lower(), parts[1:]
        try:
            if cmd in ("quit", "q", "exit", "done"):
                break
            if cmd in ("m", "measure") and len(args) == 1:
                typer.echo(_fmt_reading(s.take(args[0]), lg))
            elif cmd in ("a", "answer") and len(args) >= 2:
                q = ex.quantity(args[0])
                text: Any = " ".join(args[1:])
                res = s.answer(q.id, text)
                typer.echo(_feedback(res, lg))
                if ex.simulate_design and q.id in ("el_kw", "pv_kwp", "tank_m3"):
                    msg = _design_feedback(s, lg)
                    if msg:
                        typer.echo(msg)
            elif cmd == "hint" and len(args) == 1:
                h = s.hint(args[0])
                typer.echo(h.get(lg) if h else t["no_hint"])
            elif cmd == "seek" and len(args) >= 1 and hasattr(s.plant, "seek"):
                s.plant.seek(" ".join(args))
                typer.echo(f"{t['plant_time']}: {s.plant.time}")
            elif cmd == "wait" and len(args) == 1:
                s.advance(float(args[0]))
                typer.echo(f"{t['plant_time']}: {s.plant.t_s - s.plant.t_offset_s:.0f} s")
            elif cmd == "score":
                rec = s.record()
                typer.echo(f"{t['score']}: {rec.score:g} / {rec.max_score:g}")
            elif cmd in ("list", "help", "?"):
                _show(ex, lg, s.params)
                typer.echo("\n" + t["help"])
            else:
                typer.echo(f"{t['unknown']} {t['help']}")
        except (KeyError, ValueError, WriteRefused, PermissionError) as exc:
            typer.echo(f"! {exc.args[0] if isinstance(exc, KeyError) else exc}")
    rec = s.record()
    for sc in rec.scores:
        typer.echo(f"  {sc.quantity_id:<16} {sc.earned:g} / {sc.points:g}  ({sc.best_code or '-'}, "
                   f"{sc.tries} x, {sc.hints} hint)")
    typer.echo(f"{t['score']}: {rec.score:g} / {rec.max_score:g} — {t['passed'] if rec.passed else t['failed']}")
    if log is not None:
        AttemptLog(log).append(rec)


@exercise_app.command("solution")
def solution_cmd(exercise_id: ExerciseId,
                 seed: Seed, lang: Lang = "de",
                 trade: TradeTasks = None,
                 as_json: AsJson = False,
                 directory: Dir = None) -> None:
    """Teacher solution for a seed: parameters, hidden fault, readings in plan order, reference answers."""
    from h2quarters.training.session import format_value, solution

    lg = _lang(lang)
    ex = _get(exercise_id, directory)
    sol = solution(ex, seed, trade=trade)
    if as_json:
        typer.echo(json.dumps(sol, indent=2, ensure_ascii=False))
        return
    typer.echo(f"{ex.id}: {ex.title.get(lg)} — seed {seed}")
    typer.echo(f"{_T[lg]['params']}: {sol['params']}")
    if sol["fault"]:
        typer.echo(f"fault: {sol['fault']}")
    for r in sol["readings"]:
        vals = ", ".join(f"{k} = {v:.10g}" for k, v in r["values"].items())
        typer.echo(f"  {r['id']:<16} t = {r['t_s']:.0f} s: {vals}")
    for a in sol["answers"]:
        q = ex.quantity(a["id"])
        if "value" in a:
            tol = f"±{a['rtol'] * 100:g} %" if a["rtol"] else ""
            tol += f" ±{a['atol']:g} {a['unit']}" if a["atol"] else ""
            val = "-" if a["value"] is None else format_value(a["value"])
            typer.echo(f"  {a['id']:<16} {val} {a['unit']}  ({tol.strip()})  {q.text.get(lg)}")
        else:
            typer.echo(f"  {a['id']:<16} {', '.join(a['options'])}  {q.text.get(lg)}")


@exercise_app.command("check")
def check_cmd(exercise_id: ExerciseId,
              answers: Annotated[Path, typer.Option(
                  help="YAML/JSON file: {seed: N, trade: T, answers: {id: '12.3 kg'}}")],
              lang: Lang = "de",
              as_json: AsJson = False,
              directory: Dir = None) -> None:
    """Check a file of answers for a seed (readings are the plan's, taken in order on that seed's plant)."""
    import yaml

    from h2quarters.training.session import ExerciseSession

    lg = _lang(lang)
    ex = _get(exercise_id, directory)
    try:
        data = yaml.safe_load(answers.read_text(encoding="utf-8"))
    except FileNotFoundError:
        typer.echo(f"{answers}: file not found", err=True)
        raise typer.Exit(2) from None
    except yaml.YAMLError as exc:
        typer.echo(f"{answers}: not valid YAML/JSON: {exc}", err=True)
        raise typer.Exit(2) from None
    problems = []
    if not isinstance(data, dict):
        problems.append("the file must hold a mapping with seed and answers")
        data = {}
    seed = data.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool):
        problems.append(f"seed: value {seed!r} must be an integer")
    given = data.get("answers")
    if not isinstance(given, dict) or not given:
        problems.append("answers: must map quantity ids to answers, e.g. {v_theo: '126 NL'}")
        given = {}
    known = [q.id for q in ex.quantities]
    for k in given:
        if k not in known:
            problems.append(f"answers.{k}: unknown quantity; known: {', '.join(known)}")
    unknown_keys = set(data) - {"seed", "trade", "answers", "learner"}
    if unknown_keys:
        problems.append(f"unknown key(s) {sorted(unknown_keys)}; allowed: seed, trade, answers, learner")
    if problems:
        typer.echo(f"{answers}: {len(problems)} problem(s)\n" + "\n".join(f"  - {p}" for p in problems), err=True)
        raise typer.Exit(2)
    s = ExerciseSession(ex, seed, learner=str(data.get("learner", "")), trade=data.get("trade"))
    for m in ex.measurements:
        s.take(m.id)
    results = []
    for q in s.quantities:
        if q.id not in given:
            continue
        v = given[q.id]
        res = s.answer(q.id, v if isinstance(v, (str, list)) else str(v))
        results.append(res)
    rec = s.record()
    if as_json:
        typer.echo(json.dumps({"results": [r.as_dict() for r in results], "score": rec.score,
                               "max_score": rec.max_score, "passed": rec.passed}, indent=2, ensure_ascii=False))
        return
    for r in results:
        typer.echo(f"{r.quantity_id:<16} {_feedback(r, lg)}")
    t = _T[lg]
    typer.echo(f"{t['score']}: {rec.score:g} / {rec.max_score:g} — {t['passed'] if rec.passed else t['failed']}")
