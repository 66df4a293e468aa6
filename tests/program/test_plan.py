"""The 90-day readiness plan: generation from known scores, approval, freezing, progress."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from events.support import CAPA_HEADER, write_csv
from factories import (
    create_assessment_of,
    create_evidence,
    create_site_a,
    create_site_b,
    rate_sub_elements,
)
from qmm.audit.signatures import record_hash, signatures_for
from qmm.audit.trail import Actor, acting
from qmm.auth.service import create_user, grant_role
from qmm.auth.signing import SecondPersonRequired
from qmm.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import PlanAction, ReadinessPlan, SubElement, User, utcnow
from qmm.program.common import InvalidProgramInput
from qmm.program.plan import (
    approve_plan,
    compare_plan,
    complete_action,
    current_plan,
    discard_plan,
    generate_plan,
    get_action,
    get_plan,
    plan_progress,
    reopen_action,
    running_plan,
    update_action,
)

PASSWORD = "correct horse battery"
TODAY = date(2026, 11, 20)
NOW = utcnow().date()
START = date(2026, 11, 23)

#: Known ratings: the five lowest below 3.5 are data_excellence, quality_risk_management,
#: capa_effectiveness (a tie with QRM, broken by framework order), supplier_oversight and
#: involvement_suggestions; training_competency (3.25) is the sixth and gets no action.
SCORES = {
    "data_excellence": 1,
    "quality_risk_management": 2,
    "capa_effectiveness": 2,
    "supplier_oversight": 3,
    "involvement_suggestions": 3,
    "training_competency": 3.25,
    "change_management": 4,
    "quality_culture": 5,
}
#: The sub-elements left without evidence.
UNCOVERED = ("inventory_capacity", "rewards_recognition")


@pytest.fixture
def site(session: Session):
    return create_site_a(session)


@pytest.fixture
def alice(session: Session, site) -> User:
    user = create_user(session, username="alice", full_name="Alice Moreau", password=PASSWORD)
    grant_role(session, user=user, role="site_quality_lead", site=site)
    return user


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


@pytest.fixture
def assessment(session: Session, site, alice):
    made = create_assessment_of(session, site, alice)
    rate_sub_elements(session, made, alice, SCORES)
    codes = session.scalars(
        select(SubElement.code).where(SubElement.framework_id == made.framework_id)
    ).all()
    create_evidence(session, site, sub_elements=tuple(sorted(set(codes) - set(UNCOVERED))))
    return made


def generate(session: Session, assessment, store, **overrides) -> ReadinessPlan:
    fields = {"owner": "Alice Moreau, Site Quality Head", "start_on": START, "today": TODAY}
    return generate_plan(session, assessment=assessment, store=store, **{**fields, **overrides})


def approve(session: Session, plan: ReadinessPlan, user: User) -> None:
    approve_plan(session, plan=plan, user=user, password=PASSWORD)


def import_capas(session: Session, store: EventStore, folder: Path, closed: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        [f"C-{n}", "SITE-A", "2026-01-10", "2026-02-10", "equipment", day]
        for n, day in enumerate(closed, start=1)
    ]
    import_files(session, paths=[write_csv(folder / "capa.csv", CAPA_HEADER, rows)], store=store)


EXPECTED = [
    # number, due day, workstream, source, sub-element
    (1, 7, "governance_and_evidence", "skeleton", "resourcing_for_quality"),
    (2, 14, "governance_and_evidence", "skeleton", "quality_policy_objectives"),
    (3, 21, "governance_and_evidence", "skeleton", "management_review"),
    (4, 30, "governance_and_evidence", "skeleton", "knowledge_management"),
    (5, 30, "governance_and_evidence", "missing_evidence", "inventory_capacity"),
    (6, 30, "governance_and_evidence", "missing_evidence", "rewards_recognition"),
    (7, 60, "systems_and_process_maturity", "skeleton", "capa_effectiveness"),
    (8, 60, "systems_and_process_maturity", "low_score", "data_excellence"),
    (9, 60, "systems_and_process_maturity", "low_score", "quality_risk_management"),
    (10, 60, "systems_and_process_maturity", "low_score", "capa_effectiveness"),
    (11, 60, "systems_and_process_maturity", "low_score", "supplier_oversight"),
    (12, 60, "people_and_culture", "low_score", "involvement_suggestions"),
    (13, 75, "systems_and_process_maturity", "skeleton", "drills_recovery"),
    (14, 90, "governance_and_evidence", "skeleton", "process_performance_monitoring"),
    (15, 90, "governance_and_evidence", "skeleton", "quality_first_decisions"),
]


class TestGenerate:
    def test_known_scores_give_the_exact_actions(self, session, assessment, store) -> None:
        plan = generate(session, assessment, store)
        got = [(a.number, a.due_day, a.workstream, a.source, a.sub_element) for a in plan.actions]
        assert got == EXPECTED
        assert (plan.ref, plan.status, plan.generated_on) == ("PLAN-0001", "draft", TODAY)
        first = plan.actions[0]
        assert first.title == "Name an executive owner of the QMM program"
        assert first.due_on == START + timedelta(days=6)
        assert plan.actions[-1].due_on == START + timedelta(days=89)
        assert {a.owner for a in plan.actions} == {"Alice Moreau, Site Quality Head"}
        assert all(a.status == "open" for a in plan.actions)

    def test_low_score_actions_say_why(self, session, assessment, store) -> None:
        plan = generate(session, assessment, store)
        lowest = plan.actions[7]
        assert lowest.source_detail == "score 1.00 < 3.5, lowest #1 of the assessment"
        assert lowest.title.startswith("Lift Data Excellence from 1.00")
        assert plan.actions[4].evidence_kind in {"sop", "continuity_plan", "other", "policy"}
        assert "training_competency" not in {a.sub_element for a in plan.actions}

    def test_the_baseline_holds_every_scored_sub_element(self, session, assessment, store) -> None:
        plan = generate(session, assessment, store)
        assert plan.baseline == {code: float(score) for code, score in SCORES.items()}

    def test_it_is_deterministic(self, session, assessment, store) -> None:
        one = generate(session, assessment, store)
        two = generate(session, assessment, store)
        fields = ("title", "workstream", "due_day", "sub_element", "source", "source_detail")
        assert [[getattr(a, f) for f in fields] for a in one.actions] == [
            [getattr(a, f) for f in fields] for a in two.actions
        ]
        assert two.ref == "PLAN-0002"

    def test_kpis_off_target_lift_their_weakest_sub_element(
        self, session, assessment, store, tmp_path
    ) -> None:
        import_capas(session, store, tmp_path / "capa", ["2026-02-01", "2026-03-01"])
        plan = generate(session, assessment, store)
        kpi = [a for a in plan.actions if a.source == "kpi_off_target"]
        by_sub = {a.sub_element: a for a in kpi}
        # capa_on_time_closure evidences resourcing_for_quality (unscored) and
        # capa_effectiveness (2.0): the weaker one is lifted.
        action = by_sub["capa_effectiveness"]
        assert "capa_on_time_closure 0.5 in 2026-Q1 against target 0.9" in action.source_detail
        assert (action.due_day, action.workstream) == (90, "systems_and_process_maturity")
        assert len(kpi) == len(by_sub)  # one action per sub-element, however many KPIs

    def test_an_assessment_without_scores_is_refused(self, session, site, alice, store) -> None:
        empty = create_assessment_of(session, site, alice, title="Not rated yet")
        with pytest.raises(InvalidInput, match="has no scores yet"):
            generate(session, empty, store)
        assert session.scalar(select(func.count()).select_from(ReadinessPlan)) == 0

    def test_bad_owner_and_start_are_named(self, session, assessment, store) -> None:
        with pytest.raises(InvalidProgramInput) as raised:
            generate(session, assessment, store, owner="  ", start_on="2026-11-23")
        assert set(raised.value.problems) == {"owner", "start_on"}
        assert session.scalar(select(func.count()).select_from(ReadinessPlan)) == 0

    @pytest.mark.parametrize(
        ("start_on", "today", "says"),
        [
            (date.max, TODAY, "too far in the future: its day 90 must be a calendar date"),
            (date.max - timedelta(days=88), TODAY, "its day 90 must be a calendar date"),
            (  # within a year of a far-off today, but day 90 would still not be a date
                date.max - timedelta(days=10),
                date.max - timedelta(days=10),
                "its day 90 must be a calendar date",
            ),
            (TODAY + timedelta(days=367), TODAY, "more than a year after today (2026-11-20)"),
            (TODAY - timedelta(days=367), TODAY, "more than a year before today (2026-11-20)"),
            (date.min, TODAY, "more than a year before today"),
        ],
        ids=["date-max", "day-90-overflows", "overflow-near-today", "future", "past", "date-min"],
    )
    def test_an_absurd_start_date_is_named_and_nothing_is_stored(
        self, session, assessment, store, start_on, today, says
    ) -> None:
        with pytest.raises(InvalidProgramInput) as raised:
            generate(session, assessment, store, start_on=start_on, today=today)
        assert set(raised.value.problems) == {"start_on"}
        assert says in raised.value.problems["start_on"]
        assert raised.value.problems["start_on"].startswith(f"start date {start_on} ")
        assert session.scalar(select(func.count()).select_from(ReadinessPlan)) == 0
        assert session.scalar(select(func.count()).select_from(PlanAction)) == 0

    @pytest.mark.parametrize("days", [366, -366])
    def test_a_start_date_a_year_either_side_of_today_is_taken(
        self, session, assessment, store, days
    ) -> None:
        start = TODAY + timedelta(days=days)
        plan = generate(session, assessment, store, start_on=start)
        assert (plan.start_on, plan.actions[-1].due_on) == (start, start + timedelta(days=89))

    def test_a_running_approved_plan_blocks_a_new_draft(
        self, session, assessment, store, alice
    ) -> None:
        first = generate(session, assessment, store, today=NOW, start_on=NOW)
        approve(session, first, alice)
        with pytest.raises(Conflict, match="already runs approved plan PLAN-0001"):
            generate(session, assessment, store, today=NOW, start_on=NOW)
        second = generate(session, assessment, store, today=NOW, start_on=NOW, supersede=True)
        assert second.supersedes_id == first.id
        approve(session, second, alice)
        assert (first.status, second.status) == ("superseded", "approved")

    def test_the_running_plan_is_the_approved_one_until_its_day_90(
        self, session, site, assessment, store, alice
    ) -> None:
        plan = generate(session, assessment, store)
        assert running_plan(session, site, START) is None  # a draft does not run
        approve(session, plan, alice)
        assert running_plan(session, site, START + timedelta(days=89)) is plan
        assert running_plan(session, site, START + timedelta(days=90)) is None

    def test_superseding_needs_a_running_plan(self, session, assessment, store) -> None:
        with pytest.raises(Conflict, match="no running approved plan"):
            generate(session, assessment, store, supersede=True)

    def test_a_plan_ended_90_days_ago_does_not_block(
        self, session, assessment, store, alice
    ) -> None:
        old = generate(session, assessment, store, start_on=date(2026, 1, 5))
        approve(session, old, alice)
        after = date(2026, 1, 5) + timedelta(days=90)
        assert generate(session, assessment, store, today=after).ref == "PLAN-0002"


class TestApproval:
    def test_approval_signs_and_freezes(self, session, assessment, store, alice) -> None:
        plan = generate(session, assessment, store)
        action = plan.actions[0]
        update_action(session, action=action, owner="Executive sponsor", due_day=5)
        assert (action.owner, action.due_on) == ("Executive sponsor", START + timedelta(days=4))
        approve(session, plan, alice)
        assert (plan.status, plan.approved_at is not None) == ("approved", True)
        with pytest.raises(Conflict, match="approved and its plan is frozen"):
            update_action(session, action=action, title="Something else")
        assert action.title == "Name an executive owner of the QMM program"

    def test_a_wrong_password_approves_nothing(self, session, assessment, store, alice) -> None:
        plan = generate(session, assessment, store)
        with pytest.raises(Unauthenticated):
            approve_plan(session, plan=plan, user=alice, password="wrong")
        assert plan.status == "draft"

    def test_a_draft_not_superseding_the_running_plan_is_not_approved(
        self, session, assessment, store, alice
    ) -> None:
        first = generate(session, assessment, store, today=NOW, start_on=NOW)
        rival = generate(session, assessment, store, today=NOW, start_on=NOW)
        approve(session, first, alice)
        with pytest.raises(Conflict, match="PLAN-0002 does not supersede it"):
            approve(session, rival, alice)
        assert rival.status == "draft"
        assert signatures_for(session, record_type="readiness_plan", record_id=str(rival.id)) == []

    def test_a_superseded_plan_is_not_approved_again(
        self, session, site, assessment, store, alice
    ) -> None:
        first = generate(session, assessment, store, today=NOW, start_on=NOW)
        approve(session, first, alice)
        approve(
            session,
            generate(session, assessment, store, today=NOW, start_on=NOW, supersede=True),
            alice,
        )
        with pytest.raises(Conflict, match="PLAN-0001 was superseded"):
            approve(session, first, alice)

    def test_a_second_signature_changes_nothing(self, session, site, assessment, store, alice):
        bob = create_user(session, username="bob", full_name="Bob Okafor", password=PASSWORD)
        grant_role(session, user=bob, role="site_quality_lead", site=site)
        plan = generate(session, assessment, store)
        approve(session, plan, alice)
        approved_at = plan.approved_at
        approve_plan(session, plan=plan, user=bob, password=PASSWORD, meaning="reviewed")
        assert (plan.status, plan.approved_at) == ("approved", approved_at)
        signatures = signatures_for(session, record_type="readiness_plan", record_id=str(plan.id))
        assert [(s.username, s.valid) for s in signatures] == [("alice", True), ("bob", True)]

    def test_tracking_progress_keeps_the_signature_valid(
        self, session, assessment, store, alice
    ) -> None:
        plan = generate(session, assessment, store)
        approve(session, plan, alice)
        before = record_hash(session, record_type="readiness_plan", record_id=str(plan.id))
        complete_action(session, action=plan.actions[0], done_on=TODAY, note="CEO named")
        assert record_hash(session, record_type="readiness_plan", record_id=str(plan.id)) == before
        (signature,) = signatures_for(session, record_type="readiness_plan", record_id=str(plan.id))
        assert signature.valid

    def test_the_database_refuses_changes_to_an_approved_plan(
        self, session, assessment, store, alice
    ) -> None:
        plan = generate(session, assessment, store)
        approve(session, plan, alice)
        action_id = plan.actions[0].id
        refusals = [
            ("UPDATE plan_actions SET title = 'Edited' WHERE id = :i", action_id),
            ("UPDATE plan_actions SET due_day = 1 WHERE id = :i", action_id),
            ("UPDATE plan_actions SET owner = 'X' WHERE id = :i", action_id),
            ("DELETE FROM plan_actions WHERE id = :i", action_id),
            ("UPDATE readiness_plans SET owner = 'X' WHERE id = :i", plan.id),
            ("UPDATE readiness_plans SET start_on = '2027-01-01' WHERE id = :i", plan.id),
            ("UPDATE readiness_plans SET baseline = '{}' WHERE id = :i", plan.id),
            ("UPDATE readiness_plans SET approved_at = NULL WHERE id = :i", plan.id),
            ("DELETE FROM readiness_plans WHERE id = :i", plan.id),
        ]
        for statement, row in refusals:
            with (
                pytest.raises(DatabaseError, match="readiness plan is frozen"),
                session.begin_nested(),
            ):
                session.execute(text(statement), {"i": row})
        with (
            pytest.raises(DatabaseError, match="readiness plan is frozen"),
            session.begin_nested(),
        ):
            session.execute(
                text(
                    "INSERT INTO plan_actions (plan_id, number, title, workstream, owner, "
                    "due_day, due_on, evidence, evidence_kind, source, source_detail, "
                    "status) VALUES (:p, 99, 't', 'w', 'o', 1, '2026-11-23', 'e', 'other', "
                    "'skeleton', '', 'open')"
                ),
                {"p": plan.id},
            )
        # Progress stays trackable in raw SQL too.
        with session.begin_nested():
            session.execute(
                text(
                    "UPDATE plan_actions SET status = 'done', done_on = '2026-11-20', "
                    "note = 'done' WHERE id = :i"
                ),
                {"i": action_id},
            )
        session.expire_all()
        assert session.get(PlanAction, action_id).status == "done"

    def test_a_draft_can_be_changed_in_raw_sql(self, session, assessment, store) -> None:
        plan = generate(session, assessment, store)
        with session.begin_nested():
            session.execute(
                text("UPDATE plan_actions SET title = 'Edited' WHERE id = :i"),
                {"i": plan.actions[0].id},
            )
        session.expire_all()
        assert session.get(PlanAction, plan.actions[0].id).title == "Edited"

    def test_bad_edits_of_a_draft_are_named(self, session, assessment, store) -> None:
        plan = generate(session, assessment, store)
        action = plan.actions[0]
        with pytest.raises(InvalidProgramInput) as raised:
            update_action(session, action=action, title="", due_day=91)
        assert set(raised.value.problems) == {"title", "due_day"}
        with pytest.raises(InvalidInput, match="source cannot be changed"):
            update_action(session, action=action, source="low_score")
        assert (action.title, action.due_day) == ("Name an executive owner of the QMM program", 7)


class TestTracking:
    @pytest.fixture
    def plan(self, session, assessment, store, alice) -> ReadinessPlan:
        made = generate(session, assessment, store)
        approve(session, made, alice)
        return made

    def test_progress_counts_done_open_and_overdue(self, session, plan) -> None:
        complete_action(session, action=plan.actions[0], done_on=date(2026, 11, 21))
        day_25 = START + timedelta(days=24)
        progress = plan_progress(session, plan=plan, today=day_25)
        assert progress.day == 25
        governance = progress.workstreams[0]
        # Actions 2 (day 14) and 3 (day 21) are overdue; 4-6 (day 30) and 14-15 are open.
        assert (governance.done, governance.open, governance.overdue) == (1, 5, 2)
        assert [a.number for a in progress.overdue_actions] == [2, 3]
        assert (progress.done, progress.total) == (1, 15)

    def test_due_today_is_not_overdue(self, session, plan) -> None:
        day_14 = START + timedelta(days=13)
        assert [
            a.number for a in plan_progress(session, plan=plan, today=day_14).overdue_actions
        ] == [1]

    def test_days_before_and_after_the_plan(self, session, plan) -> None:
        assert plan_progress(session, plan=plan, today=START - timedelta(days=3)).day == 0
        assert plan_progress(session, plan=plan, today=START).day == 1
        assert plan_progress(session, plan=plan, today=START + timedelta(days=89)).day == 90

    def test_done_then_reopened(self, session, plan) -> None:
        action = plan.actions[1]
        complete_action(session, action=action, done_on=TODAY, note="Published")
        with pytest.raises(Conflict, match="was done on 2026-11-20"):
            complete_action(session, action=action, done_on=TODAY)
        reopen_action(session, action=action, note="Second objective not yet measured")
        assert (action.status, action.done_on, action.note) == (
            "open",
            None,
            "Second objective not yet measured",
        )
        with pytest.raises(Conflict, match="is not done"):
            reopen_action(session, action=action)

    def test_bad_done_dates_are_refused(self, session, plan) -> None:
        action = plan.actions[0]
        with pytest.raises(InvalidProgramInput, match="in the future"):
            complete_action(session, action=action, done_on=NOW + timedelta(days=1))
        with pytest.raises(InvalidProgramInput, match="before the plan was generated"):
            complete_action(session, action=action, done_on=TODAY - timedelta(days=1))
        with pytest.raises(InvalidProgramInput, match="must be a date"):
            complete_action(session, action=action, done_on="2026-11-20")
        with pytest.raises(InvalidProgramInput, match="at most 2000 are allowed"):
            complete_action(session, action=action, done_on=TODAY, note="x" * 2001)
        assert action.status == "open"

    def test_a_draft_is_not_tracked(self, session, assessment, store) -> None:
        draft = generate(session, assessment, store)
        with pytest.raises(Conflict, match="is a draft"):
            complete_action(session, action=draft.actions[0], done_on=TODAY)


class TestCompare:
    def test_planned_sub_elements_first_with_their_delta(
        self, session, site, alice, assessment, store
    ) -> None:
        plan = generate(session, assessment, store)
        later = create_assessment_of(session, site, alice, title="FY27 self-assessment")
        rate_sub_elements(session, later, alice, {"data_excellence": 2.5, "quality_culture": 4})
        changes = compare_plan(session, plan=plan, assessment=later)
        by_code = {c.code: c for c in changes}
        assert [c.code for c in changes[:4]] == [
            "resourcing_for_quality",
            "quality_policy_objectives",
            "management_review",
            "knowledge_management",
        ]
        planned = {a.sub_element for a in plan.actions}
        first_unplanned = next(i for i, c in enumerate(changes) if c.code not in planned)
        assert all(c.code not in planned for c in changes[first_unplanned:])
        assert (by_code["data_excellence"].baseline, by_code["data_excellence"].score) == (1, 2.5)
        assert by_code["data_excellence"].delta == 1.5
        assert by_code["data_excellence"].actions == (8,)
        assert by_code["quality_culture"].delta == -1
        assert by_code["capa_effectiveness"].delta is None  # not rated again
        assert by_code["capa_effectiveness"].actions == (7, 10)

    def test_the_same_or_another_sites_assessment_is_refused(
        self, session, assessment, store, alice
    ) -> None:
        plan = generate(session, assessment, store)
        with pytest.raises(InvalidInput, match="the one PLAN-0001 was generated from"):
            compare_plan(session, plan=plan, assessment=assessment)
        other = create_assessment_of(session, create_site_b(session), alice)
        with pytest.raises(InvalidInput, match="not of SITE-A"):
            compare_plan(session, plan=plan, assessment=other)


def test_plans_are_found_by_ref_and_number(session, site, assessment, store) -> None:
    plan = generate(session, assessment, store)
    assert get_plan(session, site=site, ref="plan-0001") is plan
    assert get_action(session, plan=plan, number=3).sub_element == "management_review"
    assert current_plan(session, site=site, today=TODAY) is plan
    with pytest.raises(NotFound, match="no plan PLAN-0009"):
        get_plan(session, site=site, ref="PLAN-0009")
    with pytest.raises(NotFound, match="has no action 99"):
        get_action(session, plan=plan, number=99)


class TestSupersedingCarriesOpenActions:
    """A superseded plan's open actions move to the new plan; none is dropped silently."""

    @pytest.fixture
    def running(self, session, assessment, store, alice) -> ReadinessPlan:
        made = generate(session, assessment, store, today=NOW, start_on=NOW - timedelta(days=40))
        approve(session, made, alice)
        for action in made.actions[:3]:
            complete_action(session, action=action, done_on=NOW, note="done")
        return made

    def test_every_open_action_is_carried_over(self, session, assessment, store, alice, running):
        still_open = [a for a in running.actions if a.status == "open"]
        successor = generate(session, assessment, store, today=NOW, start_on=NOW, supersede=True)
        carried = [a for a in successor.actions if a.source == "carried_over"]
        assert sorted(a.carried_from_id for a in carried) == sorted(a.id for a in still_open)
        origin = {a.id: a for a in still_open}
        for action in carried:
            before = origin[action.carried_from_id]
            assert (action.title, action.owner, action.sub_element) == (
                before.title,
                before.owner,
                before.sub_element,
            )
            assert action.source_detail.startswith(f"{running.ref} action {before.number}")
            assert 1 <= action.due_day <= 90
        approve(session, successor, alice)
        assert running.status == "superseded"
        assert {a.carried_from_id for a in successor.actions if a.status == "open"} >= {
            a.id for a in still_open
        }

    def test_an_overdue_action_is_due_on_the_new_plans_first_day(
        self, session, assessment, store, running
    ) -> None:
        overdue = [a for a in running.actions if a.status == "open" and a.due_on < NOW]
        assert overdue, "the running plan has an overdue action to carry"
        successor = generate(session, assessment, store, today=NOW, start_on=NOW, supersede=True)
        by_origin = {a.carried_from_id: a for a in successor.actions}
        assert all(by_origin[a.id].due_on == NOW for a in overdue)

    def test_an_action_done_after_drafting_is_not_carried_at_approval(
        self, session, assessment, store, alice, running
    ) -> None:
        successor = generate(session, assessment, store, today=NOW, start_on=NOW, supersede=True)
        finished = next(a for a in running.actions if a.status == "open")
        complete_action(session, action=finished, done_on=NOW, note="finished meanwhile")
        reopened = running.actions[0]
        reopen_action(session, action=reopened, note="not really done")
        approve(session, successor, alice)
        origins = {a.carried_from_id for a in successor.actions}
        assert finished.id not in origins
        assert reopened.id in origins
        assert {a.id for a in running.actions if a.status == "open"} <= origins


