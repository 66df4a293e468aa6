"""The one pager: pages of a list, the last page past the end, and bad page numbers in words."""

from __future__ import annotations

import pytest

from qmm.errors import InvalidInput
from qmm.presentation.paging import MAX_PAGE_NUMBER, counted_page, page_of, parse_page


def test_pages_of_a_list() -> None:
    page = page_of(list(range(125)), 2, size=50)
    assert page.rows == tuple(range(50, 100))
    assert (page.first, page.last, page.pages, page.previous, page.next) == (51, 100, 3, 1, 3)
    last = page_of(list(range(125)), "3", size=50)
    assert last.rows == tuple(range(100, 125))
    assert last.next is None


def test_past_the_end_is_the_last_page_and_empty_is_one_page() -> None:
    assert page_of(list(range(10)), 7, size=4).number == 3
    empty = page_of([], 1, size=4)
    assert (empty.pages, empty.first, empty.last, empty.rows) == (1, 0, 0, ())


def test_a_page_the_database_cut() -> None:
    page = counted_page(["x"] * 20, 3, size=20, total=45)
    assert (page.first, page.last, page.offset, page.pages) == (41, 45, 40, 3)


@pytest.mark.parametrize("text", ["", None, " 1 "])
def test_no_page_is_the_first(text: str | None) -> None:
    assert parse_page(text) == 1


@pytest.mark.parametrize("text", ["two", "0", "-3", "1.5", str(MAX_PAGE_NUMBER + 1), "1e9"])
def test_a_bad_page_number_says_what_is_wanted(text: str) -> None:
    with pytest.raises(InvalidInput, match="page must be a whole number from 1"):
        parse_page(text)
