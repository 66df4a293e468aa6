"""Long lists shown a page at a time: one pager for every list that can outgrow a screen.

Why shared: the KPI records, the evidence index, a record's audit history and the search
results each had (or would have had) their own idea of a page, a size and a bad page number.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from qmm.errors import InvalidInput

#: The rows a page shows unless a list says otherwise.
DEFAULT_PAGE_SIZE: Final = 50
#: The largest page number accepted; larger names no page of any list.
MAX_PAGE_NUMBER: Final = 1_000_000

Row = TypeVar("Row")


def parse_page(text: str | int | None) -> int:
    """A page number from a query string: a whole number from 1; anything else says so."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return 1
    try:
        number = int(str(text).strip())
    except ValueError:
        raise InvalidInput(f"page must be a whole number from 1, not {str(text)[:40]!r}") from None
    if number < 1 or number > MAX_PAGE_NUMBER:
        raise InvalidInput(f"page must be a whole number from 1 to {MAX_PAGE_NUMBER}, not {number}")
    return number


@dataclass(frozen=True)
class Page(Generic[Row]):
    """One page of a list: its rows, which page it is, and how many rows the whole list has."""

    rows: tuple[Row, ...]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def first(self) -> int:
        """The 1-based position of the page's first row (0 when the list is empty)."""
        return 0 if not self.total else (self.number - 1) * self.size + 1

    @property
    def last(self) -> int:
        return min(self.total, self.number * self.size)

    @property
    def previous(self) -> int | None:
        return self.number - 1 if self.number > 1 else None

    @property
    def next(self) -> int | None:
        return self.number + 1 if self.number < self.pages else None

    @property
    def offset(self) -> int:
        return (self.number - 1) * self.size


def page_of(
    rows: Sequence[Row], number: int | str | None = 1, *, size: int = DEFAULT_PAGE_SIZE
) -> Page[Row]:
    """The page `number` of a list held whole; past the end, its last page."""
    total = len(rows)
    wanted = min(parse_page(number), max(1, -(-total // size)))
    start = (wanted - 1) * size
    return Page(tuple(rows[start : start + size]), wanted, size, total)


def counted_page(rows: Sequence[Row], number: int, *, size: int, total: int) -> Page[Row]:
    """A page whose rows the database already cut out, knowing the whole list's length."""
    return Page(tuple(rows), number, size, total)
