"""Passwords checked before the write step: confirmed cheaply there, never past a change."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import create_assessment_of, create_site_a, create_tiny_framework
from qmm.auth.passwords import verify_password
from qmm.auth.service import (
    PASSWORD_CHANGE,
    change_password,
    check_own_password,
    create_user,
    grant_role,
    hash_new_password,
    set_password,
)
from qmm.auth.signing import check_signer_password, sign
from qmm.errors import Conflict, Forbidden, InvalidInput, Unauthenticated
from qmm.models import Assessment, LoginAttempt, Signature, User

PASSWORD = "correct horse battery"
NEW_PASSWORD = "another good phrase"


@pytest.fixture
def alice(session: Session) -> User:
    return create_user(session, username="alice", full_name="Alice Moreau", password=PASSWORD)


@pytest.fixture
def assessment(session: Session, alice: User) -> Assessment:
    site = create_site_a(session)
    grant_role(session, user=alice, role="site_quality_lead", site=site)
    return create_assessment_of(session, site, alice, framework=create_tiny_framework(session))


def sign_with(session: Session, alice: User, assessment: Assessment, password) -> Signature:
    return sign(
        session,
        user=alice,
        password=password,
        meaning="approved",
        record_type="assessment",
        record_id=str(assessment.id),
    )


def attempts(session: Session) -> list[tuple[str, bool]]:
    rows = session.execute(select(LoginAttempt.channel, LoginAttempt.succeeded)).all()
    return [(channel, succeeded) for channel, succeeded in rows]


class TestSigningWithACheckedPassword:
    def test_a_checked_password_signs_and_the_attempt_is_recorded(
        self, session: Session, alice: User, assessment: Assessment
    ) -> None:
        checked = check_signer_password(session, user=alice, password=PASSWORD)
        assert attempts(session) == []  # the check writes nothing

        signature = sign_with(session, alice, assessment, checked)

        assert signature.meaning == "approved"
        assert attempts(session) == [("signature", True)]

    def test_a_wrong_checked_password_is_refused_and_counted(
        self, session: Session, alice: User, assessment: Assessment
    ) -> None:
        checked = check_signer_password(session, user=alice, password="guess guess guess")

        with pytest.raises(Unauthenticated, match="wrong password"):
            sign_with(session, alice, assessment, checked)
        assert attempts(session) == [("signature", False)]
        assert alice.failed_logins == 1

    def test_a_password_changed_since_the_check_refuses_the_signature(
        self, session: Session, alice: User, assessment: Assessment
    ) -> None:
        checked = check_signer_password(session, user=alice, password=PASSWORD)
        set_password(session, user=alice, password=NEW_PASSWORD)

        with pytest.raises(Unauthenticated):
            sign_with(session, alice, assessment, checked)
        assert session.scalars(select(Signature)).all() == []

    def test_another_persons_checked_password_does_not_sign(
        self, session: Session, alice: User, assessment: Assessment
    ) -> None:
        bob = create_user(session, username="bob", full_name="Bob", password=PASSWORD)
        checked = check_signer_password(session, user=bob, password=PASSWORD)

        with pytest.raises(Unauthenticated):
            sign_with(session, alice, assessment, checked)
        assert session.scalars(select(Signature)).all() == []

    def test_the_right_to_sign_is_still_checked_in_the_write_step(
        self, session: Session, assessment: Assessment
    ) -> None:
        viewer = create_user(session, username="vic", full_name="Vic", password=PASSWORD)
        checked = check_signer_password(session, user=viewer, password=PASSWORD)

        with pytest.raises(Forbidden, match="record:sign"):
            sign_with(session, viewer, assessment, checked)


class TestANewPasswordHashedFirst:
    def test_it_is_stored_over_the_password_it_was_checked_against(
        self, session: Session, alice: User
    ) -> None:
        current = check_own_password(
            session, user=alice, password=PASSWORD, channel=PASSWORD_CHANGE
        )
        new = hash_new_password(
            username="alice", current_hash=alice.password_hash, password=NEW_PASSWORD
        )

        change_password(session, user=alice, current_password=current, new_password=new)

        assert verify_password(alice.password_hash, NEW_PASSWORD)
        assert attempts(session) == [(PASSWORD_CHANGE, True)]

    def test_a_password_changed_in_between_is_not_overwritten(
        self, session: Session, alice: User
    ) -> None:
        new = hash_new_password(
            username="alice", current_hash=alice.password_hash, password=NEW_PASSWORD
        )
        set_password(session, user=alice, password="an administrators reset")

        with pytest.raises(Conflict, match="changed meanwhile; nothing was changed"):
            set_password(session, user=alice, password=new)
        assert verify_password(alice.password_hash, "an administrators reset")

    def test_a_stale_current_password_check_refuses_the_change(
        self, session: Session, alice: User
    ) -> None:
        current = check_own_password(
            session, user=alice, password=PASSWORD, channel=PASSWORD_CHANGE
        )
        set_password(session, user=alice, password="an administrators reset")

        with pytest.raises(Unauthenticated, match="current password is wrong"):
            change_password(
                session, user=alice, current_password=current, new_password=NEW_PASSWORD
            )
        assert verify_password(alice.password_hash, "an administrators reset")

    @pytest.mark.parametrize(
        ("password", "why"),
        [("short", "at least 12 characters"), (PASSWORD, "must differ from the current one")],
    )
    def test_a_refused_new_password_says_why_before_any_write(
        self, session: Session, alice: User, password: str, why: str
    ) -> None:
        with pytest.raises(InvalidInput, match=why):
            hash_new_password(username="alice", current_hash=alice.password_hash, password=password)
        assert verify_password(alice.password_hash, PASSWORD)
