"""Password hashes: every installation hashes at argon2id's standard cost; any cost verifies."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher, Type, extract_parameters
from sqlalchemy.orm import Session

from qmm.auth.passwords import hash_password, hasher_for, needs_rehash, verify_password
from qmm.auth.service import authenticate, create_user
from qmm.config import Settings, get_settings

PASSWORD = "Quiet-Harbour-Lantern-7"


def test_an_installation_hashes_at_the_standard_cost(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QMM_PASSWORD_HASH_COST", raising=False)
    get_settings.cache_clear()
    assert Settings().password_hash_cost == "standard"
    stored = extract_parameters(hash_password(PASSWORD))
    assert stored.type is Type.ID
    assert (stored.time_cost, stored.memory_cost, stored.parallelism) == (3, 65536, 4)
    assert (stored.salt_len, stored.hash_len) == (16, 32)


def test_the_test_suite_hashes_at_the_cheap_cost() -> None:
    assert get_settings().password_hash_cost == "cheap"
    stored = extract_parameters(hasher_for("cheap").hash(PASSWORD))
    assert (stored.time_cost, stored.memory_cost, stored.parallelism) == (1, 8, 1)


@pytest.mark.parametrize(
    "made_by",
    [
        pytest.param(PasswordHasher(), id="standard"),
        pytest.param(PasswordHasher(time_cost=2, memory_cost=1024, parallelism=2), id="other"),
        pytest.param(PasswordHasher(type=Type.I, memory_cost=1024), id="argon2i"),
    ],
)
def test_a_hash_of_another_cost_verifies_and_sign_in_renews_it(
    session: Session, made_by: PasswordHasher
) -> None:
    user = create_user(session, username="erin", full_name="Erin", password=PASSWORD)
    user.password_hash = made_by.hash(PASSWORD)
    assert verify_password(user.password_hash, PASSWORD)
    assert not verify_password(user.password_hash, PASSWORD + "x")
    assert needs_rehash(user.password_hash)

    authenticate(session, username="erin", password=PASSWORD)

    assert not needs_rehash(user.password_hash)
    assert extract_parameters(user.password_hash).time_cost == 1
    assert verify_password(user.password_hash, PASSWORD)
