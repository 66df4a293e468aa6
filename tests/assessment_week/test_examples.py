"""The examples library: stories written and checked by a second person, candidates suggested
from the records (never invented), examples chosen for an FDA assessment."""

from __future__ import annotations

from contextlib import AbstractContextManager
from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import (
    create_decision,
    create_fda_assessment,
    create_scenario,
    create_site_a,
    create_site_b,
)
from qmm.assessment_week.examples import (
    add_example,
    approve_example,
    candidates,
    choose_example,
    chosen_examples,
    get_candidate,
    get_example,
    kpi_move,
    list_examples,
    prefill,
    review_example,
    unchoose_example,
    update_example,
)
from qmm.audit.scope import audit_scope
from qmm.audit.trail import Actor, acting
from qmm.auth.service import create_user, grant_role
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.metrics.engine import KPIValue
from qmm.models import AuditEntry, FdaAssessmentExample, Site, WeekExample
from qmm.program.common import InvalidProgramInput
from qmm.program.continuity import plan_drill, record_drill_run
from qmm.program.decisions import sign_decision
from qmm.program.steering import ActionInput

PASSWORD = "correct horse battery"


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


def story(**overrides: object) -> dict[str, object]:
    fields: dict[str, object] = {
        "title": "Filling line 2 air handler: repeat deviations stopped",
        "situation": "Three deviations in a quarter traced to the same air handler.",
        "action_taken": "CAPA-1 replaced the filters and moved them to a quarterly change.",
        "result": "No repeat in the six months after the effectiveness check.",
        "owner": "QA Engineer",
        "sub_elements": ["capa_effectiveness"],
        "kpis": ["deviation_repeat_rate"],
    }
    fields.update(overrides)
    return fields


def as_user(session: Session, name: str) -> AbstractContextManager[None]:
    return acting(session, Actor(label=name))


def test_an_example_is_numbered_per_site_and_knows_its_practice_areas(
    session: Session, site: Site
) -> None:
    first = add_example(session, site=site, **story())  # type: ignore[arg-type]
    second = add_example(session, site=site, **story(title="Second"))  # type: ignore[arg-type]
    other = add_example(session, site=create_site_b(session), **story())  # type: ignore[arg-type]
    assert (first.ref, second.ref, other.ref) == ("EX-001", "EX-002", "EX-001")
    assert first.practice_areas == ["advanced_pqs"]
    assert first.status == "draft"
    assert get_example(session, site=site, ref="ex-002") is second
    assert [e.ref for e in list_examples(session, site=site)] == ["EX-002", "EX-001"]
    assert audit_scope(session, table="week_examples", record_id=str(first.id))[0] is site


def test_bad_input_names_every_problem_and_stores_nothing(session: Session, site: Site) -> None:
    with pytest.raises(InvalidProgramInput) as caught:
        add_example(
            session,
            site=site,
            **story(  # type: ignore[arg-type]
                title=" ",
                situation=None,
                result="x" * 4001,
                sub_elements=["no_such_code"],
                kpis=["no_kpi"],
                practice_areas=["nowhere"],
                evidence_refs=["EV-9999"],
            ),
            source_kind="rumour",
        )
    assert set(caught.value.problems) == {
        "title",
        "situation",
        "result",
        "sub_elements",
        "kpis",
        "practice_areas",
        "evidence_refs",
        "source_kind",
        "source_ref",
    }
    assert "no_such_code" in caught.value.problems["sub_elements"]
    with pytest.raises(InvalidProgramInput, match="at least one practice area"):
        add_example(session, site=site, **story(sub_elements=[], kpis=[]))  # type: ignore[arg-type]
    with pytest.raises(InvalidProgramInput, match="NUL"):
        add_example(session, site=site, **story(title="a\x00b"))  # type: ignore[arg-type]
    assert session.scalars(select(WeekExample)).all() == []
    with pytest.raises(NotFound, match="no example 'EX-1x'"):
        get_example(session, site=site, ref="EX-1x")


