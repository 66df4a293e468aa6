"""The API against its own OpenAPI document: generated requests never get a server error.

Schemathesis generates requests (valid and invalid: odd strings, wrong types, missing fields)
for every operation the document describes and sends them, with an administrator's write token,
to the real app on the test database; every change is rolled back after each operation.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from qmm.web.app import create_app
from web.support import World, bearer

# The document depends only on the routes: load it from an app whose database is never used.
SCHEMA = schemathesis.openapi.from_asgi("/api/openapi.json", create_app(create_engine("sqlite://")))
OPERATIONS = {result.ok().label: result.ok() for result in SCHEMA.get_all_operations()}
EXAMPLES = 30


def test_the_document_covers_the_pages_data() -> None:
    assert {
        "GET /api/kpis",
        "GET /api/sites/{code}/kpis/{kpi_id}/records",
        "GET /api/sites/{code}/kpis/{kpi_id}/chart",
        "POST /api/assessments/{assessment_id}/ratings",
        "POST /api/sites/{code}/imports",
        "GET /api/sites/{code}/imports",
        "GET /api/benchmark",
    } <= set(OPERATIONS)


@pytest.mark.parametrize("label", sorted(OPERATIONS))
def test_no_request_makes_the_server_fail(
    app: FastAPI, rollback: None, world: World, label: str
) -> None:
    # Loaded again from the app on the test database, so the requests go to that app.
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    token = bearer(world.write_tokens["root"])

    @given(data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        if case.path_parameters and data.draw(st.booleans(), label="known resources"):
            # Half the cases name real resources, so the fuzzing gets past the 404s.
            known = {
                "code": "SITE-A",
                "kpi_id": data.draw(st.sampled_from(["capa_effectiveness", "em_recovery_rate"])),
                "assessment_id": str(world.assessment_a),
            }
            case.path_parameters = {k: known.get(k, v) for k, v in case.path_parameters.items()}
        response = case.call(headers=token)
        assert response.status_code < 500, (
            f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: "
            f"{response.text[:300]}"
        )

    check()


#: Ids no generator is likely to hit: past a 64-bit integer, and digits that are not ASCII
#: (issue 17, L1). Each must be a 404 or a 422, never a server error.
HARD_IDS = [str(2**63), str(2**64), "99999999999999999999", "²", "٣", "１", "-1", "0", "1e3"]
ID_NAMES = ("id", "number", "batch", "parent", "compare")
ID_PARAMETERS = sorted(
    (label, location, parameter.name)
    for label, operation in OPERATIONS.items()
    for location, parameters in (("path", operation.path_parameters), ("query", operation.query))
    for parameter in parameters
    if parameter.name.endswith(ID_NAMES)
)


def test_the_hard_ids_reach_every_id_parameter_there_is() -> None:
    assert {(label, name) for label, _, name in ID_PARAMETERS} >= {
        ("GET /api/assessments/{assessment_id}", "assessment_id"),
        ("GET /api/audit", "record_id"),
        ("POST /api/sites/{code}/continuity/triggers/{trigger_id}/levels", "trigger_id"),
    }


@pytest.mark.parametrize(("label", "location", "name"), ID_PARAMETERS)
def test_an_id_out_of_range_or_in_other_digits_is_never_a_server_error(
    app: FastAPI, rollback: None, world: World, label: str, location: str, name: str
) -> None:
    schema = schemathesis.openapi.from_asgi("/api/openapi.json", app)
    operation = next(r.ok() for r in schema.get_all_operations() if r.ok().label == label)
    token = bearer(world.write_tokens["root"])
    known = {"code": "SITE-A", "kpi_id": "capa_effectiveness"}

    @given(data=st.data())
    @settings(
        max_examples=3,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def check(data: st.DataObject) -> None:
        case = data.draw(operation.as_strategy())
        case.path_parameters = {k: known.get(k, v) for k, v in (case.path_parameters or {}).items()}
        for bad in HARD_IDS:
            if location == "path":
                case.path_parameters = {**case.path_parameters, name: bad}
            else:
                case.query = {**(case.query or {}), name: bad}
            response = case.call(headers=token)
            assert response.status_code < 500, (
                f"{case.method} {case.formatted_path} {case.query} -> {response.status_code}: "
                f"{response.text[:300]}"
            )

    check()
