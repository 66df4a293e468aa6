"""Every KPI of the data contract on small hand-written tables, the arithmetic in comments.

Values map (site, period, group) to (numerator, denominator, value); a rate with a zero
denominator is null, a median has a null numerator and its count as denominator.
"""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from metrics.support import MakeTables, ValuesOf, utc
from qmm.metrics.kpis import REGISTRY, Options

D = date
A, B, C = "SITE-A", "SITE-B", "SITE-C"


def capa(cid: str, site: str = A, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "capa_id": cid,
        "site": site,
        "opened_on": D(2025, 1, 1),
        "due_on": D(2025, 3, 1),
        "root_cause_category": "equipment",
    }
    return row | kw


def dev(did: str, opened: date, cause: str, site: str = A, **kw: Any) -> dict[str, Any]:
    """A deviation whose recurrence key is the pair (line 1, cause) unless ``kw`` says else."""
    row = {"deviation_id": did, "site": site, "opened_on": opened, "root_cause_category": cause}
    return row | {"process_area": "line 1"} | kw


def change(cid: str, tier: str, opened: date, closed: date | None, **kw: Any) -> dict[str, Any]:
    row = {"change_id": cid, "site": A, "opened_on": opened, "risk_tier": tier}
    return row | {"closed_on": closed} | kw


def sample(sid: str, sampled: str, cfu: float, alert: float = 3.0, **kw: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "sample_id": sid,
        "site": A,
        "room": "R1",
        "grade": "A",
        "method": "active_air",
        "sampled_at": utc(sampled),
        "cfu": cfu,
        "alert_limit": alert,
        "action_limit": 10.0,
    }
    for name in ("result_at", "response_at"):
        if name in kw:
            kw[name] = utc(kw[name])
    return row | kw


def test_every_kpi_of_the_catalogue_is_registered() -> None:
    from qmm.metrics.catalogue import KPIS

    assert list(REGISTRY) == [k.id for k in KPIS]


