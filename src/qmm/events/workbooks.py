"""Opening an XLSX extract safely: its zip is checked against size limits before openpyxl reads
it, and a sheet is read whole whatever its stored size information says.

The limits hold for what is actually inflated, not only for what the zip declares: Python's
zipfile stops each part at its declared size and refuses a part whose content then fails its
CRC, so a forged size makes the workbook unreadable rather than larger.
"""

from __future__ import annotations

import zipfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from qmm.config import get_settings
from qmm.errors import InvalidFile

#: The last row a sheet can have (Excel's and the format's limit).
SHEET_MAX_ROWS: Final = 1_048_576
#: Parts smaller than this may compress as well as they like; styles and themes often do.
RATIO_FLOOR: Final = 4 << 20
#: How an unreadable workbook is described, before the reader's own words.
UNREADABLE: Final = "not a readable .xlsx workbook; it is damaged or was not saved as .xlsx"


class RefusedWorkbook(InvalidFile):
    """A workbook refused whole (not a workbook, damaged, or past a limit); nothing is stored."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(path, [])
        self.reason = reason
        self.args = (f"{path}: {reason}; nothing was stored",)


@dataclass(frozen=True)
class WorkbookLimits:
    """How large a workbook may unpack, how compressed a part may be, how many cells a sheet."""

    unpacked_bytes: int
    ratio: int
    cells: int

    @classmethod
    def from_settings(cls) -> WorkbookLimits:
        """The limits set by QMM_XLSX_MAX_UNPACKED_BYTES, QMM_XLSX_MAX_RATIO, QMM_XLSX_MAX_CELLS."""
        settings = get_settings()
        return cls(
            unpacked_bytes=settings.xlsx_max_unpacked_bytes,
            ratio=settings.xlsx_max_ratio,
            cells=settings.xlsx_max_cells,
        )


def check_archive(path: Path, limits: WorkbookLimits) -> None:
    """Refuse a workbook whose zip is not one, names a part twice, or unpacks past the limits."""
    try:
        with zipfile.ZipFile(path) as archive:
            parts = archive.infolist()
    except Exception:  # zipfile raises several kinds for what is not a zip archive
        raise RefusedWorkbook(
            str(path),
            "not an .xlsx workbook: it is not a zip archive (a password-protected or .xls "
            "workbook must be saved as a plain .xlsx first)",
        ) from None
    twice = sorted(name for name, count in Counter(p.filename for p in parts).items() if count > 1)
    if twice:
        raise RefusedWorkbook(
            str(path),
            f"{UNREADABLE}: it holds two parts named {twice[0]}, which readers resolve apart",
        )
    total = sum(p.file_size for p in parts)
    if total > limits.unpacked_bytes:
        raise RefusedWorkbook(
            str(path),
            f"the workbook unpacks to {total:,} bytes, more than the limit of "
            f"{limits.unpacked_bytes:,} bytes (QMM_XLSX_MAX_UNPACKED_BYTES); import a large "
            "extract as CSV or Parquet",
        )
    for part in parts:
        if part.file_size > RATIO_FLOOR and part.file_size > limits.ratio * part.compress_size:
            ratio = part.file_size / max(part.compress_size, 1)
            raise RefusedWorkbook(
                str(path),
                f"its part {part.filename} unpacks to {ratio:,.0f} times its packed size, more "
                f"than the limit of {limits.ratio} times (QMM_XLSX_MAX_RATIO), as a zip bomb "
                "does; spreadsheet programs never compress this much",
            )


@contextmanager
def open_workbook(path: Path, *, data_only: bool = False) -> Iterator[Any]:
    """An openpyxl workbook in read-only mode, once its zip has passed the limits; closed after."""
    import openpyxl  # type: ignore[import-untyped,unused-ignore]

    check_archive(path, WorkbookLimits.from_settings())
    try:
        workbook = openpyxl.load_workbook(path, read_only=True, data_only=data_only)
    except Exception as exc:  # openpyxl raises many kinds for a damaged workbook
        raise RefusedWorkbook(str(path), f"{UNREADABLE} ({exc})") from None
    try:
        yield workbook
    finally:
        workbook.close()


def worksheet_of(path: Path, workbook: Any, sheet: str | None) -> Any:
    """The sheet named, else the first; a workbook without it is refused in words."""
    if sheet is None:
        if not workbook.worksheets:
            raise RefusedWorkbook(
                str(path), "the workbook holds no readable sheet of rows (is a part missing?)"
            )
        return workbook.worksheets[0]
    if sheet not in workbook.sheetnames:
        raise RefusedWorkbook(
            str(path),
            f"the workbook has no sheet {sheet!r} (sheets: {', '.join(workbook.sheetnames)})",
        )
    return workbook[sheet]


def sheet_rows(path: Path, worksheet: Any) -> Iterator[tuple[int, tuple[Any, ...]]]:
    """Each row of a sheet with its number, read whole whatever its <dimension> says.

    Read-only openpyxl stops at the rows and columns the sheet's <dimension> names, and several
    exporters leave it stale: trusting it imported one row of six and reported success.
    """
    title = getattr(worksheet, "title", "")
    try:
        worksheet.reset_dimensions()
        rows = iter(worksheet.iter_rows(values_only=True))
    except Exception as exc:  # a chart sheet, or one openpyxl cannot walk
        raise RefusedWorkbook(str(path), f"{UNREADABLE}: sheet {title!r} ({exc})") from None
    number = 0
    while True:
        try:
            cells = next(rows)
        except StopIteration:
            return
        except Exception as exc:  # the XML parser and zipfile raise many kinds mid-sheet
            raise RefusedWorkbook(str(path), f"{UNREADABLE}: sheet {title!r} ({exc})") from None
        number += 1
        if number > SHEET_MAX_ROWS:
            raise RefusedWorkbook(
                str(path),
                f"{UNREADABLE}: sheet {title!r} goes past row {SHEET_MAX_ROWS:,}, the last row "
                "a sheet can have",
            )
        yield number, cells


def check_cells(path: Path, title: str, cells: int, limits: WorkbookLimits) -> None:
    """Refuse a sheet once the cells read from it pass the limit, before they fill the memory."""
    if cells > limits.cells:
        raise RefusedWorkbook(
            str(path),
            f"sheet {title!r} holds more than {limits.cells:,} cells (QMM_XLSX_MAX_CELLS); "
            "import a large extract as CSV or Parquet",
        )
