"""The KPI expressions on Spark (local mode) give DuckDB's results on the random data set.

One SparkSession for the module; the driver JVM runs with the C1 JIT only and whole-stage
code generation off, which roughly halves the run time of these small queries.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from datetime import date
from importlib.util import find_spec
from typing import Any

import ibis
import pyarrow as pa
import pytest

from metrics.support import assert_same_values
from qmm.metrics.engine import KPIValue, compile_sql, compute, records
from qmm.metrics.kpis import REGISTRY

#: CI sets QMM_REQUIRE_SPARK=1: there a missing PySpark or Java fails the lane, never skips it.
REQUIRED = os.environ.get("QMM_REQUIRE_SPARK", "") not in ("", "0")
if REQUIRED:
    assert find_spec("pyspark") is not None, "QMM_REQUIRE_SPARK is set but PySpark is missing"
    assert shutil.which("java") or os.environ.get("JAVA_HOME"), "QMM_REQUIRE_SPARK: no Java"
elif find_spec("pyspark") is None:  # PySpark itself is imported by the fixtures, when they run
    pytest.skip("could not import 'pyspark'", allow_module_level=True)

pytestmark = [
    pytest.mark.spark,
    # PySpark 4.0 and Ibis convert results through pandas 3, which warns about its future.
    pytest.mark.filterwarnings("ignore:The copy keyword is deprecated"),
    pytest.mark.filterwarnings("ignore:The 'future.infer_string' option is deprecated"),
    pytest.mark.skipif(
        shutil.which("java") is None and not os.environ.get("JAVA_HOME"),
        reason="Spark needs Java: no java on PATH and no JAVA_HOME",
    ),
]

AS_OF = date(2025, 6, 30)


@pytest.fixture(scope="module")
def spark_session() -> Iterator[Any]:
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("qmm-kpi-tests")
        .config("spark.sql.shuffle.partitions", "1")
        .config("spark.default.parallelism", "2")
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.adaptive.enabled", "false")
        .config("spark.sql.codegen.wholeStage", "false")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.memory", "1g")
        .config("spark.driver.extraJavaOptions", "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def spark_tables(spark_session: Any, random_arrow: dict[str, pa.Table]) -> dict[str, Any]:
    """The random data set as Spark temporary views (created from Arrow, nulls intact)."""
    con = ibis.pyspark.connect(spark_session)
    tables: dict[str, Any] = {}
    for name, data in random_arrow.items():
        spark_session.createDataFrame(data).createOrReplaceTempView(name)
        tables[name] = con.table(name)
    return tables


@pytest.mark.parametrize("period", ["month", "quarter"])
def test_spark_matches_duckdb(
    period: str, spark_tables: dict[str, Any], reference_results: dict[str, list[KPIValue]]
) -> None:
    expected = reference_results[period]
    assert {v.kpi for v in expected} == set(REGISTRY)
    actual = compute(spark_tables, period=period, as_of=AS_OF, single_query=True)
    assert_same_values(expected, actual, f"Spark, {period}")


def test_spark_records_match_duckdb(
    spark_tables: dict[str, Any], duckdb_random: dict[str, Any]
) -> None:
    args: dict[str, Any] = {
        "kpi": "deviation_repeat_rate",
        "site": "SITE-B",
        "period_value": "2024-11",
    }
    expected = records(duckdb_random, as_of=AS_OF, **args)
    assert expected
    assert records(spark_tables, as_of=AS_OF, **args) == expected


@pytest.mark.parametrize("dialect", ["pyspark", "spark"])
def test_every_kpi_compiles_for_spark(dialect: str) -> None:
    for kpi in REGISTRY:
        assert "SELECT" in compile_sql(kpi, dialect, period="month", as_of=AS_OF)
