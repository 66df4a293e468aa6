"""`qmm assess`: create assessments, record and import ratings, show scores and agreement."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from pathlib import Path
from textwrap import shorten

import typer

from qmm.assessment.schemas import AssessmentOut, AssessmentScoresOut
from qmm.assessment.scoring import OVERALL_LABEL, AssessmentScores
from qmm.assessment.service import (
    add_member,
    close_assessment,
    compare_assessments,
    compute_scores,
    create_assessment,
    get_assessment,
    get_question,
    import_ratings,
    list_assessments,
    parse_score,
    rating_history,
    record_consensus,
    record_rating,
    remove_member,
)
from qmm.audit.schemas import SignatureOut
from qmm.audit.signatures import SignatureStatus, signatures_for
from qmm.auth.service import get_user
from qmm.auth.signing import sign
from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    fail,
    fmt_score,
    print_json,
    print_table,
    read_password,
)
from qmm.framework.service import DEFAULT_FRAMEWORK_CODE, get_framework
from qmm.sites.service import get_site

app = typer.Typer(
    help="Assess a site: create an assessment, rate questions, see scores and agreement.",
    no_args_is_help=True,
)


class Level(StrEnum):
    practice_area = "practice-area"
    sub_element = "sub-element"
    question = "question"


@app.command("create")
def create(
    site: str = typer.Option(..., "--site", help="Code of the site assessed."),
    title: str = typer.Option(..., "--title", help="What this assessment is, e.g. 'FY26 self'."),
    lead: str = typer.Option(..., "--lead", help="Username of the lead assessor."),
    assessor: list[str] = typer.Option([], "--assessor", help="Username of an assessor; repeat."),
    kind: str = typer.Option("self", "--kind", help="self, mock or external."),
    framework: str = typer.Option(
        DEFAULT_FRAMEWORK_CODE, "--framework", help="Framework code or code@version to pin."
    ),
    started_on: str | None = typer.Option(None, "--started-on", help="YYYY-MM-DD (today)."),
) -> None:
    """Create an assessment of a site; it pins the framework version it is made with."""
    start = _parse_date(started_on) if started_on else None
    with boundary() as session:
        assessment = create_assessment(
            session,
            site=get_site(session, code=site),
            framework=get_framework(session, ref=framework),
            kind=kind,
            title=title,
            lead=get_user(session, username=lead),
            assessors=[get_user(session, username=u) for u in assessor],
            started_on=start,
        )
        console.print(
            f"Created assessment {assessment.id} of {site} with {assessment.framework.ref}."
        )


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"date {text!r} must be YYYY-MM-DD")
        raise


@app.command("list")
def list_(
    site: str | None = typer.Option(None, "--site", help="Only this site's assessments."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """List assessments, newest first."""
    with boundary() as session:
        rows = [
            AssessmentOut.of(a)
            for a in list_assessments(session, site=get_site(session, code=site) if site else None)
        ]
    if fmt is OutputFormat.json:
        print_json(rows)
        return
    print_table(
        "Assessments",
        ["id", "site", "kind", "title", "framework", "status", "started", "team"],
        [
            [
                r.id,
                r.site,
                r.kind,
                r.title,
                r.framework,
                r.status,
                r.started_on.isoformat(),
                ", ".join(r.team),
            ]
            for r in rows
        ],
    )


@app.command("import-ratings")
def import_ratings_(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    path: Path = typer.Argument(
        ..., help="CSV with columns assessor, question, score (1-5 or NA), rationale[, evidence]."
    ),
) -> None:
    """Import ratings from a CSV file; a file with any invalid row stores nothing."""
    with boundary() as session:
        ratings = import_ratings(
            session, assessment=get_assessment(session, assessment_id=assessment_id), path=path
        )
        console.print(f"Recorded {len(ratings)} rating(s) in assessment {assessment_id}.")


@app.command("rate")
def rate(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    question: str = typer.Option(..., "--question", help="Question code."),
    assessor: str = typer.Option(..., "--assessor", help="Username of the assessor."),
    score: str = typer.Option(..., "--score", help="1-5, or NA for not applicable."),
    rationale: str = typer.Option(..., "--rationale", help="What evidence supports the level."),
    evidence: list[str] = typer.Option([], "--evidence", help="Evidence reference; repeat."),
) -> None:
    """Record one rating; it supersedes the same assessor's earlier rating (both are kept)."""
    try:
        value = parse_score(score)
    except ValueError as exc:
        fail(f"score {score!r} {exc}")
        raise
    with boundary() as session:
        assessment = get_assessment(session, assessment_id=assessment_id)
        record_rating(
            session,
            assessment=assessment,
            question=get_question(session, assessment=assessment, code=question),
            assessor=get_user(session, username=assessor),
            score=value,
            rationale=rationale,
            evidence_refs=evidence,
        )
        console.print(f"Recorded {assessor}'s rating of {question}: {score}.")


