"""Learning lab classroom: the teacher's instructor station and the learners' workspace (JSON API and pages).

Teachers (``lab_teach``: teacher, admin) create and run lessons; learners join with the lesson's code and a
pseudonym and get a *lesson-scoped* token (header ``X-Lab-Token`` or cookie ``h2q_lab``) that reads only their own
group's plant (through the instruments, hidden faults not shown) and their own readings and answers. Every lesson
runs on its own in-process exercise plants (:mod:`h2quarters.lab.service`): no route here reaches the pilot's
controller, driver or PLC.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Path as PathParam, Query, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from fastapi.security import APIKeyHeader
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field

from h2quarters.api.auth import Principal
from h2quarters.api.deps import PageLang, errors, page_login, page_texts, render_page, require
from h2quarters.lab import results as R
from h2quarters.lab import store as LS
from h2quarters.lab.service import SPEED_MAX, SPEED_MIN, START_STATES, FaultOrder, LabError, LessonService

router = APIRouter(tags=["lab"])
LAB_COOKIE = "h2q_lab"
WEB = Path(str(resources.files("h2quarters.web")))
_templates = Jinja2Templates(directory=str(WEB / "templates"))
EXERCISE_ID_RE = "^E([1-9]|1[0-3])$"  # the curricula's E1..E13 (an unknown id is still answered with a 422)
_CREATE = threading.Lock()
MAX_TEXT = 200  # answers, pseudonyms, labels: a hostile client gets a 422, not a stored essay


def attach(app: FastAPI) -> None:
    """Include the router and stop the lesson service's thread when the app shuts down."""
    app.include_router(router)

    def _stop() -> None:
        svc = getattr(app.state, "lab", None)
        if svc is not None:
            svc.stop()

    app.router.on_shutdown.append(_stop)


def service(request: Request) -> LessonService:
    """The app's lesson service (created on first use: restores the lessons that were running)."""
    app = request.app
    svc = getattr(app.state, "lab", None)
    if svc is None:
        with _CREATE:
            svc = getattr(app.state, "lab", None)
            if svc is None:
                ctx = app.state.ctx  # the pilot's hub and scenario: lessons that observe it read them, never write
                svc = LessonService(ctx.store, hub=ctx.hub, scenario=ctx.scenario)
                svc.on_close.append(lambda row: _book(app, row))
                app.state.lab = svc
    return svc


def _book(app: FastAPI, row: dict[str, Any]) -> None:
    R.book_kpi_counts(app.state.ctx.store, row)
    ck = getattr(app.state, "cockpit", None)
    if ck is not None:
        ck.invalidate()


def i18n(lang: str) -> dict[str, str]:
    """The lab pages' texts (static/i18n/lab/<lang>.json)."""
    return page_texts("lab", lang)


Svc = Annotated[LessonService, Depends(service)]
Teacher = Annotated[Principal, Depends(require("lab_teach"))]
_lab_header = APIKeyHeader(name="X-Lab-Token", auto_error=False, scheme_name="LabToken",
                           description="Lesson-scoped learner token from POST /api/lab/join")


def learner(request: Request, svc: Svc, tok: Annotated[str | None, Depends(_lab_header)]) -> dict[str, Any]:
    """The learner of the lesson-scoped token (header or cookie); 401 otherwise."""
    token = tok or request.cookies.get(LAB_COOKIE)
    lr = svc.learner(token) if token else None
    if lr is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, {"code": "lab.token", "message": "join the lesson first "
                                                           "(no or unknown learner token)", "params": {}})
    return lr


Learner = Annotated[dict[str, Any], Depends(learner)]


def _call(fn: Any, *a: Any, **kw: Any) -> Any:
    try:
        return fn(*a, **kw)
    except LabError as exc:
        raise HTTPException(exc.status, exc.body()) from None


