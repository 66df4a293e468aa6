"""Reading a benchmark cohort file: every problem is reported at once, with row and column."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from qmm.benchmark.cohort import (
    FDA_COHORT_CITATION,
    CohortSite,
    read_cohort_csv,
    shipped_fda_cohort_path,
)
from qmm.errors import InvalidFile, InvalidInput, RowProblem
from qmm.framework.practice_areas import PRACTICE_AREA_CODES

HEADER = "site," + ",".join(PRACTICE_AREA_CODES)


def write(tmp_path: Path, text: str, name: str = "cohort.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path) -> list[RowProblem]:
    with pytest.raises(InvalidFile) as caught:
        read_cohort_csv(path)
    assert caught.value.path == str(path)
    return caught.value.problems


class TestCohortSite:
    def test_it_orders_scores_as_the_practice_areas_and_averages_them(self) -> None:
        scores = dict(zip(reversed(PRACTICE_AREA_CODES), [1, 2, 3, 4, 5], strict=True))
        site = CohortSite("X", scores)
        assert list(site.scores) == list(PRACTICE_AREA_CODES)
        # (1 + 2 + 3 + 4 + 5) / 5 = 3
        assert site.mean == pytest.approx(3.0)
        assert all(isinstance(value, float) for value in site.scores.values())

    def test_it_refuses_a_site_without_all_five_areas(self) -> None:
        scores = dict.fromkeys(PRACTICE_AREA_CODES[:4], 3.0)
        with pytest.raises(InvalidInput, match=PRACTICE_AREA_CODES[4]):
            CohortSite("X", scores)

    def test_it_refuses_an_unknown_area(self) -> None:
        scores = dict.fromkeys(PRACTICE_AREA_CODES, 3.0) | {"culture": 3.0}
        with pytest.raises(InvalidInput, match="culture"):
            CohortSite("X", scores)


class TestShippedFdaCohort:
    def test_it_reads_the_nine_fda_sites(self) -> None:
        sites = read_cohort_csv(shipped_fda_cohort_path())
        assert [site.site for site in sites] == list("ABCDEFGHI")
        assert sites[1].scores == {
            "management_commitment": 4.8,
            "business_continuity": 4.3,
            "advanced_pqs": 4.2,
            "technical_excellence": 3.6,
            "employee_engagement": 4.9,
        }
        # The article's averages: E (4.6 + 4.5 + 4.7 + 4.4 + 4.9) / 5 = 23.1 / 5 = 4.62, G 2.40.
        assert sites[4].mean == pytest.approx(4.62)
        assert sites[6].mean == pytest.approx(2.40)

    def test_it_ships_the_file_inside_the_package_with_its_source(self) -> None:
        path = shipped_fda_cohort_path()
        assert path.parent.parent == Path(__file__).resolve().parents[2] / "src/qmm/benchmark"
        source = (path.parent / "SOURCE.md").read_text(encoding="utf-8")
        assert "Twum" in source
        assert "Biswas" in source
        assert "22 April 2026" in source

    def test_it_cites_the_fda_presentation_and_the_reproduction(self) -> None:
        assert "E. Twum" in FDA_COHORT_CITATION
        assert "FDA Generic Drug Forum, 22 April 2026" in FDA_COHORT_CITATION
        assert "K. Biswas" in FDA_COHORT_CITATION
        assert "A-I" in FDA_COHORT_CITATION


class TestReadCohortCsv:
    def test_it_accepts_a_byte_order_mark_blank_lines_and_extra_columns(
        self, tmp_path: Path
    ) -> None:
        path = tmp_path / "bom.csv"
        text = HEADER + ",notes\r\nA,1,2,3,4,5,first\r\n\r\n B ,5,4,3,2,1,\r\nC,3,3,3,3,3.5,\r\n"
        path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
        sites = read_cohort_csv(path)
        assert [site.site for site in sites] == ["A", "B", "C"]
        assert sites[2].scores["employee_engagement"] == 3.5

    def test_it_names_row_and_column_of_a_score_of_seven(self, tmp_path: Path) -> None:
        path = write(tmp_path, f"{HEADER}\nA,1,2,3,4,5\nB,3,3,7,3,3\nC,2,2,2,2,2\n")
        assert problems_of(path) == [
            RowProblem(3, "advanced_pqs", "7", "score is outside 1 to 5"),
        ]

    def test_it_refuses_a_score_that_is_not_a_number(self, tmp_path: Path) -> None:
        path = write(tmp_path, f"{HEADER}\nA,1,2,3,4,5\nB,3,high,3,3,3\nC,2,2,2,2,4_5\n")
        assert problems_of(path) == [
            RowProblem(3, "business_continuity", "high", "score is not a number"),
            RowProblem(4, "employee_engagement", "4_5", "score is not a number"),
        ]

    def test_it_refuses_missing_and_non_finite_scores(self, tmp_path: Path) -> None:
        path = write(tmp_path, f"{HEADER}\nA,1,,3,4,5\nB,nan,3,inf,3\nC,2,2,2,2,2\n")
        assert problems_of(path) == [
            RowProblem(2, "business_continuity", "", "score is missing"),
            RowProblem(3, "management_commitment", "nan", "score is not a finite number"),
            RowProblem(3, "advanced_pqs", "inf", "score is not a finite number"),
            RowProblem(3, "employee_engagement", "", "score is missing"),
        ]

    def test_it_names_a_missing_column_on_row_one(self, tmp_path: Path) -> None:
        header = HEADER.replace(",technical_excellence", "")
        path = write(tmp_path, f"{header}\nA,1,2,3,5\nB,1,2,3,5\nC,1,2,3,5\n")
        [problem] = problems_of(path)
        assert (problem.row, problem.column, problem.value) == (1, "technical_excellence", "")
        assert "required column is missing" in problem.reason

    def test_it_refuses_a_duplicate_and_an_empty_site(self, tmp_path: Path) -> None:
        path = write(
            tmp_path, f"{HEADER}\nA,1,2,3,4,5\nB,1,2,3,4,5\na,1,2,3,4,5\n,1,2,3,4,5\nC,1,1,1,1,1\n"
        )
        assert problems_of(path) == [
            RowProblem(4, "site", "a", "duplicate site; first seen on row 2"),
            RowProblem(5, "site", "", "site is empty"),
        ]

    def test_it_refuses_a_row_longer_than_the_header(self, tmp_path: Path) -> None:
        path = write(tmp_path, f"{HEADER}\nA,1,2,3,4,5,6\nB,1,2,3,4,5\nC,1,2,3,4,5\n")
        [problem] = problems_of(path)
        assert (problem.row, problem.value) == (2, "6")
        assert "7 fields but the header has 6" in problem.reason

    def test_it_reports_every_problem_at_once(self, tmp_path: Path) -> None:
        header = HEADER.replace(",business_continuity", "")
        path = write(
            tmp_path,
            f"{header}\nA,1,2,3,4\nA,0,2,x,4\n,9,2,3,4\nD,1,2,3,\n",
        )
        problems = problems_of(path)
        assert [(p.row, p.column) for p in problems] == [
            (1, "business_continuity"),
            (3, "site"),
            (3, "management_commitment"),
            (3, "technical_excellence"),
            (4, "site"),
            (4, "management_commitment"),
            (5, "employee_engagement"),
        ]

    def test_it_numbers_rows_by_file_line_after_a_multi_line_field(self, tmp_path: Path) -> None:
        path = write(tmp_path, f'{HEADER}\n"A\nsite",1,2,3,4,5\nB,1,2,3,4,9\n')
        [problem] = problems_of(path)
        assert problem.row == 4

    def test_it_refuses_fewer_than_three_sites(self, tmp_path: Path) -> None:
        path = write(tmp_path, f"{HEADER}\nA,1,2,3,4,5\nB,2,2,2,2,2\n")
        with pytest.raises(InvalidInput, match="at least 3 sites") as caught:
            read_cohort_csv(path)
        assert not isinstance(caught.value, InvalidFile)
        assert str(path) in str(caught.value)

    def test_it_refuses_a_header_without_sites(self, tmp_path: Path) -> None:
        path = write(tmp_path, f"{HEADER}\n")
        with pytest.raises(InvalidInput, match="has 0 sites"):
            read_cohort_csv(path)

    def test_it_refuses_an_empty_file_by_name(self, tmp_path: Path) -> None:
        path = write(tmp_path, "  \n\n", name="empty.csv")
        with pytest.raises(InvalidInput, match=re.escape("empty.csv: the file is empty")):
            read_cohort_csv(path)

    def test_it_refuses_a_file_that_is_not_csv(self, tmp_path: Path) -> None:
        path = write(tmp_path, "This is a memo\nnot a table.\n", name="memo.csv")
        with pytest.raises(
            InvalidInput, match=re.escape("memo.csv: does not look like a CSV file")
        ):
            read_cohort_csv(path)

    def test_it_refuses_semicolon_separated_files(self, tmp_path: Path) -> None:
        path = write(tmp_path, HEADER.replace(",", ";") + "\nA;1;2;3;4;5\n")
        with pytest.raises(InvalidInput, match="comma-separated header"):
            read_cohort_csv(path)

    def test_it_refuses_a_file_that_is_not_utf8(self, tmp_path: Path) -> None:
        path = tmp_path / "latin1.csv"
        path.write_bytes(f"{HEADER}\nS\xe9te,1,2,3,4,5\n".encode("latin-1"))
        with pytest.raises(InvalidInput, match=re.escape("latin1.csv: is not UTF-8")):
            read_cohort_csv(path)

    def test_it_refuses_a_missing_file_by_name(self, tmp_path: Path) -> None:
        with pytest.raises(InvalidInput, match=re.escape("absent.csv: cannot be read")):
            read_cohort_csv(tmp_path / "absent.csv")
