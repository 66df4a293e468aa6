"""The readiness report's content: which assessment and period it reports, that each section
carries the figures of the services behind it, and that the same inputs give the same bytes."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from factories import (
    create_assessment_of,
    create_decision,
    create_evidence,
    create_scenario,
    create_site_a,
    create_site_b,
    create_trigger,
    rate_sub_elements,
)
from qmm.assessment.service import compute_scores
from qmm.auth.service import create_user, grant_role
from qmm.auth.signing import sign
from qmm.errors import InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.models import Assessment, AssessmentStatus, Site, SubElement, User
from qmm.program.continuity import plan_drill, record_drill_run, record_level
from qmm.program.decisions import sign_decision, supersede_decision
from qmm.program.plan import generate_plan
from qmm.program.steering import ActionInput
from qmm.reports.readiness import (
    DEFAULT_PERIOD_DAYS,
    build_report,
    check_period,
    choose_assessment,
)
from qmm.reports.render import check_format, render_report, report_html

PASSWORD = "correct horse battery"
AS_OF = date(2026, 11, 15)
GENERATED = datetime.combine(AS_OF, time(12, 0), UTC)
SCORES = {
    "quality_policy_objectives": 4.0,
    "management_review": 3.0,
    "quality_risk_management": 1.5,
    "data_excellence": 2.0,
    "drills_recovery": 4.5,
}


@pytest.fixture
def site(session: Session) -> Site:
    return create_site_a(session)


@pytest.fixture
def lead(session: Session, site: Site) -> User:
    user = create_user(session, username="alice", full_name="Alice Moreau", password=PASSWORD)
    grant_role(session, user=user, role="site_quality_lead", site=site)
    return user


@pytest.fixture
def store(tmp_path: Path) -> EventStore:
    return EventStore(tmp_path / "events")


@pytest.fixture
def assessment(session: Session, site: Site, lead: User) -> Assessment:
    made = create_assessment_of(session, site, lead)
    rate_sub_elements(session, made, lead, SCORES)
    create_evidence(
        session,
        site,
        title="Drill report: stopper supplier outage",
        kind="drill_report",
        sub_elements=("drills_recovery",),
    )
    return made


def build(session: Session, site: Site, store: EventStore, **overrides):
    fields = {"as_of": AS_OF, "generated_at": GENERATED, **overrides}
    return build_report(session, site=site, store=store, **fields)


def words(html: str) -> str:
    """The report's text without tags, with runs of white space as one space."""
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


class TestChoosingWhatToReport:
    def test_the_latest_closed_assessment_wins_over_a_newer_open_one(
        self, session, site, lead, assessment
    ) -> None:
        assessment.status = AssessmentStatus.closed.value
        newer = create_assessment_of(session, site, lead, title="FY27 self-assessment")
        session.flush()
        chosen = choose_assessment(session, site=site, assessment_id=None)
        assert chosen.id == assessment.id != newer.id

    def test_without_a_closed_one_the_latest_is_reported(
        self, session, site, lead, assessment
    ) -> None:
        newer = create_assessment_of(session, site, lead, title="FY27 self-assessment")
        assert choose_assessment(session, site=site, assessment_id=None).id == newer.id

    def test_an_assessment_of_another_site_is_refused_by_name(
        self, session, site, assessment
    ) -> None:
        other = create_site_b(session)
        with pytest.raises(InvalidInput, match=f"assessment {assessment.id} is of site SITE-A"):
            choose_assessment(session, site=other, assessment_id=assessment.id)

    def test_a_site_without_an_assessment_is_told_how_to_start_one(self, session, site) -> None:
        with pytest.raises(NotFound, match="qmm assess create"):
            choose_assessment(session, site=site, assessment_id=None)

    def test_the_period_is_a_year_back_unless_asked(self) -> None:
        assert check_period(AS_OF, None, today=AS_OF) == date(2025, 11, 15)
        assert (AS_OF - check_period(AS_OF, None, today=AS_OF)).days == DEFAULT_PERIOD_DAYS
        assert check_period(AS_OF, date(2026, 1, 1), today=AS_OF) == date(2026, 1, 1)

    def test_a_period_starting_after_the_report_date_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="2026-12-01 is after the report date 2026-11-15"):
            check_period(AS_OF, date(2026, 12, 1), today=AS_OF)

    def test_a_report_dated_in_the_future_is_refused(self) -> None:
        with pytest.raises(InvalidInput, match="after today"):
            check_period(date(2026, 11, 16), None, today=AS_OF)

    def test_an_unknown_format_is_refused_naming_both(self) -> None:
        assert check_format("pdf") == "pdf"
        with pytest.raises(InvalidInput, match="'docx' is not one of html, pdf"):
            check_format("docx")


