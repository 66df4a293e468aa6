"""Quality objectives against the KPI engine, the steering cadence and the stop-and-fix forum."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.support import CAPA_HEADER, write_csv
from factories import create_decision, create_site_a
from qmm.errors import Conflict, NotFound
from qmm.events.importer import import_files
from qmm.events.store import EventStore
from qmm.models import EvidenceItem, ForumItem, QualityObjective
from qmm.program.common import InvalidProgramInput
from qmm.program.forum import (
    days_to_removal,
    forum_summary,
    raise_roadblock,
    remove_roadblock,
)
from qmm.program.objectives import add_objective, list_objectives, objective_status
from qmm.program.steering import (
    ActionInput,
    cadence_status,
    complete_action,
    hold_meeting,
    set_up_cadence,
)

TODAY = date(2026, 11, 20)


@pytest.fixture
def site(session: Session):
    return create_site_a(session)


def on_time_objective(session: Session, site, **overrides) -> QualityObjective:
    fields = {
        "title": "Close CAPAs on time",
        "owner": "Site Quality Head",
        "published_on": date(2026, 1, 5),
        "kpi": "capa_on_time_closure",
        "period": "year",
        **overrides,
    }
    return add_objective(session, site=site, **fields)


def import_capas(session: Session, store: EventStore, folder: Path, closed: list[str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    rows = [
        [f"C-{n}", "SITE-A", "2026-01-10", "2026-02-10", "equipment", day]
        for n, day in enumerate(closed, start=1)
    ]
    import_files(session, paths=[write_csv(folder / "capa.csv", CAPA_HEADER, rows)], store=store)


class TestObjectives:
    def test_target_and_direction_come_from_the_catalogue(self, session, site) -> None:
        objective = on_time_objective(session, site)
        assert (objective.target, objective.direction) == (0.9, "higher_is_better")

    def test_status_is_computed_from_the_kpi_engine(self, session, site, tmp_path) -> None:
        store = EventStore(tmp_path / "events")
        objective = on_time_objective(session, site)
        assert objective_status(session, objective=objective, today=TODAY, store=store).state == (
            "no_data"
        )
        import_capas(session, store, tmp_path / "1", ["2026-02-01", "2026-03-01"])
        status = objective_status(session, objective=objective, today=TODAY, store=store)
        assert (status.state, status.value, status.numerator, status.denominator) == (
            "off_target",
            0.5,
            1,
            2,
        )
        easy = on_time_objective(session, site, target=0.5)
        assert objective_status(session, objective=easy, today=TODAY, store=store).state == (
            "on_target"
        )

    def test_lower_is_better_kpis_compare_the_other_way(self, session, site, tmp_path) -> None:
        store = EventStore(tmp_path / "events")
        import_capas(session, store, tmp_path / "1", ["2026-02-01"])
        objective = on_time_objective(session, site, kpi="deviation_repeat_rate")
        assert objective.direction == "lower_is_better"

    def test_it_cascades_by_role_to_what_good_looks_like(self, session, site) -> None:
        parent = on_time_objective(session, site)
        add_objective(
            session,
            site=site,
            parent=parent,
            role="Operator",
            title="Raise a deviation the same shift",
            owner="Production Supervisor",
            published_on=date(2026, 1, 5),
            what_good_looks_like="Every unexpected event is in the eQMS before the shift ends.",
        )
        [(top, children)] = list_objectives(session, site=site, role="operator")
        assert top.id == parent.id
        assert [c.role for c in children] == ["operator"]
        assert list_objectives(session, site=site, role="supervisor")[0][1] == []
        child_status = objective_status(session, objective=children[0], today=TODAY)
        assert child_status.state == "not_measured"

    def test_it_names_every_problem_and_stores_nothing(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            add_objective(
                session,
                site=site,
                title="",
                owner="QA",
                published_on=date(2026, 1, 5),
                kpi="no_such_kpi",
                period="week",
                role="operator",
            )
        assert set(caught.value.problems) == {
            "title",
            "kpi",
            "period",
            "what_good_looks_like",
            "parent",
        }
        assert session.scalar(select(func.count()).select_from(QualityObjective)) == 0

    def test_a_grouped_kpi_needs_its_group(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput, match="split by"):
            on_time_objective(session, site, kpi="change_cycle_time_days")
        objective = on_time_objective(session, site, kpi="change_cycle_time_days", kpi_group="high")
        assert objective.target == 90

    def test_a_kpi_without_a_default_target_needs_one(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput, match="no default target"):
            on_time_objective(session, site, kpi="suggestions_per_100_staff")


class TestSteering:
    @pytest.fixture
    def cadence(self, session, site):
        return set_up_cadence(
            session,
            site=site,
            name="QMM steering",
            chair="Alice Moreau",
            cadence_days=30,
            first_meeting_on=date(2026, 10, 1),
        )

    def test_a_planned_meeting_not_held_by_its_date_is_overdue(self, session, cadence) -> None:
        assert cadence_status(session, cadence=cadence, today=date(2026, 10, 1)).overdue is False
        status = cadence_status(session, cadence=cadence, today=date(2026, 10, 2))
        assert status.overdue
        assert [m.planned_on for m in status.overdue_meetings] == [date(2026, 10, 1)]

    def test_holding_it_files_minutes_and_plans_the_next(self, session, site, cadence) -> None:
        decision = create_decision(session, site)
        meeting = cadence.meetings[0]
        hold_meeting(
            session,
            meeting=meeting,
            held_on=date(2026, 10, 3),
            attendees=["Alice Moreau", "Bob Okafor"],
            agenda=["KPI review", "Decision on lot 24-118"],
            minutes="Reviewed CAPA timeliness; held lot 24-118.",
            decision_refs=[decision.ref.lower()],
            actions=[ActionInput("Repeat the smoke study", "Bob Okafor", date(2026, 10, 20))],
        )
        assert meeting.decision_refs == ["DEC-0001"]
        item = session.get(EvidenceItem, meeting.evidence_item_id)
        assert item is not None
        assert (item.kind, item.sub_element_codes) == ("steering_minutes", ["management_review"])
        status = cadence_status(session, cadence=cadence, today=date(2026, 10, 25))
        assert status.next_planned_on == date(2026, 11, 2)
        assert not status.overdue
        assert [a.title for a in status.overdue_actions] == ["Repeat the smoke study"]
        complete_action(session, action=meeting.actions[0], done_on=date(2026, 10, 26))
        assert cadence_status(session, cadence=cadence, today=date(2026, 10, 27)).open_actions == ()

    def test_a_meeting_is_held_once(self, session, cadence) -> None:
        meeting = cadence.meetings[0]
        hold_meeting(
            session,
            meeting=meeting,
            held_on=date(2026, 10, 1),
            attendees=["A"],
            agenda=["KPIs"],
            minutes="Met.",
        )
        with pytest.raises(Conflict, match="was held"):
            hold_meeting(
                session,
                meeting=meeting,
                held_on=date(2026, 10, 2),
                attendees=["A"],
                agenda=["KPIs"],
                minutes="Again.",
            )

    def test_a_held_meeting_needs_attendees_agenda_minutes_and_known_decisions(
        self, session, cadence
    ) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            hold_meeting(
                session,
                meeting=cadence.meetings[0],
                held_on=date(2026, 10, 1),
                attendees=[],
                agenda=[],
                minutes=" ",
                decision_refs=["DEC-0042"],
                actions=[ActionInput("Late", "Bob", date(2026, 9, 1))],
            )
        assert set(caught.value.problems) == {
            "attendees",
            "agenda",
            "minutes",
            "decision_refs",
            "action1.due_on",
        }
        assert cadence.meetings[0].held_on is None
        assert session.scalar(select(func.count()).select_from(EvidenceItem)) == 0

    def test_a_cadence_needs_a_positive_whole_number_of_days(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput, match="cadence in days"):
            set_up_cadence(
                session,
                site=site,
                name="S",
                chair="C",
                cadence_days=0,
                first_meeting_on=date(2026, 1, 1),
            )


class TestForum:
    def test_time_to_removal_and_open_items_with_age(self, session, site) -> None:
        fixed = raise_roadblock(
            session,
            site=site,
            roadblock="No label printer on line 3",
            raised_by="Operator",
            raised_on=date(2026, 11, 1),
            owner="Engineering Manager",
        )
        raise_roadblock(
            session,
            site=site,
            roadblock="SOP too long to use at the line",
            raised_by="Shift lead",
            raised_on=date(2026, 11, 10),
            owner="QA Manager",
        )
        remove_roadblock(session, item=fixed, removed_on=date(2026, 11, 4), resolution="Bought.")
        assert days_to_removal(fixed) == 3
        summary = forum_summary(session, site=site, today=TODAY)
        assert [(i.roadblock, age) for i, age in summary.open_items] == [
            ("SOP too long to use at the line", 10)
        ]
        assert (summary.removed, summary.median_days_to_removal) == (1, 3.0)

    def test_it_refuses_removal_before_raising_or_twice(self, session, site) -> None:
        item = raise_roadblock(
            session, site=site, roadblock="R", raised_by="O", raised_on=date(2026, 11, 5), owner="L"
        )
        with pytest.raises(InvalidProgramInput, match="before it was raised"):
            remove_roadblock(session, item=item, removed_on=date(2026, 11, 1), resolution="x")
        assert item.removed_on is None
        remove_roadblock(session, item=item, removed_on=date(2026, 11, 6), resolution="Done.")
        with pytest.raises(Conflict):
            remove_roadblock(session, item=item, removed_on=date(2026, 11, 7), resolution="x")

    def test_a_roadblock_needs_its_fields(self, session, site) -> None:
        with pytest.raises(InvalidProgramInput) as caught:
            raise_roadblock(
                session, site=site, roadblock="", raised_by="", raised_on=None, owner=""
            )
        assert set(caught.value.problems) == {"roadblock", "raised_by", "raised_on", "owner"}
        assert session.scalar(select(func.count()).select_from(ForumItem)) == 0


def test_an_unknown_objective_site_record_is_not_found(session, site) -> None:
    from qmm.program.forum import get_forum_item

    with pytest.raises(NotFound, match="no forum item 9 at SITE-A"):
        get_forum_item(session, site=site, item_id=9)


class TestEngagement:
    def test_it_reads_the_suggestion_kpis_per_period(self, session, site, tmp_path) -> None:
        from qmm.program.engagement import engagement_summary

        store = EventStore(tmp_path / "events")
        assert engagement_summary(session, site=site, today=TODAY, store=store) == []
        header = ["suggestion_id", "site", "submitted_on", "decided_on", "decision"]
        rows = [
            ["S-1", "SITE-A", "2026-01-05", "2026-01-15", "accepted"],
            ["S-2", "SITE-A", "2026-02-01", "2026-02-21", "rejected"],
            ["S-3", "SITE-A", "2026-03-01", "2026-04-06", "accepted"],
            ["S-4", "SITE-A", "2026-05-01", "", ""],
        ]
        folder = tmp_path / "s"
        folder.mkdir()
        import_files(
            session, paths=[write_csv(folder / "suggestion.csv", header, rows)], store=store
        )
        q1, q2 = engagement_summary(session, site=site, today=TODAY, store=store)
        # SITE-A has 640 staff: 3 suggestions in Q1 are 0.47 per 100 staff.
        assert (q1.period, q1.submitted, q1.decided, q1.accepted) == ("2026-Q1", 3, 2, 1)
        assert (q1.acceptance_rate, q1.median_decision_days) == (0.5, 15.0)
        assert round(q1.per_100_staff or 0, 4) == round(3 / 640 * 100, 4)
        # Q2: S-3 decided (36 days), S-4 submitted.
        assert (q2.period, q2.submitted, q2.decided, q2.accepted) == ("2026-Q2", 1, 1, 1)
        assert q2.median_decision_days == 36.0

    def test_an_unknown_period_is_refused(self, session, site) -> None:
        from qmm.errors import InvalidInput
        from qmm.program.engagement import engagement_summary

        with pytest.raises(InvalidInput, match="period 'week' is not one of month"):
            engagement_summary(session, site=site, today=TODAY, period="week")