@app.command("consensus")
def consensus(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    question: str = typer.Option(..., "--question", help="Question code."),
    lead: str = typer.Option(..., "--by", help="Username of the lead."),
    score: str = typer.Option(..., "--score", help="1 to 5 (decimals allowed), or NA."),
    rationale: str = typer.Option(..., "--rationale", help="Why the team agreed this level."),
) -> None:
    """Record the lead's consensus score for a question (else the assessors' mean stands)."""
    value: float | None
    if score.strip().lower() in {"na", "n/a"}:
        value = None
    else:
        try:
            value = float(score)
        except ValueError:
            fail(f"score {score!r} must be a number from 1 to 5, or NA")
            raise
    with boundary() as session:
        assessment = get_assessment(session, assessment_id=assessment_id)
        record_consensus(
            session,
            assessment=assessment,
            question=get_question(session, assessment=assessment, code=question),
            lead=get_user(session, username=lead),
            score=value,
            rationale=rationale,
        )
        console.print(f"Recorded consensus for {question}: {score}.")


@app.command("history")
def history(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    question: str = typer.Option(..., "--question", help="Question code."),
) -> None:
    """Every rating ever recorded for a question, superseded ones included."""
    with boundary() as session:
        assessment = get_assessment(session, assessment_id=assessment_id)
        rows = [
            [
                r.id,
                r.recorded_at.isoformat(timespec="seconds"),
                r.assessor.username,
                "NA" if r.score is None else r.score,
                "superseded" if r.superseded_by_id else "current",
                r.rationale,
            ]
            for r in rating_history(
                session,
                assessment=assessment,
                question=get_question(session, assessment=assessment, code=question),
            )
        ]
    print_table(
        f"Ratings of {question}",
        ["id", "recorded (UTC)", "assessor", "score", "state", "rationale"],
        rows,
    )