class TestContent:
    def test_scores_and_findings_are_the_assessments(
        self, session, site, store, assessment
    ) -> None:
        report = build(session, site, store)
        scores = compute_scores(session, assessment=assessment)
        assert report.scores.to_json() == scores.to_json()
        assert report.opportunities[0].score.code == "quality_risk_management"
        strongest = report.strengths[0]
        assert strongest.score.code == "drills_recovery"
        assert [e.title for e in strongest.evidence] == ["Drill report: stopper supplier outage"]
        html = words(report_html(report))
        assert "Quality Risk Management (Advanced Pharmaceutical Quality System): 1.50" in html
        assert "SOP-QA-031" in html

    def test_not_every_area_scored_means_no_cohort_placement_and_says_so(
        self, session, site, store, assessment
    ) -> None:
        report = build(session, site, store)
        assert report.placement is None
        assert "is not placed against the FDA 2024 cohort" in report.summary[0]
        assert "not placed" in report_html(report)

    def test_a_fully_scored_site_is_placed_with_the_small_cohort_caveat(
        self, session, site, store, assessment, lead
    ) -> None:
        codes = session.scalars(
            select(SubElement.code).where(SubElement.framework_id == assessment.framework_id)
        ).all()
        rate_sub_elements(session, assessment, lead, dict.fromkeys(codes, 3.0))
        report = build(session, site, store)
        assert report.placement is not None
        assert report.overall == pytest.approx(3.0)
        assert report.summary[0].startswith(
            f"In FY26 self-assessment (still open) SITE-A scored 3.00 of 5 overall, placing it "
            f"{report.placement.overall.rank} of 10"
        )
        assert "100/9 = 11.1 points" in words(report_html(report))

    def test_evidence_gaps_are_counted_as_the_coverage_service_counts_them(
        self, session, site, store, assessment
    ) -> None:
        report = build(session, site, store)
        gaps = report.coverage.sub_elements_without_evidence
        assert report.coverage.sub_element_count - len(gaps) == 1
        assert any(
            f"{len(gaps)} of {report.coverage.sub_element_count} sub-elements have no current "
            "evidence" in line
            for line in report.summary
        )

    def test_no_extracts_means_no_kpis_and_the_report_says_what_to_import(
        self, session, site, store, assessment
    ) -> None:
        report = build(session, site, store)
        assert report.kpis == ()
        assert "no KPI can be reported" in words(report_html(report))

    def test_a_report_dated_within_a_month_calls_that_month_provisional(
        self, session, site, store, assessment
    ) -> None:
        assert build(session, site, store).partial_month == "2026-11"
        month_end = build(session, site, store, as_of=date(2026, 10, 31))
        assert month_end.partial_month is None

    def test_decisions_of_the_period_only_with_status_and_supersession(
        self, session, site, store, assessment, lead
    ) -> None:
        create_decision(session, site, title="Too old", decided_on=date(2025, 6, 1))
        first = create_decision(session, site, title="Hold the lot", decided_on=date(2026, 3, 1))
        sign_decision(session, decision=first, user=lead, password=PASSWORD)
        second = supersede_decision(
            session,
            decision=first,
            changes={"title": "Release the lot after closure", "decided_on": date(2026, 4, 1)},
        )
        sign_decision(session, decision=second, user=lead, password=PASSWORD)
        report = build(session, site, store)
        assert [(r.decision.title, r.status) for r in report.decisions] == [
            ("Hold the lot", "superseded"),
            ("Release the lot after closure", "signed"),
        ]
        html = words(report_html(report))
        assert "Too old" not in html
        assert f"supersedes {first.ref}" in html
        assert "Leadership logged 2 decisions in the period, 2 signed" in " ".join(report.summary)

    def test_signatures_print_the_hash_they_bind(
        self, session, site, store, assessment, lead
    ) -> None:
        decision = create_decision(session, site, decided_on=date(2026, 10, 5))
        sign_decision(session, decision=decision, user=lead, password=PASSWORD)
        report = build(session, site, store)
        (signed,) = report.signed
        assert (signed.kind, signed.ref) == ("decision", decision.ref)
        (signature,) = signed.signatures
        assert signature.valid
        assert signature.record_hash == signed.current_hash
        assert signed.current_hash in report_html(report)

    def test_a_record_changed_after_signing_shows_its_signature_invalid(
        self, session, site, store, assessment, lead
    ) -> None:
        sign(
            session,
            user=lead,
            password=PASSWORD,
            meaning="reviewed",
            record_type="assessment",
            record_id=str(assessment.id),
        )
        assert build(session, site, store).signed[0].signatures[0].valid
        rate_sub_elements(session, assessment, lead, {"management_review": 5.0})
        changed = build(session, site, store)
        (signed,) = changed.signed
        assert signed.signatures[0].valid is False
        assert signed.signatures[0].record_hash != signed.current_hash
        assert "INVALID: the record changed after signing" in report_html(changed)

    def test_drills_breaches_and_their_actions_are_reported(
        self, session, site, store, assessment
    ) -> None:
        scenario = create_scenario(session, site)
        trigger = create_trigger(session, site)
        record_level(session, trigger=trigger, level=12000, recorded_on=date(2026, 11, 1))
        drill = plan_drill(session, site=site, scenario=scenario, planned_on=date(2026, 10, 1))
        record_drill_run(
            session,
            drill=drill,
            run_on=date(2026, 10, 2),
            achieved_hours=96,
            lessons="Call-off took two days.",
            actions=[ActionInput("Pre-approve the call-off", "Supply Lead", date(2026, 12, 1))],
        )
        report = build(session, site, store)
        assert [(d.scenario, d.state) for d in report.drills] == [
            ("Stopper supplier outage", "missed")
        ]
        assert [t.material for t in report.breaches] == ["20 mm bromobutyl stoppers"]
        html = words(report_html(report))
        assert "Pre-approve the call-off (Supply Lead, due 2026-12-01, open)" in html
        assert "1 continuity drills were run in the period, 0 within their recovery-time" in (
            " ".join(report.summary)
        )

    def test_the_plan_reports_its_day_and_progress(self, session, site, store, assessment) -> None:
        plan = generate_plan(
            session,
            assessment=assessment,
            store=store,
            owner="Alice Moreau",
            start_on=date(2026, 10, 1),
            today=date(2026, 10, 1),
        )
        report = build(session, site, store)
        assert report.plan is not None
        assert report.plan.plan.id == plan.id
        assert report.plan.progress.day == 46
        assert f"Readiness plan {plan.ref} (draft) is on day 46 of 90" in " ".join(report.summary)

    def test_the_methodology_prints_every_kpi_formula_and_the_rollup_rule(
        self, session, site, store, assessment
    ) -> None:
        report = build(session, site, store)
        html = report_html(report)
        for definition in report.kpi_catalogue:
            assert definition.id in html
        assert report.scores.rule.describe() in html
        assert "FDA does not publish an overall QMM score" in html


class TestReproducible:
    def test_the_same_inputs_give_the_same_bytes(self, session, site, store, assessment) -> None:
        first = render_report(build(session, site, store), "html")
        second = render_report(build(session, site, store), "html")
        assert first == second

    def test_only_the_generation_time_differs_between_runs(
        self, session, site, store, assessment
    ) -> None:
        early = render_report(build(session, site, store), "html").decode()
        later = render_report(
            build(session, site, store, generated_at=datetime(2026, 11, 15, 18, 30, tzinfo=UTC)),
            "html",
        ).decode()
        assert early != later
        stamp = re.compile(r"2026-11-15(T| )\d\d:\d\d:\d\d( UTC|Z)")
        assert stamp.sub("TIME", early) == stamp.sub("TIME", later)
