"""``h2q exercise``: list, show, run (stdin piped), solution, check — in-process through typer's runner (a fresh
``h2q`` process loads the scenario each time; the runner keeps it cached)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner

from h2quarters.cli import app


@dataclass
class Out:
    returncode: int
    stdout: str
    stderr: str


def h2q(*args: str, stdin: str | None = None) -> Out:
    r = CliRunner().invoke(app, ["exercise", *args], input=stdin)
    if r.exception is not None and not isinstance(r.exception, SystemExit):
        raise r.exception
    return Out(r.exit_code, r.stdout, r.stderr)


@pytest.mark.parametrize(("lang", "title"), [("de", "Faraday- und Energiewirkungsgrad"),
                                             ("en", "Faraday and energy efficiency")])
def test_list_shows_thirteen_exercises_in_both_languages(lang: str, title: str) -> None:
    r = h2q("list", "--lang", lang)
    assert r.returncode == 0, r.stderr
    lines = [x for x in r.stdout.splitlines() if x.strip()]
    assert len(lines) >= 13 and title in r.stdout
    kfz = h2q("list", "--trade", "Kfz").stdout
    assert "E7 " in kfz and "E1 " not in kfz
    bad = h2q("list", "--trade", "Bäcker")
    assert bad.returncode == 2 and "--trade" in bad.stderr


def test_run_e2_seed_7_in_the_terminal() -> None:
    sol = json.loads(h2q("solution", "E2", "--seed", "7", "--json").stdout)
    val = {a["id"]: a["value"] for a in sol["answers"]}
    # the swapped heating value a learner would compute from the same numbers
    hhv = val["eta_lhv"] * 39.41 / 33.33
    script = "\n".join(["m start", "m end", "a v_theo 126 kg", f"a v_theo {val['v_theo']:.5g} NL",
                        f"a eta_f {val['eta_f']:.4g} %", f"a eta_lhv {hhv:.4g} %", "a eta_lhv 7 furlongs",
                        "hint eta_f", "m nonsense", "quit"]) + "\n"
    r = h2q("run", "E2", "--seed", "7", "--lang", "en", stdin=script)
    assert r.returncode == 0, r.stderr
    out = r.stdout
    assert "Reading start" in out and "Reading end" in out
    assert "[unit_incompatible] The unit kg does not fit" in out
    assert "[mistake:hhv_used] You used the higher heating value" in out
    assert out.count("[correct]") == 2
    assert "no measurement 'nonsense'" in out
    assert "Points: 1.9 / 3" in out  # v_theo right at the second try (retry penalty 0.1)


def test_run_in_german_and_attempt_log(tmp_path: Path) -> None:
    log = tmp_path / "attempts.jsonl"
    r = h2q("run", "E11", "--seed", "1", "--learner", "anna", "--log", str(log),
            stdin="m alarm\na steps leave_warn, alert\nquit\n")
    assert r.returncode == 0, r.stderr
    assert "sicherheitskritischer Schritt fehlt" in r.stdout and "nicht bestanden" in r.stdout
    rec = json.loads(log.read_text().splitlines()[0])
    assert rec["learner"] == "anna" and rec["answers"][0]["code"] == "critical_missing" and not rec["passed"]


def test_show_and_solution_text() -> None:
    r = h2q("show", "E10", "--lang", "en", "--seed", "3")
    assert r.returncode == 0 and "Fault finding" in r.stdout and "membrane_ageing" in r.stdout
    s = h2q("solution", "E10", "--seed", "3", "--lang", "en")
    assert s.returncode == 0 and "fault:" in s.stdout
    unknown = h2q("show", "E99")
    assert unknown.returncode == 2 and "E99" in unknown.stderr and "E13" in unknown.stderr


def test_check_answers_file(tmp_path: Path) -> None:
    sol = json.loads(h2q("solution", "E3", "--seed", "4", "--json").stdout)
    answers = {a["id"]: f"{a['value']:.5g} {a['unit']}" for a in sol["answers"]}
    answers["fc_hhv"] = f"{sol['answers'][2]['value']:.5g} %"  # the LHV value where HHV is asked
    f = tmp_path / "a.yaml"
    f.write_text(json.dumps({"seed": 4, "answers": answers}), encoding="utf-8")
    r = h2q("check", "E3", "--answers", str(f), "--json")
    assert r.returncode == 0, r.stderr
    res = {x["quantity_id"]: x for x in json.loads(r.stdout)["results"]}
    assert [res[q]["code"] for q in ("el_lhv", "el_hhv", "fc_lhv")] == ["correct"] * 3
    assert res["fc_hhv"]["mistake_id"] == "lhv_for_hhv"


@pytest.mark.parametrize(("content", "message"), [
    ("seed: x\nanswers: {el_lhv: 60 %}", "seed: value 'x' must be an integer"),
    ("seed: 1\nanswers: {el_lhvv: 60 %}", "answers.el_lhvv: unknown quantity"),
    ("seed: 1\n", "answers: must map"),
    ("[1, 2", "not valid YAML"),
    ("seed: 1\nanswers: {el_lhv: 1}\nextra: 2", "unknown key(s) ['extra']"),
])
def test_check_rejects_malformed_files(tmp_path: Path, content: str, message: str) -> None:
    f = tmp_path / "bad.yaml"
    f.write_text(content, encoding="utf-8")
    r = h2q("check", "E3", "--answers", str(f))
    assert r.returncode == 2 and message in r.stderr, r.stderr
    assert h2q("check", "E3", "--answers", str(tmp_path / "none.yaml")).returncode == 2