def test_a_second_person_reviews_and_approves_and_an_edit_sends_it_back(
    session: Session, site: Site
) -> None:
    with as_user(session, "alice"):
        example = add_example(session, site=site, **story())  # type: ignore[arg-type]
        with pytest.raises(Conflict, match="a second person reviews it, not its author"):
            review_example(session, example=example)
    with as_user(session, "bob"):
        with pytest.raises(Conflict, match="a draft"):
            approve_example(session, example=example)
        review_example(session, example=example)
    with as_user(session, "alice"), pytest.raises(Conflict, match="approves it, not its author"):
        approve_example(session, example=example)
    with as_user(session, "carol"):
        approve_example(session, example=example)
    assert (example.status, example.reviewed_by, example.approved_by) == (
        "approved",
        "bob",
        "carol",
    )
    with as_user(session, "alice"):
        update_example(session, example=example, changes={"result": "No repeat in 9 months."})
    assert (example.status, example.reviewed_by, example.approved_by) == ("draft", None, None)
    with pytest.raises(InvalidInput, match="site_id cannot be changed"):
        update_example(session, example=example, changes={"site_id": 2})
    actions = session.scalars(
        select(AuditEntry.action).where(
            AuditEntry.table_name == "week_examples", AuditEntry.record_id == str(example.id)
        )
    ).all()
    assert actions[0] == "create"
    assert actions.count("update") == 3


def test_examples_are_chosen_for_an_assessment_of_their_own_site(
    session: Session, site: Site
) -> None:
    visit = create_fda_assessment(session, site)
    example = add_example(session, site=site, **story())  # type: ignore[arg-type]
    choose_example(session, fda_assessment=visit, example=example)
    assert chosen_examples(session, fda_assessment=visit) == [example]
    with pytest.raises(Conflict, match="already"):
        choose_example(session, fda_assessment=visit, example=example)
    link = session.scalars(select(FdaAssessmentExample)).one()
    assert audit_scope(session, table="fda_assessment_examples", record_id=str(link.id))[0] is site
    elsewhere = add_example(session, site=create_site_b(session), **story())  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match="example of SITE-B"):
        choose_example(session, fda_assessment=visit, example=elsewhere)
    unchoose_example(session, fda_assessment=visit, example=example)
    assert chosen_examples(session, fda_assessment=visit) == []
    with pytest.raises(NotFound, match="not chosen"):
        unchoose_example(session, fda_assessment=visit, example=example)


def test_signed_decisions_where_quality_won_and_met_drills_are_candidates(
    session: Session, site: Site
) -> None:
    alice = create_user(session, username="alice", full_name="Alice Moreau", password=PASSWORD)
    grant_role(session, user=alice, role="site_quality_lead", site=site)
    won = create_decision(session, site)
    lost = create_decision(session, site, title="Ship with the deviation open", quality_won=False)
    create_decision(session, site, title="Not signed yet")
    sign_decision(session, decision=won, user=alice, password=PASSWORD)
    sign_decision(session, decision=lost, user=alice, password=PASSWORD)
    scenario = create_scenario(session, site)
    met = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 9, 1))
    record_drill_run(
        session, drill=met, run_on=date(2026, 9, 2), achieved_hours=60, lessons="Call earlier."
    )
    missed = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 1))
    record_drill_run(
        session,
        drill=missed,
        run_on=date(2026, 10, 2),
        achieved_hours=90,
        lessons="The backup supplier needed a new purchase order.",
        actions=[ActionInput("Keep a blanket order open", "Buyer", date(2026, 11, 1))],
    )
    plan_drill(session, site=site, scenario=scenario, planned_on=date(2027, 1, 1))

    found = candidates(session, site=site)
    assert [c.key for c in found] == [f"decision:{won.ref}", f"drill:DRILL-{met.id}"]
    decision, drill = found
    # its own sub-elements, the log's, and those its KPI (capa_on_time_closure) evidences
    assert decision.sub_elements == (
        "capa_effectiveness",
        "deviations_investigations",
        "quality_first_decisions",
        "resourcing_for_quality",
    )
    assert "management_commitment" in decision.practice_areas
    assert won.evidence_item_id is not None
    assert decision.evidence_refs[-1].startswith("EV-")
    assert drill.facts[0].endswith("recovered in 60 h against a target of 72 h")
    assert drill.practice_areas == ("business_continuity",)
    assert drill.evidence_refs  # the drill's report, filed as evidence when it was run

    draft = prefill(decision, owner="Site Quality Head")
    assert draft.values["situation"] == ""
    assert draft.values["result"] == ""
    assert draft.values["source_ref"] == won.ref
    example = add_example(
        session,
        site=site,
        **story(sub_elements=draft.values["sub_elements"], kpis=draft.values["kpis"]),  # type: ignore[arg-type]
        evidence_refs=draft.values["evidence_refs"],
        source_kind=draft.values["source_kind"],
        source_ref=draft.values["source_ref"],
    )
    assert example.evidence_refs == list(decision.evidence_refs)
    assert [c.key for c in candidates(session, site=site)] == [f"drill:DRILL-{met.id}"]
    assert get_candidate(session, site=site, key=decision.key).source_ref == won.ref
    with pytest.raises(NotFound, match="no candidate"):
        get_candidate(session, site=site, key="capa:NOPE")


