"""Ratings, the evidence index and KPI series as CSV and XLSX files that a spreadsheet opens
safely: text a spreadsheet would run as a formula is neutralised, numbers and dates keep their
types, and the same data always gives the same bytes."""

from __future__ import annotations

import csv
import io
import os
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Final, Literal
from zipfile import ZIP_DEFLATED, ZipFile, ZipInfo

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from openpyxl.writer.excel import ExcelWriter
from sqlalchemy import select
from sqlalchemy.orm import Session

from qmm.errors import InvalidInput, NotFound
from qmm.events.extract_dates import site_data_as_of
from qmm.events.store import EventStore
from qmm.evidence.service import list_evidence
from qmm.framework.service import load_tree
from qmm.metrics.catalogue import KPIS, get_kpi
from qmm.metrics.kpis import PERIODS
from qmm.metrics.service import kpi_series, kpi_values
from qmm.models import Assessment, ConsensusScore, Rating, Site, User
from qmm.spreadsheet_text import is_formula_like, neutralise

Cell = str | int | float | date | datetime | bool | None
ColumnKind = Literal["text", "integer", "number", "date", "datetime", "boolean"]

#: What a table can be written as, with the media type each is served with.
FORMATS: Final = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
#: Control characters an XLSX file cannot hold; they are written as U+FFFD.
_XML_ILLEGAL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
_LIST_SEPARATOR: Final = "; "
_MIN_WIDTH: Final = 8
_MAX_WIDTH: Final = 60
_NUMBER_FORMATS: Final = {"date": "yyyy-mm-dd", "datetime": "yyyy-mm-dd hh:mm:ss"}


@dataclass(frozen=True)
class Column:
    """One column of an export: its header and the type every value in it has."""

    name: str
    kind: ColumnKind


@dataclass(frozen=True)
class ExportTable:
    """Rows under a fixed header, the moment the content stands at, and a file name for it."""

    sheet: str
    columns: tuple[Column, ...]
    rows: tuple[tuple[Cell, ...], ...]
    #: Written as the XLSX's created and modified times, so the same content gives the same bytes.
    stamp: datetime
    file_stem: str

    def file_name(self, fmt: str) -> str:
        return f"{self.file_stem}.{fmt}"


def _columns(*specs: tuple[str, ColumnKind]) -> tuple[Column, ...]:
    return tuple(Column(name, kind) for name, kind in specs)


RATINGS_COLUMNS: Final = _columns(
    ("site", "text"),
    ("assessment_id", "integer"),
    ("framework", "text"),
    ("practice_area", "text"),
    ("sub_element", "text"),
    ("sub_element_name", "text"),
    ("question", "text"),
    ("assessor", "text"),
    ("score", "integer"),
    ("not_applicable", "boolean"),
    ("rationale", "text"),
    ("evidence_refs", "text"),
    ("rated_at", "datetime"),
    ("consensus_score", "number"),
    ("consensus_not_applicable", "boolean"),
)
EVIDENCE_COLUMNS: Final = _columns(
    ("site", "text"),
    ("ref", "text"),
    ("title", "text"),
    ("kind", "text"),
    ("status", "text"),
    ("owner", "text"),
    ("effective_on", "date"),
    ("review_by", "date"),
    ("overdue", "boolean"),
    ("sub_elements", "text"),
    ("eqms_id", "text"),
    ("link", "text"),
    ("files", "text"),
)
KPI_COLUMNS: Final = _columns(
    ("site", "text"),
    ("kpi", "text"),
    ("kpi_name", "text"),
    ("group", "text"),
    ("period", "text"),
    ("value", "number"),
    ("numerator", "integer"),
    ("denominator", "integer"),
    ("n", "integer"),
    ("unit", "text"),
    ("target", "number"),
    ("chart", "text"),
    ("centre", "number"),
    ("lower_limit", "number"),
    ("upper_limit", "number"),
    ("signal_rules", "text"),
    ("complete", "text"),
    ("data_as_of", "text"),
)


