"""`qmm week mock`, `qmm week feedback`, `qmm week calibration`: rehearsing FDA's interviews,
recording what FDA returned, and the gap between the site's own scores and FDA's."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer

from qmm.assessment_week.feedback import (
    GAP_NOISE,
    FindingIn,
    get_feedback,
    plan_from_feedback,
    record_feedback,
    site_calibration,
    workspace_calibration,
)
from qmm.assessment_week.feedback_schemas import (
    CalibrationOut,
    FeedbackOut,
    MockGapsOut,
    MockInterviewOut,
    WorkspaceCalibrationOut,
)
from qmm.assessment_week.mock import (
    get_mock_interview,
    list_mock_interviews,
    mock_gaps,
    plan_follow_up,
    record_mock_answer,
    start_mock_interview,
)
from qmm.assessment_week.service import get_fda_assessment
from qmm.auth.permissions import Permission
from qmm.cli.common import (
    OutputFormat,
    acting_reader,
    boundary,
    fail,
    fmt_score,
    print_json,
    print_table,
)
from qmm.cli.program_common import optional_day, site_for
from qmm.metrics.service import event_store
from qmm.models import FdaAssessment
from qmm.sites.service import list_sites

mock_app = typer.Typer(
    help="Mock interviews: an internal assessor scores a practice area's questions 1-5.",
    no_args_is_help=True,
)
feedback_app = typer.Typer(
    help="FDA's feedback: scores, observations, strengths, opportunities, and the next plan.",
    no_args_is_help=True,
)

NUMBER = typer.Argument(..., help="The FDA assessment's number (`qmm week list`).")
MOCK = typer.Argument(..., help="The mock interview's number (`qmm week mock list`).")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")


def _visit(session: Any, number: int, permission: Permission) -> FdaAssessment:
    visit = get_fda_assessment(session, fda_assessment_id=number)
    site_for(session, visit.site.code, permission)
    return visit


def _score(text: str) -> int | str:
    """A whole number as typed; anything else goes to the service, which names the range."""
    return int(text) if text.strip().isdigit() else text


def _show_mock(out: MockInterviewOut) -> None:
    print_table(
        f"Mock interview {out.id} of {out.practice_area} ({out.session_label or 'no session'}), "
        f"{out.held_on}, by {out.assessor}",
        ["question", "score", "notes", "follow-up", "plan action"],
        [
            [a.question, a.score, a.notes, a.follow_up or "", a.plan_action_id or ""]
            for a in out.answers
        ],
    )


@mock_app.command("start")
def mock_start(
    number: int = NUMBER,
    practice_area: str = typer.Option(..., "--practice-area", help="e.g. advanced_pqs."),
    assessor: str = typer.Option(..., "--assessor", help="The internal mock assessor."),
    held_on: str = typer.Option(..., "--held-on", help="The day it was held, YYYY-MM-DD."),
    session_label: str | None = typer.Option(
        None, "--session", help="The agenda session it rehearses, e.g. 'Day 2 am: PQS'."
    ),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Open a mock interview of one practice area of the chosen self-assessment's framework."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        interview = start_mock_interview(
            session,
            fda_assessment=visit,
            practice_area=practice_area,
            assessor=assessor,
            held_on=optional_day(held_on, option="--held-on"),
            session_label=session_label,
        )
        out = MockInterviewOut.of(interview)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    typer.echo(f"mock interview {out.id} of {out.practice_area} opened")


@mock_app.command("score")
def mock_score(
    number: int = NUMBER,
    mock: int = MOCK,
    question: str = typer.Option(..., "--question", help="The question's code."),
    score: str = typer.Option(..., "--score", help="A whole number from 1 to 5."),
    notes: str = typer.Option("", "--notes", help="What was said and shown."),
    follow_up: str | None = typer.Option(None, "--follow-up", help="What to do before FDA."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Score one question 1-5 with notes and any follow-up; scoring again replaces it."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        interview = get_mock_interview(session, fda_assessment=visit, mock_id=mock)
        record_mock_answer(
            session,
            interview=interview,
            question_code=question,
            score=_score(score),
            notes=notes,
            follow_up=follow_up,
        )
        out = MockInterviewOut.of(interview)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _show_mock(out)


@mock_app.command("list")
def mock_list(number: int = NUMBER, fmt: OutputFormat = FORMAT) -> None:
    """The FDA assessment's mock interviews, the latest first."""
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        rows = [MockInterviewOut.of(i) for i in list_mock_interviews(session, fda_assessment=visit)]
    if fmt is OutputFormat.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        f"Mock interviews of FDA assessment {number}",
        ["number", "practice area", "session", "held", "assessor", "questions", "follow-ups"],
        [
            [
                r.id,
                r.practice_area,
                r.session_label or "",
                r.held_on,
                r.assessor,
                len(r.answers),
                sum(1 for a in r.answers if a.follow_up),
            ]
            for r in rows
        ],
    )


