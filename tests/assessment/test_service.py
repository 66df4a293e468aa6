"""Assessments: team, ratings and their history, consensus, closing, CSV import, comparison."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from factories import (
    create_alice,
    create_assessment_of,
    create_bob,
    create_carol,
    create_site_a,
    create_site_b,
    create_tiny_framework,
)
from qmm.assessment.service import (
    AssessmentClosed,
    add_member,
    close_assessment,
    compare_assessments,
    compute_scores,
    create_assessment,
    get_question,
    import_ratings,
    latest_assessment,
    rating_history,
    record_consensus,
    record_rating,
    remove_member,
)
from qmm.errors import Conflict, InvalidFile, InvalidInput, NotFound
from qmm.framework.service import create_draft, framework_to_document, get_framework
from qmm.models import Assessment, Rating


@pytest.fixture
def team(session: Session) -> tuple:
    return create_alice(session), create_bob(session), create_carol(session)


@pytest.fixture
def assessment(session: Session, team: tuple) -> Assessment:
    alice, bob, _ = team
    return create_assessment_of(
        session, create_site_a(session), alice, bob, framework=create_tiny_framework(session)
    )


def rate(
    session: Session,
    assessment: Assessment,
    who,
    code: str,
    score: int | None,
    why: str = "evidence seen",
) -> Rating:
    return record_rating(
        session,
        assessment=assessment,
        question=get_question(session, assessment=assessment, code=code),
        assessor=who,
        score=score,
        rationale=why,
    )


def rate_everything(session: Session, assessment: Assessment, who, score: int) -> None:
    for pa in assessment.framework.practice_areas:
        for se in pa.sub_elements:
            for question in se.questions:
                record_rating(
                    session,
                    assessment=assessment,
                    question=question,
                    assessor=who,
                    score=score,
                    rationale="seen",
                )


class TestCreateAssessment:
    def test_it_pins_the_framework_version_and_names_the_team(self, session, assessment) -> None:
        assert assessment.framework.ref == "tiny@1"
        assert [(m.user.username, m.role) for m in assessment.team] == [
            ("alice", "lead"),
            ("bob", "assessor"),
        ]

    def test_it_refuses_a_draft_framework(self, session, team) -> None:
        draft = create_draft(
            session,
            document=framework_to_document(get_framework(session, ref="qmm-default")).model_copy(
                update={"code": "mine"}
            ),
        )
        with pytest.raises(Conflict, match="draft"):
            create_assessment_of(session, create_site_a(session), team[0], framework=draft)

    def test_it_refuses_an_unknown_kind(self, session, team) -> None:
        with pytest.raises(InvalidInput, match="kind 'audit'"):
            create_assessment(
                session,
                site=create_site_a(session),
                framework=get_framework(session, ref="qmm-default"),
                kind="audit",
                title="x",
                lead=team[0],
            )

    def test_latest_prefers_a_closed_assessment(self, session, assessment, team) -> None:
        alice, bob, _ = team
        rate_everything(session, assessment, bob, 3)
        close_assessment(session, assessment=assessment, by=alice)
        create_assessment_of(
            session, assessment.site, alice, title="next year", framework=assessment.framework
        )
        assert latest_assessment(session, site=assessment.site) == assessment

    def test_latest_of_a_site_without_assessments_is_not_found(self, session) -> None:
        with pytest.raises(NotFound, match="no assessment yet"):
            latest_assessment(session, site=create_site_b(session))


class TestTeam:
    def test_a_member_is_added_and_taken_off(self, session, assessment, team) -> None:
        carol = team[2]
        add_member(session, assessment=assessment, user=carol)
        assert [m.user.username for m in assessment.team] == ["alice", "bob", "carol"]
        remove_member(session, assessment=assessment, user=carol)
        assert [m.user.username for m in assessment.team] == ["alice", "bob"]

    def test_the_lead_and_whoever_rated_stay(self, session, assessment, team) -> None:
        alice, bob, carol = team
        rate(session, assessment, bob, "m1.q1", 3)
        with pytest.raises(Conflict, match="keeps its lead"):
            remove_member(session, assessment=assessment, user=alice)
        with pytest.raises(Conflict, match="1 rating"):
            remove_member(session, assessment=assessment, user=bob)
        with pytest.raises(NotFound, match="carol is not on the team"):
            remove_member(session, assessment=assessment, user=carol)
        assert [m.user.username for m in assessment.team] == ["alice", "bob"]

    def test_a_closed_assessment_keeps_its_team(self, session, assessment, team) -> None:
        alice, bob, carol = team
        rate_everything(session, assessment, bob, 3)
        close_assessment(session, assessment=assessment, by=alice)
        with pytest.raises(AssessmentClosed):
            add_member(session, assessment=assessment, user=carol)


class TestRecordRating:
    def test_it_supersedes_the_same_assessors_earlier_rating(
        self, session, assessment, team
    ) -> None:
        _, bob, _ = team
        first = rate(session, assessment, bob, "m1.q1", 2)
        second = rate(session, assessment, bob, "m1.q1", 4, "new SOP seen")
        history = rating_history(
            session,
            assessment=assessment,
            question=get_question(session, assessment=assessment, code="m1.q1"),
        )
        assert [h.id for h in history] == [first.id, second.id]
        assert first.superseded_by_id == second.id
        assert second.superseded_by_id is None
        assert compute_scores(session, assessment=assessment).questions["m1.q1"].consensus == 4

    def test_it_keeps_other_assessors_ratings(self, session, assessment, team) -> None:
        alice, bob, _ = team
        rate(session, assessment, alice, "m1.q1", 2)
        rate(session, assessment, bob, "m1.q1", 4)
        assert compute_scores(session, assessment=assessment).questions["m1.q1"].consensus == 3

    def test_it_records_not_applicable(self, session, assessment, team) -> None:
        rating = rate(session, assessment, team[1], "m1.q1", None)
        assert rating.not_applicable
        assert rating.score is None

    @pytest.mark.parametrize("score", [0, 6, 7, -1])
    def test_it_refuses_a_score_outside_one_to_five(self, session, assessment, team, score) -> None:
        with pytest.raises(InvalidInput, match=f"score {score}"):
            rate(session, assessment, team[1], "m1.q1", score)

    def test_it_refuses_a_rating_without_rationale(self, session, assessment, team) -> None:
        with pytest.raises(InvalidInput, match="rationale"):
            rate(session, assessment, team[1], "m1.q1", 3, "  ")

    def test_it_refuses_someone_outside_the_team(self, session, assessment, team) -> None:
        with pytest.raises(Conflict, match="carol is not on the team"):
            rate(session, assessment, team[2], "m1.q1", 3)

    def test_it_refuses_an_unknown_question(self, session, assessment) -> None:
        with pytest.raises(NotFound, match=r"question 'zz\.q9'"):
            get_question(session, assessment=assessment, code="zz.q9")

    def test_it_refuses_a_closed_assessment(self, session, assessment, team) -> None:
        alice, bob, _ = team
        rate_everything(session, assessment, bob, 3)
        close_assessment(session, assessment=assessment, by=alice)
        with pytest.raises(AssessmentClosed):
            rate(session, assessment, bob, "m1.q1", 4)


class TestConsensusAndClosing:
    def test_only_the_lead_records_consensus(self, session, assessment, team) -> None:
        alice, bob, _ = team
        question = get_question(session, assessment=assessment, code="m1.q1")
        with pytest.raises(Conflict, match="only the lead"):
            record_consensus(
                session, assessment=assessment, question=question, lead=bob, score=3, rationale="x"
            )
        record_consensus(
            session,
            assessment=assessment,
            question=question,
            lead=alice,
            score=2.5,
            rationale="agreed",
        )
        scores = compute_scores(session, assessment=assessment)
        assert scores.questions["m1.q1"].consensus == 2.5
        assert scores.questions["m1.q1"].consensus_source == "lead"

    def test_a_later_consensus_supersedes_the_earlier(self, session, assessment, team) -> None:
        alice = team[0]
        question = get_question(session, assessment=assessment, code="m1.q1")
        first = record_consensus(
            session,
            assessment=assessment,
            question=question,
            lead=alice,
            score=2,
            rationale="first",
        )
        record_consensus(
            session,
            assessment=assessment,
            question=question,
            lead=alice,
            score=4,
            rationale="second",
        )
        assert first.superseded_by_id is not None
        assert compute_scores(session, assessment=assessment).questions["m1.q1"].consensus == 4

    def test_it_refuses_a_consensus_score_of_seven(self, session, assessment, team) -> None:
        question = get_question(session, assessment=assessment, code="m1.q1")
        with pytest.raises(InvalidInput, match="consensus score 7"):
            record_consensus(
                session,
                assessment=assessment,
                question=question,
                lead=team[0],
                score=7,
                rationale="x",
            )

    def test_it_will_not_close_with_unrated_questions(self, session, assessment, team) -> None:
        rate(session, assessment, team[1], "m1.q1", 3)
        with pytest.raises(Conflict, match="19 question"):
            close_assessment(session, assessment=assessment, by=team[0])

    def test_only_the_lead_closes(self, session, assessment, team) -> None:
        rate_everything(session, assessment, team[1], 3)
        with pytest.raises(Conflict, match="only the lead"):
            close_assessment(session, assessment=assessment, by=team[1])
        close_assessment(session, assessment=assessment, by=team[0])
        assert assessment.status == "closed"


class TestImportRatings:
    def write(self, tmp_path: Path, text: str) -> Path:
        path = tmp_path / "ratings.csv"
        path.write_text(text, encoding="utf-8")
        return path

    def test_it_records_every_row(self, session, assessment, tmp_path) -> None:
        path = self.write(
            tmp_path,
            "assessor,question,score,rationale,evidence\n"
            "alice,m1.q1,4,CAPA VoE trended,CAPA-2024-01; SOP-QA-014\n"
            "bob,m1.q1,2,VoE late,\n"
            "bob,m1.q2,NA,not relevant at an API site,\n",
        )
        ratings = import_ratings(session, assessment=assessment, path=path)
        assert len(ratings) == 3
        assert ratings[0].evidence_refs == ["CAPA-2024-01", "SOP-QA-014"]
        assert ratings[2].not_applicable
        assert compute_scores(session, assessment=assessment).questions["m1.q1"].consensus == 3

    def test_it_reports_every_bad_row_and_stores_nothing(
        self, session, assessment, tmp_path
    ) -> None:
        path = self.write(
            tmp_path,
            "assessor,question,score,rationale\n"
            "alice,m1.q1,4,fine\n"
            "alice,m1.q2,7,too high\n"
            "zoe,zz.q1,3,unknown both\n"
            "bob,m2.q1,3,\n",
        )
        with pytest.raises(InvalidFile) as caught:
            import_ratings(session, assessment=assessment, path=path)
        problems = {(p.row, p.column) for p in caught.value.problems}
        assert problems == {(3, "score"), (4, "assessor"), (4, "question"), (5, "rationale")}
        assert "row 3, column 'score', value '7'" in str(caught.value)
        assert "nothing was stored" in str(caught.value)
        count = session.scalar(
            select(func.count()).select_from(Rating).where(Rating.assessment_id == assessment.id)
        )
        assert count == 0

    def test_it_names_missing_columns(self, session, assessment, tmp_path) -> None:
        path = self.write(tmp_path, "who,question,score\nalice,m1.q1,3\n")
        with pytest.raises(InvalidFile, match=r"'assessor'.*required column is missing"):
            import_ratings(session, assessment=assessment, path=path)

    def test_it_refuses_an_empty_file(self, session, assessment, tmp_path) -> None:
        path = self.write(tmp_path, "assessor,question,score,rationale\n")
        with pytest.raises(InvalidInput, match="no ratings found"):
            import_ratings(session, assessment=assessment, path=path)

    def test_it_refuses_a_file_that_is_not_text(self, session, assessment, tmp_path) -> None:
        path = tmp_path / "ratings.csv"
        path.write_bytes(b"\xff\xfe\x00\x81binary")
        with pytest.raises(InvalidInput, match="cannot be read as UTF-8"):
            import_ratings(session, assessment=assessment, path=path)


class TestCompare:
    def test_it_shows_what_moved(self, session, assessment, team) -> None:
        alice, bob, _ = team
        rate_everything(session, assessment, bob, 2)
        later = create_assessment_of(
            session, assessment.site, alice, bob, title="later", framework=assessment.framework
        )
        rate_everything(session, later, bob, 2)
        rate(session, later, bob, "m1.q1", 5)  # m1: (5+2)/2 = 3.5; management: (3.5+2)/2
        moves = {m.code: m for m in compare_assessments(session, before=assessment, after=later)}
        assert moves["m1"].delta == 1.5
        assert moves["m2"].delta == 0
        assert moves["management_commitment"].after == 2.75
        assert moves["management_commitment"].delta == 0.75
        assert moves["overall"].delta == pytest.approx(0.15)

    def test_it_refuses_assessments_of_two_sites(self, session, assessment, team) -> None:
        other = create_assessment_of(
            session, create_site_b(session), team[0], framework=assessment.framework
        )
        with pytest.raises(InvalidInput, match="different sites"):
            compare_assessments(session, before=assessment, after=other)


def test_scores_are_kept_until_anything_audited_changes(
    session: Session, assessment: Assessment, team: tuple
) -> None:
    alice, bob, _ = team
    rate(session, assessment, bob, "m1.q1", 2)
    first = compute_scores(session, assessment=assessment)
    assert compute_scores(session, assessment=assessment) is first
    record_consensus(
        session,
        assessment=assessment,
        question=get_question(session, assessment=assessment, code="m1.q1"),
        lead=alice,
        score=3,
        rationale="agreed at calibration",
    )
    after = compute_scores(session, assessment=assessment)
    assert after is not first
    assert (first.questions["m1.q1"].consensus, after.questions["m1.q1"].consensus) == (2, 3)
