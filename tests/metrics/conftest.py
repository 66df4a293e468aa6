"""Fixtures for the KPI engine tests: DuckDB tables from rows, and the random data set."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

import pyarrow as pa
import pytest

from metrics.support import (
    Key,
    MakeTables,
    Rows,
    ValuesOf,
    arrow_tables,
    duckdb_tables,
    random_rows,
)
from qmm.metrics.engine import KPIValue, compute


@pytest.fixture
def make_tables() -> MakeTables:
    """``make_tables(capa=[{...}], ...)``: DuckDB tables (fresh in-memory database)."""

    def make(**rows: Rows) -> dict[str, Any]:
        return duckdb_tables(arrow_tables(rows))

    return make


@pytest.fixture
def values_of() -> ValuesOf:
    """``values_of(tables, kpi, **compute_args)`` -> {(site, period, group): (num, den, value)}."""

    def run(
        tables: Mapping[str, Any], kpi: str, **kwargs: Any
    ) -> dict[Key, tuple[int | None, int | None, Any]]:
        kwargs.setdefault("as_of", date(2030, 1, 1))
        out: dict[Key, tuple[int | None, int | None, Any]] = {}
        for v in compute(tables, kpis=[kpi], **kwargs):
            key = (v.site, v.period, v.group)
            assert key not in out, f"duplicate row {key}"
            value = None if v.value is None else pytest.approx(v.value, rel=1e-12, abs=1e-12)
            out[key] = (v.numerator, v.denominator, value)
        return out

    return run


@pytest.fixture(scope="session")
def random_arrow() -> dict[str, pa.Table]:
    return arrow_tables(random_rows())


@pytest.fixture(scope="session")
def duckdb_random(random_arrow: dict[str, pa.Table]) -> dict[str, Any]:
    return duckdb_tables(random_arrow)


@pytest.fixture(scope="session")
def reference_results(duckdb_random: dict[str, Any]) -> dict[str, list[KPIValue]]:
    """DuckDB's results on the random data, per period, computed once."""
    return {
        p: compute(duckdb_random, period=p, as_of=date(2025, 6, 30))
        for p in ("month", "quarter", "year")
    }
