"""Needs attention: overdue and due items at the sites a person reads, with owner, age and link."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy.orm import Session

from factories import create_decision, create_evidence, create_site_a, create_site_b
from qmm.audit.trail import Actor, acting
from qmm.auth.scope import Operator, UserReader
from qmm.auth.service import create_user, grant_role
from qmm.models import User
from qmm.program.steering import set_up_cadence
from qmm.program.worklist import worklist

TODAY = date(2026, 11, 20)


@pytest.fixture
def sites(session: Session):
    return create_site_a(session), create_site_b(session)


@pytest.fixture
def alice(session: Session, sites) -> User:
    user = create_user(
        session, username="alice", full_name="Alice Moreau", password="correct horse battery"
    )
    grant_role(session, user=user, role="site_quality_lead", site=sites[0])
    return user


def test_overdue_and_due_items_with_owner_age_and_link(session, sites) -> None:
    site_a, _ = sites
    create_evidence(
        session, site_a, title="Old SOP", review_by=TODAY - timedelta(days=12), owner="QA Ops"
    )
    create_evidence(session, site_a, title="Fresh SOP", review_by=TODAY + timedelta(days=200))
    set_up_cadence(
        session,
        site=site_a,
        name="Quality steering",
        chair="Site Quality Head",
        cadence_days=30,
        first_meeting_on=TODAY + timedelta(days=3),
    )
    found = worklist(session, reader=Operator(), sites=sites, today=TODAY)
    kinds = [(i.kind, i.state, i.owner, i.age_days) for i in found.items]
    assert kinds[0] == ("evidence_review", "overdue", "QA Ops", 12)
    assert ("steering_meeting", "due", "Site Quality Head", -3) in kinds
    assert "Fresh SOP" not in " ".join(i.title for i in found.items)
    review = found.items[0]
    assert review.path.startswith("/sites/SITE-A/evidence/EV-")
    assert (found.overdue, found.due) == (1, 1)


def test_only_readable_sites_and_never_ones_own_draft_under_the_rule(session, sites, alice) -> None:
    site_a, site_b = sites
    create_evidence(session, site_b, review_by=TODAY - timedelta(days=1))
    with acting(session, Actor(label="alice", user_id=alice.id)):
        own = create_decision(session, site_a)
    other = create_decision(session, site_a, title="Someone else's draft")
    found = worklist(session, reader=UserReader(alice), sites=sites, today=TODAY, username="alice")
    assert found.sites == ("SITE-A",)
    assert {i.site for i in found.items} == {"SITE-A"}
    titles = [i.title for i in found.items if i.kind == "draft_signature"]
    assert titles == [f"Sign {other.ref}: Someone else's draft"]
    assert own.ref not in " ".join(titles)
    assert found.waiting == 1
