"""The demo extracts obey the data contract, are deterministic, and carry their planted signals."""

from __future__ import annotations

import functools
import time
from datetime import date
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from qmm.demo.extracts import (
    CHANGE_BACKLOG_SITE,
    CHANGE_BACKLOG_TIER,
    CHANGE_TARGET_DEFAULTS,
    EM_DRIFT_MONTHS,
    EM_DRIFT_ROOM,
    EM_DRIFT_SITE,
    INJECTED_SIGNALS,
    RECORD_FILES,
    RECURRING_ROOT_CAUSES,
    VOE_FAILURE_SITE,
    em_total_samples,
    extract_sites,
    write_demo_extracts,
)
from qmm.demo.workspace import DEMO_SITES
from qmm.events.record_types import RECORD_TYPES, ColumnType, RecordType
from qmm.metrics.control_charts import em_trend

END = date(2026, 10, 31)
BOOLEANS = {"true", "false", "yes", "no", "1", "0"}
DATE = r"^\d{4}-\d{2}-\d{2}$"
MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?$"


@pytest.fixture(scope="module")
def extracts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three sites over two years: enough for the planted signals to be measurable."""
    return write_demo_extracts(tmp_path_factory.mktemp("extracts"), sites=3, years=2)


def read(path: Path) -> pd.DataFrame:
    """Every cell as text, empty cells as '', as an importer sees a CSV."""
    return _read(path, path.stat().st_mtime_ns).copy()


@functools.lru_cache(maxsize=16)
def _read(path: Path, mtime: int) -> pd.DataFrame:
    del mtime
    if path.suffix == ".parquet":
        frame = pq.read_table(path).to_pandas()
        return frame.astype(object).where(frame.notna(), "").astype(str)
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def utc(values: pd.Series) -> pd.Series:
    return pd.to_datetime(values.where(values != ""), utc=True, format="ISO8601")


def check_contract(rt: RecordType, frame: pd.DataFrame) -> None:
    """Every rule of the contract, vectorised: required, types, allowed values, order, keys."""
    assert list(frame.columns) == [c.name for c in rt.columns]
    assert len(frame) > 0, rt.name
    parsed: dict[str, pd.Series] = {}
    for column in rt.columns:
        text = frame[column.name]
        present = text != ""
        if column.required:
            assert present.all(), f"{rt.name}.{column.name} has empty required cells"
        values = text[present]
        if column.allowed:
            bad = set(values) - set(column.allowed)
            assert not bad, f"{rt.name}.{column.name}: {bad}"
        if column.type is ColumnType.date:
            assert values.str.match(DATE).all(), f"{rt.name}.{column.name}"
            parsed[column.name] = pd.to_datetime(text.where(present), format="%Y-%m-%d")
        elif column.type is ColumnType.timestamp:
            assert values.str.match(TIMESTAMP).all(), f"{rt.name}.{column.name}"
            parsed[column.name] = utc(text)
        elif column.type is ColumnType.integer:
            assert values.str.match(r"^-?\d+$").all(), f"{rt.name}.{column.name}"
        elif column.type is ColumnType.number:
            assert pd.to_numeric(values).notna().all(), f"{rt.name}.{column.name}"
        elif column.type is ColumnType.boolean:
            assert set(values.str.lower()) <= BOOLEANS, f"{rt.name}.{column.name}"
        elif column.type is ColumnType.month:
            assert values.str.match(MONTH).all(), f"{rt.name}.{column.name}"
    for earlier, later in rt.date_order:
        first = parsed[earlier]
        if rt.name == "em_sample" and earlier == "result_at":
            # result_at defaults to sampled_at when missing.
            first = first.fillna(parsed["sampled_at"])
        second = parsed[later]
        both = first.notna() & second.notna()
        assert (first[both] <= second[both]).all(), f"{rt.name}: {later} before {earlier}"
    assert not frame.duplicated(list(rt.key)).any(), f"{rt.name}: duplicate keys"
    if "site" in frame.columns and rt.name != "site":
        assert frame["site"].str.match(r"^SITE-[A-Z]+$").all()


@pytest.mark.parametrize("name", RECORD_FILES)
def test_every_file_obeys_the_contract(extracts: dict[str, Path], name: str) -> None:
    assert extracts[name].exists()
    assert extracts[name].name == f"{name}.csv"
    check_contract(RECORD_TYPES[name], read(extracts[name]))


def test_one_file_per_record_type(extracts: dict[str, Path]) -> None:
    assert set(extracts) == set(RECORD_TYPES) == set(RECORD_FILES)


def test_sites_are_the_demo_workspace_sites(extracts: dict[str, Path]) -> None:
    sites = read(extracts["site"])
    assert list(sites["site"]) == [s.code for s in DEMO_SITES]
    assert list(sites["name"]) == [s.name for s in DEMO_SITES]
    assert list(sites["headcount"].astype(int)) == [s.headcount for s in DEMO_SITES]
    for name in RECORD_FILES:
        assert set(read(extracts[name])["site"]) == {"SITE-A", "SITE-B", "SITE-C"}, name


def test_more_sites_continue_the_lettering() -> None:
    specs = extract_sites(30)
    assert [s.code for s in specs[:5]] == ["SITE-A", "SITE-B", "SITE-C", "SITE-D", "SITE-E"]
    assert specs[26].code == "SITE-AA"
    assert len({s.code for s in specs}) == len({s.name for s in specs}) == 30


def test_records_link_to_each_other(extracts: dict[str, Path]) -> None:
    deviations = read(extracts["deviation"])
    capas = read(extracts["capa"])
    em = read(extracts["em_sample"])
    dev_keys = set(zip(deviations["site"], deviations["deviation_id"], strict=True))
    capa_keys = set(zip(capas["site"], capas["capa_id"], strict=True))
    linked = deviations[deviations["capa_id"] != ""]
    assert set(zip(linked["site"], linked["capa_id"], strict=True)) <= capa_keys
    from_dev = capas[capas["source_type"] == "deviation"]
    assert len(from_dev) > 0.5 * len(capas)
    assert set(zip(from_dev["site"], from_dev["source_id"], strict=True)) <= dev_keys
    em_linked = em[em["deviation_id"] != ""]
    assert len(em_linked) > 10
    assert set(zip(em_linked["site"], em_linked["deviation_id"], strict=True)) <= dev_keys
    assert (em_linked["cfu"].astype(int) > em_linked["action_limit"].astype(int)).all()
    complaints = read(extracts["complaint"])
    lots = read(extracts["lot"])
    with_lot = complaints[complaints["lot_id"] != ""]
    lot_keys = set(zip(lots["site"], lots["lot_id"], strict=True))
    assert set(zip(with_lot["site"], with_lot["lot_id"], strict=True)) <= lot_keys


def test_volumes_per_site_and_year_are_realistic(extracts: dict[str, Path]) -> None:
    ranges = {
        "deviation": (150, 320),
        "capa": (70, 160),
        "change_control": (100, 250),
        "training": (5_000, 20_000),
        "supplier_car": (10, 40),
        "lot": (400, 3_000),
        "oos": (8, 40),
        "suggestion": (40, 300),
    }
    for name, (low, high) in ranges.items():
        per_year = read(extracts[name]).groupby("site").size() / 2
        assert per_year.between(low, high).all(), (name, per_year.to_dict())
    em = read(extracts["em_sample"])
    per_day = em[em["site"] == "SITE-A"].groupby(em["sampled_at"].str[:10]).size()
    assert per_day.median() >= 100  # a sterile site samples hundreds of times a day
    assert set(em[em["site"] == "SITE-A"]["grade"]) == {"A", "B", "C", "D"}
    assert set(em["method"]) == {"active_air", "settle_plate", "contact_plate", "glove"}


def test_complaint_rate_per_million_is_realistic(extracts: dict[str, Path]) -> None:
    complaints = read(extracts["complaint"])
    units = read(extracts["distribution"]).assign(units=lambda f: f["units"].astype(float))
    quality = complaints[complaints["quality_related"] == "true"].groupby("site").size()
    rate = quality / units.groupby("site")["units"].sum() * 1e6
    assert rate["SITE-A"] == pytest.approx(4 * (1.4 - 0.6 * 0.9), rel=0.35)  # sterile vials
    assert 0.05 < rate["SITE-B"] < 2  # tablets: well under one per million in good plants


def test_open_records_and_varied_offsets(extracts: dict[str, Path]) -> None:
    for name, column in (("capa", "closed_on"), ("deviation", "closed_on")):
        assert (read(extracts[name])[column] == "").any(), name
    em = read(extracts["em_sample"])
    suffixes = set(em["sampled_at"].str[19:]) | set(em["result_at"].str[19:])
    assert {"Z", "-05:00", "-04:00", "+01:00", "+02:00", "+05:30"} <= suffixes
    oos = read(extracts["oos"])
    assert set(oos["invalidated"]) == {"1", "0"}
    assert {"yes", "no"} >= set(read(extracts["supplier_car"])["effective"]) - {""}


def test_periods_stay_inside_the_window_in_utc(extracts: dict[str, Path]) -> None:
    em = read(extracts["em_sample"])
    months = utc(em["sampled_at"]).dt.strftime("%Y-%m")
    assert months.min() == "2024-11"
    assert months.max() == "2026-10"
    for name, column in (("deviation", "opened_on"), ("lot", "started_on")):
        dates = read(extracts[name])[column]
        assert dates.min() >= "2024-11-01"
        assert dates.max() <= END.isoformat()


# --- the injected signals -------------------------------------------------------------------


def test_signals_are_documented() -> None:
    assert {s.site for s in INJECTED_SIGNALS} == {"SITE-A", "SITE-B", "SITE-C"}
    assert {s.record_type for s in INJECTED_SIGNALS} == {"capa", "em_sample", "change_control"}


def test_site_b_capas_fail_effectiveness_checks(extracts: dict[str, Path]) -> None:
    capas = read(extracts["capa"])
    checked = capas[capas["voe_result"] != ""]
    failed = (checked["voe_result"] == "not_effective").groupby(checked["site"]).mean()
    assert failed[VOE_FAILURE_SITE] > 0.30
    assert (failed.drop(VOE_FAILURE_SITE) < 0.20).all()
    assert checked.groupby("site").size().min() >= 40


def test_site_b_deviations_recur_in_the_same_root_causes(extracts: dict[str, Path]) -> None:
    deviations = read(extracts["deviation"])
    share = (
        deviations["root_cause_category"]
        .isin(RECURRING_ROOT_CAUSES)
        .groupby(deviations["site"])
        .mean()
    )
    assert share[VOE_FAILURE_SITE] > 0.45
    assert (share.drop(VOE_FAILURE_SITE) < 0.35).all()
    top3 = deviations.groupby("site")["root_cause_category"].agg(
        lambda c: c.value_counts(normalize=True).head(3).sum()
    )
    assert top3[VOE_FAILURE_SITE] > 0.45
    assert (top3.drop(VOE_FAILURE_SITE) < 0.38).all()


def test_site_a_em_drift_is_a_control_chart_signal(extracts: dict[str, Path]) -> None:
    em = read(extracts["em_sample"])
    charts = {room: chart for room, _, chart in em_trend(em, site=EM_DRIFT_SITE)}
    chart = charts[EM_DRIFT_ROOM]
    assert len(chart.labels) == 24
    drift = chart.values[-EM_DRIFT_MONTHS:]
    assert all(v is not None for v in drift)
    rates = np.array(drift, dtype=float)
    assert (np.diff(rates) > 0).all()  # rising every month
    assert rates[-1] > 3 * rates[0]
    last = set(range(24 - EM_DRIFT_MONTHS, 24))
    trend = [s for s in chart.signals if s.rule in (2, 3) and set(s.indexes) & last]
    assert any(s.rule == 3 and len(set(s.indexes) & last) >= 6 for s in trend)
    # The other Grade B filling room shows no trend.
    assert not [s for s in charts["B-FILL-01"].signals if s.rule == 3]


def test_site_a_drift_room_responds_slowly(extracts: dict[str, Path]) -> None:
    em = read(extracts["em_sample"])
    site = em[
        (em["site"] == EM_DRIFT_SITE) & (em["cfu"].astype(int) > em["alert_limit"].astype(int))
    ]
    recent = utc(site["sampled_at"]) >= pd.Timestamp("2026-02-01", tz="UTC")
    hours = (utc(site["response_at"]) - utc(site["result_at"])).dt.total_seconds() / 3600
    in_room = site["room"] == EM_DRIFT_ROOM
    drift_hours = hours[in_room & recent].median()
    other_hours = hours[~in_room].median()
    assert drift_hours > 4 * other_hours
    open_share = (site["response_at"] == "").groupby(in_room & recent).mean()
    assert open_share[True] > open_share[False]


def test_action_level_excursions_open_deviations_except_in_the_drift(
    extracts: dict[str, Path],
) -> None:
    """Outside SITE-A's drift room every action-level result has its deviation; in the drift a
    few do not (the weak EM discipline planted), so the broken threads name that room alone."""
    em = read(extracts["em_sample"])
    action = em[em["cfu"].astype(int) > em["action_limit"].astype(int)]
    uninvestigated = action[action["deviation_id"].fillna("") == ""]
    assert len(action) > 20
    assert set(uninvestigated["site"]) == {EM_DRIFT_SITE}
    assert set(uninvestigated["room"]) == {EM_DRIFT_ROOM}
    assert 5 <= len(uninvestigated) <= 0.5 * len(action[action["room"] == EM_DRIFT_ROOM])


def test_site_c_high_risk_changes_take_twice_their_target(extracts: dict[str, Path]) -> None:
    cc = read(extracts["change_control"])
    closed = cc[cc["closed_on"] != ""].copy()
    days = (pd.to_datetime(closed["closed_on"]) - pd.to_datetime(closed["opened_on"])).dt.days
    default = closed["risk_tier"].map(CHANGE_TARGET_DEFAULTS)
    target = closed["target_days"].replace("", np.nan).astype(float).fillna(default)
    closed["ratio"] = days / target
    recent = closed[closed["closed_on"] > "2025-10-31"]
    ratio = recent.groupby(["site", "risk_tier"])["ratio"].median()
    assert ratio[(CHANGE_BACKLOG_SITE, CHANGE_BACKLOG_TIER)] > 2.0
    assert ratio[("SITE-A", "high")] < 1.2
    assert ratio[("SITE-B", "high")] < 1.2
    assert ratio[(CHANGE_BACKLOG_SITE, "medium")] < 1.2
    # The backlog: high-risk changes still open past their target on the as-of date.
    high = cc[cc["risk_tier"] == "high"]
    age = (pd.Timestamp(END) - pd.to_datetime(high["opened_on"])).dt.days
    high_target = high["target_days"].replace("", np.nan).astype(float).fillna(90)
    overdue = ((high["closed_on"] == "") & (age > high_target)).groupby(high["site"]).mean()
    assert overdue[CHANGE_BACKLOG_SITE] > 0.1
    assert overdue[CHANGE_BACKLOG_SITE] > 2 * overdue.drop(CHANGE_BACKLOG_SITE).max()


# --- determinism, speed, Parquet ------------------------------------------------------------


def test_a_small_run_is_fast_and_deterministic(tmp_path: Path) -> None:
    started = time.perf_counter()
    first = write_demo_extracts(tmp_path / "one", sites=3, years=1)
    assert time.perf_counter() - started < 15
    second = write_demo_extracts(tmp_path / "two", sites=3, years=1)
    other = write_demo_extracts(tmp_path / "three", sites=3, years=1, seed=7)
    for name in RECORD_FILES:
        assert first[name].read_bytes() == second[name].read_bytes(), name
    assert first["deviation"].read_bytes() != other["deviation"].read_bytes()
    assert first["site"].read_bytes() == other["site"].read_bytes()


def test_adding_sites_keeps_the_earlier_sites(tmp_path: Path) -> None:
    two = write_demo_extracts(tmp_path / "two", sites=2, years=1, em_samples_per_room_day=2)
    four = write_demo_extracts(tmp_path / "four", sites=4, years=1, em_samples_per_room_day=2)
    for name in ("capa", "training", "em_sample"):
        small = read(two[name])
        large = read(four[name])
        assert set(large["site"]) == {"SITE-A", "SITE-B", "SITE-C", "SITE-D"}
        pd.testing.assert_frame_equal(
            large[large["site"].isin(["SITE-A", "SITE-B"])].reset_index(drop=True), small
        )


def test_parquet_em_samples_with_a_tuned_volume(tmp_path: Path) -> None:
    messages: list[str] = []
    paths = write_demo_extracts(
        tmp_path,
        sites=4,
        years=1,
        fmt="parquet",
        em_samples_per_room_day=6,
        end=date(2025, 6, 30),
        progress=messages.append,
    )
    assert paths["em_sample"].name == "em_sample.parquet"
    assert paths["capa"].name == "capa.csv"
    frame = read(paths["em_sample"])
    check_contract(RECORD_TYPES["em_sample"], frame)
    expected = em_total_samples(sites=4, years=1, em_samples_per_room_day=6)
    assert len(frame) == pytest.approx(expected, rel=0.02)
    assert pq.ParquetFile(paths["em_sample"]).metadata.num_row_groups > 1  # written in chunks
    assert any("EM samples written" in m for m in messages)
    assert utc(frame["sampled_at"]).max() < pd.Timestamp("2025-07-01", tz="UTC")
    # The drift is planted at this volume too.
    charts = {room: chart for room, _, chart in em_trend(frame, site=EM_DRIFT_SITE)}
    assert any(s.rule == 3 for s in charts[EM_DRIFT_ROOM].signals)


def test_refuses_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="years"):
        write_demo_extracts(tmp_path, years=0)
    with pytest.raises(ValueError, match="sites"):
        write_demo_extracts(tmp_path, sites=0)
    with pytest.raises(ValueError, match="em_samples_per_room_day"):
        write_demo_extracts(tmp_path, em_samples_per_room_day=0)


def _engine_tables(extracts: dict[str, Path]) -> dict[str, object]:
    """The demo extracts typed by the importer's own checks, as DuckDB tables for the engine."""
    import ibis
    import pyarrow as pa

    from qmm.events.importer import validate_file
    from qmm.metrics.kpis import input_schemas

    con = ibis.duckdb.connect()
    tables: dict[str, object] = {}
    for name, schema in input_schemas().items():
        if name in extracts:
            typed = validate_file(extracts[name], record_type=name).table
            typed = typed.select(list(schema.names)).cast(schema.to_pyarrow())
        else:
            typed = pa.Table.from_pylist([], schema=schema.to_pyarrow())
        tables[name] = con.create_table(name, typed)
    return tables


@pytest.mark.parametrize("kpi", ["deviation_repeat_rate", "capa_recurrence_rate"])
def test_recurrence_kpis_have_realistic_levels_and_show_site_b(
    extracts: dict[str, Path], kpi: str
) -> None:
    """Both recurrence KPIs read 10-40 % over a year, and SITE-B's planted recurrence stands out
    (before contract version 2 both sat near 100 % everywhere)."""
    from qmm.metrics.engine import compute

    values = compute(_engine_tables(extracts), kpis=[kpi], period="year", as_of=END)
    year = {v.site: v for v in values if v.period == "2025"}
    assert set(year) == {"SITE-A", "SITE-B", "SITE-C"}
    for site, value in year.items():
        assert value.denominator is not None, site
        assert value.denominator >= 20, site
        assert value.value is not None, site
        assert 0.10 <= value.value <= 0.40, (site, value)
    others = max(v.value or 0 for s, v in year.items() if s != VOE_FAILURE_SITE)
    assert (year[VOE_FAILURE_SITE].value or 0) >= 1.5 * others
