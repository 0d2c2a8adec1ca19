"""Benchmark of the learning lab: answer-check latency, and 16 exercise plants side by side at 10x speed.

1. Checking an answer (target <= 5 ms): ``ExerciseSession.answer`` on E2 with a mix of answers (right in another
   unit, a typical mistake, a carried-forward value, an incompatible unit, a malformed text). Baseline in the same
   run: parsing and converting one quantity with pint alone.
2. 16 exercise plants (E2's plant, producing) in one asyncio loop, as the classroom will run them: each plant ticks
   every 0.1 s of wall time and advances 1 s of plant time (speed 10), and a learner reading is taken every second.
   Reported: tick lateness (actual minus scheduled start) p50/p99/max (target p99 <= 100 ms) and the wall time of
   one plant step. Baseline in the same run: one plant alone.

Run: ``python benchmarks/training_bench.py [--seconds 20] [--plants 16]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time

import numpy as np


def _pct(xs: list[float]) -> str:
    a = np.asarray(xs)
    return f"p50 {np.percentile(a, 50):.2f}  p95 {np.percentile(a, 95):.2f}  p99 {np.percentile(a, 99):.2f}  " \
           f"max {a.max():.2f}"


def bench_checks(n: int = 400) -> tuple[float, float]:
    from h2quarters.training.catalog import get_exercise
    from h2quarters.training.session import ExerciseSession
    from h2quarters.training.units import parse_answer

    ex = get_exercise("E2")
    base = ExerciseSession(ex, seed=7)
    base.take("start")
    base.take("end")
    v = base.expected("v_theo")
    eta_f = base.expected("eta_f")
    eta = base.expected("eta_lhv")
    assert v is not None and eta_f is not None and eta is not None
    answers = [("v_theo", f"{v / 1000:.5g} m³"), ("v_theo", f"{v / 2:.5g} NL"), ("v_theo", "126 kg"),
               ("v_theo", "lots"), ("eta_f", f"{eta_f / 1.2:.5g} %"), ("eta_lhv", f"{eta * 39.41 / 33.33:.4g} %")]
    lat: list[float] = []
    cpu: list[float] = []
    for k in range(n):
        s = ExerciseSession.__new__(ExerciseSession)
        s.__dict__.update(base.__dict__)
        s.answers, s.last, s._own, s.hints = [], {}, {}, {}
        if k % 6 == 4:
            s.answer("v_theo", f"{v * 1.2:.6g} NL")  # the earlier wrong answer that eta_f carries forward
        qid, a = answers[k % len(answers)]
        t0, c0 = time.perf_counter(), time.thread_time()
        s.answer(qid, a)
        lat.append((time.perf_counter() - t0) * 1000.0)
        cpu.append((time.thread_time() - c0) * 1000.0)
    base_lat = []
    for _ in range(n):
        t0 = time.perf_counter()
        parse_answer(f"{v:.5g} NL").quantity.to("m**3")
        base_lat.append((time.perf_counter() - t0) * 1000.0)
    print(f"answer check wall [ms]  {_pct(lat)}")
    print(f"answer check CPU [ms]   {_pct(cpu)}  (without time lost to other processes)")
    print(f"baseline pint parse [ms] {_pct(base_lat)}")
    p99 = float(np.percentile(lat, 99))
    print(f"ratio check/pint p50: {np.median(lat) / np.median(base_lat):.1f}x   target p99 <= 5 ms: "
          f"{'met' if p99 <= 5.0 else 'NOT met'} ({p99:.2f} ms)")
    return float(np.median(lat)), p99


async def _run_plants(n: int, seconds: float, tick_s: float = 0.1) -> tuple[list[float], list[float]]:
    from h2quarters.training.catalog import get_exercise
    from h2quarters.training.plant import ExercisePlant

    setup = get_exercise("E2").plant.model_copy(update={"speed": 10.0})
    plants = [ExercisePlant(setup, seed=k) for k in range(n)]
    late: list[float] = []
    step_ms: list[float] = []
    t_end = time.monotonic() + seconds

    async def run(p: ExercisePlant, offset: float) -> None:
        nxt = time.monotonic() + offset
        k = 0
        while nxt < t_end:
            await asyncio.sleep(max(0.0, nxt - time.monotonic()))
            late.append((time.monotonic() - nxt) * 1000.0)
            t0 = time.perf_counter()
            p.tick(tick_s)
            if k % 10 == 0:  # a learner's reading each wall second
                p.measure("m", ["el_stack_current_a", "el_cell_voltage_v", "el_h2_total_nl"])
            step_ms.append((time.perf_counter() - t0) * 1000.0)
            k += 1
            nxt += tick_s
            if nxt < time.monotonic() - tick_s:  # fell behind by more than a tick: skip, as the PLC loop does
                nxt = time.monotonic()

    await asyncio.gather(*(run(p, tick_s * i / n) for i, p in enumerate(plants)))
    return late, step_ms


def bench_plants(n: int, seconds: float) -> float:
    late1, step1 = asyncio.run(_run_plants(1, min(seconds, 10.0)))
    late, step = asyncio.run(_run_plants(n, seconds))
    print(f"1 plant   tick lateness [ms] {_pct(late1)}   step [ms] {_pct(step1)}")
    print(f"{n} plants tick lateness [ms] {_pct(late)}   step [ms] {_pct(step)}")
    p99 = float(np.percentile(late, 99))
    ticks_expected = n * seconds / 0.1
    print(f"ticks done {len(late)} of {ticks_expected:.0f}; ratio p99 lateness {n} vs 1 plant: "
          f"{p99 / max(np.percentile(late1, 99), 1e-3):.1f}x   target p99 <= 100 ms: "
          f"{'met' if p99 <= 100.0 else 'NOT met'} ({p99:.1f} ms)")
    return p99


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--plants", type=int, default=16)
    args = ap.parse_args()
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} "
          f"on {os.cpu_count()} cores")
    bench_checks()
    bench_plants(args.plants, args.seconds)
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