@app.command("scores")
def scores(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    level: Level = typer.Option(Level.sub_element, "--level", help="Deepest level to show."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Show the scores: practice areas, sub-elements, questions, agreement, strengths."""
    with boundary() as session:
        assessment = get_assessment(session, assessment_id=assessment_id)
        result = compute_scores(session, assessment=assessment)
        signed = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
        shown = AssessmentScoresOut.of(assessment, result, signed)
    if fmt is OutputFormat.json:
        print_json(shown)
        return
    meta = shown.assessment
    console.print(
        f"[bold]{meta.site}[/] assessment {meta.id} '{meta.title}' "
        f"({meta.kind}, {meta.status}, {meta.framework})",
        highlight=False,
    )
    render_scores(result, level)
    render_signatures(signed)


def render_signatures(signed: list[SignatureStatus]) -> None:
    """Signatures wherever a signed record is shown, with whether each still holds."""
    if not signed:
        console.print("Signatures: none.")
        return
    console.print("[bold]Signatures[/]")
    for status in signed:
        style = "" if status.valid else "[bold red]"
        console.print(f"{style}- {status.line()}", highlight=False)


def render_scores(result: AssessmentScores, level: Level = Level.sub_element) -> None:
    """Print an assessment's scores as tables for people."""
    print_table(
        "Practice areas",
        ["practice area", "score", "sub-elements scored"],
        [
            [pa.name, fmt_score(pa.score), f"{pa.sub_elements_scored}/{pa.sub_elements_total}"]
            for pa in result.practice_areas.values()
        ]
        + [["Overall*", fmt_score(result.overall), ""]],
    )
    console.print(f"* {OVERALL_LABEL} ({result.rule.describe()})", highlight=False)
    if level is not Level.practice_area:
        print_table(
            "Sub-elements",
            ["practice area", "sub-element", "score", "questions scored"],
            [
                [
                    se.practice_area,
                    se.name,
                    fmt_score(se.score),
                    f"{se.questions_scored}/{se.questions_total}",
                ]
                for se in result.sub_elements.values()
            ],
        )
    if level is Level.question:
        print_table(
            "Questions",
            ["question", "consensus", "source", "ratings", "spread", "calibrate"],
            [
                [
                    q.code,
                    fmt_score(q.consensus),
                    q.consensus_source,
                    ", ".join(
                        f"{r.assessor}={r.score if r.score is not None else 'NA'}"
                        for r in q.ratings
                    ),
                    "-" if q.spread is None else q.spread,
                    "yes" if q.needs_calibration else "",
                ]
                for q in result.questions.values()
            ],
        )
    agreement = result.agreement
    value = "-" if agreement.value is None else f"{agreement.value:.3f}"
    console.print(
        f"Inter-rater agreement: {agreement.statistic} = {value}: {agreement.reading}. "
        f"{len(agreement.questions_flagged)} question(s) differ by 2 levels or more "
        f"and are flagged for calibration.",
        highlight=False,
    )
    for title, items in (("Strengths", result.strengths), ("Opportunities", result.opportunities)):
        print_table(
            title,
            ["sub-element", "practice area", "score", "rationale"],
            [
                [
                    s.name,
                    s.practice_area,
                    fmt_score(s.score),
                    shorten(s.rationale[0], 160, placeholder=" ...") if s.rationale else "",
                ]
                for s in items
            ],
        )


@app.command("team-add")
def team_add(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    username: str = typer.Argument(..., help="Username of the person to add."),
    role: str = typer.Option("assessor", "--role", help="assessor or lead."),
) -> None:
    """Put a person on an open assessment's team so that they can rate it."""
    with boundary() as session:
        add_member(
            session,
            assessment=get_assessment(session, assessment_id=assessment_id),
            user=get_user(session, username=username),
            role=role,
        )
        console.print(f"Added {username} to the team of assessment {assessment_id} as {role}.")


@app.command("team-remove")
def team_remove(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    username: str = typer.Argument(..., help="Username of the person to take off."),
) -> None:
    """Take a person who has not rated off an open assessment's team (never the lead)."""
    with boundary() as session:
        remove_member(
            session,
            assessment=get_assessment(session, assessment_id=assessment_id),
            user=get_user(session, username=username),
        )
        console.print(f"Took {username} off the team of assessment {assessment_id}.")


@app.command("close")
def close(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    by: str = typer.Option(..., "--by", help="Username of the lead."),
) -> None:
    """Close an assessment once every question is rated; its scores are then fixed."""
    with boundary() as session:
        close_assessment(
            session,
            assessment=get_assessment(session, assessment_id=assessment_id),
            by=get_user(session, username=by),
        )
        console.print(f"Closed assessment {assessment_id}.")


@app.command("compare")
def compare(
    before: int = typer.Argument(..., help="Id of the earlier assessment."),
    after: int = typer.Argument(..., help="Id of the later assessment."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Compare two assessments of the same site: what moved, by how much."""
    with boundary() as session:
        moves = compare_assessments(
            session,
            before=get_assessment(session, assessment_id=before),
            after=get_assessment(session, assessment_id=after),
        )
    if fmt is OutputFormat.json:
        print_json(
            [
                {
                    "level": m.level,
                    "code": m.code,
                    "name": m.name,
                    "before": m.before,
                    "after": m.after,
                    "delta": m.delta,
                }
                for m in moves
            ]
        )
        return
    print_table(
        f"Assessment {before} -> {after}",
        ["level", "name", "before", "after", "change"],
        [
            [
                m.level.replace("_", " "),
                m.name,
                fmt_score(m.before),
                fmt_score(m.after),
                "-" if m.delta is None else f"{m.delta:+.2f}",
            ]
            for m in moves
        ],
    )


@app.command("sign")
def sign_(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    username: str = typer.Option(..., "--user", help="Who signs (asked for their password)."),
    meaning: str = typer.Option(
        ..., "--meaning", help="authored, reviewed, approved or responsible."
    ),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """Sign an assessment electronically; the signature binds to its exact content."""
    password = read_password(from_stdin=password_stdin, prompt=f"Password for {username}")
    with boundary(signer=username) as session:
        status = None
        signature = sign(
            session,
            user=get_user(session, username=username),
            password=password,
            meaning=meaning,
            record_type="assessment",
            record_id=str(assessment_id),
        )
        status = signatures_for(session, record_type="assessment", record_id=str(assessment_id))[-1]
        assert status.id == signature.id
    console.print(f"Signed: {status.line()}", highlight=False)


@app.command("signatures")
def signatures(
    assessment_id: int = typer.Argument(..., help="Assessment id."),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Show an assessment's signatures and whether each still matches the record."""
    with boundary() as session:
        get_assessment(session, assessment_id=assessment_id)
        signed = signatures_for(session, record_type="assessment", record_id=str(assessment_id))
    if fmt is OutputFormat.json:
        print_json([SignatureOut.of(x) for x in signed])
        return
    render_signatures(signed)
    if any(not x.valid for x in signed):
        raise typer.Exit(1)
