"""Set up bench/web_load.py's rating round: N contributors signed in on a new open assessment.

Run with the benchmark's database in QMM_DATABASE_URL; prints JSON: the assessment, a question
and, per person, the session cookie and CSRF token (sessions are made directly: the round
measures saving, not signing in).
"""

from __future__ import annotations

import json
import sys

from sqlalchemy import func, select

import qmm.audit.trail  # noqa: F401  (installs the audit trail: every write is recorded)
from qmm.assessment.service import add_member, create_assessment, list_assessments
from qmm.auth.service import create_user, get_user, grant_role
from qmm.auth.sessions import start_web_session
from qmm.db import unit_of_work
from qmm.models import Rating
from qmm.sites.service import get_site

#: The mark the rating round's rationales start with (bench/web_load.py writes them).
RUSH_MARK = "bench rush"


def main(count: int) -> None:
    with unit_of_work() as session:
        site = get_site(session, code="SITE-A")
        lead = get_user(session, username="alice")
        closed = list_assessments(session, site=site)[0]
        assessment = create_assessment(
            session,
            site=site,
            framework=closed.framework,
            kind="self",
            title="Morning rush (benchmark)",
            lead=lead,
        )
        question = assessment.framework.practice_areas[0].sub_elements[0].questions[0].code
        people = []
        for n in range(count):
            person = create_user(session, username=f"rater-{n:03d}", full_name=f"Rater {n}")
            grant_role(session, user=person, role="contributor", site=site, granted_by=lead)
            add_member(session, assessment=assessment, user=person)
            secret, web_session = start_web_session(session, user=person)
            people.append({"cookie": secret, "csrf": web_session.csrf_token})
        print(
            json.dumps(
                {
                    "assessment": assessment.id,
                    "demo_assessment": closed.id,
                    "question": question,
                    "people": people,
                }
            )
        )


def count_saved() -> None:
    """How many ratings the rating round stored (its rationales carry the round's mark)."""
    with unit_of_work() as session:
        stored = session.scalar(
            select(func.count()).select_from(Rating).where(Rating.rationale.like(f"{RUSH_MARK}%"))
        )
        print(stored)


if __name__ == "__main__":
    if sys.argv[1] == "--count":
        count_saved()
    else:
        main(int(sys.argv[1]))
