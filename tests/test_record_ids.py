"""A record id is ASCII digits within a database integer's range; nothing else names a record."""

from __future__ import annotations

import pytest

from qmm.record_ids import parse_record_id


@pytest.mark.parametrize(("text", "number"), [("1", 1), ("007", 7), ("9" * 18, int("9" * 18))])
def test_ascii_digits_are_the_id(text: str, number: int) -> None:
    assert parse_record_id(text) == number


@pytest.mark.parametrize(
    "text", [None, "", "²", "٣", "1" * 19, str(2**63), "-1", "+1", "1.0", " 1"]
)
def test_anything_else_names_no_record(text: str | None) -> None:
    assert parse_record_id(text) is None
