"""The pre-interview questionnaire as FDA receives it: a Word document (quality people work in
Word) and a PDF, the same bytes for the same questionnaire and generation time."""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Final
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

import jinja2
from sqlalchemy.orm import Session

from qmm import __version__
from qmm.assessment_week.examples import STATUS_LABELS, chosen_examples
from qmm.assessment_week.questionnaire import RECORD_TYPE, STATUS_LABELS_Q
from qmm.audit.signatures import signatures_for
from qmm.errors import InvalidInput
from qmm.models import Assessment, Questionnaire
from qmm.reports.render import iso_utc

TEMPLATES: Final = Path(__file__).parent / "templates"
DOCUMENT_FORMATS: Final = {
    "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "pdf": "application/pdf",
}


@dataclass(frozen=True)
class AreaSection:
    """One practice area: the questions FDA may ask and the site's answer, as paragraphs."""

    code: str
    name: str
    questions: tuple[tuple[str, str], ...]
    paragraphs: tuple[str, ...]


@dataclass(frozen=True)
class ExampleEntry:
    ref: str
    title: str
    situation: str
    action_taken: str
    result: str
    status: str


@dataclass(frozen=True)
class QuestionnaireDocument:
    """Everything the exported questionnaire holds, read once from the records."""

    site_code: str
    site_name: str
    fda_title: str
    starts_on: date
    ends_on: date
    self_assessment: str | None
    status: str
    created_by: str
    reviewed: str | None
    areas: tuple[AreaSection, ...]
    examples: tuple[ExampleEntry, ...]
    signatures: tuple[str, ...]
    generated_at: datetime

    @property
    def file_stem(self) -> str:
        return f"pre-interview-questionnaire-{self.site_code}-{self.starts_on.isoformat()}"


def _paragraphs(text: str) -> tuple[str, ...]:
    """Blank lines part paragraphs; single line breaks stay inside them."""
    blocks = [b.strip() for b in text.replace("\r\n", "\n").split("\n\n")]
    return tuple(b for b in blocks if b)


def _utc(moment: datetime) -> datetime:
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).replace(microsecond=0)


def build_document(
    session: Session, *, questionnaire: Questionnaire, generated_at: datetime | None = None
) -> QuestionnaireDocument:
    """The questionnaire's content for export; `generated_at` fixes the one moment it carries."""
    visit = questionnaire.fda_assessment
    assessment = (
        session.get(Assessment, visit.self_assessment_id)
        if visit.self_assessment_id is not None
        else None
    )
    reviewed = None
    if questionnaire.reviewed_by and questionnaire.reviewed_at:
        reviewed = (
            f"Reviewed by {questionnaire.reviewed_by} on "
            f"{_utc(questionnaire.reviewed_at):%Y-%m-%d %H:%M} UTC"
            + (f": {questionnaire.review_note}" if questionnaire.review_note else "")
        )
    return QuestionnaireDocument(
        site_code=visit.site.code,
        site_name=visit.site.name,
        fda_title=visit.title,
        starts_on=visit.starts_on,
        ends_on=visit.ends_on,
        self_assessment=(
            f"{assessment.title} ({assessment.framework.ref})" if assessment is not None else None
        ),
        status=STATUS_LABELS_Q[questionnaire.status],
        created_by=questionnaire.created_by,
        reviewed=reviewed,
        areas=tuple(
            AreaSection(
                code=a.practice_area,
                name=a.practice_area_name,
                questions=tuple((q["code"], q["text"]) for q in a.questions),
                paragraphs=_paragraphs(a.answer),
            )
            for a in questionnaire.answers
        ),
        examples=tuple(
            ExampleEntry(
                e.ref, e.title, e.situation, e.action_taken, e.result, STATUS_LABELS[e.status]
            )
            for e in chosen_examples(session, fda_assessment=visit)
        ),
        signatures=tuple(
            s.line()
            for s in signatures_for(
                session, record_type=RECORD_TYPE, record_id=str(questionnaire.id)
            )
        ),
        generated_at=_utc(generated_at or datetime.now(UTC)),
    )


# --- DOCX --------------------------------------------------------------------------------------


