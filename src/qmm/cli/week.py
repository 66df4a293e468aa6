"""`qmm week`: FDA's assessment of a site: its dates, timeline with owners, the site's people."""

from __future__ import annotations

import typer

from qmm.assessment_week.schemas import FdaAssessmentOut, SitePersonOut
from qmm.assessment_week.service import (
    add_person,
    get_fda_assessment,
    list_fda_assessments,
    list_people,
    plan_fda_assessment,
    set_status,
    update_milestone,
)
from qmm.auth.permissions import Permission
from qmm.cli import week_agenda
from qmm.cli.common import OutputFormat, boundary, print_json, print_table
from qmm.cli.program_common import optional_day, site_for
from qmm.cli.week_examples import app as examples_app
from qmm.cli.week_questionnaire import app as questionnaire_app
from qmm.models import FdaAssessmentStatus, FdaMilestoneKind

app = typer.Typer(
    help="FDA's assessment week: dates, timeline with owners, the site's people.",
    no_args_is_help=True,
)

SITE = typer.Option(..., "--site", help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
NUMBER = typer.Argument(..., help="The FDA assessment's number (`qmm week list`).")
app.add_typer(week_agenda.agenda_app, name="agenda")
app.add_typer(week_agenda.card_app, name="card")
KINDS = ", ".join(k.value for k in FdaMilestoneKind)
STATUSES = ", ".join(s.value for s in FdaAssessmentStatus)
app.add_typer(examples_app, name="examples")
app.add_typer(questionnaire_app, name="questionnaire")


def _print_assessment(out: FdaAssessmentOut) -> None:
    print_table(
        f"FDA assessment {out.id} of {out.site}: {out.title}, {out.starts_on} to {out.ends_on} "
        f"({out.time_zone}), {out.status}",
        ["milestone", "due", "owner", "done", "late"],
        [
            [m.label, m.due_on, m.owner, m.done_on or "", "late" if m.overdue else ""]
            for m in out.milestones
        ],
    )


@app.command("plan")
def plan(
    site: str = SITE,
    title: str = typer.Option(..., "--title", help="e.g. 'FDA QMM assessment 2027'."),
    starts_on: str = typer.Option(..., "--starts-on", help="First day on site, YYYY-MM-DD."),
    ends_on: str = typer.Option(..., "--ends-on", help="Last day (at most five days), YYYY-MM-DD."),
    time_zone: str = typer.Option(
        ..., "--time-zone", help="The site's IANA time zone, e.g. America/New_York."
    ),
    owner: str = typer.Option(..., "--owner", help="Who owns the milestones at first."),
    notes: str | None = typer.Option(None, "--notes", help="Anything the team should know."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Record FDA's coming assessment; the timeline (orientation to feedback) follows its dates."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        visit = plan_fda_assessment(
            session,
            site=the_site,
            title=title,
            starts_on=optional_day(starts_on, option="--starts-on"),
            ends_on=optional_day(ends_on, option="--ends-on"),
            time_zone=time_zone,
            owner=owner,
            notes=notes,
        )
        out = FdaAssessmentOut.of(visit)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _print_assessment(out)


@app.command("list")
def list_(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's FDA assessments, the latest first."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [FdaAssessmentOut.of(v) for v in list_fda_assessments(session, site=the_site)]
    if fmt is OutputFormat.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        f"FDA assessments of {site}",
        ["number", "title", "from", "to", "zone", "status", "late milestones"],
        [
            [
                r.id,
                r.title,
                r.starts_on,
                r.ends_on,
                r.time_zone,
                r.status,
                sum(m.overdue for m in r.milestones),
            ]
            for r in rows
        ],
    )


@app.command("show")
def show(number: int = NUMBER, fmt: OutputFormat = FORMAT) -> None:
    """One FDA assessment and its timeline, late steps marked."""
    with boundary() as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.site_read)
        out = FdaAssessmentOut.of(visit)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _print_assessment(out)


@app.command("milestone")
def milestone(
    number: int = NUMBER,
    kind: str = typer.Option(..., "--kind", help=f"Which step: {KINDS}."),
    due_on: str | None = typer.Option(None, "--due-on", help="New due date, YYYY-MM-DD."),
    owner: str | None = typer.Option(None, "--owner", help="New owner."),
    done_on: str | None = typer.Option(None, "--done-on", help="The day it was done."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Move a milestone, give it another owner, or record the day it was done."""
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        update_milestone(
            session,
            fda_assessment=visit,
            kind=kind,
            due_on=optional_day(due_on, option="--due-on"),
            owner=owner,
            done_on=optional_day(done_on, option="--done-on"),
        )
        out = FdaAssessmentOut.of(visit)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    _print_assessment(out)


@app.command("status")
def status(
    number: int = NUMBER,
    new_status: str = typer.Argument(..., metavar="STATUS", help=f"One of {STATUSES}."),
) -> None:
    """Mark the assessment held, its feedback received, or cancelled."""
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        set_status(session, fda_assessment=visit, status=new_status)
    typer.echo(f"FDA assessment {number} is now {new_status}")


@app.command("person-add")
def person_add(
    site: str = SITE,
    name: str = typer.Option(..., "--name", help="Full name."),
    job_title: str = typer.Option(..., "--job-title", help="e.g. 'QC microbiology lead'."),
    department: str = typer.Option(..., "--department", help="e.g. 'Quality Control'."),
    email: str | None = typer.Option(None, "--email", help="For calendar invitations."),
    fmt: OutputFormat = FORMAT,
) -> None:
    """Add someone who may attend a session; workbench users and others alike."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        person = add_person(
            session,
            site=the_site,
            name=name,
            job_title=job_title,
            department=department,
            email=email,
        )
        out = SitePersonOut.of(person)
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    typer.echo(f"added {out.name} ({out.job_title}, {out.department}) as person {out.id}")


@app.command("people")
def people(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's people who may attend sessions."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        rows = [SitePersonOut.of(p) for p in list_people(session, site=the_site)]
    if fmt is OutputFormat.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        f"People of {site}",
        ["number", "name", "job title", "department", "email", "user"],
        [[r.id, r.name, r.job_title, r.department, r.email or "", r.username or ""] for r in rows],
    )


# Mock interviews, FDA's feedback and the calibration gap live in their own module.
from qmm.cli.week_feedback import calibration, feedback_app, mock_app  # noqa: E402

app.add_typer(mock_app, name="mock")
app.add_typer(feedback_app, name="feedback")
app.command("calibration")(calibration)
