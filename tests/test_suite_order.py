"""The suite's own scheduling: the slow work units it sends first all exist."""

from __future__ import annotations

from pathlib import Path

from conftest import SLOWEST_FIRST

ROOT = Path(__file__).resolve().parents[1]


def test_every_unit_sent_first_is_a_test_file_or_folder() -> None:
    missing = [unit for unit in SLOWEST_FIRST if not (ROOT / unit).exists()]
    assert missing == []
    assert len(set(SLOWEST_FIRST)) == len(SLOWEST_FIRST)
