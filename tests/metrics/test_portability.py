"""The same KPI expressions on DuckDB and PostgreSQL give the same results, and every KPI
compiles for PostgreSQL, Trino and DuckDB with no backend-specific function (no median)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import date
from typing import Any

import ibis
import psycopg
import pyarrow as pa
import pytest
from sqlalchemy.engine import make_url

from metrics.support import assert_same_values
from qmm.metrics.engine import KPIValue, compile_sql, compute, records
from qmm.metrics.kpis import REGISTRY

AS_OF = date(2025, 6, 30)
DEFAULT_POSTGRES = "postgresql://root@127.0.0.1:5432/test"


@pytest.mark.parametrize("dialect", ["postgres", "trino", "duckdb"])
@pytest.mark.parametrize("kpi", list(REGISTRY))
def test_every_kpi_compiles(kpi: str, dialect: str) -> None:
    for period in ("month", "quarter", "year"):
        sql = compile_sql(kpi, dialect, period=period, as_of=AS_OF)
        assert sql.lstrip().upper().startswith(("SELECT", "WITH"))
        upper = sql.upper()
        # Portable constructs only: no median/quantile functions, which Trino and SQLite lack.
        for name in ("MEDIAN(", "PERCENTILE", "QUANTILE", "APPROX_"):
            assert name not in upper


def test_compile_sql_refuses_unknown_dialects_and_kpis() -> None:
    with pytest.raises(ValueError, match="unknown dialect"):
        compile_sql("capa_on_time_closure", "oracle")
    with pytest.raises(KeyError, match="unknown KPI"):
        compile_sql("nope", "postgres")


def _postgres_base_url() -> str:
    url = os.environ.get("QMM_TEST_DATABASE_URL", "")
    return url if url.startswith("postgresql") else DEFAULT_POSTGRES


def _conninfo(url: str, database: str | None = None) -> dict[str, Any]:
    u = make_url(url)
    info = {
        "host": u.host or "127.0.0.1",
        "port": u.port or 5432,
        "user": u.username,
        "password": u.password,
        "dbname": database or u.database,
    }
    return {k: v for k, v in info.items() if v is not None}


@pytest.fixture(scope="module")
def postgres_tables(random_arrow: dict[str, pa.Table]) -> Iterator[dict[str, Any]]:
    """The random data set in a fresh PostgreSQL database, dropped afterwards."""
    base = _postgres_base_url()
    try:
        admin = psycopg.connect(**_conninfo(base), autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as error:
        pytest.skip(f"PostgreSQL is not reachable at {make_url(base).host}: {error}")
    name = f"qmm_kpi_{uuid.uuid4().hex[:12]}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    info = _conninfo(base, name)
    con = ibis.postgres.connect(
        host=info["host"],
        port=info["port"],
        user=info.get("user"),
        password=info.get("password"),
        database=name,
    )
    try:
        yield {table: con.create_table(table, data) for table, data in random_arrow.items()}
    finally:
        con.disconnect()
        with psycopg.connect(**_conninfo(base), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.mark.parametrize("period", ["month", "quarter", "year"])
def test_postgres_matches_duckdb(
    period: str,
    postgres_tables: dict[str, Any],
    reference_results: dict[str, list[KPIValue]],
) -> None:
    expected = reference_results[period]
    assert {v.kpi for v in expected} == set(REGISTRY), "the data set exercises every KPI"
    actual = compute(postgres_tables, period=period, as_of=AS_OF)
    assert_same_values(expected, actual, f"PostgreSQL, {period}")


def test_postgres_single_query_matches_duckdb(
    postgres_tables: dict[str, Any], reference_results: dict[str, list[KPIValue]]
) -> None:
    actual = compute(postgres_tables, period="month", as_of=AS_OF, single_query=True)
    assert_same_values(reference_results["month"], actual, "PostgreSQL, one query")


@pytest.mark.parametrize(
    "kpi", ["deviation_repeat_rate", "em_response_hours", "complaint_rate_per_million"]
)
def test_postgres_records_match_duckdb(
    kpi: str, postgres_tables: dict[str, Any], duckdb_random: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"kpi": kpi, "site": "SITE-A", "period_value": "2025-03"}
    expected = records(duckdb_random, as_of=AS_OF, **args)
    assert expected
    assert records(postgres_tables, as_of=AS_OF, **args) == expected