def _month_values(kpi: str, values: dict[str, float]) -> list[KPIValue]:
    return [
        KPIValue(
            kpi=kpi,
            site="SITE-A",
            group=None,
            period=month,
            value=value,
            numerator=None,
            denominator=None,
            complete=True,
            as_of=date(2026, 12, 1),
        )
        for month, value in values.items()
    ]


def test_a_kpi_move_compares_the_months_before_and_after_by_direction() -> None:
    values = _month_values(
        "deviation_repeat_rate",
        {"2026-01": 0.5, "2026-02": 0.3, "2026-03": 0.4, "2026-08": 0.1, "2026-09": 0.2},
    )
    move = kpi_move(
        values,
        kpi="deviation_repeat_rate",
        site="SITE-A",
        opened_on=date(2026, 3, 6),
        verified_on=date(2026, 7, 15),
    )
    assert move is not None
    assert move.before_months == ("2026-01", "2026-02", "2026-03")
    assert move.after_months == ("2026-08", "2026-09")
    assert (round(move.before, 3), round(move.after, 3)) == (0.4, 0.15)
    assert move.improved  # lower is better
    assert (
        kpi_move(
            values,
            kpi="deviation_repeat_rate",
            site="SITE-A",
            opened_on=date(2026, 3, 6),
            verified_on=date(2026, 11, 15),
        )
        is None
    )


def _capa_world(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    deviations = ["deviation_id,site,opened_on,root_cause_category,recurrence_key,capa_id"]
    n = 0
    for month in ("01", "02", "03"):
        for day in ("05", "12", "19", "26"):
            n += 1
            deviations.append(f"DEV-{n},SITE-A,2026-{month}-{day},equipment,AHU-2,CAPA-1")
    for month in ("08", "09", "10"):
        for day in ("05", "19"):
            n += 1
            deviations.append(f"DEV-{n},SITE-A,2026-{month}-{day},equipment,KEY-{n},")
    capas = (
        "capa_id,site,opened_on,due_on,closed_on,root_cause_category,source_type,voe_due_on,"
        "voe_done_on,voe_result\n"
        "CAPA-1,SITE-A,2026-03-27,2026-05-30,2026-04-20,equipment,deviation,2026-07-20,"
        "2026-07-15,effective\n"
        "CAPA-2,SITE-A,2026-03-27,2026-05-30,2026-04-20,training,deviation,2026-07-20,"
        "2026-07-15,not_effective\n"
        "CAPA-3,SITE-A,2026-03-27,2026-05-30,2026-04-20,method,oos,2026-07-20,"
        "2026-07-15,effective\n"
    )
    paths = [folder / "deviation.csv", folder / "capa.csv"]
    paths[0].write_text("\n".join(deviations) + "\n", encoding="utf-8")
    paths[1].write_text(capas, encoding="utf-8")
    return paths


def test_a_capa_verified_effective_whose_kpi_improved_is_a_candidate(
    session: Session, site: Site, tmp_path: Path
) -> None:
    store = EventStore(tmp_path / "events")
    import_files(session, paths=_capa_world(tmp_path / "extracts"), store=store)
    session.flush()
    found = candidates(session, site=site, store=store)
    assert [c.key for c in found] == ["capa:CAPA-1"]  # CAPA-2 not effective, CAPA-3 no OOS data
    capa = found[0]
    assert capa.kpis == ("deviation_repeat_rate",)
    assert "capa_effectiveness" in capa.sub_elements
    assert capa.facts[-1].startswith("Repeat deviation rate: ")
    assert "in 2026-08 to 2026-10" in capa.facts[-1]