@mock_app.command("show")
def mock_show(number: int = NUMBER, mock: int = MOCK, fmt: OutputFormat = FORMAT) -> None:
    """One mock interview with its scored questions."""
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        out = MockInterviewOut.of(get_mock_interview(session, fda_assessment=visit, mock_id=mock))
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _show_mock(out)


@mock_app.command("gaps")
def mock_gaps_command(number: int = NUMBER, fmt: OutputFormat = FORMAT) -> None:
    """Where the mock scores fall below the self-assessment, per question and sub-element."""
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        out = MockGapsOut.of(
            mock_gaps(session, fda_assessment=visit, reader=acting_reader(session))
        )
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    print_table(
        f"Questions scored below the self-assessment A-{out.self_assessment_id} "
        f"({out.questions_mocked} questions mocked)",
        ["question", "sub-element", "mock", "self", "gap"],
        [
            [
                q["question"],
                q["sub_element"],
                q["mock_score"],
                fmt_score(q["self_score"]),
                f"{q['gap']:+.2f}",
            ]
            for q in out.questions
        ],
    )
    print_table(
        "Sub-elements whose mean mock score is below the self-assessment",
        ["sub-element", "mock mean", "self", "gap", "questions mocked"],
        [
            [
                s["name"],
                fmt_score(s["mock_score"]),
                fmt_score(s["self_score"]),
                f"{s['gap']:+.2f}",
                s["questions_mocked"],
            ]
            for s in out.sub_elements
        ],
    )


@mock_app.command("to-plan")
def mock_to_plan(
    number: int = NUMBER,
    mock: int = MOCK,
    question: str = typer.Option(..., "--question", help="The question whose follow-up to plan."),
    plan: str = typer.Option(..., "--plan", help="A draft plan of the site, e.g. PLAN-0002."),
) -> None:
    """Make a question's follow-up an action of a draft readiness plan of the site."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        interview = get_mock_interview(session, fda_assessment=visit, mock_id=mock)
        action = plan_follow_up(
            session,
            interview=interview,
            question_code=question,
            plan_ref=plan,
            reader=acting_reader(session),
        )
        ref, action_number = action.plan.ref, action.number
    typer.echo(f"the follow-up is now action {action_number} of {ref}")


# --- FDA's feedback ------------------------------------------------------------------------


def _area_scores(values: list[str]) -> dict[str, Any]:
    scores: dict[str, Any] = {}
    for value in values:
        area, sep, number = value.partition("=")
        if not sep:
            fail(f"--score {value!r} must look like advanced_pqs=3.5")
        try:
            scores[area.strip()] = float(number)
        except ValueError:
            scores[area.strip()] = number.strip()
    return scores


def _findings(kind: str, values: list[str]) -> list[FindingIn]:
    found = []
    for value in values:
        area, sep, text = value.partition(":")
        if not sep:
            fail(f"--{kind} {value!r} must look like 'advanced_pqs: what FDA said'")
        found.append(FindingIn(kind, area.strip(), text.strip()))
    return found


def _read_document(path: Path | None) -> tuple[str, bytes] | None:
    if path is None:
        return None
    try:
        return path.name, path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot be read ({exc.strerror})")
        raise


def _show_feedback(out: FeedbackOut) -> None:
    typer.echo(
        f"FDA's feedback on assessment {out.fda_assessment_id} of {out.site}, received "
        f"{out.received_on}; document {out.document}"
    )
    if out.summary:
        typer.echo(out.summary)
    print_table(
        "FDA's scores",
        ["practice area", "score"],
        [[a, fmt_score(s)] for a, s in out.area_scores.items()],
    )
    print_table(
        "What FDA named",
        ["kind", "practice area", "text"],
        [[f.kind, f.practice_area, f.text] for f in out.findings],
    )


@feedback_app.command("record")
def feedback_record(
    number: int = NUMBER,
    received_on: str = typer.Option(..., "--received-on", help="YYYY-MM-DD, after the week."),
    score: list[str] = typer.Option([], "--score", help="area=score, e.g. advanced_pqs=3; repeat."),
    observation: list[str] = typer.Option([], "--observation", help="'area: text'; repeat."),
    strength: list[str] = typer.Option([], "--strength", help="'area: text'; repeat."),
    opportunity: list[str] = typer.Option([], "--opportunity", help="'area: text'; repeat."),
    document: Path | None = typer.Option(
        None, "--document", help="FDA's document; it becomes an evidence item."
    ),
    evidence: str | None = typer.Option(
        None, "--evidence", help="Or the evidence item already holding it, e.g. EV-0012."
    ),
    summary: str = typer.Option("", "--summary", help="A line or two on what FDA said."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Record what FDA returned (again: replaces it); the assessment is then feedback_received."""
    findings = [
        *_findings("observation", observation),
        *_findings("strength", strength),
        *_findings("opportunity", opportunity),
    ]
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        feedback = record_feedback(
            session,
            fda_assessment=visit,
            received_on=optional_day(received_on, option="--received-on"),
            area_scores=_area_scores(score),
            findings=findings,
            summary=summary,
            evidence_ref=evidence,
            document=_read_document(document),
        )
        out = FeedbackOut.of(feedback)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _show_feedback(out)


