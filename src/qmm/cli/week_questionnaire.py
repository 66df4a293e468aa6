"""`qmm week questionnaire`: the pre-interview questionnaire of an FDA assessment, the site's
pre-interview questions, the review, the site head's signature and the DOCX/PDF export."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from qmm.assessment.service import get_assessment
from qmm.assessment_week.preparation_schemas import PreInterviewQuestionOut, QuestionnaireOut
from qmm.assessment_week.questionnaire import (
    draft_from,
    edit_answer,
    get_questionnaire,
    pre_interview_questions,
    questions_framework,
    redraft_answer,
    reset_questions,
    review_questionnaire,
    sign_questionnaire,
    start_questionnaire,
    tag_question,
    untag_question,
)
from qmm.assessment_week.service import get_fda_assessment
from qmm.auth.permissions import Permission
from qmm.auth.service import get_user
from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    fail,
    print_json,
    print_table,
    read_password,
    refuse_link,
)
from qmm.cli.program_common import site_for
from qmm.reports.exports import write_file
from qmm.reports.questionnaire_docs import build_document, render_questionnaire

app = typer.Typer(
    help="The pre-interview questionnaire: questions, drafted answers, review, sign-off, export.",
    no_args_is_help=True,
)

NUMBER = typer.Argument(..., help="The FDA assessment's number (`qmm week list`).")
SITE = typer.Option(..., "--site", help="Site code, e.g. SITE-A.")
FORMAT = typer.Option(OutputFormat.table, "--format", help="table or json.")
AREA = typer.Option(..., "--area", help="Practice area code, e.g. advanced_pqs.")


class DocumentFormat(StrEnum):
    docx = "docx"
    pdf = "pdf"


def _print(out: QuestionnaireOut, fmt: OutputFormat) -> None:
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    print_table(
        f"Pre-interview questionnaire of FDA assessment {out.fda_assessment_id} ({out.site}), "
        f"{out.status}",
        ["practice area", "questions", "edited by", "answer"],
        [
            [
                a.practice_area,
                len(a.questions),
                a.edited_by or "(draft)",
                a.answer.strip().splitlines()[0][:80] if a.answer.strip() else "",
            ]
            for a in out.answers
        ],
    )
    if out.examples:
        console.print(f"Examples to share: {', '.join(out.examples)}", highlight=False)
    if out.reviewed_by:
        console.print(f"Reviewed by {out.reviewed_by}", highlight=False)
    for s in out.signatures:
        console.print(f"Signed ({s.meaning}) by {s.printed_name} ({s.username})", highlight=False)


@app.command("start")
def start(number: int = NUMBER, fmt: OutputFormat = FORMAT) -> None:
    """Open the questionnaire: every practice area's answer drafted from the records."""
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        out = QuestionnaireOut.of(session, start_questionnaire(session, fda_assessment=visit))
    _print(out, fmt)


@app.command("show")
def show(number: int = NUMBER, fmt: OutputFormat = FORMAT) -> None:
    """The questionnaire: each practice area's questions and answer, review and signatures."""
    with boundary() as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.site_read)
        out = QuestionnaireOut.of(session, get_questionnaire(session, fda_assessment=visit))
    _print(out, fmt)


@app.command("self-assessment")
def self_assessment(
    number: int = NUMBER,
    assessment_id: int = typer.Option(
        ..., "--assessment", help="The self-assessment's id (`qmm assess list`)."
    ),
) -> None:
    """Choose the self-assessment the answers are drafted from; unedited answers are redrafted."""
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        draft_from(
            session,
            fda_assessment=visit,
            assessment=get_assessment(session, assessment_id=assessment_id),
        )
    console.print(
        f"FDA assessment {number} is prepared from self-assessment {assessment_id}",
        highlight=False,
    )


@app.command("answer")
def answer(
    number: int = NUMBER,
    area: str = AREA,
    text: str | None = typer.Option(None, "--text", help="The answer."),
    from_file: Path | None = typer.Option(
        None, "--from-file", help="Read the answer from this UTF-8 text file."
    ),
) -> None:
    """Replace a practice area's answer with your edited text."""
    if (text is None) == (from_file is None):
        fail("give the answer with --text or --from-file (one of them)")
    if from_file is not None:
        try:
            text = from_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            fail(f"--from-file {from_file}: {exc}")
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        questionnaire = get_questionnaire(session, fda_assessment=visit)
        edit_answer(session, questionnaire=questionnaire, practice_area=area, answer=text)
    console.print(f"Saved the answer for {area}", highlight=False)


