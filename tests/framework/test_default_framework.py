"""The shipped default framework meets the content rules of the foundation issue."""

from __future__ import annotations

import pytest

from qmm.framework.practice_areas import PRACTICE_AREA_CODES
from qmm.framework.schema import FrameworkDocument
from qmm.framework.service import DEFAULT_FRAMEWORK_PATH, load_document

FDA_NAMED = {
    "advanced_pqs": {"Quality Risk Management", "Continual Improvement"},
    "technical_excellence": {
        "Data Excellence",
        "Knowledge Management",
        "Technological Advancement",
    },
    "employee_engagement": {"Rewards and Recognition"},
}


@pytest.fixture(scope="module")
def default() -> FrameworkDocument:
    return load_document(DEFAULT_FRAMEWORK_PATH)


def test_it_has_the_five_practice_areas_in_order(default: FrameworkDocument) -> None:
    assert [pa.code for pa in default.practice_areas] == list(PRACTICE_AREA_CODES)


def test_every_practice_area_has_at_least_four_sub_elements(default: FrameworkDocument) -> None:
    for pa in default.practice_areas:
        assert len(pa.sub_elements) >= 4, pa.code


def test_it_names_the_six_sub_elements_fda_published(default: FrameworkDocument) -> None:
    for code, names in FDA_NAMED.items():
        pa = next(p for p in default.practice_areas if p.code == code)
        found = {se.name: se for se in pa.sub_elements}
        assert names <= set(found), code
        for name in names:
            assert found[name].provenance == "fda"


def test_every_sub_element_is_complete(default: FrameworkDocument) -> None:
    for pa in default.practice_areas:
        for se in pa.sub_elements:
            assert se.description, se.code
            assert se.evidence_kinds, se.code
            assert se.sources, se.code
            assert len(se.questions) >= 2, se.code
            for q in se.questions:
                assert sorted(q.anchors) == [1, 2, 3, 4, 5], q.code
                assert len(set(q.anchors.values())) == 5, f"{q.code} repeats an anchor"


def test_it_says_fda_has_not_published_the_full_list(default: FrameworkDocument) -> None:
    text = default.description.lower()
    assert "not" in text
    assert "fda" in text
    assert "sub-element" in text


def test_every_practice_area_links_at_least_one_kpi(
    default: FrameworkDocument,
) -> None:
    for pa in default.practice_areas:
        assert any(se.kpis for se in pa.sub_elements), pa.code