# --- choices -------------------------------------------------------------------------------


def check_format(fmt: str) -> str:
    """A format name from a command or query string, refused in words naming the choices."""
    wanted = fmt.strip().lower()
    if wanted not in FORMATS:
        raise InvalidInput(f"export format {fmt!r} is not one of {', '.join(FORMATS)}")
    return wanted


# --- writers -------------------------------------------------------------------------------


def xlsx_text(text: str) -> str:
    """Text as an XLSX cell holds it: line breaks as LF (XML reads a bare CR as LF anyway) and
    the control characters XML cannot carry as U+FFFD."""
    return _XML_ILLEGAL.sub("\ufffd", text.replace("\r\n", "\n").replace("\r", "\n"))


def _utc(moment: datetime) -> datetime:
    """A timestamp in UTC without its zone, to the second, as a spreadsheet stores it."""
    return moment.astimezone(UTC).replace(tzinfo=None, microsecond=0)


def _csv_cell(value: Cell) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(int(value))
    if isinstance(value, float):
        return repr(float(value))
    if isinstance(value, datetime):
        return _utc(value).isoformat() + "Z"
    if isinstance(value, date):
        return value.isoformat()
    return neutralise(value)


def to_csv(table: ExportTable) -> bytes:
    """RFC 4180 CSV in UTF-8: a header row, CRLF line ends, text neutralised, numbers bare."""
    out = io.StringIO(newline="")
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.name for c in table.columns])
    writer.writerows([_csv_cell(v) for v in row] for row in table.rows)
    return out.getvalue().encode("utf-8")


def _shown_length(value: Cell) -> int:
    if value is None:
        return 0
    if isinstance(value, datetime):
        return 19
    return len(_csv_cell(value))


def to_xlsx(table: ExportTable) -> bytes:
    """One sheet: bold, frozen header, typed cells, text never a formula, stable bytes.

    Formula-like text is a string cell (so nothing runs on opening) with the quotePrefix style
    (so it stays text when someone edits the cell); its value is what was recorded, with no
    apostrophe added.
    """
    workbook = Workbook()
    sheet = workbook.active
    sheet.title = table.sheet
    bold = Font(bold=True)
    for index, column in enumerate(table.columns, start=1):
        header = sheet.cell(row=1, column=index, value=column.name)
        header.font = bold
    for row_index, row in enumerate(table.rows, start=2):
        for index, (column, value) in enumerate(zip(table.columns, row, strict=True), start=1):
            cell = sheet.cell(row=row_index, column=index)
            if isinstance(value, str):
                cell.value = xlsx_text(value)
                cell.data_type = "s"  # openpyxl would store text opening with '=' as a formula
                cell.quotePrefix = is_formula_like(value)
            elif isinstance(value, datetime):
                cell.value = _utc(value)
            else:
                cell.value = value
            if column.kind in _NUMBER_FORMATS:
                cell.number_format = _NUMBER_FORMATS[column.kind]
    for index, column in enumerate(table.columns, start=1):
        widest = max([len(column.name), *(_shown_length(row[index - 1]) for row in table.rows)])
        sheet.column_dimensions[get_column_letter(index)].width = min(
            max(widest + 2, _MIN_WIDTH), _MAX_WIDTH
        )
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = sheet.dimensions
    stamp = _utc(table.stamp)
    workbook.properties.creator = "QMM Workbench"
    workbook.properties.title = table.file_stem
    workbook.properties.created = stamp
    workbook.properties.modified = stamp
    raw = io.BytesIO()
    # ExcelWriter, unlike Workbook.save, keeps the modified time given above.
    ExcelWriter(workbook, ZipFile(raw, "w", ZIP_DEFLATED)).save()
    return _with_fixed_times(raw.getvalue(), stamp)


