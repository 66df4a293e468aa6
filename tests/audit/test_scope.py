"""An audited record's site and assessment are found for its history page, whatever id is typed."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session

from factories import create_alice, create_assessment_of, create_site_a
from qmm.audit.scope import audit_scope, record_label
from qmm.errors import NotFound

NOT_IDS = ["²", "٣", "99999999999999999999", str(2**63), "", "-1", "1.0"]


class TestAuditScope:
    def test_a_site_is_its_own_scope(self, session: Session) -> None:
        site = create_site_a(session)
        assert audit_scope(session, table="sites", record_id=str(site.id)) == (site, None)

    def test_an_assessment_scopes_to_its_site_and_itself(self, session: Session) -> None:
        site = create_site_a(session)
        assessment = create_assessment_of(session, site, create_alice(session))
        found = audit_scope(session, table="assessments", record_id=str(assessment.id))
        assert found == (site, assessment)

    def test_a_table_outside_the_trail_is_not_found_by_name(self, session: Session) -> None:
        with pytest.raises(NotFound, match="no audited table 'secrets'"):
            audit_scope(session, table="secrets", record_id="1")

    @pytest.mark.parametrize("record_id", NOT_IDS)
    def test_an_id_that_is_not_a_database_integer_has_no_scope(
        self, session: Session, record_id: str
    ) -> None:
        create_site_a(session)
        assert audit_scope(session, table="sites", record_id=record_id) == (None, None)


class TestRecordLabel:
    def test_a_site_is_named_by_code_and_name(self, session: Session) -> None:
        site = create_site_a(session)
        label = record_label(session, table="sites", record_id=str(site.id))
        assert label == f"site {site.code} ({site.name})"

    @pytest.mark.parametrize("record_id", NOT_IDS)
    def test_an_id_that_is_not_a_database_integer_is_shown_as_typed(
        self, session: Session, record_id: str
    ) -> None:
        assert record_label(session, table="sites", record_id=record_id) == f"sites #{record_id}"
