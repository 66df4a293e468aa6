"""Electronic signatures: password again, meaning, printed name, bound to the record's hash."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

import qmm
from factories import create_assessment_of, create_site_a, create_tiny_framework
from qmm.assessment import service as assessment_service
from qmm.assessment.service import get_question, record_rating
from qmm.audit.signatures import (
    NotSignable,
    SignableKind,
    SignableRecord,
    record_hash,
    register_signable,
    signable_kinds,
    signatures_for,
)
from qmm.auth.service import create_user, grant_role
from qmm.auth.signing import sign
from qmm.errors import Forbidden, InvalidInput, Unauthenticated
from qmm.models import AuditEntry, Signature
from qmm.program import decisions, plan
from tampering import drop_signature_protection

PASSWORD = "correct horse battery"


@pytest.fixture
def signed_setup(session: Session):
    site = create_site_a(session)
    alice = create_user(session, username="alice", full_name="Alice Moreau", password=PASSWORD)
    grant_role(session, user=alice, role="site_quality_lead", site=site)
    assessment = create_assessment_of(
        session, site, alice, framework=create_tiny_framework(session)
    )
    record_rating(
        session,
        assessment=assessment,
        question=get_question(session, assessment=assessment, code="m1.q1"),
        assessor=alice,
        score=3,
        rationale="seen",
    )
    return alice, assessment


def sign_it(
    session: Session, alice, assessment, password: str = PASSWORD, meaning: str = "approved"
) -> Signature:
    return sign(
        session,
        user=alice,
        password=password,
        meaning=meaning,
        record_type="assessment",
        record_id=str(assessment.id),
    )


class TestSign:
    def test_it_records_name_meaning_time_and_the_record_hash(self, session, signed_setup) -> None:
        alice, assessment = signed_setup
        signature = sign_it(session, alice, assessment)
        assert signature.printed_name == "Alice Moreau"
        assert signature.meaning == "approved"
        assert signature.signed_at.tzinfo is not None
        assert signature.record_hash == record_hash(
            session, record_type="assessment", record_id=str(assessment.id)
        )
        [status] = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
        assert status.valid
        assert "Approved by Alice Moreau (alice)" in status.line()

    def test_the_signature_is_audited_as_the_signer(self, session, signed_setup) -> None:
        alice, assessment = signed_setup
        signature = sign_it(session, alice, assessment)
        entry = session.scalar(
            select(AuditEntry).where(
                AuditEntry.table_name == "signatures", AuditEntry.record_id == str(signature.id)
            )
        )
        assert entry is not None
        assert (entry.actor, entry.actor_id) == ("alice", alice.id)

    def test_it_asks_for_the_right_password(self, session, signed_setup) -> None:
        alice, assessment = signed_setup
        with pytest.raises(Unauthenticated):
            sign_it(session, alice, assessment, password="not my password")
        assert session.scalars(select(Signature)).all() == []

    def test_it_refuses_an_unknown_meaning(self, session, signed_setup) -> None:
        alice, assessment = signed_setup
        with pytest.raises(InvalidInput, match="meaning 'agreed'"):
            sign_it(session, alice, assessment, meaning="agreed")

    def test_it_refuses_a_signer_without_the_right(self, session, signed_setup) -> None:
        _, assessment = signed_setup
        viewer = create_user(session, username="val", full_name="Val", password=PASSWORD)
        grant_role(session, user=viewer, role="viewer", site=assessment.site)
        with pytest.raises(Forbidden, match="record:sign"):
            sign_it(session, viewer, assessment)


class TestInvalidation:
    def test_a_change_through_the_application_invalidates_it(self, session, signed_setup) -> None:
        alice, assessment = signed_setup
        sign_it(session, alice, assessment)
        record_rating(
            session,
            assessment=assessment,
            question=get_question(session, assessment=assessment, code="m1.q1"),
            assessor=alice,
            score=4,
            rationale="changed my mind",
        )
        [status] = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
        assert not status.valid
        assert "INVALID" in status.line()

    def test_a_change_behind_the_applications_back_invalidates_it(
        self, session, signed_setup
    ) -> None:
        alice, assessment = signed_setup
        sign_it(session, alice, assessment)
        session.execute(
            text("UPDATE assessments SET title = 'edited in SQL' WHERE id = :i"),
            {"i": assessment.id},
        )
        session.expire_all()
        [status] = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
        assert not status.valid

    def test_signing_again_after_a_change_gives_a_new_valid_signature(
        self, session, signed_setup
    ) -> None:
        alice, assessment = signed_setup
        sign_it(session, alice, assessment, meaning="authored")
        assessment.title = "FY26 self-assessment (final)"
        session.flush()
        sign_it(session, alice, assessment)
        statuses = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
        assert [s.valid for s in statuses] == [False, True]


class TestTheDatabaseGuardsSignatures:
    """A signature is never changed or deleted: database triggers refuse even raw SQL."""

    @pytest.mark.parametrize(
        "statement",
        [
            "DELETE FROM signatures WHERE id = :i",
            "UPDATE signatures SET record_hash = 'f' || substr(record_hash, 2) WHERE id = :i",
            "UPDATE signatures SET printed_name = 'Mallory' WHERE id = :i",
        ],
    )
    def test_raw_sql_cannot_delete_or_change_a_signature(
        self, session, signed_setup, statement: str
    ) -> None:
        alice, assessment = signed_setup
        signature = sign_it(session, alice, assessment)
        with (
            pytest.raises(DBAPIError, match="signatures are never changed or deleted"),
            session.begin_nested(),
        ):
            session.execute(text(statement), {"i": signature.id})
        session.expire_all()
        [status] = signatures_for(session, record_type="assessment", record_id=str(assessment.id))
        assert status.valid

    def test_the_application_cannot_delete_a_signature(self, session, signed_setup) -> None:
        alice, assessment = signed_setup
        signature = sign_it(session, alice, assessment)
        session.delete(signature)
        with pytest.raises(DBAPIError, match="never changed or deleted"), session.begin_nested():
            session.flush()


def fresh_interpreter(script: str) -> str:
    """Run a script in a new Python process (nothing imported yet) and return its output."""
    src = str(Path(qmm.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


KINDS_AFTER = (
    "import {modules}\n"
    "from qmm.audit.signatures import signable_kinds\n"
    "print(','.join(sorted(signable_kinds())))"
)


class TestSignableKinds:
    """Each area registers its signable record type; an unregistered one fails loudly."""

    def test_the_owning_areas_register_every_signable_kind(self) -> None:
        modules = "qmm.assessment.service, qmm.program.decisions, qmm.program.plan"
        output = fresh_interpreter(KINDS_AFTER.format(modules=modules))
        assert output.split(",") == sorted(
            [assessment_service.RECORD_TYPE, decisions.RECORD_TYPE, plan.RECORD_TYPE]
        )

    @pytest.mark.parametrize(
        ("boundary", "kinds"),
        [
            (
                "qmm.web.app",
                ["assessment", "decision", "pre_interview_questionnaire", "readiness_plan"],
            ),
            # The report's signed records are the assessment, the plan and the decisions.
            ("qmm.reports.readiness", ["assessment", "decision", "readiness_plan"]),
        ],
    )
    def test_boundaries_that_check_every_kind_have_every_kind_registered(
        self, boundary: str, kinds: list[str]
    ) -> None:
        output = fresh_interpreter(KINDS_AFTER.format(modules=boundary))
        assert output.split(",") == kinds

    def test_audit_alone_registers_nothing(self) -> None:
        assert fresh_interpreter(KINDS_AFTER.format(modules="qmm.audit.signatures")) == ""

    def test_every_stored_signature_is_of_a_registered_kind(self, session, signed_setup) -> None:
        stored = set(session.scalars(select(Signature.record_type).distinct()))
        assert stored <= signable_kinds()

    def test_a_kind_belongs_to_one_area(self) -> None:
        def reader(session: Session, record_id: str) -> SignableRecord:
            raise AssertionError("never read")

        with pytest.raises(ValueError, match=r"'decision' is registered by qmm\.program"):
            register_signable(SignableKind("decision", read=reader))
        assert "decision" in signable_kinds()

    def test_signing_an_unregistered_kind_is_refused(self, session, signed_setup) -> None:
        alice, _ = signed_setup
        with pytest.raises(NotSignable, match="'capa' cannot be signed; signable: assessment"):
            sign(
                session,
                user=alice,
                password=PASSWORD,
                meaning="approved",
                record_type="capa",
                record_id="1",
            )
        assert session.scalars(select(Signature)).all() == []

    def test_checking_an_unregistered_kind_fails_even_without_signatures(self, session) -> None:
        with pytest.raises(NotSignable):
            signatures_for(session, record_type="capa", record_id="1")
        with pytest.raises(NotSignable):
            record_hash(session, record_type="capa", record_id="1")

    def test_a_stored_signature_of_an_unregistered_kind_is_never_reported_valid(
        self, session, signed_setup
    ) -> None:
        alice, assessment = signed_setup
        signature = sign_it(session, alice, assessment)
        drop_signature_protection(session)  # only an attacker with the database's own rights
        session.execute(
            text("UPDATE signatures SET record_type = 'capa' WHERE id = :i"), {"i": signature.id}
        )
        session.expire_all()
        with pytest.raises(NotSignable):
            signatures_for(session, record_type="capa", record_id=str(assessment.id))