def _with_fixed_times(archive: bytes, stamp: datetime) -> bytes:
    """The same zip with every entry dated `stamp`, not the moment it was written."""
    moment = (stamp.year, stamp.month, stamp.day, stamp.hour, stamp.minute, stamp.second)
    out = io.BytesIO()
    with ZipFile(io.BytesIO(archive)) as source, ZipFile(out, "w", ZIP_DEFLATED) as target:
        for info in source.infolist():
            fixed = ZipInfo(info.filename, date_time=moment)
            fixed.compress_type = ZIP_DEFLATED
            fixed.external_attr = info.external_attr
            target.writestr(fixed, source.read(info))
    return out.getvalue()


def render(table: ExportTable, fmt: str) -> bytes:
    """The table as the bytes of a CSV or XLSX file."""
    return to_xlsx(table) if check_format(fmt) == "xlsx" else to_csv(table)


def write_file(path: Path, content: bytes) -> None:
    """Write a file whole or not at all: a temporary file beside it, renamed over it at the end."""
    if path.is_dir():
        raise InvalidInput(f"{path} is a folder; name the file to write")
    try:
        handle, temporary = tempfile.mkstemp(
            dir=path.parent, prefix=f".{path.name}.", suffix=".part"
        )
    except OSError as exc:
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
        os.chmod(temporary, _new_file_mode(path))
        os.replace(temporary, path)
    except OSError as exc:
        Path(temporary).unlink(missing_ok=True)
        raise InvalidInput(f"cannot write {path}: {exc.strerror or exc}") from None


def _new_file_mode(path: Path) -> int:
    """The mode a plain `open` would give: the existing file's, else 0666 less the umask."""
    if path.exists():
        return path.stat().st_mode & 0o777
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


# --- the three tables ----------------------------------------------------------------------


def _joined(values: Sequence[str]) -> str | None:
    return _LIST_SEPARATOR.join(values) if values else None


def ratings_table(session: Session, *, assessment: Assessment) -> ExportTable:
    """Every current rating of an assessment in framework order, with the question's consensus.

    A question with a consensus but no rating gets one row without an assessor, so no agreed
    score is left out.
    """
    framework = load_tree(session, framework_id=assessment.framework_id)
    nodes = [
        (pa, se, q)
        for pa in framework.practice_areas
        for se in pa.sub_elements
        for q in se.questions
    ]
    position = {q.id: i for i, (_, _, q) in enumerate(nodes)}
    ratings = session.execute(
        select(Rating, User.username)
        .join(User, User.id == Rating.assessor_id)
        .where(Rating.assessment_id == assessment.id, Rating.superseded_by_id.is_(None))
    ).all()
    consensus = {
        c.question_id: c
        for c in session.scalars(
            select(ConsensusScore).where(
                ConsensusScore.assessment_id == assessment.id,
                ConsensusScore.superseded_by_id.is_(None),
            )
        )
    }
    entries: list[tuple[int, str, Rating | None]] = [
        (position[rating.question_id], username, rating) for rating, username in ratings
    ]
    rated = {rating.question_id for rating, _ in ratings}
    entries += [(position[qid], "", None) for qid in consensus if qid not in rated]
    rows = []
    for index, username, rating in sorted(entries, key=lambda e: (e[0], e[1])):
        pa, se, question = nodes[index]
        agreed = consensus.get(question.id)
        rows.append(
            (
                assessment.site.code,
                assessment.id,
                framework.ref,
                pa.code,
                se.code,
                se.name,
                question.code,
                username or None,
                rating.score if rating else None,
                rating.not_applicable if rating else None,
                rating.rationale if rating else None,
                _joined(rating.evidence_refs or []) if rating else None,
                rating.recorded_at.replace(microsecond=0) if rating else None,
                agreed.score if agreed else None,
                agreed.not_applicable if agreed else None,
            )
        )
    moments = [r.recorded_at for r, _ in ratings] + [c.recorded_at for c in consensus.values()]
    return ExportTable(
        sheet="Ratings",
        columns=RATINGS_COLUMNS,
        rows=tuple(rows),
        stamp=max(moments, default=assessment.created_at),
        file_stem=f"{assessment.site.code}-assessment-{assessment.id}-ratings",
    )


