"""The readiness report of a busy demo site (40+ pages): gathering, HTML and the PDF, each
against a reference measured in the same run, WeasyPrint printing plain text of as many pages.

    python bench/report.py [--decisions 60] [--repeats 3]
"""

from __future__ import annotations

import argparse
import logging
import resource
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import weasyprint

from qmm.db import make_engine, unit_of_work
from qmm.demo.extracts import write_demo_extracts
from qmm.demo.workspace import load_demo
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.framework.service import install_default
from qmm.migrate import upgrade
from qmm.program.decisions import add_decision
from qmm.reports.readiness import build_report
from qmm.reports.render import REPORT_TEMPLATES, report_html, report_pdf
from qmm.sites.service import get_site

T = TypeVar("T")
AS_OF = date(2026, 11, 15)
GENERATED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)


def timed(fn: Callable[[], T], repeats: int) -> tuple[float, T]:
    """The fastest of several runs in seconds, and the last result."""
    best, result = float("inf"), None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    assert result is not None
    return best, result


def pages_of(html: str) -> int:
    """How many pages WeasyPrint lays the HTML out on (not timed)."""
    return len(weasyprint.HTML(string=html, base_url=str(REPORT_TEMPLATES)).render().pages)


def plain_document(pages: int) -> str:
    """Text only, in the report's own stylesheet, filling about `pages` A4 pages."""
    styles = (REPORT_TEMPLATES / "report.css").read_text(encoding="utf-8")
    paragraph = "<p>" + " ".join(["Quality maturity is visible in daily operations."] * 12) + "</p>"
    body = "".join(
        f"<section class='chapter'><h2>Chapter {n}</h2>{paragraph * 4}</section>"
        for n in range(pages)
    )
    return f"<!DOCTYPE html><html><head><style>{styles}</style></head><body>{body}</body></html>"


def busy_site(workdir: Path, decisions: int) -> tuple[str, EventStore]:
    """The demo workspace with its extracts, and SITE-A's decision log filled for a year."""
    url = f"sqlite:///{workdir / 'bench.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    store = EventStore(workdir / "events")
    extracts = write_demo_extracts(workdir / "extracts", sites=3, years=2)
    with unit_of_work(engine) as session:
        install_default(session)
        load_demo(session)
        import_files(session, paths=sorted(extracts.values()), store=store)
        site = get_site(session, code="SITE-A")
        for n in range(decisions):
            add_decision(
                session,
                site=site,
                title=f"Steering decision {n + 1}: release against an open deviation",
                context="A deviation on filling line 2 is open when the lot is due to ship.",
                options=["Ship with the investigation open", "Hold until closure"],
                decision="Hold the lot until the investigation closes.",
                quality_won=n % 4 != 0,
                trade_off="Quality over the shipment date: a week late to the customer.",
                rationale="The root cause could affect sterility assurance.",
                owner="Site Quality Head",
                decided_on=AS_OF - timedelta(days=5 * n + 1),
            )
    engine.dispose()
    return url, store


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--decisions", type=int, default=60, help="extra decisions in the log")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (best kept)")
    args = parser.parse_args()
    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        started = time.perf_counter()
        url, store = busy_site(workdir, args.decisions)
        print(f"set-up: demo workspace and extracts in {time.perf_counter() - started:.1f} s")
        engine = make_engine(url)
        with unit_of_work(engine) as session:
            site = get_site(session, code="SITE-A")

            def gather():  # type: ignore[no-untyped-def]
                return build_report(
                    session, site=site, store=store, as_of=AS_OF, generated_at=GENERATED
                )

            first_start = time.perf_counter()
            gather()
            first = time.perf_counter() - first_start
            t_gather, report = timed(gather, args.repeats)
            t_html, html = timed(lambda: report_html(report), args.repeats)
            t_pdf, pdf = timed(lambda: report_pdf(html), args.repeats)
        engine.dispose()
    pages = pages_of(html)
    plain = plain_document(pages)
    t_ref, _ = timed(lambda: weasyprint.HTML(string=plain).write_pdf(), args.repeats)
    ref_pages = pages_of(plain)
    total = t_gather + t_html + t_pdf
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"readiness report of SITE-A: {pages} pages, {len(pdf) / 1e6:.2f} MB, "
        f"{len(report.kpis)} KPI charts, {len(report.decisions)} decisions"
    )
    print(f"  gather (first run, charts drawn): {first:.2f} s")
    print(f"  gather (charts cached):           {t_gather:.2f} s")
    print(f"  HTML:                             {t_html:.2f} s")
    print(
        f"  PDF from the HTML:                {t_pdf:.2f} s ({t_pdf / pages * 1000:.0f} ms a page)"
    )
    print(
        f"  total, warm:                      {total:.2f} s (cold: {first + t_html + t_pdf:.2f} s)"
    )
    print(
        f"reference: WeasyPrint printing plain text of {ref_pages} pages: {t_ref:.2f} s "
        f"({t_ref / max(ref_pages, 1) * 1000:.0f} ms a page)"
    )
    print(
        f"  ratio report PDF / reference, per page: "
        f"{(t_pdf / pages) / (t_ref / max(ref_pages, 1)):.2f}x"
    )
    print(f"  ratio whole report (warm) / reference:  {total / t_ref:.2f}x")
    print(f"peak resident memory of this process: {peak_mib:.0f} MiB")


if __name__ == "__main__":
    main()
