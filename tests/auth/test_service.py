"""People: unique usernames, clear refusals."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import create_alice, create_assessment_of, create_site_a, create_site_b
from qmm.auth.permissions import Permission
from qmm.auth.service import (
    MAX_FAILED_LOGINS,
    authenticate,
    authorize,
    can,
    change_password,
    create_user,
    disable_user,
    get_user,
    grant_role,
    list_users,
    revoke_grant,
    set_password,
    visible_site_ids,
)
from qmm.auth.sessions import (
    SESSION_IDLE,
    create_api_token,
    end_other_sessions,
    end_web_session,
    resolve_api_token,
    resolve_web_session,
    revoke_api_token,
    start_web_session,
    token_state,
)
from qmm.errors import Conflict, Forbidden, InvalidInput, NotFound, Unauthenticated
from qmm.models import LoginAttempt, utcnow


class TestCreateUser:
    def test_it_adds_a_user(self, session: Session) -> None:
        create_alice(session)
        assert get_user(session, username="alice").full_name == "Alice Moreau"
        assert [u.username for u in list_users(session)] == ["alice"]

    def test_it_refuses_a_taken_username(self, session: Session) -> None:
        create_alice(session)
        with pytest.raises(Conflict, match="'alice' already exists"):
            create_user(session, username="alice", full_name="Another Alice")

    @pytest.mark.parametrize("username", ["A", "Alice", "9lives", "has space", ""])
    def test_it_refuses_a_malformed_username(self, session: Session, username: str) -> None:
        with pytest.raises(InvalidInput, match="username"):
            create_user(session, username=username, full_name="X")

    def test_it_refuses_an_empty_name(self, session: Session) -> None:
        with pytest.raises(InvalidInput, match="full name"):
            create_user(session, username="bob", full_name="  ")

    def test_an_unknown_user_is_not_found(self, session: Session) -> None:
        with pytest.raises(NotFound, match="no user 'zoe'"):
            get_user(session, username="zoe")


PASSWORD = "correct horse battery"


class TestPasswordsAndLockout:
    def test_a_password_is_stored_as_an_argon2_hash(self, session) -> None:
        user = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        assert user.password_hash is not None
        assert user.password_hash.startswith("$argon2id$")
        assert PASSWORD not in user.password_hash

    @pytest.mark.parametrize(
        ("password", "why"),
        [
            ("short", "at least 12"),
            ("dan-is-my-password", "must not contain the username"),
            ("aaaaaaaaaaaaaa", "five different"),
        ],
    )
    def test_weak_passwords_are_refused(self, session, password: str, why: str) -> None:
        with pytest.raises(InvalidInput, match=why):
            create_user(session, username="dan", full_name="Dan", password=password)

    def test_right_password_signs_in_and_records_the_attempt(self, session) -> None:
        create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        user = authenticate(session, username="dan", password=PASSWORD, channel="cli")
        attempts = session.scalars(select(LoginAttempt).where(LoginAttempt.username == "dan"))
        assert [(a.succeeded, a.channel) for a in attempts] == [(True, "cli")]
        assert user.failed_logins == 0

    def test_unknown_user_and_wrong_password_get_the_same_answer(self, session) -> None:
        create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        with pytest.raises(Unauthenticated) as unknown:
            authenticate(session, username="nobody", password=PASSWORD)
        with pytest.raises(Unauthenticated) as wrong:
            authenticate(session, username="dan", password="wrong password!")
        assert str(unknown.value) == str(wrong.value)

    def test_five_failures_lock_the_account_and_are_recorded(self, session) -> None:
        create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        for _ in range(MAX_FAILED_LOGINS):
            with pytest.raises(Unauthenticated):
                authenticate(session, username="dan", password="guess guess guess")
        with pytest.raises(Unauthenticated, match="locked"):
            authenticate(session, username="dan", password=PASSWORD)
        attempts = list(
            session.scalars(
                select(LoginAttempt).where(LoginAttempt.username == "dan").order_by(LoginAttempt.id)
            )
        )
        assert len(attempts) == MAX_FAILED_LOGINS + 1
        assert not any(a.succeeded for a in attempts)
        assert attempts[-1].reason == "locked"

    def test_the_lock_ends_after_its_time(self, session) -> None:
        user = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        user.failed_logins = MAX_FAILED_LOGINS
        user.locked_until = utcnow() - timedelta(seconds=1)
        assert authenticate(session, username="dan", password=PASSWORD) is user

    def test_a_disabled_user_cannot_sign_in(self, session) -> None:
        user = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        disable_user(session, user=user)
        with pytest.raises(Unauthenticated):
            authenticate(session, username="dan", password=PASSWORD)

    def test_changing_a_password_needs_the_current_one(self, session) -> None:
        user = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        with pytest.raises(Unauthenticated, match="current password"):
            change_password(
                session,
                user=user,
                current_password="nope nope nope",
                new_password="another good phrase",
            )
        change_password(
            session, user=user, current_password=PASSWORD, new_password="another good phrase"
        )
        assert authenticate(session, username="dan", password="another good phrase") is user


class TestGrantsAndPermissions:
    def test_a_user_of_one_site_sees_nothing_of_another(self, session) -> None:
        site_a, site_b = create_site_a(session), create_site_b(session)
        alice = create_alice(session)
        grant_role(session, user=alice, role="site_quality_lead", site=site_a)
        assert can(session, user=alice, permission=Permission.site_read, site=site_a)
        assert not can(session, user=alice, permission=Permission.site_read, site=site_b)
        assert visible_site_ids(session, user=alice) == {site_a.id}

    def test_an_administrator_sees_every_site(self, session) -> None:
        site_b = create_site_b(session)
        admin = create_user(session, username="root-admin", full_name="Admin")
        grant_role(session, user=admin, role="administrator", site=None)
        assert can(session, user=admin, permission=Permission.user_manage)
        assert can(session, user=admin, permission=Permission.assessment_manage, site=site_b)
        assert visible_site_ids(session, user=admin) is None

    @pytest.mark.parametrize(
        ("role", "permission", "allowed"),
        [
            ("viewer", Permission.assessment_read, True),
            ("viewer", Permission.assessment_rate, False),
            ("contributor", Permission.assessment_rate, True),
            ("contributor", Permission.assessment_manage, False),
            ("site_quality_lead", Permission.assessment_manage, True),
            ("site_quality_lead", Permission.user_manage, False),
        ],
    )
    def test_the_permission_table(self, session, role, permission, allowed) -> None:
        site = create_site_a(session)
        alice = create_alice(session)
        grant_role(session, user=alice, role=role, site=site)
        assert can(session, user=alice, permission=permission, site=site) is allowed

    def test_an_assessor_is_read_only_time_limited_and_scoped(self, session) -> None:
        site = create_site_a(session)
        alice, bob = create_alice(session), create_user(session, username="bob", full_name="B")
        mine = create_assessment_of(session, site, alice)
        other = create_assessment_of(session, site, alice, title="other")
        with pytest.raises(InvalidInput, match="time-limited"):
            grant_role(session, user=bob, role="assessor", site=site)
        grant = grant_role(
            session,
            user=bob,
            role="assessor",
            site=site,
            expires_at=utcnow() + timedelta(days=5),
            assessments=[mine],
        )
        assert can(session, user=bob, permission=Permission.assessment_read, assessment=mine)
        assert not can(session, user=bob, permission=Permission.assessment_read, assessment=other)
        assert not can(session, user=bob, permission=Permission.assessment_rate, assessment=mine)
        grant.expires_at = utcnow() - timedelta(seconds=1)
        assert not can(session, user=bob, permission=Permission.assessment_read, assessment=mine)

    def test_a_revoked_grant_no_longer_counts(self, session) -> None:
        site = create_site_a(session)
        alice = create_alice(session)
        grant = grant_role(session, user=alice, role="viewer", site=site)
        revoke_grant(session, grant=grant)
        assert not can(session, user=alice, permission=Permission.site_read, site=site)
        with pytest.raises(Forbidden, match="no site:read permission at SITE-A"):
            authorize(session, user=alice, permission=Permission.site_read, site=site)

    @pytest.mark.parametrize(
        ("role", "site", "why"),
        [
            ("administrator", True, "covers every site"),
            ("viewer", False, "name it"),
            ("owner", True, "role 'owner'"),
        ],
    )
    def test_malformed_grants_are_refused(self, session, role, site, why) -> None:
        alice = create_alice(session)
        with pytest.raises(InvalidInput, match=why):
            grant_role(
                session, user=alice, role=role, site=create_site_a(session) if site else None
            )


class TestTokensAndSessions:
    def test_a_token_is_shown_once_and_stored_hashed(self, session) -> None:
        alice = create_alice(session)
        plain, token = create_api_token(session, user=alice, name="export", scope="read")
        assert plain.startswith("qmm_")
        assert plain not in token.token_hash
        assert resolve_api_token(session, plain=plain) is token

    def test_a_revoked_or_expired_token_is_refused(self, session) -> None:
        alice = create_alice(session)
        plain, token = create_api_token(session, user=alice, name="export", scope="read")
        token.expires_at = utcnow() - timedelta(seconds=1)
        with pytest.raises(Unauthenticated):
            resolve_api_token(session, plain=plain)
        token.expires_at = None
        revoke_api_token(session, token_id=token.id)
        with pytest.raises(Unauthenticated):
            resolve_api_token(session, plain=plain)

    def test_a_read_token_cannot_write_and_a_site_token_stays_at_its_site(self, session) -> None:
        site_a, site_b = create_site_a(session), create_site_b(session)
        alice = create_alice(session)
        grant_role(session, user=alice, role="site_quality_lead", site=site_a)
        grant_role(session, user=alice, role="site_quality_lead", site=site_b)
        _, token = create_api_token(session, user=alice, name="a", scope="read", sites=[site_b])
        kwargs = {"token_scope": token.scope, "token_site_ids": token.site_ids}
        assert can(session, user=alice, permission=Permission.site_read, site=site_b, **kwargs)
        assert not can(session, user=alice, permission=Permission.site_read, site=site_a, **kwargs)
        assert not can(
            session, user=alice, permission=Permission.site_manage, site=site_b, **kwargs
        )

    def test_a_web_session_expires_when_idle_and_when_ended(self, session) -> None:
        alice = create_alice(session)
        secret, web_session = start_web_session(session, user=alice)
        assert resolve_web_session(session, secret=secret) is web_session
        web_session.last_seen_at = utcnow() - SESSION_IDLE - timedelta(seconds=1)
        with pytest.raises(Unauthenticated):
            resolve_web_session(session, secret=secret)
        web_session.last_seen_at = utcnow()
        end_web_session(session, web_session=web_session)
        with pytest.raises(Unauthenticated):
            resolve_web_session(session, secret=secret)


class TestPasswordChangeHardening:
    def test_a_wrong_current_password_counts_toward_lockout(self, session) -> None:
        user = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        for _ in range(MAX_FAILED_LOGINS):
            with pytest.raises(Unauthenticated, match="current password is wrong"):
                change_password(
                    session,
                    user=user,
                    current_password="guess guess guess",
                    new_password="another good phrase",
                )
        with pytest.raises(Unauthenticated, match="locked"):
            change_password(
                session, user=user, current_password=PASSWORD, new_password="another good phrase"
            )

    def test_a_new_password_revokes_the_users_api_tokens(self, session) -> None:
        user = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        other = create_user(session, username="eve", full_name="Eve", password=PASSWORD)
        changed, _ = create_api_token(session, user=user, name="nightly", scope="read")
        reset, _ = create_api_token(session, user=other, name="nightly", scope="read")
        change_password(
            session, user=user, current_password=PASSWORD, new_password="another good phrase"
        )
        set_password(session, user=other, password="an administrators reset")
        for plain in (changed, reset):
            with pytest.raises(Unauthenticated):
                resolve_api_token(session, plain=plain)
        fresh, _ = create_api_token(session, user=user, name="after", scope="read")
        assert resolve_api_token(session, plain=fresh).user is user

    def test_a_tokens_state_tells_why_it_is_refused(self, session) -> None:
        user = create_user(session, username="dan", full_name="Dan", password=PASSWORD)
        _, live = create_api_token(session, user=user, name="live", scope="read")
        _, old = create_api_token(session, user=user, name="old", scope="read", days=1)
        _, gone = create_api_token(session, user=user, name="gone", scope="read")
        revoke_api_token(session, token_id=gone.id)
        later = utcnow() + timedelta(days=2)
        assert [token_state(t, now=later) for t in (live, old, gone)] == [
            "active",
            "expired",
            "revoked",
        ]
        disable_user(session, user=user)
        assert token_state(live, now=later) == "user disabled"

    def test_other_sessions_end_but_the_current_one_stays(self, session) -> None:
        alice = create_alice(session)
        here_secret, here = start_web_session(session, user=alice)
        there_secret, _ = start_web_session(session, user=alice)
        assert end_other_sessions(session, user=alice, keep=here) == 1
        assert resolve_web_session(session, secret=here_secret) is here
        with pytest.raises(Unauthenticated):
            resolve_web_session(session, secret=there_secret)