def test_empty_tables_give_no_rows(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables()
    for kpi in REGISTRY:
        assert values_of(tables, kpi) == {}


# --- CAPA ---------------------------------------------------------------------------------


def test_capa_on_time_closure(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables(
        capa=[
            capa("C1", closed_on=D(2025, 3, 1)),  # due 03-01, closed 03-01: on time (equal)
            capa("C2", closed_on=D(2025, 3, 2)),  # one day late
            capa("C3", due_on=D(2025, 4, 30), closed_on=D(2025, 3, 31)),  # on time
            capa("C4"),  # open: not counted
            capa("C5", due_on=D(2025, 3, 15), closed_on=D(2025, 4, 1)),  # late, in April
            capa("C6", site=B, due_on=D(2025, 2, 28), closed_on=D(2025, 2, 3)),
        ]
    )
    assert values_of(tables, "capa_on_time_closure") == {
        (A, "2025-03", None): (2, 3, 2 / 3),  # C1, C3 of C1-C3
        (A, "2025-04", None): (0, 1, 0.0),  # a real 0, not null
        (B, "2025-02", None): (1, 1, 1.0),
    }
    assert values_of(tables, "capa_on_time_closure", period="quarter") == {
        (A, "2025-Q1", None): (2, 3, 2 / 3),
        (A, "2025-Q2", None): (0, 1, 0.0),
        (B, "2025-Q1", None): (1, 1, 1.0),
    }
    assert values_of(tables, "capa_on_time_closure", period="year") == {
        (A, "2025", None): (2, 4, 0.5),
        (B, "2025", None): (1, 1, 1.0),
    }


VOE = [
    capa("C1", voe_due_on=D(2025, 3, 10), voe_done_on=D(2025, 3, 9)),  # on time
    capa("C2", voe_due_on=D(2025, 3, 12), voe_done_on=D(2025, 3, 13)),  # late
    capa("C3", voe_due_on=D(2025, 3, 14)),  # not done, overdue on 03-15
    capa("C4", voe_due_on=D(2025, 3, 15), voe_done_on=D(2025, 3, 15)),  # due on the as-of day
    capa("C5", voe_due_on=D(2025, 3, 20), voe_done_on=D(2025, 3, 18)),  # due after 03-15
    capa("C6", voe_due_on=D(2025, 4, 5)),  # due after 03-15
    capa("C7"),  # no verification planned
]


def test_capa_voe_on_time_uses_the_as_of_date(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables(capa=VOE)
    # as of 2025-03-15: C1-C4 are due (C4 on the day); on time C1, C4 -> 2/4. C5 and C6 are
    # due after it: left out, and no April period is produced (contract v2).
    assert values_of(tables, "capa_voe_on_time", as_of=D(2025, 3, 15)) == {
        (A, "2025-03", None): (2, 4, 0.5),
    }
    # as of 2025-04-30: C5 is due too and was on time -> 3/5; C6 is due and not done -> 0/1.
    assert values_of(tables, "capa_voe_on_time", as_of=D(2025, 4, 30)) == {
        (A, "2025-03", None): (3, 5, 0.6),
        (A, "2025-04", None): (0, 1, 0.0),
    }
    # as of 2025-03-09: nothing is due yet, so there is no period at all.
    assert values_of(tables, "capa_voe_on_time", as_of=D(2025, 3, 9)) == {}


def test_capa_effectiveness(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables(
        capa=[
            capa("C1", voe_done_on=D(2025, 3, 1), voe_result="effective"),
            capa("C2", voe_done_on=D(2025, 3, 2), voe_result="not_effective"),
            capa("C3", voe_done_on=D(2025, 3, 31), voe_result="effective"),
            capa("C4", voe_done_on=D(2025, 3, 5)),  # no result: in neither count
            capa("C5", voe_done_on=D(2025, 4, 2)),  # April: denominator 0 -> null
            capa("C6", voe_result="effective"),  # no voe_done_on: no period
        ]
    )
    assert values_of(tables, "capa_effectiveness") == {
        (A, "2025-03", None): (2, 3, 2 / 3),
        (A, "2025-04", None): (0, 0, None),
    }


# --- deviations: the 365-day windows ---------------------------------------------------------


def test_deviation_repeat_rate_window_ties_and_sites(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(
        deviation=[
            dev("D-001", D(2024, 3, 10), "equipment"),  # nothing before it
            dev("D-002", D(2025, 3, 10), "equipment"),  # D-001 exactly 365 days before: repeat
            dev("D-003", D(2025, 3, 11), "equipment"),  # D-002 1 day before: repeat
            dev("D-004", D(2025, 3, 25), "equipment"),  # D-002 and D-003: repeat, counted once
            dev("D-020", D(2024, 3, 10), "labels"),
            dev("D-021", D(2025, 3, 11), "labels"),  # D-020 is 366 days before: not a repeat
            dev("D-031", D(2025, 3, 20), "people"),  # same day as D-030, larger id: repeat
            dev("D-030", D(2025, 3, 20), "people"),  # same day, smaller id: not a repeat
            dev("D-040", D(2025, 3, 21), "materials"),  # a later same-cause one does not count
            dev("D-041", D(2025, 3, 22), "materials"),  # D-040 one day before: repeat
            dev("D-002", D(2025, 3, 12), "equipment", site=B),  # other site: no match
        ]
    )
    assert values_of(tables, "deviation_repeat_rate") == {
        (A, "2024-03", None): (0, 2, 0.0),  # D-001, D-020
        # D-002, D-003, D-004, D-031, D-041 repeat out of
        # D-002, D-003, D-004, D-021, D-030, D-031, D-040, D-041 -> 5/8
        (A, "2025-03", None): (5, 8, 5 / 8),
        (B, "2025-03", None): (0, 1, 0.0),
    }


def test_deviation_repeat_rate_looks_back_before_the_start_filter(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(
        deviation=[dev("D-1", D(2025, 2, 27), "x"), dev("D-2", D(2025, 3, 2), "x")]
    )
    # The February deviation is outside the selected periods but still makes D-2 a repeat.
    assert values_of(tables, "deviation_repeat_rate", start="2025-03") == {
        (A, "2025-03", None): (1, 1, 1.0)
    }


def keyed(did: str, opened: date, key: str | None, site: str = A, **kw: Any) -> dict[str, Any]:
    """A deviation with a given recurrence key (or none at all)."""
    return dev(did, opened, "equipment", site, recurrence_key=key, process_area=None) | kw


def test_deviation_repeat_rate_compares_keys_not_causes(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(
        deviation=[
            keyed("K1", D(2025, 3, 1), "FILL-01:leak"),
            keyed("K2", D(2025, 3, 5), "FILL-02:leak"),  # same cause, another key: no repeat
            keyed("K3", D(2025, 3, 9), "FILL-01:leak"),  # K1 8 days before: repeat
            keyed("K4", D(2025, 3, 9), None),  # no key at all: in neither count
            # a key that reads like a pair is not that pair
            keyed("K5", D(2025, 3, 10), "line 1equipment"),
            dev("K6", D(2025, 3, 11), "equipment"),  # the pair (line 1, equipment): first
        ]
    )
    assert values_of(tables, "deviation_repeat_rate") == {(A, "2025-03", None): (1, 5, 0.2)}


def test_capa_recurrence_rate_per_capa_after_its_window(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(
        capa=[
            capa("CA1", closed_on=D(2025, 1, 15)),
            capa("CA2", closed_on=D(2025, 1, 20)),
            capa("CA3", closed_on=D(2025, 1, 25)),
            capa("CA4", closed_on=D(2025, 1, 10)),  # its deviation has no key: not counted
            capa("CA5", closed_on=D(2025, 1, 28)),
            capa("CA6", closed_on=D(2025, 6, 1)),  # window ends after the as-of date
            capa("CA7", closed_on=D(2025, 1, 5)),
            capa("CA8"),  # open: not counted
        ],
        deviation=[
            keyed("E0", D(2025, 1, 2), "k1", capa_id="CA1"),
            keyed("E1", D(2025, 1, 16), "k1"),  # 1 day after CA1 closed: recurs
            keyed("E2", D(2024, 12, 1), "k2", capa_id="CA2"),
            keyed("E3", D(2025, 1, 20), "k2"),  # the day CA2 closed: 0 days, no
            keyed("E4", D(2025, 7, 19), "k2"),  # 180 days after CA2 closed: recurs
            keyed("E5", D(2025, 1, 3), "k3", capa_id="CA3"),
            keyed("E6", D(2025, 7, 25), "k3"),  # 181 days after CA3 closed: no
            keyed("E7", D(2025, 1, 4), None, capa_id="CA4"),
            keyed("E8", D(2025, 1, 5), "k4", capa_id="CA5"),
            keyed("E9", D(2025, 2, 1), "k4", site=B),  # another site: no
            keyed("E10", D(2025, 5, 1), "k1", capa_id="CA6"),
            dev("E11", D(2025, 1, 1), "x", process_area="P", capa_id="CA7"),  # the pair (P, x)
            keyed("E12", D(2025, 1, 20), "Px"),  # a key is never a pair: no
            keyed("E13", D(2025, 1, 21), "k9", capa_id="CA8"),
        ],
    )
    as_of = D(2025, 9, 30)
    assert values_of(tables, "capa_recurrence_rate", as_of=as_of) == {
        (A, "2025-01", None): (2, 5, 0.4),  # CA1, CA2 of CA1, CA2, CA3, CA5, CA7
        (A, "2025-06", None): (0, 0, None),  # CA6 is not judged yet
    }
    # A 200-day window catches E6 as well; by the end of the year CA6's window has passed.
    wide = values_of(
        tables,
        "capa_recurrence_rate",
        as_of=D(2025, 12, 31),
        options=Options(recurrence_window_days=200),
    )
    assert wide == {(A, "2025-01", None): (3, 5, 0.6), (A, "2025-06", None): (0, 1, 0.0)}


# --- change control -------------------------------------------------------------------------


def test_change_cycle_time_days_median_per_tier(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(
        change_control=[
            # high: 59, 10, 30, 100 days -> sorted 10, 30, 59, 100 -> (30 + 59) / 2 = 44.5
            change("H1", "high", D(2025, 1, 1), D(2025, 3, 1)),
            change("H2", "high", D(2025, 3, 1), D(2025, 3, 11)),
            change("H3", "high", D(2025, 2, 1), D(2025, 3, 3)),
            change("H4", "high", D(2024, 11, 21), D(2025, 3, 1)),
            change("H5", "high", D(2025, 3, 1), None),  # open: not counted
            # medium: 20 and 20 (a tie) -> 20
            change("M1", "medium", D(2025, 3, 1), D(2025, 3, 21)),
            change("M2", "medium", D(2025, 3, 5), D(2025, 3, 25)),
            # low: 5, 1, 9 -> 5 (odd count: the middle value)
            change("L1", "low", D(2025, 3, 1), D(2025, 3, 6)),
            change("L2", "low", D(2025, 3, 1), D(2025, 3, 2)),
            change("L3", "low", D(2025, 3, 1), D(2025, 3, 10)),
            # April: only a low one, 0 days
            change("L4", "low", D(2025, 4, 1), D(2025, 4, 1)),
        ]
    )
    assert values_of(tables, "change_cycle_time_days") == {
        (A, "2025-03", "high"): (None, 4, 44.5),
        (A, "2025-03", "medium"): (None, 2, 20.0),
        (A, "2025-03", "low"): (None, 3, 5.0),
        (A, "2025-04", "low"): (None, 1, 0.0),
    }
    # Q2 holds only L4; Q1 low: 5, 1, 9 -> 5.
    assert values_of(tables, "change_cycle_time_days", period="quarter")[(A, "2025-Q2", "low")] == (
        None,
        1,
        0.0,
    )


CHANGES = [
    change("X1", "high", D(2025, 1, 1), D(2025, 4, 11)),  # 100 days > 90 (tier default)
    change("X2", "high", D(2025, 1, 10), D(2025, 4, 10)),  # 90 days = 90: within
    change("X3", "medium", D(2025, 2, 8), D(2025, 4, 10), target_days=70),  # 61 <= 70 (own)
    change("X4", "low", D(2025, 3, 16), D(2025, 4, 10), target_days=20),  # 25 > 20 (own)
    change("X5", "low", D(2025, 3, 11), D(2025, 4, 10)),  # 30 <= 30 (tier default)
    change("X6", "low", D(2025, 3, 11), None),  # open: not counted
]


def test_change_within_target_own_target_overrides_the_tier_default(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(change_control=CHANGES)
    # X2, X3, X5 of X1-X5 -> 3/5
    assert values_of(tables, "change_within_target") == {(A, "2025-04", None): (3, 5, 0.6)}


def test_change_within_target_tier_defaults_are_configurable(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(change_control=CHANGES)
    lenient = Options(change_target_days={"high": 100, "medium": 60, "low": 30})
    # X1 now within (100 <= 100) -> 4/5
    assert values_of(tables, "change_within_target", options=lenient) == {
        (A, "2025-04", None): (4, 5, 0.8)
    }
    # No tier defaults: only records with their own target can be within: X3 -> 1/5
    assert values_of(tables, "change_within_target", options=Options(change_target_days={})) == {
        (A, "2025-04", None): (1, 5, 0.2)
    }


# --- training -------------------------------------------------------------------------------


def test_training_effectiveness(make_tables: MakeTables, values_of: ValuesOf) -> None:
    def rec(rid: str, checked: date | None, passed: bool | None) -> dict[str, Any]:
        return {
            "record_id": rid,
            "site": A,
            "employee_id": "E1",
            "course": "GMP",
            "completed_on": D(2025, 2, 1),
            "effectiveness_checked_on": checked,
            "effectiveness_passed": passed,
        }

    tables = make_tables(
        training=[
            rec("R1", D(2025, 3, 1), True),
            rec("R2", D(2025, 3, 2), False),
            rec("R3", D(2025, 3, 3), None),  # checked, result missing: not passed
            rec("R4", None, True),  # no check: not counted
            rec("R5", D(2025, 4, 1), True),  # completed in February, checked in April
        ]
    )
    assert values_of(tables, "training_effectiveness") == {
        (A, "2025-03", None): (1, 3, 1 / 3),
        (A, "2025-04", None): (1, 1, 1.0),
    }


# --- environmental monitoring ---------------------------------------------------------------


def test_em_excursion_rate_places_timestamps_in_utc_periods(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(
        em_sample=[
            # 2025-04-01 00:30 at +02:00 is 2025-03-31 22:30 UTC: March. 5 > 3: excursion.
            sample("S1", "2025-04-01T00:30:00+02:00", 5.0),
            # 2025-03-31 23:30 at -02:00 is 2025-04-01 01:30 UTC: April. 3 = 3: no excursion.
            sample("S2", "2025-03-31T23:30:00-02:00", 3.0),
            sample("S3", "2025-03-15T12:00:00Z", 0.0),
        ]
    )
    assert values_of(tables, "em_excursion_rate") == {
        (A, "2025-03", None): (1, 2, 0.5),  # S1 of S1, S3
        (A, "2025-04", None): (0, 1, 0.0),  # S2
    }


EM = [
    # excursions with a response (hours from result_at, UTC):
    sample("S1", "2025-03-10T08:00:00Z", 5.0, result_at="2025-03-12T08:00:00Z",
           response_at="2025-03-12T20:30:00Z"),  # 12.5 h
    # no result_at: taken from sampled_at; response 10:00 at +01:00 = 09:00 UTC -> 23 h
    sample("S2", "2025-03-14T10:00:00Z", 4.0, response_at="2025-03-15T10:00:00+01:00"),
    sample("S3", "2025-03-19T22:00:00Z", 9.0, result_at="2025-03-20T00:00:00Z",
           response_at="2025-03-20T06:00:00Z"),  # 6 h
    sample("S4", "2025-03-20T00:00:00Z", 9.0, result_at="2025-03-21T00:00:00Z",
           response_at="2025-03-22T00:00:00Z"),  # 24 h
    # result 2025-04-01 00:30 at +01:00 = 2025-03-31 23:30 UTC: March; response 02:00 UTC
    sample("S7", "2025-03-31T20:00:00Z", 6.0, result_at="2025-04-01T00:30:00+01:00",
           response_at="2025-04-01T02:00:00Z"),  # 2.5 h
    # sampled in February, result in March: the period is the result's
    sample("S8", "2025-02-28T12:00:00Z", 7.0, result_at="2025-03-01T00:00:00Z",
           response_at="2025-03-03T00:00:00Z"),  # 48 h
    sample("S5", "2025-03-25T00:00:00Z", 8.0),  # excursion without response: open
    sample("S6", "2025-03-26T00:00:00Z", 1.0, response_at="2025-03-26T01:00:00Z"),  # no exc.
    sample("S9", "2025-04-10T00:00:00Z", 0.0),  # April: samples, no excursion
]  # fmt: skip


def test_em_response_hours_even_count_median(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables(em_sample=EM)
    # March: 2.5, 6, 12.5, 23, 24, 48 -> (12.5 + 23) / 2 = 17.75 over 6 excursions
    assert values_of(tables, "em_response_hours") == {
        (A, "2025-03", None): (None, 6, 17.75),
        # April: samples, but no excursion to respond to: no value at all
    }


def test_em_response_hours_is_null_when_no_excursion_got_a_response(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    tables = make_tables(
        em_sample=[
            sample("S1", "2025-05-02T08:00:00Z", 5.0),  # an excursion, still open
            sample("S2", "2025-05-03T08:00:00Z", 0.0, response_at="2025-05-03T09:00:00Z"),
        ]
    )
    assert values_of(tables, "em_response_hours") == {(A, "2025-05", None): (None, 0, None)}


def test_em_open_excursions(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables(em_sample=EM)
    # March excursions: S1, S2, S3, S4, S5, S7, S8; S5 has no response -> 1 of 7
    assert values_of(tables, "em_open_excursions") == {
        (A, "2025-03", None): (1, 7, 1.0),
        (A, "2025-04", None): (0, 0, 0.0),  # a count: 0, not null
    }


def test_em_recovery_rate_per_grade(make_tables: MakeTables, values_of: ValuesOf) -> None:
    t = "2025-03-05T10:00:00Z"
    tables = make_tables(
        em_sample=[
            sample("A1", t, 1.0, grade="A"),
            sample("A2", t, 0.0, grade="A"),
            sample("A3", t, 0.0, grade="A"),
            sample("A4", t, 0.0, grade="A"),
            sample("B1", t, 0.5, grade="B"),  # any growth counts
            sample("B2", t, 0.0, grade="B"),
            sample("C1", t, 0.0, grade="C"),
            sample("A5", "2025-04-01T00:00:00Z", 2.0, grade="A"),
        ]
    )
    assert values_of(tables, "em_recovery_rate") == {
        (A, "2025-03", "A"): (1, 4, 0.25),
        (A, "2025-03", "B"): (1, 2, 0.5),
        (A, "2025-03", "C"): (0, 1, 0.0),
        (A, "2025-04", "A"): (1, 1, 1.0),
    }


# --- suppliers, lots, complaints, OOS -------------------------------------------------------


def test_scar_on_time_closure(make_tables: MakeTables, values_of: ValuesOf) -> None:
    def scar(sid: str, due: date, closed: date | None) -> dict[str, Any]:
        return {
            "scar_id": sid,
            "site": A,
            "supplier": "ACME",
            "issued_on": D(2025, 1, 1),
            "due_on": due,
            "closed_on": closed,
        }

    tables = make_tables(
        supplier_car=[
            scar("SC1", D(2025, 3, 5), D(2025, 3, 5)),  # on the due date: on time
            scar("SC2", D(2025, 3, 5), D(2025, 3, 6)),  # late
            scar("SC3", D(2025, 3, 5), None),  # open: not counted
        ]
    )
    assert values_of(tables, "scar_on_time_closure") == {(A, "2025-03", None): (1, 2, 0.5)}


def test_lot_acceptance_rate(make_tables: MakeTables, values_of: ValuesOf) -> None:
    def lot(lid: str, on: date | None, disposition: str | None) -> dict[str, Any]:
        return {
            "lot_id": lid,
            "site": A,
            "product": "P1",
            "started_on": D(2025, 1, 1),
            "dispositioned_on": on,
            "disposition": disposition,
        }

    tables = make_tables(
        lot=[
            lot("L1", D(2025, 3, 1), "released"),
            lot("L2", D(2025, 3, 2), "released"),
            lot("L3", D(2025, 3, 3), "rejected"),
            lot("L4", D(2025, 3, 4), "pending"),  # in neither count
            lot("L5", None, "released"),  # no date: no period
            lot("L6", D(2025, 4, 1), "pending"),  # April: only pending -> null
        ]
    )
    assert values_of(tables, "lot_acceptance_rate") == {
        (A, "2025-03", None): (2, 3, 2 / 3),
        (A, "2025-04", None): (0, 0, None),
    }


def test_complaint_rate_per_million_uses_units_of_the_same_period(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    def complaint(cid: str, received: date, quality: bool) -> dict[str, Any]:
        return {
            "complaint_id": cid,
            "site": A,
            "product": "P1",
            "received_on": received,
            "quality_related": quality,
        }

    def shipped(product: str, month: str, units: float) -> dict[str, Any]:
        return {"site": A, "product": product, "month": month, "units": units}

    tables = make_tables(
        complaint=[
            complaint("K1", D(2025, 3, 3), True),
            complaint("K2", D(2025, 3, 31), True),
            complaint("K3", D(2025, 3, 15), False),  # not quality related
            complaint("K4", D(2025, 4, 2), True),  # April: nothing distributed
        ],
        distribution=[
            shipped("P1", "2025-03", 1_500_000.0),
            shipped("P2", "2025-03", 500_000.0),
            shipped("P1", "2025-02", 1_000_000.0),  # February: no complaints
            shipped("P1", "2025-03", 0.0) | {"site": B},  # nothing shipped at B
        ],
    )
    assert values_of(tables, "complaint_rate_per_million") == {
        (A, "2025-02", None): (0, 1_000_000, 0.0),
        (A, "2025-03", None): (2, 2_000_000, 1.0),  # 2 / 2,000,000 x 1,000,000
        (A, "2025-04", None): (1, 0, None),  # no units: null
        (B, "2025-03", None): (0, 0, None),
    }
    assert values_of(tables, "complaint_rate_per_million", period="quarter") == {
        (A, "2025-Q1", None): (2, 3_000_000, 2 / 3),  # 2 / 3,000,000 x 1,000,000
        (A, "2025-Q2", None): (1, 0, None),
        (B, "2025-Q1", None): (0, 0, None),
    }
    assert values_of(tables, "complaint_rate_per_million", period="year") == {
        (A, "2025", None): (3, 3_000_000, 1.0),
        (B, "2025", None): (0, 0, None),
    }


def test_invalidated_oos_rate(make_tables: MakeTables, values_of: ValuesOf) -> None:
    def oos(oid: str, invalidated: bool, test_type: str = "release") -> dict[str, Any]:
        return {
            "oos_id": oid,
            "site": A,
            "test_type": test_type,
            "reported_on": D(2025, 3, 10),
            "invalidated": invalidated,
        }

    tables = make_tables(
        oos=[oos("O1", True), oos("O2", False), oos("O3", False, "stability"), oos("O4", True)]
    )
    assert values_of(tables, "invalidated_oos_rate") == {(A, "2025-03", None): (2, 4, 0.5)}


# --- suggestions ----------------------------------------------------------------------------


def suggestion(sid: str, submitted: date, decided: date | None, decision: str | None = None,
               site: str = A) -> dict[str, Any]:  # fmt: skip
    return {
        "suggestion_id": sid,
        "site": site,
        "submitted_on": submitted,
        "decided_on": decided,
        "decision": decision,
    }


def test_suggestion_acceptance_rate(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables(
        suggestion=[
            suggestion("G1", D(2025, 3, 1), D(2025, 3, 4), "accepted"),
            suggestion("G2", D(2025, 2, 25), D(2025, 3, 3), "rejected"),
            suggestion("G3", D(2025, 3, 10), D(2025, 3, 11), "accepted"),
            suggestion("G4", D(2025, 3, 1), D(2025, 3, 11)),  # date but no decision: neither
            suggestion("G5", D(2025, 3, 1), None),  # undecided: not counted
            suggestion("G6", D(2025, 4, 1), D(2025, 4, 2)),  # April: denominator 0 -> null
        ]
    )
    assert values_of(tables, "suggestion_acceptance_rate") == {
        (A, "2025-03", None): (2, 3, 2 / 3),
        (A, "2025-04", None): (0, 0, None),
    }


def test_suggestion_decision_days_even_count(make_tables: MakeTables, values_of: ValuesOf) -> None:
    tables = make_tables(
        suggestion=[
            suggestion("G1", D(2025, 3, 1), D(2025, 3, 4), "accepted"),  # 3 days
            suggestion("G2", D(2025, 2, 25), D(2025, 3, 3), "rejected"),  # 6 days (Feb: 28)
            suggestion("G3", D(2025, 3, 10), D(2025, 3, 11), "accepted"),  # 1 day
            suggestion("G4", D(2025, 3, 1), D(2025, 3, 11)),  # 10 days
            suggestion("G5", D(2025, 3, 1), None),  # undecided
        ]
    )
    # 1, 3, 6, 10 -> (3 + 6) / 2 = 4.5
    assert values_of(tables, "suggestion_decision_days") == {(A, "2025-03", None): (None, 4, 4.5)}


def test_suggestions_per_100_staff_needs_a_headcount(
    make_tables: MakeTables, values_of: ValuesOf
) -> None:
    rows = [suggestion(f"A{i}", D(2025, 3, i + 1), None) for i in range(5)]
    rows += [suggestion(f"A-feb{i}", D(2025, 2, i + 1), None) for i in range(2)]
    rows += [suggestion(f"B{i}", D(2025, 3, 1), None, site=B) for i in range(3)]
    rows += [suggestion("C1", D(2025, 3, 1), None, site=C)]
    rows += [suggestion("X1", D(2025, 3, 1), None, site="SITE-X")]  # not in the site table
    tables = make_tables(
        suggestion=rows,
        sites=[
            {"site": A, "headcount": 250},
            {"site": B, "headcount": None},
            {"site": C, "headcount": 0},
        ],
    )
    assert values_of(tables, "suggestions_per_100_staff") == {
        (A, "2025-02", None): (2, 250, 0.8),  # 2 / 250 x 100
        (A, "2025-03", None): (5, 250, 2.0),  # 5 / 250 x 100
        (B, "2025-03", None): (3, None, None),  # no headcount: missing
        (C, "2025-03", None): (1, 0, None),  # headcount 0: null
        ("SITE-X", "2025-03", None): (1, None, None),
    }
    # quarter: 7 / 250 x 100 = 2.8
    assert values_of(tables, "suggestions_per_100_staff", period="quarter")[
        (A, "2025-Q1", None)
    ] == (7, 250, 2.8)


@pytest.mark.parametrize("kpi", list(REGISTRY))
def test_output_columns_and_types(kpi: str, make_tables: MakeTables) -> None:
    from qmm.metrics.kpis import OUTPUT_COLUMNS

    expr = REGISTRY[kpi].build(make_tables(), period="month", as_of=D(2025, 1, 1))
    assert {name: str(dtype) for name, dtype in expr.schema().items()} == OUTPUT_COLUMNS


# --- the look-back windows against the contract's literal definition ------------------------