def _own(svc: LessonService, lesson_id: int, p: Principal) -> dict[str, Any]:
    row = LS.lesson_row(svc.store, lesson_id)
    if row is None:
        raise HTTPException(404, {"code": "lab.lesson_unknown", "message": f"lesson {lesson_id} unknown",
                                  "params": {"lesson": lesson_id}})
    if row["teacher"] != p.name and p.role != "admin":
        raise HTTPException(403, {"code": "lab.not_yours", "message": f"lesson {lesson_id} belongs to another "
                                  "teacher", "params": {"lesson": lesson_id}})
    return row


LessonId = Annotated[int, PathParam(ge=1, le=2**31 - 1)]


# ============================================================================ teacher
class LessonIn(BaseModel):
    """A new lesson."""

    class_name: str = Field(min_length=1, max_length=80)
    organisation: str = Field("", max_length=120)
    exercises: list[Annotated[str, Field(pattern=EXERCISE_ID_RE)]] = Field(min_length=1, max_length=13)
    groups: list[Annotated[str, Field(min_length=1, max_length=40)]] = Field(min_length=1, max_length=12)
    start_state: Literal[START_STATES] = "exercise"  # type: ignore[valid-type]
    speed: float = Field(10.0, ge=SPEED_MIN, le=SPEED_MAX)
    backtrack_every_min: float = Field(2.0, ge=0.5, le=60.0)
    valid_h: float = Field(12.0, gt=0.0, le=24.0 * 14)
    observe: Literal["live", "recorded"] | None = Field(
        None, description="Observe the pilot itself, read-only, instead of simulated plants: its live values or a "
                          "recorded day (``day``); only exercises whose plant lists that mode")
    day: date | None = Field(None, ge=date(2000, 1, 1), le=date(2100, 12, 31),
                             description="The pilot's recorded day (Europe/Berlin) for observe = recorded")


_T = errors(401, 403, 404, 409, 422)


@router.post("/api/lab/lessons", status_code=201, responses=_T, summary="Create a lesson (teacher)")
def create_lesson(body: LessonIn, svc: Svc, p: Teacher) -> dict[str, Any]:
    """Join code, groups, one exercise plant per group (status ``created``)."""
    return _call(svc.create, p.name, body.class_name, body.exercises, body.groups, body.organisation,
                 body.start_state, body.speed, int(body.backtrack_every_min * 60), body.valid_h,
                 body.observe or "", None if body.day is None else body.day.isoformat())


@router.get("/api/lab/lessons", responses=errors(401, 403), summary="The teacher's lessons, newest first")
def list_lessons(svc: Svc, p: Teacher) -> list[dict[str, Any]]:
    """Past and running lessons (admins see all)."""
    return LS.lessons(svc.store, teacher=None if p.role == "admin" else p.name)


@router.get("/api/lab/lessons/{lesson_id}", responses=_T, summary="Instructor view: groups' true plants, faults, progress")
def get_lesson(lesson_id: LessonId, svc: Svc, p: Teacher) -> dict[str, Any]:
    """Live lessons with plants; closed ones with their row and groups."""
    row = _own(svc, lesson_id, p)
    if row["status"] == "closed":
        return svc.summary(lesson_id)
    return _call(svc.teacher_view, lesson_id)


class SpeedIn(BaseModel):
    """Plant speed."""

    speed: float = Field(ge=SPEED_MIN, le=SPEED_MAX)


@router.put("/api/lab/lessons/{lesson_id}/speed", responses=_T, summary="Plant speed 0.5–60×")
def put_speed(lesson_id: LessonId, body: SpeedIn, svc: Svc, p: Teacher) -> dict[str, Any]:
    """Time so far counts at the old speed."""
    _own(svc, lesson_id, p)
    return _call(svc.set_speed, lesson_id, body.speed)


class SnapIn(BaseModel):
    """A snapshot label."""

    label: str = Field("", max_length=80)


@router.post("/api/lab/lessons/{lesson_id}/snapshots", status_code=201, responses=_T, summary="Snapshot every group's plant")
def post_snapshot(lesson_id: LessonId, body: SnapIn, svc: Svc, p: Teacher) -> dict[str, Any]:
    """Returns the snapshot ids."""
    _own(svc, lesson_id, p)
    return {"snapshot_ids": _call(svc.snapshot, lesson_id, body.label)}


