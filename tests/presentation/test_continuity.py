"""Continuity as people read it: what needs attention comes first, and amounts read naturally."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from sqlalchemy.orm import Session

from factories import create_site_a, create_trigger
from qmm.events.store import EventStore
from qmm.presentation.continuity import amount, continuity_view
from qmm.program.continuity import record_level


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "none"), (95000, "95,000"), (1.5, "1.5"), (20000.0, "20,000"), (1234.5678, "1,234.57")],
)
def test_an_amount_reads_as_people_write_it(value: float | None, shown: str) -> None:
    assert amount(value) == shown


def test_a_breached_trigger_comes_first_with_its_state_in_words(
    session: Session, tmp_path: Path
) -> None:
    site = create_site_a(session)
    fine = create_trigger(session, site, material="vials")
    short = create_trigger(session, site, material="stoppers")
    record_level(session, trigger=fine, level=30000, recorded_on=date(2026, 10, 1))
    record_level(session, trigger=short, level=500, recorded_on=date(2026, 10, 1))
    view = continuity_view(session, site, date(2026, 10, 2), EventStore(tmp_path / "events"))
    assert [t.trigger.material for t in view.triggers] == ["stoppers", "vials"]
    assert [t.trigger.material for t in view.breached] == ["stoppers"]
    assert view.triggers[0].mark.label == "BREACH: below the minimum"
    assert view.triggers[0].mark.icon == "⚠"
