"""The readiness report of each demo site as a PDF, checked with Poppler's tools as a reader
would see it: pages, embedded fonts, the scores in its text, a table of contents that points
at the right pages, no blank page, and the same bytes when rendered again."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from PIL import Image, ImageChops
from sqlalchemy import Connection, Engine

from qmm.demo.extracts import write_demo_extracts
from qmm.demo.workspace import DEMO_SITES
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.models import Site
from qmm.reports.readiness import ReadinessReport, build_report
from qmm.reports.render import report_html, report_pdf
from qmm.sites.service import get_site
from web.support import bound_factory

AS_OF = date(2026, 11, 15)
GENERATED = datetime.combine(AS_OF, time(9, 30), UTC)
POPPLER = ("pdfinfo", "pdffonts", "pdftotext", "pdftoppm")


def poppler(tool: str, *args: str) -> str:
    """Run one of Poppler's tools, or fail saying how to install them (never a silent skip)."""
    if shutil.which(tool) is None:
        pytest.fail(
            f"{tool} is missing: install Debian's `poppler-utils` (apt-get install "
            "poppler-utils; .ci/run does)"
        )
    return subprocess.run(
        [tool, *args], check=True, capture_output=True, text=True, timeout=120
    ).stdout


@dataclass(frozen=True)
class Rendered:
    report: ReadinessReport
    html: str
    pdf: Path

    def text(self, first: int | None = None, last: int | None = None) -> str:
        pages = [*(["-f", str(first)] if first else []), *(["-l", str(last)] if last else [])]
        return poppler("pdftotext", "-layout", *pages, str(self.pdf), "-")

    @property
    def pages(self) -> int:
        info = poppler("pdfinfo", str(self.pdf))
        return int(re.search(r"^Pages:\s+(\d+)$", info, re.M).group(1))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def connection(demo_database: Engine) -> Iterator[Connection]:
    """One connection in a transaction on the shared demo workspace, rolled back at the end."""
    connection = demo_database.connect()
    transaction = connection.begin()
    yield connection
    transaction.rollback()
    connection.close()


@pytest.fixture(scope="module")
def rendered(
    connection: Connection, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Rendered]:
    """Every demo site's report, built from the demo workspace and its eQMS extracts."""
    folder = tmp_path_factory.mktemp("report")
    store = EventStore(folder / "events")
    extracts = write_demo_extracts(folder / "extracts", sites=len(DEMO_SITES), years=1)
    result = {}
    with bound_factory(connection)() as session:
        import_files(session, paths=sorted(extracts.values()), store=store)
        session.commit()
        for spec in DEMO_SITES:
            site = get_site(session, code=spec.code)
            report = build_report(
                session, site=site, store=store, as_of=AS_OF, generated_at=GENERATED
            )
            html = report_html(report)
            path = folder / f"{spec.code}.pdf"
            path.write_bytes(report_pdf(html))
            result[spec.code] = Rendered(report, html, path)
    return result


SITES = [spec.code for spec in DEMO_SITES]


@pytest.mark.parametrize("code", SITES)
def test_it_is_a_many_page_a4_document_with_its_title(code: str, rendered) -> None:
    info = poppler("pdfinfo", str(rendered[code].pdf))
    assert re.search(r"^Page size:\s+595\.\d+ x 841\.\d+ pts \(A4\)$", info, re.M)
    assert f"Title:           QMM readiness report: {code}" in info
    assert rendered[code].pages >= 15


@pytest.mark.parametrize("code", SITES)
def test_every_font_is_embedded(code: str, rendered) -> None:
    lines = poppler("pdffonts", str(rendered[code].pdf)).splitlines()[2:]
    assert lines, "the PDF has no fonts"
    for line in lines:
        name, emb = line.split()[0], line.split()[-5]
        assert emb == "yes", f"{name} is not embedded"
    assert any("DejaVu-Sans" in line for line in lines)


@pytest.mark.parametrize("code", SITES)
def test_the_practice_areas_and_their_scores_are_in_its_text(code: str, rendered) -> None:
    report = rendered[code].report
    text = re.sub(r"\s+", " ", rendered[code].text())
    for area in PRACTICE_AREA_CODES:
        score = report.scores.practice_areas[area]
        assert score.score is not None
        assert score.name in text
        assert f"{score.score:.2f}" in text
    assert report.overall is not None
    assert f"scored {report.overall:.2f} of 5 overall" in text