def _as_of_stamp(day: date) -> datetime:
    return datetime.combine(day, time(), UTC)


def evidence_table(session: Session, *, site: Site, as_of: date) -> ExportTable:
    """The site's evidence index, retired items included, with overdue reviews as of a day."""
    rows = []
    for item in list_evidence(session, site=site, include_retired=True):
        current = item.retired_at is None
        rows.append(
            (
                site.code,
                item.ref,
                item.title,
                item.kind,
                "current" if current else "retired",
                item.owner,
                item.effective_on,
                item.review_by,
                current and item.review_by is not None and item.review_by < as_of,
                _joined(item.sub_element_codes),
                item.eqms_id,
                item.link,
                _joined([f"{f.filename} (sha256 {f.sha256})" for f in item.files]),
            )
        )
    return ExportTable(
        sheet="Evidence index",
        columns=EVIDENCE_COLUMNS,
        rows=tuple(rows),
        stamp=_as_of_stamp(as_of),
        file_stem=f"{site.code}-evidence-{as_of.isoformat()}",
    )


def check_kpis(kpis: Sequence[str]) -> list[str]:
    """KPI ids of the catalogue, each once; an unknown one is not found, naming the known ids."""
    for kpi in kpis:
        try:
            get_kpi(kpi)
        except KeyError as exc:
            raise NotFound(str(exc.args[0])) from None
    return list(dict.fromkeys(kpis))


def check_period(period: str) -> str:
    """A period name, or a refusal naming the choices."""
    if period not in PERIODS:
        raise InvalidInput(f"period {period!r} is not one of {', '.join(PERIODS)}")
    return period


def kpi_as_of(session: Session, site: str, asked: date) -> date:
    """The date a site's KPIs are reported as of: the day asked, but never after the site's
    data (today is not used when the extracts are older)."""
    data = site_data_as_of(session, site)
    return asked if data is None else min(asked, data)


def kpi_table(
    session: Session,
    *,
    site: Site,
    as_of: date,
    kpis: Sequence[str] = (),
    period: str = "month",
    store: EventStore | None = None,
) -> ExportTable:
    """Each KPI's values at the site per period (all KPIs unless named), with control limits,
    the Nelson rules each point takes part in, and whether its period is over by the date the
    data is as of (never later than the site's extract date)."""
    wanted = check_kpis(kpis)
    check_period(period)
    values = kpi_values(
        session,
        store=store,
        kpis=wanted or None,
        sites=[site.code],
        period=period,
        as_of=kpi_as_of(session, site.code, as_of),
    )
    position = {k.id: i for i, k in enumerate(KPIS)}
    series_keys = sorted(
        {(v.kpi, v.group) for v in values}, key=lambda k: (position[k[0]], k[1] or "")
    )
    rows = []
    for kpi, group in series_keys:
        definition = get_kpi(kpi)
        series = kpi_series(values, kpi=kpi, site=site.code, group=group)
        chart = series.chart
        rules = chart.signal_rules()
        for i, value in enumerate(series.values):
            rows.append(
                (
                    site.code,
                    kpi,
                    definition.name,
                    group,
                    value.period,
                    value.value,
                    value.numerator,
                    value.denominator,
                    value.denominator,
                    definition.unit,
                    definition.target(group),
                    "p" if chart.kind == "p" else "XmR",
                    chart.center[i],
                    chart.lcl[i],
                    chart.ucl[i],
                    _joined([f"rule {r}" for r in rules.get(i, ())]),
                    "yes" if value.complete else "no (partial)",
                    value.as_of.isoformat() if value.as_of is not None else None,
                )
            )
    return ExportTable(
        sheet="KPI series",
        columns=KPI_COLUMNS,
        rows=tuple(rows),
        stamp=_as_of_stamp(as_of),
        file_stem=f"{site.code}-kpis-{period}-{as_of.isoformat()}",
    )


#: The tables a site exports (the ratings are exported per assessment).
SITE_TABLES: Final = ("evidence", "kpis")
