"""The readiness report as one self-contained HTML file, and as a PDF printed from that HTML."""

from __future__ import annotations

import base64
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Final, Literal

import jinja2

from qmm import __version__
from qmm.errors import InvalidInput
from qmm.framework.practice_areas import PRACTICE_AREA_CODES, PRACTICE_AREAS
from qmm.presentation.formatting import format_cell, format_score, format_utc
from qmm.presentation.maturity import COHORT_NAME, heat_class, scale_x
from qmm.presentation.partials import PARTIALS_DIR
from qmm.reports.readiness import ReadinessReport, provenance_words, target_words

REPORT_TEMPLATES: Final = Path(__file__).parent / "templates"
ReportFormat = Literal["html", "pdf"]
REPORT_FORMATS: Final[dict[str, str]] = {
    "html": "text/html; charset=utf-8",
    "pdf": "application/pdf",
}


def iso_utc(moment: datetime) -> str:
    """A timestamp as ISO 8601 in UTC, as PDF metadata wants it."""
    aware = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def svg_data_uri(svg: str) -> str:
    """An SVG as a data URI: the PDF engine parses it as XML (fast) and still draws vectors."""
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


def _environment() -> jinja2.Environment:
    # The report's own templates first; the shared partials (the cohort band) make the report
    # draw the same figures the pages do.
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(REPORT_TEMPLATES), jinja2.FileSystemLoader(PARTIALS_DIR)]
        ),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        score=format_score,
        utc=format_utc,
        cell=format_cell,
        iso_utc=iso_utc,
        svg_data_uri=svg_data_uri,
    )
    env.globals.update(
        heat_class=heat_class,
        scale_x=scale_x,
        cohort_name=COHORT_NAME,
        area_codes=PRACTICE_AREA_CODES,
        area_names=PRACTICE_AREAS,
        provenance_words=provenance_words,
        target_words=target_words,
        version=__version__,
    )
    return env


_ENV: Final = _environment()


def check_format(fmt: str) -> ReportFormat:
    """html or pdf, or a clear refusal naming both."""
    if fmt not in REPORT_FORMATS:
        raise InvalidInput(f"format {fmt!r} is not one of {', '.join(REPORT_FORMATS)}")
    return "pdf" if fmt == "pdf" else "html"


def report_html(report: ReadinessReport) -> str:
    """The report as one HTML document: styles inline, charts as SVG data URIs, nothing fetched."""
    return _ENV.get_template("readiness.html").render(report=report)


def report_pdf(html: str) -> bytes:
    """The same HTML printed to PDF: vector charts, fonts embedded as subsets, page numbers."""
    import weasyprint

    # WeasyPrint logs every CSS property it does not support; the report's are deliberate.
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    document = weasyprint.HTML(string=html, base_url=str(REPORT_TEMPLATES))
    pdf = document.write_pdf(uncompressed_pdf=False)
    assert pdf is not None
    return bytes(pdf)


def summary_html(report: ReadinessReport) -> str:
    """The one-page summary as its own HTML document, styled as the report."""
    return _ENV.get_template("summary.html").render(report=report)


def render_summary(report: ReadinessReport, fmt: ReportFormat) -> bytes:
    """The one-page summary's bytes in the format asked for."""
    html = summary_html(report)
    return report_pdf(html) if fmt == "pdf" else html.encode("utf-8")


def render_report(report: ReadinessReport, fmt: ReportFormat) -> bytes:
    """The report's bytes in the format asked for."""
    html = report_html(report)
    return report_pdf(html) if fmt == "pdf" else html.encode("utf-8")