def _fixed_zip(archive: bytes, moment: datetime) -> bytes:
    """The same zip with its entries in name order and every one dated `moment`."""
    stamp = (moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)
    out = io.BytesIO()
    with ZipFile(io.BytesIO(archive)) as source, ZipFile(out, "w", ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = ZipInfo(info.filename, date_time=stamp)
            fixed.compress_type = ZIP_DEFLATED
            fixed.external_attr = 0o600 << 16
            target.writestr(fixed, source.read(info))
    return out.getvalue()


def questionnaire_docx(document: QuestionnaireDocument) -> bytes:
    """The questionnaire as a Word document: a heading per practice area, its questions, the
    site's answer, then the examples to share, the review and the signatures."""
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    styles = doc.styles
    styles["Normal"].font.name = "Calibri"
    styles["Normal"].font.size = Pt(10.5)
    props = doc.core_properties
    props.author = "QMM Workbench"
    props.last_modified_by = "QMM Workbench"
    props.title = f"Pre-interview questionnaire: {document.site_code}"
    props.subject = document.fda_title
    props.created = document.generated_at.replace(tzinfo=None)
    props.modified = document.generated_at.replace(tzinfo=None)
    props.revision = 1

    doc.add_heading(f"Pre-interview questionnaire: {document.site_code} {document.site_name}", 0)
    facts = [
        ("FDA assessment", f"{document.fda_title}, {document.starts_on} to {document.ends_on}"),
        ("Drafted from", document.self_assessment or "no self-assessment chosen"),
        ("Status", document.status),
        ("Opened by", document.created_by),
        ("Review", document.reviewed or "not reviewed yet"),
        ("Generated", f"{document.generated_at:%Y-%m-%d %H:%M} UTC by QMM Workbench {__version__}"),
    ]
    table = doc.add_table(rows=0, cols=2)
    table.style = "Table Grid"
    for label, value in facts:
        row = table.add_row().cells
        row[0].text = label
        row[1].text = value

    for area in document.areas:
        doc.add_heading(area.name, 1)
        doc.add_heading("Questions", 2)
        for code, text in area.questions:
            doc.add_paragraph(f"{text} ({code})", style="List Bullet")
        if not area.questions:
            doc.add_paragraph("No pre-interview question in this practice area.")
        doc.add_heading("Our answer", 2)
        for paragraph in area.paragraphs:
            doc.add_paragraph(paragraph)

    doc.add_heading("Examples we will share", 1)
    if not document.examples:
        doc.add_paragraph("No example chosen yet.")
    for example in document.examples:
        doc.add_heading(f"{example.ref}: {example.title}", 2)
        for label, text in (
            ("Situation", example.situation),
            ("What was done", example.action_taken),
            ("Measured result", example.result),
            ("Status", example.status),
        ):
            para = doc.add_paragraph()
            para.add_run(f"{label}: ").bold = True
            para.add_run(text)

    doc.add_heading("Sign-off", 1)
    for line in document.signatures or ("Not signed off yet.",):
        doc.add_paragraph(line)

    raw = io.BytesIO()
    doc.save(raw)
    return _fixed_zip(raw.getvalue(), document.generated_at)


# --- PDF ---------------------------------------------------------------------------------------

_ENV: Final = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=jinja2.select_autoescape(["html"]),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_ENV.filters["iso_utc"] = iso_utc


def questionnaire_html(document: QuestionnaireDocument) -> str:
    """The questionnaire as one HTML page, printed to PDF."""
    return _ENV.get_template("questionnaire.html").render(d=document, version=__version__)


def questionnaire_pdf(document: QuestionnaireDocument) -> bytes:
    """The questionnaire as a PDF (WeasyPrint), its creation date the generation time."""
    import weasyprint

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    html = weasyprint.HTML(string=questionnaire_html(document), base_url=str(TEMPLATES))
    pdf = html.write_pdf(uncompressed_pdf=False)
    assert pdf is not None
    return bytes(pdf)


def check_document_format(fmt: str) -> str:
    """docx or pdf, or a clear refusal naming both."""
    if fmt not in DOCUMENT_FORMATS:
        raise InvalidInput(f"format {fmt!r} is not one of {', '.join(DOCUMENT_FORMATS)}")
    return fmt


def render_questionnaire(document: QuestionnaireDocument, fmt: str) -> bytes:
    """The questionnaire's bytes in the format asked for."""
    if check_document_format(fmt) == "docx":
        return questionnaire_docx(document)
    return questionnaire_pdf(document)
