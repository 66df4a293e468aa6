"""Codes the database stores read as words: questions, columns, tables and site types."""

from __future__ import annotations

from qmm.models.site import SiteType
from qmm.presentation.labels import (
    column_label,
    question_label,
    question_number,
    site_type_label,
    table_label,
    value_label,
)


def test_a_question_code_reads_as_its_sub_element_and_number() -> None:
    assert question_label("rewards_recognition.q1") == "Rewards and Recognition, question 1"
    assert question_label("m1.q2", {"m1": "Management review"}) == "Management review, question 2"
    assert question_label("unknown_area.q3") == "Unknown area, question 3"
    assert question_number("rewards_recognition.q12") == "Question 12"
    assert question_label("not a code") == "not a code"


def test_every_site_type_has_words() -> None:
    for site_type in SiteType:
        assert site_type_label(site_type.value) != site_type.value
    assert site_type_label("fdf") == "Finished dosage form"
    assert site_type_label(None) == "not recorded"


def test_columns_read_as_words_from_the_registry_or_their_name() -> None:
    assert column_label("sites", "site_type") == "Site type"
    assert column_label("kpi_values", "risk_tier") == "Risk tier"
    assert column_label("plan_actions", "owner_id") == "Owner"
    assert column_label("decisions", "signed_at") == "Signed"
    assert column_label("decisions", "kpi_code") == "KPI"
    assert column_label("anything", "capa_due_on") == "CAPA due on"
    assert "_" not in column_label("ratings", "evidence_refs")


def test_tables_and_values_read_as_words() -> None:
    assert table_label("supplier_agreements") == "Supplier agreement"
    assert table_label("brand_new_things") == "Brand new thing"
    assert value_label("sites", "site_type", "api") == "Active pharmaceutical ingredient"
    assert value_label("sites", "headcount", 640) == 640
    assert value_label("ratings", "question", "rewards_recognition.q1") == (
        "Rewards and Recognition, question 1"
    )
