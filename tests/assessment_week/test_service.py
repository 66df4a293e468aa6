"""FDA's assessment of a site: the week's dates, the timeline with owners, the site's people."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_fda_assessment,
    create_person,
    create_site_a,
    create_site_b,
    create_tiny_framework,
)
from qmm.assessment_week.service import (
    choose_self_assessment,
    default_milestones,
    get_fda_assessment,
    list_fda_assessments,
    list_people,
    milestone_views,
    next_fda_assessment,
    set_status,
    update_milestone,
)
from qmm.audit.scope import audit_scope
from qmm.errors import Conflict, NotFound
from qmm.models import AuditEntry, FdaAssessment, FdaMilestoneKind, Site, SitePerson
from qmm.program.common import InvalidProgramInput


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


def test_the_timeline_follows_fdas_notices(session: Session, site: Site) -> None:
    visit = create_fda_assessment(session, site)
    due = {m.kind: m.due_on for m in visit.milestones}
    assert due == {
        "orientation": date(2027, 1, 25),  # six weeks ahead
        "questionnaire_due": date(2027, 2, 8),
        "agenda_sent": date(2027, 2, 22),
        "assessment_week": date(2027, 3, 8),
        "feedback": date(2027, 5, 11),
    }
    assert {m.owner for m in visit.milestones} == {"Dana Whitfield"}
    assert default_milestones(date(2027, 3, 8), date(2027, 3, 12)) == {
        FdaMilestoneKind(k): v for k, v in due.items()
    }


def test_milestones_are_late_once_their_day_passed_undone(session: Session, site: Site) -> None:
    visit = create_fda_assessment(session, site)
    update_milestone(session, fda_assessment=visit, kind="orientation", done_on=date(2026, 12, 1))
    update_milestone(session, fda_assessment=visit, kind="agenda_sent", owner="Sam Ortiz")
    views = milestone_views(visit, today=date(2027, 2, 23))
    late = {v.kind: v.overdue for v in views}
    assert late == {
        "orientation": False,  # done
        "questionnaire_due": True,
        "agenda_sent": True,
        "assessment_week": False,
        "feedback": False,
    }
    assert next(v.kind for v in views) == "orientation"
    assert next(v for v in views if v.kind == "agenda_sent").owner == "Sam Ortiz"


@pytest.mark.parametrize(
    ("overrides", "field", "words"),
    [
        ({"ends_on": date(2027, 3, 5)}, "ends_on", "before the first day"),
        ({"ends_on": date(2027, 3, 13)}, "ends_on", "at most 5 days"),
        ({"time_zone": "Mars/Olympus"}, "time_zone", "not an IANA time zone"),
        ({"time_zone": "../../etc/passwd"}, "time_zone", "not an IANA time zone"),
        ({"title": "  "}, "title", "must not be empty"),
        ({"title": "FDA\x00"}, "title", "NUL"),
        ({"owner": None}, "owner", "required"),
        ({"starts_on": "2027-03-08"}, "starts_on", "must be a date"),
    ],
)
def test_bad_input_names_the_field_and_stores_nothing(
    session: Session, site: Site, overrides: dict[str, object], field: str, words: str
) -> None:
    with pytest.raises(InvalidProgramInput) as caught:
        create_fda_assessment(session, site, **overrides)
    assert words in caught.value.problems[field]
    assert session.scalars(select(FdaAssessment)).all() == []


def test_two_assessments_of_a_site_cannot_overlap(session: Session, site: Site) -> None:
    first = create_fda_assessment(session, site)
    with pytest.raises(Conflict, match=f"FDA assessment {first.id}"):
        create_fda_assessment(session, site, starts_on=date(2027, 3, 11), ends_on=date(2027, 3, 12))
    set_status(session, fda_assessment=first, status="cancelled")
    again = create_fda_assessment(session, site)
    assert [v.id for v in list_fda_assessments(session, site=site)] == [again.id, first.id]
    other = create_fda_assessment(session, create_site_b(session))
    assert other.site.code == "SITE-B"


def test_the_next_assessment_is_the_one_being_prepared(session: Session, site: Site) -> None:
    past = create_fda_assessment(
        session, site, starts_on=date(2025, 5, 5), ends_on=date(2025, 5, 8)
    )
    set_status(session, fda_assessment=past, status="feedback_received")
    coming = create_fda_assessment(session, site)
    assert next_fda_assessment(session, site=site, today=date(2027, 1, 1)) is coming
    assert next_fda_assessment(session, site=site, today=date(2027, 3, 13)) is None
    with pytest.raises(InvalidProgramInput, match="not one of"):
        set_status(session, fda_assessment=coming, status="done")


def test_milestone_changes_are_checked(session: Session, site: Site) -> None:
    visit = create_fda_assessment(session, site)
    with pytest.raises(InvalidProgramInput, match="not one of"):
        update_milestone(session, fda_assessment=visit, kind="party", owner="x")
    with pytest.raises(InvalidProgramInput, match="give a new due date"):
        update_milestone(session, fda_assessment=visit, kind="feedback")
    with pytest.raises(InvalidProgramInput, match="in the future"):
        update_milestone(session, fda_assessment=visit, kind="feedback", done_on=date(2999, 1, 1))
    assert {m.done_on for m in visit.milestones} == {None}


def test_the_self_assessment_compared_must_be_of_the_same_site(
    session: Session, site: Site
) -> None:
    tiny = create_tiny_framework(session)
    alice = create_alice(session)
    own = create_assessment_of(session, site, alice, framework=tiny)
    other = create_assessment_of(session, create_site_b(session), alice, framework=tiny)
    visit = create_fda_assessment(session, site)
    with pytest.raises(InvalidProgramInput, match="of another site"):
        choose_self_assessment(session, fda_assessment=visit, assessment=other)
    choose_self_assessment(session, fda_assessment=visit, assessment=own)
    assert visit.self_assessment_id == own.id


def test_unknown_numbers_are_named(session: Session) -> None:
    with pytest.raises(NotFound, match="no FDA assessment 99"):
        get_fda_assessment(session, fda_assessment_id=99)


def test_people_are_kept_once_and_checked(session: Session, site: Site) -> None:
    create_person(session, site)
    create_person(session, site, name="Tom Becker", email=None, department="Engineering")
    with pytest.raises(Conflict, match="already one of SITE-A's people"):
        create_person(session, site)
    with pytest.raises(InvalidProgramInput) as caught:
        create_person(session, site, name="Lee", email="lee at example.com", job_title="")
    assert set(caught.value.problems) == {"email", "job_title"}
    assert [p.name for p in list_people(session, site=site)] == ["Priya Raman", "Tom Becker"]
    assert len(session.scalars(select(SitePerson)).all()) == 2


def test_every_change_is_in_the_audit_trail_under_the_site(session: Session, site: Site) -> None:
    visit = create_fda_assessment(session, site)
    update_milestone(session, fda_assessment=visit, kind="feedback", owner="Sam Ortiz")
    session.flush()
    tables = set(session.scalars(select(AuditEntry.table_name)))
    assert {"fda_assessments", "fda_assessment_milestones"} <= tables
    milestone = visit.milestones[0]
    scope_site, _ = audit_scope(
        session, table="fda_assessment_milestones", record_id=str(milestone.id)
    )
    assert scope_site is site