@pytest.mark.parametrize("code", SITES)
def test_pages_are_numbered_and_the_contents_point_at_the_right_pages(code: str, rendered) -> None:
    document = rendered[code]
    total = document.pages
    assert f"Page 1 of {total}" in document.text(1, 1)
    assert f"Page {total} of {total}" in document.text(total, total)
    contents = document.text(1, 1)
    for heading in ("6. KPI trends with control limits", "Appendix B. Signatures and record"):
        listed = re.search(re.escape(heading) + r"[^\n]*?(\d+)\s*$", contents, re.M)
        assert listed, f"{heading!r} is not in the contents"
        page = int(listed.group(1))
        assert heading in document.text(page, page), f"{heading!r} is not on page {page}"


@pytest.mark.parametrize("code", SITES)
def test_no_page_renders_blank(code: str, rendered, tmp_path: Path) -> None:
    poppler("pdftoppm", "-r", "30", "-png", str(rendered[code].pdf), str(tmp_path / "page"))
    images = sorted(tmp_path.glob("page-*.png"))
    assert len(images) == rendered[code].pages
    for image_path in images:
        with Image.open(image_path) as image:
            grey = image.convert("L")
            ink = ImageChops.invert(grey).point(lambda v: 255 if v > 40 else 0)
            inked = sum(ink.histogram()[255:])
            assert inked > 0.002 * grey.width * grey.height, f"{image_path.name} looks blank"


def test_charts_are_vector_graphics_not_pictures(rendered) -> None:
    document = rendered["SITE-A"]
    assert document.report.kpis, "the demo site has KPIs"
    assert document.html.count('src="data:image/svg+xml;base64,') == len(document.report.kpis)
    images = poppler("pdfimages", "-list", str(document.pdf)) if shutil.which("pdfimages") else ""
    assert len(images.splitlines()[2:]) == 0, "a chart was embedded as a raster image"


def test_the_same_inputs_give_the_same_pdf_bytes(rendered) -> None:
    document = rendered["SITE-C"]
    assert report_pdf(report_html(document.report)) == document.pdf.read_bytes()


def test_the_weak_sites_report_names_where_to_act(rendered) -> None:
    report = rendered["SITE-C"].report
    text = re.sub(r"\s+", " ", rendered["SITE-C"].text(1, 4))
    assert "Where to act in the next 90 days" in text
    for finding in report.opportunities:
        assert finding.score.name in text


def test_site_records_stay_with_their_site(rendered) -> None:
    for code, document in rendered.items():
        others = {c for c in SITES if c != code}
        assert isinstance(document.report.site, Site)
        assert document.report.site.code == code
        assert all(k.view.series.site == code for k in document.report.kpis)
        assert not any(f"{other}: " in document.html for other in others)


def test_the_thread_section_names_completeness_and_the_oldest_broken_threads(rendered) -> None:
    document = rendered["SITE-A"]
    section = document.report.threads
    assert section is not None
    contents = document.text(1, 1)
    heading = "11. The thread from event to decision"
    listed = re.search(re.escape(heading) + r"[^\n]*?(\d+)\s*$", contents, re.M)
    assert listed, "the thread section is not in the contents"
    page = int(listed.group(1))
    text = re.sub(r"\s+", " ", document.text(page, min(page + 1, document.pages)))
    assert heading in text
    assert "Thread completeness" in text
    completeness = section.completeness
    assert completeness.checked > 0
    assert f"SITE-A {completeness.checked} {completeness.broken}" in text
    assert 0 < len(section.oldest) <= 10
    assert section.broken_total >= len(section.oldest)
    days = [b.since for b in section.oldest]
    assert days == sorted(days), "the broken threads are not oldest first"
    first = section.oldest[0]
    # pdftotext -layout interleaves a wrapped cell with its neighbours: check the parts.
    assert first.since is not None
    assert f"{first.since.isoformat()} {first.record_type}" in text
    assert first.record_id in text