@feedback_app.command("show")
def feedback_show(number: int = NUMBER, fmt: OutputFormat = FORMAT) -> None:
    """FDA's feedback on an assessment."""
    with boundary() as session:
        visit = _visit(session, number, Permission.site_read)
        out = FeedbackOut.of(get_feedback(session, fda_assessment=visit))
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _show_feedback(out)


@feedback_app.command("plan")
def feedback_plan(
    number: int = NUMBER,
    owner: str = typer.Option(..., "--owner", help="The executive who owns the plan."),
    start_on: str = typer.Option(..., "--start-on", help="Day 1 of the plan, YYYY-MM-DD."),
    supersede: bool = typer.Option(
        False, "--supersede", help="Replace the running approved plan once this one is approved."
    ),
) -> None:
    """Draft the next 90-day plan: the checklist, the self-assessment's gaps, FDA's gaps and
    opportunities (each action names its source)."""
    with boundary(writer=True) as session:
        visit = _visit(session, number, Permission.program_manage)
        plan = plan_from_feedback(
            session,
            fda_assessment=visit,
            reader=acting_reader(session),
            owner=owner,
            start_on=optional_day(start_on, option="--start-on"),
            store=event_store(),
            supersede=supersede,
        )
        fed = sum(1 for a in plan.actions if a.source in ("fda_gap", "fda_opportunity"))
        ref, total = plan.ref, len(plan.actions)
    typer.echo(f"drafted {ref}: {total} actions, {fed} from FDA's feedback; approve it to run it")


def _signed(gap: float | None) -> str:
    """A gap to two decimals with its sign; none, or one below half a hundredth, as such."""
    if gap is None:
        return ""
    return "0.00" if abs(gap) < GAP_NOISE else f"{gap:+.2f}"


def _print_calibration(rows: list[CalibrationOut]) -> None:
    for c in rows:
        print_table(
            f"{c.site}: {c.title} (FDA assessment {c.fda_assessment_id}), feedback "
            f"{c.received_on}, self-assessment A-{c.self_assessment_id or '?'}",
            ["practice area", "self", "FDA", "gap (self - FDA)"],
            [
                [
                    a.name,
                    fmt_score(a.self_score),
                    fmt_score(a.fda_score),
                    _signed(a.gap),
                ]
                for a in c.areas
            ],
        )


def calibration(
    site: str | None = typer.Option(
        None, "--site", help="One site's history; left out, every site you may read."
    ),
    fmt: OutputFormat = FORMAT,
) -> None:
    """The calibration gap (self minus FDA) per practice area: a site's history, or across sites."""
    with boundary() as session:
        reader = acting_reader(session)
        if site is not None:
            the_site = site_for(session, site, Permission.site_read)
            rows = [
                CalibrationOut.of(c)
                for c in site_calibration(session, site=the_site, reader=reader)
            ]
        else:
            across = WorkspaceCalibrationOut.of(
                workspace_calibration(session, reader=reader, sites=list_sites(session))
            )
    if site is not None:
        if fmt is OutputFormat.json:
            print_json([r.model_dump(mode="json") for r in rows])
            return
        if not rows:
            typer.echo(f"{site} has no FDA assessment with feedback recorded yet")
        _print_calibration(rows)
        return
    if fmt is OutputFormat.json:
        print_json(across.model_dump(mode="json"))
        return
    print_table(
        "Calibration gap (self minus FDA) at each site's latest FDA assessment",
        ["practice area", *across.sites, "mean"],
        [
            [
                a.name,
                *[_signed(a.gaps.get(s)) for s in across.sites],
                _signed(a.mean_gap),
            ]
            for a in across.areas
        ],
    )
