"""Planners' background jobs on Dask: submit, watch per variant, cancel, resume; limits per user.

The web server never simulates itself: every variant is one Dask task (:mod:`h2quarters.jobs.tasks`). By default
the server starts a ``LocalCluster`` on first use (``jobs_workers`` single-threaded worker processes, niced);
with ``jobs_scheduler`` set it connects to an existing cluster instead. One watcher thread per job polls its
futures (non-blocking), writes each finished variant to the store at once and marks the variants a worker is
processing as running. A job that was queued or running when the server stopped is marked ``interrupted`` on the
next start (:func:`h2quarters.jobs.records.mark_interrupted`); resuming it submits only the variants not done.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from h2quarters.jobs import records as R
from h2quarters.store import Store
from h2quarters.store.store import now_ms

log = logging.getLogger(__name__)
POLL_S = 0.5
DAY_MS = 86_400_000


def warm_workers(client: Any, nice: int = 10) -> list[Any]:
    """Submit :func:`h2quarters.jobs.tasks.warm_up` once to every worker (keep the returned futures alive: a
    released future is cancelled). Jobs submitted meanwhile queue behind it; they would pay the same cost."""
    from h2quarters.jobs import tasks

    try:
        workers = list(client.scheduler_info().get("workers", {}))
    except Exception:  # noqa: BLE001 - warming is an optimisation only
        return []
    return [client.submit(tasks.warm_up, nice, workers=[w], allow_other_workers=False, pure=False,
                          key=f"h2q-warm-up-{uuid.uuid4().hex[:8]}") for w in workers]


class LimitError(ValueError):
    """A per-user limit refuses the request; ``code`` and ``params`` are what the page translates."""

    def __init__(self, code: str, message: str, **params: Any) -> None:
        super().__init__(message)
        self.code, self.params = code, params


class StateError(ValueError):
    """The job is not in a state that allows the action (e.g. resume a finished job)."""


@dataclass(frozen=True)
class JobLimits:
    """Per-user limits: jobs queued or running at once, jobs started per day, variants per job."""

    max_active: int = 2
    max_per_day: int = 30
    max_variants: int = 16


@dataclass
class _Run:
    thread: threading.Thread
    cancel: threading.Event
    futures: dict[Any, str]


class JobManager:
    """Runs the store's jobs on a Dask cluster.

    Parameters
    ----------
    store : Store
        Where jobs, variants, results and reports live.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:port``); default a lazily started LocalCluster.
    workers : int
        Worker processes of the local cluster (each single-threaded).
    limits : JobLimits
        Per-user limits.
    connect_timeout_s : float
        How long to wait for ``scheduler``.
    nice : int
        CPU niceness a worker process takes on with its first task (0 = unchanged).
    """

    def __init__(self, store: Store, scheduler: str | None = None, workers: int = 1,
                 limits: JobLimits | None = None, connect_timeout_s: float = 10.0, nice: int = 10) -> None:
        self.store = store
        self.scheduler = scheduler
        self.workers = workers
        self.limits = limits or JobLimits()
        self.connect_timeout_s = connect_timeout_s
        self.nice = nice
        self._client: Any = None
        self._warm: list[Any] = []
        self._cluster: Any = None
        self._lock = threading.Lock()
        self._submit_lock = threading.Lock()
        self._runs: dict[int, _Run] = {}
        self._closed = False
        self.interrupted = R.mark_interrupted(store)  # jobs of a previous server run

    # ------------------------------------------------------------------ cluster
    def client(self) -> Any:
        """The Dask client (connects or starts the local cluster on first use)."""
        with self._lock:
            if self._client is None:
                from dask.distributed import Client, LocalCluster

                if self.scheduler:
                    try:
                        self._client = Client(self.scheduler, timeout=f"{self.connect_timeout_s}s")
                    except (OSError, TimeoutError, ValueError) as exc:
                        raise RuntimeError(f"jobs_scheduler {self.scheduler}: no Dask scheduler answered within "
                                           f"{self.connect_timeout_s:g} s ({type(exc).__name__})") from None
                else:
                    import dask

                    # one task per worker thread at a time: the scheduler's "processing" then means running, so
                    # the per-variant progress is true (the default 1.1 would hand a second task in advance)
                    dask.config.set({"distributed.scheduler.worker-saturation": 1.0})
                    self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                 dashboard_address=None, silence_logs=logging.WARNING)
                    self._client = Client(self._cluster)
                self._warm = warm_workers(self._client, self.nice)
            return self._client

    def cluster_info(self) -> dict[str, Any]:
        """Scheduler address and worker count (without starting a cluster)."""
        c = self._client
        if c is None:
            return {"scheduler": self.scheduler or "local (starts with the first job)", "workers": None}
        try:
            n = len(c.scheduler_info().get("workers", {}))
        except Exception:  # noqa: BLE001 - an unreachable scheduler is shown, not raised
            n = None
        return {"scheduler": c.scheduler.address, "workers": n}

    def close(self, interrupt: bool = True) -> None:
        """Stop watching jobs and close the client (and the local cluster).

        ``interrupt``: mark the jobs that were running ``interrupted`` now (a clean shutdown); without it they
        stay ``running`` in the store and the next start marks them (as after a crash).
        """
        self._closed = True
        for run in list(self._runs.values()):
            run.cancel.set()
        for run in list(self._runs.values()):
            run.thread.join(5)
        if interrupt:
            R.mark_interrupted(self.store)
        with self._lock:
            if self._client is not None:
                try:
                    self._client.close(timeout=5)
                except Exception:  # noqa: BLE001
                    pass
            if self._cluster is not None:
                try:
                    self._cluster.close(timeout=10)
                except Exception:  # noqa: BLE001
                    pass
            self._client = self._cluster = None
            self._warm = []

    # ------------------------------------------------------------------ submit, cancel, resume
    def check_limits(self, owner: str, n_variants: int, new_job: bool = True) -> None:
        """Raise :class:`LimitError` when ``owner`` may not start (another) job of ``n_variants`` variants."""
        lim = self.limits
        if n_variants > lim.max_variants:
            raise LimitError("plan.limit_variants", f"{n_variants} variants requested; at most {lim.max_variants} "
                             "per job", n=n_variants, limit=lim.max_variants)
        active = R.count_active(self.store, owner)
        if active >= lim.max_active:
            raise LimitError("plan.limit_active", f"{active} of your jobs are queued or running; at most "
                             f"{lim.max_active} at once — wait for one to finish or cancel it",
                             n=active, limit=lim.max_active)
        if new_job:
            n = R.count_since(self.store, owner, now_ms() - DAY_MS)
            if n >= lim.max_per_day:
                raise LimitError("plan.limit_day", f"{n} jobs started in the last 24 hours; at most "
                                 f"{lim.max_per_day} per day", n=n, limit=lim.max_per_day)

    def submit(self, owner: str, kind: str, title: str, scenario: dict[str, Any], params: dict[str, Any],
               variants: list[tuple[str, dict[str, float]]]) -> int:
        """Store a new job (limits checked under a lock, so two quick clicks cannot pass both) and start it."""
        if kind not in R.KINDS:
            raise ValueError(f"kind '{kind}' not allowed; choose one of {', '.join(R.KINDS)}")
        with self._submit_lock:
            self.check_limits(owner, len(variants))
            jid = R.create(self.store, owner, kind, title, scenario, params, variants)
        self._start(jid)
        return jid

    def cancel(self, job_id: int) -> None:
        """Cancel a queued or running job (its finished variants are kept; resume runs the rest)."""
        job = R.get(self.store, job_id)
        if job is None:
            raise KeyError(job_id)
        if job["status"] not in R.ACTIVE:
            raise StateError(f"job {job_id} is {job['status']}; only queued or running jobs can be cancelled")
        run = self._runs.get(job_id)
        if run is not None:
            run.cancel.set()
            run.thread.join(10)
        R.set_status(self.store, job_id, "cancelled", "cancelled by the user", t_finished_ms=now_ms())
        R.reset_unfinished(self.store, job_id)

    def resume(self, job_id: int) -> None:
        """Run the variants of an interrupted, cancelled or failed job that are not done."""
        job = R.get(self.store, job_id)
        if job is None:
            raise KeyError(job_id)
        if job["status"] not in R.RESUMABLE:
            raise StateError(f"job {job_id} is {job['status']}; only {', '.join(R.RESUMABLE)} jobs can be resumed")
        with self._submit_lock:
            self.check_limits(job["owner"], 0, new_job=False)
            R.reset_unfinished(self.store, job_id)
            R.set_status(self.store, job_id, "queued", "resumed", t_finished_ms=None)
        self._start(job_id)

    def _start(self, job_id: int) -> None:
        ev = threading.Event()
        th = threading.Thread(target=self._watch, args=(job_id, ev), name=f"h2q-job-{job_id}", daemon=True)
        self._runs[job_id] = _Run(th, ev, {})
        th.start()

    # ------------------------------------------------------------------ the watcher
    def _watch(self, job_id: int, cancel: threading.Event) -> None:
        try:
            self._run(job_id, cancel)
        except Exception as exc:  # noqa: BLE001 - any failure ends as a readable job status, never a dead thread
            log.exception("job %s failed", job_id)
            if not cancel.is_set():
                R.set_status(self.store, job_id, "failed", f"{type(exc).__name__}: {exc}", t_finished_ms=now_ms())
        finally:
            self._runs.pop(job_id, None)

    def _run(self, job_id: int, cancel: threading.Event) -> None:
        from h2quarters.jobs import tasks

        job = R.get(self.store, job_id, full=True)
        assert job is not None
        R.set_status(self.store, job_id, "running", "", t_started_ms=job["t_started_ms"] or now_ms())
        client = self.client()
        files, base, params = job["scenario_files"], job["scenario"]["base"], job["params"]
        todo = [v for v in R.variants(self.store, job_id) if v["status"] != "done"]
        tag = uuid.uuid4().hex[:8]
        futs: dict[Any, str] = {}
        for v in todo:
            key = f"h2q-job{job_id}-{v['variant']}-{tag}"
            if job["kind"] == "simulate":
                f = client.submit(tasks.site_variant, files, base, params, self.nice, key=key, pure=False)
            elif job["kind"] == "quarter_simulate":
                f = client.submit(tasks.quarter_report, files, v["overrides"], params, None, self.nice, key=key, pure=False)
            else:
                f = client.submit(tasks.quarter_variant, files, v["overrides"], params, self.nice, key=key, pure=False)
            futs[f] = v["variant"]
        self._runs[job_id].futures = futs
        running: set[str] = set()
        report: dict[str, str] | None = None
        while futs:
            if cancel.is_set():
                client.cancel(list(futs))
                return
            for f in [f for f in futs if f.done()]:
                name = futs.pop(f)
                try:
                    out = f.result()
                except Exception as exc:  # noqa: BLE001 - a worker crash or a lost worker
                    out = {"error": f"{type(exc).__name__}: {exc}"}
                if "error" in out:
                    R.set_variant(self.store, job_id, name, "failed", message=str(out["error"]))
                    client.cancel(list(futs))
                    R.set_status(self.store, job_id, "failed", f"variant {name}: {out['error']}",
                                 t_finished_ms=now_ms())
                    return
                if job["kind"] == "quarter_simulate":
                    report = {"en": out["html_en"], "de": out["html_de"]}
                    out = out["kpis"]
                R.set_variant(self.store, job_id, name, "done", kpis=out)
            self._mark_running(client, job_id, futs, running)
            cancel.wait(POLL_S)
        self._finish(job_id, job, client, cancel, report)

    def _mark_running(self, client: Any, job_id: int, futs: dict[Any, str], running: set[str]) -> None:
        try:
            busy = {k for keys in client.processing().values() for k in keys}
        except Exception:  # noqa: BLE001 - progress is best effort; the results are not
            return
        for f, name in futs.items():
            if f.key in busy and name not in running:
                running.add(name)
                R.set_variant(self.store, job_id, name, "running")

    def _finish(self, job_id: int, job: dict[str, Any], client: Any, cancel: threading.Event,
                report: dict[str, str] | None) -> None:
        from h2quarters.jobs import results, tasks

        vs = R.variants(self.store, job_id)
        result = results.assemble(job["kind"], vs)
        if job["kind"] == "quarter_study" and job["params"].get("report", True):
            # as `h2q quarter study`: the best Pareto variant simulated again, its report with the comparison
            R.set_status(self.store, job_id, "running", "report")
            best = result["best"]
            ov = next(v["overrides"] for v in vs if v["variant"] == best)
            f = client.submit(tasks.quarter_report, job["scenario_files"], ov, job["params"], result["table"],
                              self.nice, key=f"h2q-job{job_id}-report-{uuid.uuid4().hex[:8]}", pure=False)
            while not f.done():
                if cancel.is_set():
                    f.cancel()
                    return
                cancel.wait(POLL_S)
            out = f.result()
            if "error" in out:
                R.set_status(self.store, job_id, "failed", f"report: {out['error']}", t_finished_ms=now_ms())
                return
            report = {"en": out["html_en"], "de": out["html_de"]}
        elif report is None:
            report = {lang: results.kpi_report_html(job, result, lang) for lang in ("en", "de")}
        import json

        R.set_status(self.store, job_id, "done", "", t_finished_ms=now_ms(), result=json.dumps(result),
                     report_html=json.dumps(report))

    def wait(self, job_id: int, timeout_s: float = 600.0) -> dict[str, Any]:
        """Block until the job is no longer queued or running (tests, scripts); returns the job."""
        t0 = time.monotonic()
        while True:
            job = R.get(self.store, job_id)
            assert job is not None
            if job["status"] not in R.ACTIVE:
                return job
            if time.monotonic() - t0 > timeout_s:
                raise TimeoutError(f"job {job_id} still {job['status']} after {timeout_s} s")
            time.sleep(0.2)