class TestDiscardingADraft:
    def test_a_discarded_successor_leaves_the_running_plan_as_it_was(
        self, session, assessment, store, alice
    ) -> None:
        running = generate(session, assessment, store, today=NOW, start_on=NOW)
        approve(session, running, alice)
        open_before = [a.id for a in running.actions if a.status == "open"]
        draft = generate(session, assessment, store, today=NOW, start_on=NOW, supersede=True)
        discard_plan(session, plan=draft)
        assert draft.status == "discarded"
        assert running.status == "approved"
        assert [a.id for a in running.actions if a.status == "open"] == open_before
        with pytest.raises(Conflict, match="discarded"):
            approve(session, draft, alice)
        with pytest.raises(Conflict, match="was discarded"):
            discard_plan(session, plan=draft)
        again = generate(session, assessment, store, today=NOW, start_on=NOW, supersede=True)
        assert again.ref != draft.ref

    def test_an_approved_plan_is_not_discarded(self, session, assessment, store, alice) -> None:
        plan = generate(session, assessment, store, today=NOW, start_on=NOW)
        approve(session, plan, alice)
        with pytest.raises(Conflict, match="approved"):
            discard_plan(session, plan=plan)


class TestTwoPersonRule:
    def test_the_author_of_a_plan_may_not_approve_it(
        self, session, site, assessment, store, alice
    ) -> None:
        bob = create_user(session, username="bob", full_name="Bob Okafor", password=PASSWORD)
        grant_role(session, user=bob, role="site_quality_lead", site=site)
        with acting(session, Actor(label="alice", user_id=alice.id)):
            plan = generate(session, assessment, store)
        assert plan.created_by == "alice"
        with pytest.raises(SecondPersonRequired, match="alice drafted PLAN-0001"):
            approve(session, plan, alice)
        assert plan.status == "draft"
        approve(session, plan, bob)
        assert plan.status == "approved"
