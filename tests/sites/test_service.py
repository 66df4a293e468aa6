"""Sites: codes, identifiers and every reason a site is refused."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from factories import create_site_a
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.sites.schemas import SiteOut
from qmm.sites.service import create_site, get_site, list_sites, set_two_person_rule


class TestCreateSite:
    def test_it_registers_a_site(self, session: Session) -> None:
        create_site_a(session)
        assert SiteOut.of(get_site(session, code="SITE-A")).model_dump(mode="json") == {
            "code": "SITE-A",
            "name": "Riverside Sterile",
            "fei": "3001234567",
            "duns": None,
            "site_type": "fdf",
            "headcount": 640,
            "two_person_rule": True,
        }
        assert [s.code for s in list_sites(session)] == ["SITE-A"]

    def test_the_two_person_rule_is_on_for_a_new_site_and_can_be_turned_off(
        self, session: Session
    ) -> None:
        site = create_site_a(session)
        assert site.two_person_rule is True
        with pytest.raises(InvalidInput, match="on or off"):
            set_two_person_rule(session, site=site, on="no")  # type: ignore[arg-type]
        assert site.two_person_rule is True
        assert set_two_person_rule(session, site=site, on=False).two_person_rule is False

    def test_it_refuses_a_duplicate_code(self, session: Session) -> None:
        create_site_a(session)
        with pytest.raises(Conflict, match="already exists"):
            create_site(session, code="SITE-A", name="Again")

    def test_it_names_every_problem_at_once(self, session: Session) -> None:
        with pytest.raises(InvalidInput) as caught:
            create_site(session, code="a b", name=" ", fei="12x", site_type="bakery", headcount=0)
        message = str(caught.value)
        for fragment in (
            "site code 'a b'",
            "name must not be empty",
            "FEI '12x'",
            "site type 'bakery'",
            "headcount 0",
        ):
            assert fragment in message
        assert list_sites(session) == []

    def test_a_nul_character_in_the_name_or_duns_is_refused(self, session: Session) -> None:
        # The API takes a site's DUNS too; neither database stores a NUL character.
        with pytest.raises(InvalidInput) as caught:
            create_site(session, code="SITE-N", name="River\x00side", duns="12\x0034")
        assert "name contains a NUL character" in str(caught.value)
        assert "duns contains a NUL character" in str(caught.value)
        assert list_sites(session) == []

    def test_an_unknown_site_is_not_found(self, session: Session) -> None:
        with pytest.raises(NotFound, match="SITE-Z"):
            get_site(session, code="SITE-Z")