@router.get("/api/lab/lessons/{lesson_id}/snapshots", responses=_T, summary="Snapshots and backtracks, newest first")
def get_snapshots(lesson_id: LessonId, svc: Svc, p: Teacher) -> list[dict[str, Any]]:
    """Manual snapshots and the last 20 automatic backtracks per group."""
    _own(svc, lesson_id, p)
    return LS.snapshots(svc.store, lesson_id)


class RestoreIn(BaseModel):
    """Which snapshot."""

    snapshot_id: int = Field(ge=1, le=2**31 - 1)


@router.post("/api/lab/lessons/{lesson_id}/restore", responses=_T, summary="Put a group's plant back to a snapshot")
def post_restore(lesson_id: LessonId, body: RestoreIn, svc: Svc, p: Teacher) -> dict[str, Any]:
    """Learners keep their readings and answers."""
    _own(svc, lesson_id, p)
    return _call(svc.restore_snapshot, lesson_id, body.snapshot_id)


@router.post("/api/lab/lessons/{lesson_id}/faults", status_code=201, responses=_T, summary="Inject a fault (visible or hidden; now, ramp, at a time, on a condition)")
def post_fault(lesson_id: LessonId, body: FaultOrder, svc: Svc, p: Teacher) -> dict[str, Any]:
    """Only into this lesson's plants; the true fault is shown to the teacher only."""
    _own(svc, lesson_id, p)
    return _call(svc.inject, lesson_id, body)


@router.delete("/api/lab/lessons/{lesson_id}/faults", responses=_T, summary="Remove every fault of the lesson's plants")
def delete_faults(lesson_id: LessonId, svc: Svc, p: Teacher) -> dict[str, Any]:
    """And the scheduled ones."""
    _own(svc, lesson_id, p)
    return {"cleared": _call(svc.clear_faults, lesson_id)}


Action = Literal["start", "freeze", "resume", "reveal", "close", "reopen"]


@router.post("/api/lab/lessons/{lesson_id}/{action}", responses=_T, summary="Start, freeze, resume, reveal solutions, close, reopen")
def lesson_action(lesson_id: LessonId, action: Action, svc: Svc, p: Teacher) -> dict[str, Any]:
    """One click per instructor function (declared after the other POST routes of a lesson: they match first)."""
    _own(svc, lesson_id, p)
    return _call(getattr(svc, action), lesson_id)


@router.get("/api/lab/lessons/{lesson_id}/results", responses=_T, summary="Heat map, frequent mistakes, time on task")
def get_results(lesson_id: LessonId, svc: Svc, p: Teacher) -> dict[str, Any]:
    """From the stored events (past lessons too)."""
    _own(svc, lesson_id, p)
    return R.results(svc.store, lesson_id)


_CSV = {200: {"description": "CSV (UTF-8 with BOM)", "content": {"text/csv": {}}}, **_T}