@app.command("redraft")
def redraft(number: int = NUMBER, area: str = AREA) -> None:
    """Draft a practice area again from the records as they are now (replaces its answer)."""
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        questionnaire = get_questionnaire(session, fda_assessment=visit)
        redraft_answer(session, questionnaire=questionnaire, practice_area=area)
    console.print(f"Drafted {area} again from the records", highlight=False)


@app.command("review")
def review(
    number: int = NUMBER,
    note: str | None = typer.Option(None, "--note", help="What the review checked."),
) -> None:
    """Record the review by a second person who wrote none of it (--as names who)."""
    with boundary(writer=True) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.program_manage)
        questionnaire = get_questionnaire(session, fda_assessment=visit)
        review_questionnaire(session, questionnaire=questionnaire, note=note)
        who = questionnaire.reviewed_by
    console.print(f"The questionnaire is reviewed by {who}", highlight=False)


@app.command("sign")
def sign_(
    number: int = NUMBER,
    username: str = typer.Option(..., "--user", help="The site head (asked for their password)."),
    meaning: str = typer.Option("approved", "--meaning", help="What the signature means."),
    password_stdin: bool = typer.Option(
        False, "--password-stdin", help="Read the password from standard input."
    ),
) -> None:
    """The site head signs the reviewed questionnaire off; it is then frozen."""
    password = read_password(from_stdin=password_stdin, prompt=f"Password for {username}")
    with boundary(signer=username) as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.site_read)
        questionnaire = get_questionnaire(session, fda_assessment=visit)
        sign_questionnaire(
            session,
            questionnaire=questionnaire,
            user=get_user(session, username=username),
            password=password,
            meaning=meaning,
        )
    console.print(
        f"Signed the questionnaire of FDA assessment {number} ({meaning})", highlight=False
    )


@app.command("export")
def export(
    number: int = NUMBER,
    fmt: DocumentFormat = typer.Option(DocumentFormat.docx, "--format", help="docx or pdf."),
    out: Path = typer.Option(..., "--out", help="File to write, whole or not at all."),
) -> None:
    """Write the questionnaire as a Word document or a PDF."""
    refuse_link(out)
    if out.is_dir():
        fail(f"--out {out} is a folder; name the file to write")
    if not out.parent.is_dir():
        fail(f"--out {out}: folder {out.parent} does not exist")
    with boundary() as session:
        visit = get_fda_assessment(session, fda_assessment_id=number)
        site_for(session, visit.site.code, Permission.site_read)
        questionnaire = get_questionnaire(session, fda_assessment=visit)
        content = render_questionnaire(
            build_document(session, questionnaire=questionnaire), fmt.value
        )
        write_file(out, content)
    console.print(f"Wrote {out} ({len(content):,} bytes)", highlight=False)


@app.command("questions")
def questions(site: str = SITE, fmt: OutputFormat = FORMAT) -> None:
    """The site's pre-interview questions (the shipped default until the site edits its set)."""
    with boundary() as session:
        the_site = site_for(session, site, Permission.site_read)
        framework = questions_framework(session, site=the_site)
        rows = [
            PreInterviewQuestionOut.of(i)
            for i in pre_interview_questions(session, site=the_site, framework=framework)
        ]
    if fmt is OutputFormat.json:
        print_json([r.model_dump(mode="json") for r in rows])
        return
    print_table(
        f"Pre-interview questions of {site}",
        ["code", "practice area", "question"],
        [[r.code, r.practice_area, r.text] for r in rows],
    )


@app.command("tag")
def tag(
    site: str = SITE,
    code: str = typer.Argument(..., help="A framework question code, e.g. capa_effectiveness.q2."),
    remove: bool = typer.Option(False, "--remove", help="Take it off the set instead."),
) -> None:
    """Tag a framework question as a pre-interview question (or take it off with --remove)."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        if remove:
            untag_question(session, site=the_site, code=code)
        else:
            tag_question(session, site=the_site, code=code)
    verb = "taken off" if remove else "added to"
    console.print(f"{code} is {verb} {site}'s pre-interview questions", highlight=False)


@app.command("reset-questions")
def reset(site: str = SITE) -> None:
    """Go back to the shipped default set of pre-interview questions."""
    with boundary(writer=True) as session:
        the_site = site_for(session, site, Permission.program_manage)
        reset_questions(session, site=the_site)
    console.print(f"{site} uses the shipped default pre-interview questions", highlight=False)
