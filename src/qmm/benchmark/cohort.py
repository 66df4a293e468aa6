"""A benchmark cohort: the practice-area scores of several sites, read from a checked CSV file."""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from qmm.errors import InvalidFile, InvalidInput, RowProblem
from qmm.framework.practice_areas import PRACTICE_AREA_CODES

MIN_SITES: Final[int] = 3
MIN_SCORE: Final[float] = 1.0
MAX_SCORE: Final[float] = 5.0

SITE_COLUMN: Final[str] = "site"
REQUIRED_COLUMNS: Final[tuple[str, ...]] = (SITE_COLUMN, *PRACTICE_AREA_CODES)

FDA_COHORT_CITATION: Final[str] = (
    'E. Twum, "An Update on CDER\'s Quality Management Maturity Program", FDA Generic Drug '
    "Forum, 22 April 2026, as reproduced by K. Biswas, \"What FDA's First QMM Scorecard Tells "
    'Us" (2026). Sites anonymised A-I by CDER.'
)

_DATA_DIR: Final[Path] = Path(__file__).resolve().parent / "data"
_FDA_COHORT_FILE: Final[str] = "fda-qmm-2024-cohort.csv"


@dataclass(frozen=True)
class CohortSite:
    """One site's five practice-area scores, so cohort statistics can treat sites alike."""

    site: str
    scores: dict[str, float]

    def __post_init__(self) -> None:
        """Refuse a site without exactly the five areas, so every statistic sees a full row."""
        missing = [code for code in PRACTICE_AREA_CODES if code not in self.scores]
        extra = sorted(code for code in self.scores if code not in PRACTICE_AREA_CODES)
        if missing or extra:
            raise InvalidInput(
                f"site {self.site!r} must have a score for exactly the five practice areas "
                f"{', '.join(PRACTICE_AREA_CODES)}; missing: {', '.join(missing) or 'none'}, "
                f"unknown: {', '.join(extra) or 'none'}"
            )
        ordered = {code: float(self.scores[code]) for code in PRACTICE_AREA_CODES}
        object.__setattr__(self, "scores", ordered)

    @property
    def mean(self) -> float:
        """The site's mean over the five areas, the 'average' the FDA scorecard readers quote."""
        return math.fsum(self.scores.values()) / len(self.scores)


def shipped_fda_cohort_path() -> Path:
    """Where the packaged copy of the FDA 2024 cohort lives, so it works without the repo."""
    return _DATA_DIR / _FDA_COHORT_FILE


def read_cohort_csv(path: Path) -> list[CohortSite]:
    """Read a cohort file, reporting every problem at once so one fix round is enough."""
    rows = _read_rows(path)
    header_line, header_fields = rows[0]
    header = [name.strip() for name in header_fields]
    problems: list[RowProblem] = []
    positions: dict[str, int] = {}
    for index, name in enumerate(header):
        if name in REQUIRED_COLUMNS and name in positions:
            problems.append(
                RowProblem(header_line, name, name, "column appears more than once in the header")
            )
        elif name in REQUIRED_COLUMNS:
            positions[name] = index
    for name in REQUIRED_COLUMNS:
        if name not in positions:
            problems.append(
                RowProblem(
                    header_line,
                    name,
                    "",
                    f"required column is missing; the header needs {', '.join(REQUIRED_COLUMNS)}",
                )
            )

    sites: list[CohortSite] = []
    first_seen: dict[str, int] = {}
    for line, fields in rows[1:]:
        if all(not field.strip() for field in fields):
            continue
        row_problems: list[RowProblem] = []
        if len(fields) > len(header):
            row_problems.append(
                RowProblem(
                    line,
                    "",
                    ",".join(fields[len(header) :]),
                    f"the row has {len(fields)} fields but the header has {len(header)}",
                )
            )
        site = _field(fields, positions.get(SITE_COLUMN)).strip()
        if SITE_COLUMN in positions:
            if not site:
                row_problems.append(RowProblem(line, SITE_COLUMN, "", "site is empty"))
            elif site.casefold() in first_seen:
                row_problems.append(
                    RowProblem(
                        line,
                        SITE_COLUMN,
                        site,
                        f"duplicate site; first seen on row {first_seen[site.casefold()]}",
                    )
                )
            else:
                first_seen[site.casefold()] = line
        scores: dict[str, float] = {}
        for code in PRACTICE_AREA_CODES:
            if code not in positions:
                continue
            raw = _field(fields, positions[code])
            score, reason = _parse_score(raw)
            if reason is not None:
                row_problems.append(RowProblem(line, code, raw, reason))
            else:
                scores[code] = score
        problems.extend(row_problems)
        if not row_problems and not problems:
            sites.append(CohortSite(site, scores))

    if problems:
        raise InvalidFile(str(path), problems)
    if len(sites) < MIN_SITES:
        raise InvalidInput(
            f"{path}: the cohort has {len(sites)} site{'' if len(sites) == 1 else 's'}; "
            f"the cohort statistics need at least {MIN_SITES} sites"
        )
    return sites


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """Decode and split the file, numbering rows by the file line they start on."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path}: is not UTF-8 text ({exc.reason} at byte {exc.start})") from exc
    except OSError as exc:
        raise InvalidInput(f"{path}: cannot be read ({exc.strerror or exc})") from exc
    if not text.strip():
        raise InvalidInput(f"{path}: the file is empty; it needs a header and one row per site")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for fields in reader:
            rows.append((line, fields))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise InvalidInput(
            f"{path}: does not look like a CSV file (line {reader.line_num}: {exc})"
        ) from exc
    while rows and not any(field.strip() for field in rows[0][1]):
        rows.pop(0)
    if not rows or len(rows[0][1]) < 2:
        raise InvalidInput(
            f"{path}: does not look like a CSV file; the first line must be a comma-separated "
            f"header with the columns {', '.join(REQUIRED_COLUMNS)}"
        )
    return rows


def _field(fields: list[str], index: int | None) -> str:
    """The field at index, or empty when the row is short or the column is absent."""
    if index is None or index >= len(fields):
        return ""
    return fields[index]


def _parse_score(raw: str) -> tuple[float, str | None]:
    """A score and no reason, or a reason it is refused, so the caller can collect problems."""
    text = raw.strip()
    if not text:
        return 0.0, "score is missing"
    try:
        if "_" in text:
            raise ValueError(text)
        value = float(text)
    except ValueError:
        return 0.0, "score is not a number"
    if not math.isfinite(value):
        return 0.0, "score is not a finite number"
    if not MIN_SCORE <= value <= MAX_SCORE:
        return 0.0, f"score is outside {MIN_SCORE:g} to {MAX_SCORE:g}"
    return value, None
