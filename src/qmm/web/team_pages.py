"""Start an assessment of a site and keep its team in the browser, through the same services as
`qmm assess create`: whoever manages assessments at the site picks the framework, the lead and
the assessors from the people who may rate there."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.assessment.service import add_member, create_assessment, remove_member
from qmm.auth.permissions import Permission
from qmm.auth.scope import team_candidates
from qmm.framework.service import DEFAULT_FRAMEWORK_CODE, list_frameworks
from qmm.models import Assessment, Framework, FrameworkStatus, Site, TeamRole, User, utcnow
from qmm.web.assessment_pages import assessment_workspace
from qmm.web.deps import DB
from qmm.web.forms import Day, Picked, WebForm, on_field, submit
from qmm.web.security import Access, Principal, require
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

KINDS: Final = {
    "self": "Self-assessment by the site's own team",
    "mock": "Mock inspection by colleagues from elsewhere",
    "external": "External assessment by an outside assessor",
}
TEAM_ROLES: Final = tuple(r.value for r in TeamRole)

AssessmentManage = Annotated[Access, Depends(require(Permission.assessment_manage, site="code"))]
TeamManage = Annotated[
    Access, Depends(require(Permission.assessment_manage, assessment="assessment_id"))
]


def usable_frameworks(db: Session, site: Site) -> list[Framework]:
    """Published framework versions an assessment of this site may pin, newest first."""
    return sorted(
        (
            f
            for f in list_frameworks(db)
            if f.status == FrameworkStatus.published.value and f.site_id in (None, site.id)
        ),
        key=lambda f: (f.code != DEFAULT_FRAMEWORK_CODE, f.code, -f.version),
    )


class AssessmentForm(WebForm):
    """A new assessment as its form sends it: what, with which framework, and who rates."""

    title: str = ""
    kind: str = "self"
    framework: str = ""
    lead: str = ""
    assessors: Picked
    started_on: Day = ""


def _new_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    frameworks = usable_frameworks(db, site)
    return render(
        request,
        "assessment_new.html",
        principal=principal,
        title=f"New assessment of {site.code}",
        site=site,
        values=values
        or {
            "kind": "self",
            "framework": frameworks[0].ref if frameworks else "",
            "lead": principal.user.username,
            "assessors": [],
            "started_on": utcnow().date().isoformat(),
        },
        errors={f"assessment-{k}": v for k, v in (errors or {}).items()},
        frameworks=frameworks,
        kinds=KINDS,
        candidates=team_candidates(db, site=site),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
        status_code=status_code,
    )


@router.get("/sites/{code}/assessments/new")
def new_assessment_page(request: Request, code: str, access: AssessmentManage, db: DB) -> Response:
    """The form that starts an assessment of the site."""
    assert access.site is not None
    return _new_page(request, db, access.who, access.site)


@router.post("/sites/{code}/assessments")
def assessment_create(
    request: Request,
    code: str,
    access: AssessmentManage,
    db: DB,
    form: Annotated[AssessmentForm, Form()],
) -> Response:
    """Create the assessment with its lead and assessors, then open its workspace."""
    site = access.site
    assert site is not None
    problems: dict[str, str] = {}
    if not form.title.strip():
        problems["title"] = "Give the assessment a title, e.g. FY27 self-assessment."
    if form.kind not in KINDS:
        problems["kind"] = f"Choose the kind of assessment: {', '.join(KINDS)}."
    framework = next((f for f in usable_frameworks(db, site) if f.ref == form.framework), None)
    if framework is None:
        problems["framework"] = "Choose a published framework version to assess against."
    people = {u.username: u for u in team_candidates(db, site=site)}
    lead = people.get(form.lead.strip())
    if lead is None:
        problems["lead"] = f"Choose the lead from the people who may rate at {site.code}."
    unknown = [name for name in form.assessors if name not in people]
    if unknown:
        problems["assessors"] = (
            f"{', '.join(unknown)} may not rate at {site.code}; choose from the list."
        )
    started_on = form.service_fields()["started_on"]
    if isinstance(started_on, str):
        problems["started_on"] = f"{started_on!r} is not a date; use YYYY-MM-DD."

    def store(fields: dict[str, Any]) -> Assessment:
        assert framework is not None
        assert lead is not None
        return on_field(
            "title",
            lambda: create_assessment(
                db,
                site=site,
                framework=framework,
                kind=fields["kind"],
                title=fields["title"],
                lead=lead,
                assessors=[people[name] for name in fields["assessors"]],
                started_on=fields["started_on"],
            ),
        )

    return submit(
        form,
        store=store,
        then=lambda made: f"/assessments/{made.id}?done=created#team",
        again=lambda values, errors: _new_page(
            request, db, access.who, site, values=values, errors=errors, status_code=422
        ),
        problems=problems,
    )


class MemberForm(WebForm):
    """A person to put on the team, or take off it, and their role on it."""

    username: str = ""
    role: str = "assessor"


def _team_submit(
    request: Request,
    db: Session,
    access: Access,
    form: MemberForm,
    *,
    name: str,
    change: Callable[[User], object],
    people: dict[str, User],
    done: str,
    problems: dict[str, str] | None = None,
) -> Response:
    """Change the team and show the workspace at its team, or show the problem beside the form."""
    assessment = access.assessment
    assert assessment is not None
    person = people.get(form.username.strip())
    problems = dict(problems or {})
    if person is None:
        problems["username"] = "Choose a person from the list."
    return submit(
        form,
        store=lambda _: on_field("username", lambda: change(person) if person else None),
        then=lambda _: f"/assessments/{assessment.id}?done={done}#team",
        again=lambda values, errors: assessment_workspace(
            request,
            db,
            access.who,
            assessment,
            team_form=name,
            team_values=values,
            team_errors={f"team-{k}": v for k, v in errors.items()},
            status_code=422,
        ),
        problems=problems,
    )


@router.post("/assessments/{assessment_id}/team")
def team_add(
    request: Request,
    assessment_id: str,
    access: TeamManage,
    db: DB,
    form: Annotated[MemberForm, Form()],
) -> Response:
    """Put a person who may rate at the site on the assessment's team."""
    assessment = access.assessment
    assert assessment is not None
    return _team_submit(
        request,
        db,
        access,
        form,
        name="add",
        change=lambda user: add_member(db, assessment=assessment, user=user, role=form.role),
        people={u.username: u for u in team_candidates(db, site=assessment.site)},
        done="member-added",
        problems={} if form.role in TEAM_ROLES else {"role": "Choose lead or assessor."},
    )


@router.post("/assessments/{assessment_id}/team/remove")
def team_remove(
    request: Request,
    assessment_id: str,
    access: TeamManage,
    db: DB,
    form: Annotated[MemberForm, Form()],
) -> Response:
    """Take a person who has not rated off the assessment's team."""
    assessment = access.assessment
    assert assessment is not None
    return _team_submit(
        request,
        db,
        access,
        form,
        name="remove",
        change=lambda user: remove_member(db, assessment=assessment, user=user),
        people={m.user.username: m.user for m in assessment.team},
        done="member-removed",
    )