@router.get("/api/lab/lessons/{lesson_id}/export.csv", responses=_CSV, summary="Results, Moodle gradebook import or instruction record as CSV")
def export_csv(lesson_id: LessonId, svc: Svc, p: Teacher,
               kind: Annotated[str, Query(pattern="^(results|moodle|instruction)$")] = "results",
               lang: Annotated[str, Query(pattern="^(de|en)$")] = "de") -> Response:
    """``results``: learner × task; ``moodle``: ID number + one grade column per exercise; ``instruction``: the
    instruction record (date, DGUV 209-072 topics, participants)."""
    _own(svc, lesson_id, p)
    data = {"results": lambda: R.results_csv(svc.store, lesson_id),
            "moodle": lambda: R.moodle_csv(svc.store, lesson_id),
            "instruction": lambda: R.instruction_csv(svc.store, lesson_id, lang)}[kind]()
    return Response(data, media_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": f'attachment; filename="h2q-lesson-{lesson_id}-{kind}.csv"'})


@router.get("/api/lab/lessons/{lesson_id}/instruction.pdf", responses={200: {"description": "PDF", "content": {"application/pdf": {}}}, **_T}, summary="Instruction record as PDF")
async def instruction_pdf(lesson_id: LessonId, svc: Svc, p: Teacher,
                          lang: Annotated[str, Query(pattern="^(de|en)$")] = "de") -> Response:
    """Date, class, DGUV 209-072 topics, participants, signature line."""
    _own(svc, lesson_id, p)
    data = await run_in_threadpool(R.instruction_pdf, svc.store, lesson_id, lang)
    return Response(data, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="h2q-lesson-{lesson_id}-record.pdf"'})


@router.get("/api/lab/counts", responses=errors(401, 403, 422), summary="Counts for the city's KPIs per school year")
def get_counts(svc: Svc, p: Annotated[Principal, Depends(require("read"))],
               school_year: Annotated[str | None, Query(pattern=r"^\d{4}/\d{2}$")] = None) -> dict[str, Any]:
    """Qualification offers, learners reached (distinct pseudonyms once per school year), teachers,
    organisations, classes, exercises run — the same counts a closing lesson books into the KPI values."""
    return R.counts(svc.store, school_year)


# ============================================================================ learner
class JoinIn(BaseModel):
    """Join a lesson: its code and a pseudonym (no account, no personal data)."""

    code: str = Field(min_length=1, max_length=12)
    pseudonym: str = Field(min_length=1, max_length=40)
    group_id: int | None = Field(None, ge=1, le=2**31 - 1)


_L = errors(401, 403, 404, 409, 422)


@router.post("/api/lab/join", status_code=201, responses=errors(404, 409, 422), summary="Join a lesson with its code and a pseudonym")
def join(body: JoinIn, svc: Svc, response: Response) -> dict[str, Any]:
    """Returns the lesson-scoped token (also set as cookie ``h2q_lab``)."""
    out = _call(svc.join, body.code, body.pseudonym, body.group_id)
    response.set_cookie(LAB_COOKIE, out["token"], max_age=24 * 3600, httponly=True, samesite="strict", path="/")
    return out


@router.get("/api/lab/me", responses=_L, summary="The learner's workspace: own group's plant, tasks, own readings and answers")
def me(lr: Learner, svc: Svc, brief: bool = True) -> dict[str, Any]:
    """Never another group's plant or answers, never a hidden fault. ``brief=false`` leaves out the exercises'
    texts (the page's polls after the first)."""
    return _call(svc.learner_view, lr, brief)


class MeasureIn(BaseModel):
    """Take a measurement of an exercise."""

    exercise: str = Field(min_length=1, max_length=16)
    measurement: str = Field(min_length=1, max_length=48)


@router.post("/api/lab/me/measure", status_code=201, responses=_L, summary="Take a measurement into the learner's table")
def measure(body: MeasureIn, lr: Learner, svc: Svc) -> dict[str, Any]:
    """Read through the instruments, with plant time."""
    return _call(svc.measure, lr, body.exercise, body.measurement)


class AnswerIn(BaseModel):
    """An answer: a number with its unit (``"95.3 NL"`` or ``answer`` + ``unit``), an option id or option ids."""

    exercise: str = Field(min_length=1, max_length=16)
    quantity: str = Field(min_length=1, max_length=48)
    answer: Annotated[str, Field(min_length=1, max_length=MAX_TEXT)] | list[
        Annotated[str, Field(min_length=1, max_length=48)]] = Field(max_length=MAX_TEXT)
    unit: str | None = Field(None, max_length=32)


@router.post("/api/lab/me/answer", responses=_L, summary="Answer a quantity (numbers need a unit); feedback and score")
def answer(body: AnswerIn, lr: Learner, svc: Svc) -> dict[str, Any]:
    """A number without a unit is refused (422, field ``unit``) and not counted as a try."""
    return _call(svc.answer, lr, body.exercise, body.quantity, body.answer, body.unit)


class HintIn(BaseModel):
    """Ask for a hint."""

    exercise: str = Field(min_length=1, max_length=16)
    quantity: str = Field(min_length=1, max_length=48)


@router.post("/api/lab/me/hint", responses=_L, summary="A hint (costs points)")
def hint(body: HintIn, lr: Learner, svc: Svc) -> dict[str, Any]:
    """The quantity's hint in German and English."""
    return _call(svc.hint, lr, body.exercise, body.quantity)


class SetpointIn(BaseModel):
    """A setpoint the exercise allows."""

    exercise: str = Field(min_length=1, max_length=16)
    signal: str = Field(min_length=1, max_length=64)
    value: float | bool = Field(allow_inf_nan=False)


@router.post("/api/lab/me/setpoint", responses=_L, summary="Change a setpoint the exercise allows, on the group's plant")
def setpoint(body: SetpointIn, lr: Learner, svc: Svc) -> dict[str, Any]:
    """Only the exercise's setpoints, within the PLC's limits (403 / 422 name the signal and the range)."""
    return _call(svc.setpoint, lr, body.exercise, body.signal, body.value)


# ============================================================================ pages
PageTeacher = Annotated[Principal, Depends(page_login("lab_teach"))]


def _page(request: Request, name: str, lang: str, **ctx: Any) -> Response:
    T = i18n(lang)
    return render_page(_templates, request, name, lang, T, t_json=json.dumps(T), **ctx)


def join_url(request: Request, code: str) -> str:
    """The link the QR code carries."""
    return f"{str(request.base_url).rstrip('/')}/lab/join?code={code}"


def qr_svg(text: str, scale: int = 8) -> str:
    """QR code of ``text`` as inline SVG (segno, server-side: no CDN, no script)."""
    import segno

    # no fixed size: the page's CSS sizes it (small on the station, most of the screen on the projector)
    return segno.make(text, error="m").svg_inline(scale=scale, border=2, dark="#0b1f33", light="#ffffff",
                                                  omitsize=True)


@router.get("/lab", include_in_schema=False, response_class=HTMLResponse)
def page_lessons(request: Request, svc: Svc, lg: PageLang, p: PageTeacher) -> Response:
    """The teacher's lessons (past ones reopenable) and the form for a new lesson."""
    from h2quarters.lab.service import catalog

    cat = catalog()
    return _page(request, "lab_lessons.html", lg, user=p,
                 lessons=LS.lessons(svc.store, teacher=None if p.role == "admin" else p.name, limit=50),
                 exercises=[(e.id, e.title.get(lg)) for e in cat.values()], start_states=START_STATES)


@router.get("/lab/lesson/{lesson_id}", include_in_schema=False, response_class=HTMLResponse)
def page_lesson(lesson_id: LessonId, request: Request, svc: Svc, lg: PageLang, p: PageTeacher,
                projector: bool = False) -> Response:
    """The instructor station (one click per function) or, with ``?projector=1``, the large join code + QR."""
    row = _own(svc, lesson_id, p)
    url = join_url(request, row["code"])
    return _page(request, "lab_projector.html" if projector else "lab_lesson.html", lg, user=p, lesson=row,
                 join_url=url, qr=qr_svg(url, 10 if projector else 4), start_states=START_STATES)


@router.get("/lab/lesson/{lesson_id}/results", include_in_schema=False, response_class=HTMLResponse)
def page_results(lesson_id: LessonId, request: Request, svc: Svc, lg: PageLang, p: PageTeacher) -> Response:
    """Heat map, frequent mistakes, time on task, exports."""
    _own(svc, lesson_id, p)
    return _page(request, "lab_results.html", lg, user=p, r=R.results(svc.store, lesson_id))


@router.get("/lab/join", include_in_schema=False, response_class=HTMLResponse)
def page_learner(request: Request, svc: Svc, lg: PageLang,
                 code: Annotated[str, Query(max_length=12)] = "") -> Response:
    """The learner's page: join form, then the workspace (phone first)."""
    tok = request.cookies.get(LAB_COOKIE)
    lr = svc.learner(tok) if tok else None
    return _page(request, "lab_learner.html", lg, code=code.upper(), joined=lr is not None)
