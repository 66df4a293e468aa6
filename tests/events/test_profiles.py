"""Mapping profiles: shipped examples import their vendor's shape; bad profiles are named."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy.orm import Session

from events.support import current, write_csv, write_xlsx
from qmm.errors import InvalidFile, NotFound
from qmm.events.importer import import_files, validate_file
from qmm.events.profiles import InvalidProfile, list_profiles, load_profile, parse_profile
from qmm.events.store import EventStore


def test_three_example_profiles_ship_and_say_they_are_examples() -> None:
    profiles = {p.name: p for p in list_profiles()}
    assert sorted(profiles) == ["human-headers", "unified-qms", "veeva-vault"]
    for profile in profiles.values():
        assert "example" in profile.description.lower()
        assert "adapt" in profile.description.lower()
        assert profile.path is not None
        assert load_profile(profile.name) == profile
        assert load_profile(profile.path) == profile


def test_an_unknown_profile_name_lists_the_shipped_ones(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="shipped profiles: human-headers, unified-qms"):
        load_profile("sap-qm")
    with pytest.raises(NotFound, match="does not exist"):
        load_profile(tmp_path / "mine.yaml")


def test_a_profile_file_is_validated_naming_every_problem(tmp_path: Path) -> None:
    document: dict[str, Any] = {
        "name": "Mine!",
        "colour": "blue",
        "record_types": {
            "capas": {"columns": {"A": "capa_id"}},
            "capa": {
                "columns": {"CAPA No": "capa_number", "Opened": "opened_on", "OPENED": "due_on"},
                "values": {"severity": {"Big": "huge"}, "colour": {"x": "y"}},
                "date_formats": {"site": "%Y", "opened_on": "%Q-%Y", "due_on": "dd/mm/yyyy"},
                "filters": {},
            },
            "em_sample": {"date_formats": {"sampled_at": "timestamp"}},
        },
    }
    path = tmp_path / "mine.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    with pytest.raises(InvalidProfile) as caught:
        load_profile(path)
    message = str(caught.value)
    for expected in [
        "unknown key 'colour'",
        "name 'Mine!' must be lower-case",
        "unknown record type 'capas' (known: capa, change_control",
        "'CAPA No' maps to unknown column 'capa_number' (columns of capa: capa_id, site",
        "header 'OPENED' is listed twice",
        "'Big' maps to 'huge', which is not one of critical, major, minor",
        "values: unknown column 'colour'",
        "'site' is not a date or timestamp column of capa",
        "format '%Q-%Y'",
        "format 'dd/mm/yyyy' has no % directive",
        "unknown key 'filters'",
        "'timestamp' only applies to date columns",
    ]:
        assert expected in message, expected
    assert message.startswith(f"{path}: 12 problems in the mapping profile:")


def test_an_unquoted_yes_as_a_vendor_value_must_be_quoted() -> None:
    text = "name: mine\nrecord_types:\n  capa:\n    values:\n      voe_result: {Yes: effective}\n"
    with pytest.raises(InvalidProfile, match="vendor value True must be quoted"):
        parse_profile(yaml.safe_load(text), source="mine.yaml")
    text = text.replace("{Yes:", "{'Yes':")
    profile = parse_profile(yaml.safe_load(text), source="mine.yaml")
    assert profile.mapping("capa").values == {"voe_result": {"Yes": "effective"}}


def test_veeva_vault_extract(session: Session, store: EventStore, tmp_path: Path) -> None:
    header = [
        "id",
        "name__v",
        "site__c",
        "state__v",
        "date_opened__c",
        "due_date__c",
        "root_cause_category__c",
        "date_closed__c",
        "severity__c",
        "global_id__sys",
    ]
    rows = [
        [
            "V6A000000001001",
            "CAPA-000101",
            "SITE-A",
            "closed_state__c",
            "2025-01-06",
            "2025-02-06",
            "training__c",
            "2025-01-30",
            "major__c",
            "12345_V6A000000001001",
        ],
        [
            "V6A000000001002",
            "CAPA-000102",
            "SITE-A",
            "open_state__c",
            "3/4/2025",
            "04/15/2025",
            "equipment__c",
            "",
            "CRITICAL__C",
            "12345_V6A000000001002",
        ],
    ]
    path = write_csv(tmp_path / "capa.csv", header, rows)
    [batch] = import_files(session, paths=[path], store=store, profile="veeva-vault")
    assert batch.profile == "veeva-vault"
    first, second = current(store, session, "capa")
    assert (first["capa_id"], first["site"], first["severity"]) == (
        "CAPA-000101",
        "SITE-A",
        "major",
    )
    assert first["closed_on"] == date(2025, 1, 30)
    assert (second["opened_on"], second["due_on"]) == (date(2025, 3, 4), date(2025, 4, 15))
    assert second["severity"] == "critical"
    assert json.loads(second["_extra"]) == {
        "id": "V6A000000001002",
        "state__v": "open_state__c",
        "global_id__sys": "12345_V6A000000001002",
    }


def test_an_unmapped_vendor_value_is_still_validated(store: EventStore, tmp_path: Path) -> None:
    header = [
        "name__v",
        "site__c",
        "date_opened__c",
        "due_date__c",
        "root_cause_category__c",
        "severity__c",
    ]
    rows = [["CAPA-1", "SITE-A", "2025-01-06", "2025-02-06", "x", "catastrophic__c"]]
    path = write_csv(tmp_path / "capa.csv", header, rows)
    with pytest.raises(InvalidFile) as caught:
        validate_file(path, record_type=None, profile=load_profile("veeva-vault"))
    [problem] = caught.value.problems
    assert (problem.row, problem.column, problem.value) == (2, "severity", "catastrophic__c")


def test_unified_qms_actions_and_issues(
    session: Session, store: EventStore, tmp_path: Path
) -> None:
    actions = [
        {
            "id": "act_1",
            "number": "CAPA-0017",
            "name": "Retrain operators",
            "type": "CORRECTIVE",
            "status": "CLOSED",
            "site": "SITE-A",
            "root_cause": "training",
            "created_at": "2025-03-04T23:30:00-05:00",
            "due_at": "2025-04-04T00:00:00Z",
            "closed_at": "2025-03-20T10:00:00Z",
            "verified_at": "2025-05-02T08:00:00+02:00",
            "issue_ids": ["iss_1"],
        }
    ]
    issues = [
        {
            "id": "iss_1",
            "number": "NCR-0042",
            "type": "NONCONFORMANCE",
            "status": "OPEN",
            "severity": "HIGH",
            "site": "SITE-A",
            "root_cause": "equipment",
            "opened_at": "2025-03-01T09:00:00Z",
        }
    ]
    (tmp_path / "capa.jsonl").write_text("".join(json.dumps(a) + "\n" for a in actions))
    (tmp_path / "deviation.jsonl").write_text("".join(json.dumps(i) + "\n" for i in issues))
    batches = import_files(
        session,
        paths=[tmp_path / "capa.jsonl", tmp_path / "deviation.jsonl"],
        store=store,
        profile="unified-qms",
    )
    assert [b.record_type for b in batches] == ["capa", "deviation"]
    [capa] = current(store, session, "capa")
    assert capa["capa_id"] == "CAPA-0017"
    assert capa["opened_on"] == date(2025, 3, 5)  # 23:30 at UTC-5 is the 5th in UTC
    assert (capa["due_on"], capa["closed_on"]) == (date(2025, 4, 4), date(2025, 3, 20))
    assert capa["voe_done_on"] == date(2025, 5, 2)
    assert capa["root_cause_category"] == "training"
    assert json.loads(capa["_extra"])["status"] == "CLOSED"
    [deviation] = current(store, session, "deviation")
    assert (deviation["deviation_id"], deviation["severity"]) == ("NCR-0042", "major")
    assert deviation["opened_on"] == date(2025, 3, 1)


def test_human_headers_spreadsheet(session: Session, store: EventStore, tmp_path: Path) -> None:
    header = [
        "CAPA Number",
        "Site",
        "Date Opened",
        "Due Date",
        "Root Cause Category",
        "Closed Date",
        "Severity",
        "Effectiveness Result",
        "Owner",
    ]
    rows: list[list[Any]] = [
        [
            "CAPA-1",
            "SITE-A",
            date(2025, 1, 6),
            "06-Feb-2025",
            "Training",
            "30 Jan 2025",
            "Major",
            "Not Effective",
            "Bob",
        ],
        ["CAPA-2", "SITE-B", "2025-01-10", "2025-03-10", "Equipment", None, "MINOR", None, None],
    ]
    path = write_xlsx(tmp_path / "capa.xlsx", {"CAPA log": (header, rows)})
    [batch] = import_files(session, paths=[path], store=store, profile="human-headers")
    assert batch.source_name == "capa.xlsx#CAPA log"
    first, second = current(store, session, "capa")
    assert (first["opened_on"], first["due_on"], first["closed_on"]) == (
        date(2025, 1, 6),
        date(2025, 2, 6),
        date(2025, 1, 30),
    )
    assert (first["severity"], first["voe_result"]) == ("major", "not_effective")
    assert first["root_cause_category"] == "Training"
    assert json.loads(first["_extra"]) == {"Owner": "Bob"}
    assert (second["severity"], second["closed_on"], second["_extra"]) == ("minor", None, None)


def test_a_file_with_two_headers_for_one_column_is_refused(
    store: EventStore, tmp_path: Path
) -> None:
    header = ["CAPA Number", "CAPA ID", "Site", "Date Opened", "Due Date", "Root Cause Category"]
    rows = [["CAPA-1", "1", "SITE-A", "2025-01-06", "2025-02-06", "x"]]
    path = write_csv(tmp_path / "capa.csv", header, rows)
    with pytest.raises(InvalidFile) as caught:
        validate_file(path, record_type=None, profile=load_profile("human-headers"))
    [problem] = caught.value.problems
    assert (
        problem.reason == "column capa_id is given twice (by headers 'CAPA Number' and 'CAPA ID')"
    )


def test_the_example_profile_in_the_docs_is_valid() -> None:
    text = (Path(__file__).resolve().parents[2] / "docs" / "import.md").read_text()
    block = text.split("```yaml\n", 1)[1].split("```", 1)[0]
    profile = parse_profile(yaml.safe_load(block), source="docs/import.md")
    assert profile.name == "acme-qms"
    capa = profile.mapping("capa")
    assert capa.target("capa #") == "capa_id"
    assert capa.values["voe_result"]["N/A"] is None
    assert capa.date_formats["voe_done_on"] == ("timestamp",)
