"""The KPI catalogue: metadata complete, sub-elements as in the default framework, docs."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
import yaml

from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.metrics.catalogue import (
    DEFAULT_CHANGE_TARGET_DAYS,
    KPI_IDS,
    KPIS,
    Direction,
    KPIDefinition,
    get_kpi,
)

ROOT = Path(__file__).resolve().parents[2]
FRAMEWORK = ROOT / "src" / "qmm" / "framework" / "data" / "qmm-default.yaml"
DOCS = ROOT / "docs" / "metrics.md"


def framework_links() -> dict[str, set[tuple[str, str]]]:
    """(practice area, sub-element) pairs listing each KPI in the default framework."""
    document = yaml.safe_load(FRAMEWORK.read_text())
    links: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for area in document["practice_areas"]:
        for sub in area["sub_elements"]:
            for kpi in sub.get("kpis") or []:
                links[kpi].add((area["code"], sub["code"]))
    return links


def test_ids_are_unique() -> None:
    assert len(KPI_IDS) == len(KPIS)


@pytest.mark.parametrize("kpi", KPIS, ids=lambda k: k.id)
def test_evidences_match_the_default_framework(kpi: KPIDefinition) -> None:
    assert set(kpi.evidences) == framework_links()[kpi.id]
    assert len(set(kpi.evidences)) == len(kpi.evidences)
    assert set(kpi.practice_areas) <= set(PRACTICE_AREA_CODES)


@pytest.mark.parametrize("kpi", KPIS, ids=lambda k: k.id)
def test_metadata_is_complete(kpi: KPIDefinition) -> None:
    assert kpi.definition
    assert kpi.edge_cases
    assert kpi.target_basis
    assert kpi.period_date
    assert (kpi.group is None) == (kpi.groups == ())
    if kpi.groups:
        assert kpi.default_target is not None or {g for g, _ in kpi.group_targets} == set(
            kpi.groups
        )
    if kpi.unit == "ratio" and kpi.default_target is not None:
        assert 0 <= kpi.default_target <= 1


def test_targets() -> None:
    assert get_kpi("capa_on_time_closure").target() == 0.9
    cycle = get_kpi("change_cycle_time_days")
    assert [cycle.target(t) for t in ("high", "medium", "low")] == [90, 60, 30]
    assert dict(DEFAULT_CHANGE_TARGET_DAYS) == {"high": 90, "medium": 60, "low": 30}
    assert get_kpi("em_recovery_rate").target("A") == 0.01
    assert get_kpi("complaint_rate_per_million").target() is None
    assert get_kpi("em_open_excursions").direction is Direction.lower_is_better


def test_practice_areas_keep_framework_order_without_repeats() -> None:
    assert get_kpi("deviation_repeat_rate").practice_areas == (
        "advanced_pqs",
        "technical_excellence",
    )


def test_unknown_kpi() -> None:
    with pytest.raises(KeyError, match="unknown KPI"):
        get_kpi("nope")


@pytest.mark.parametrize("kpi", KPIS, ids=lambda k: k.id)
def test_docs_have_a_section_per_kpi_with_its_sub_elements(kpi: KPIDefinition) -> None:
    text = DOCS.read_text()
    heading = f"### `{kpi.id}`"
    assert heading in text
    section = text.split(heading, 1)[1].split("\n### ", 1)[0]
    assert kpi.name in section
    for sub in kpi.sub_elements:
        assert f"`{sub}`" in section
