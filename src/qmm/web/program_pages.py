"""The program overview in the web app: objectives against their KPIs, the steering cadence,
the stop-and-fix forum, engagement and the readiness plan; with program:manage, forms to
publish an objective, record a held meeting, raise and remove a roadblock."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any, Final

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.errors import Conflict, InvalidFields, InvalidInput
from qmm.events.store import EventStore
from qmm.metrics.catalogue import KPIS
from qmm.models import Site, utcnow
from qmm.presentation.program import overview
from qmm.program.forum import (
    get_forum_item,
    raise_roadblock,
    remove_roadblock,
)
from qmm.program.objectives import (
    PERIODS,
    add_objective,
    get_objective,
    list_objectives,
    retire_objective,
)
from qmm.program.steering import (
    get_meeting,
    hold_meeting,
    set_up_cadence,
)
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import sentences
from qmm.web.forms import (
    Converted,
    Day,
    Handling,
    Lines,
    Number,
    ProgramForms,
    Refs,
    TextOrNone,
    WebForm,
    find_id,
    linked_record,
    submit,
)
from qmm.web.security import Principal, SiteRead
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

DONE: Final = {
    "objective": "The objective was published.",
    "retired": "The objective was retired, with the objectives cascaded from it.",
    "cadence": "The steering cadence was set up and its first meeting planned.",
    "meeting": "The meeting was recorded; its minutes are filed in the evidence index.",
    "raised": "The roadblock was raised at the forum.",
    "removed": "The roadblock was recorded as removed.",
}


def _target(text: str) -> float | str | None:
    """A target as typed: a percentage becomes a fraction; what does not parse goes on as text."""
    text = text.strip()
    if not text:
        return None
    try:
        return float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        return text


Target = Annotated[str, Converted(_target)]


def _page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    store: EventStore,
    *,
    done: str | None = None,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    today = utcnow().date()
    parents = [p for p, _ in list_objectives(db, site=site)]
    return render(
        request,
        "program.html",
        principal=principal,
        title=f"Program of {site.code}",
        site=site,
        today=today,
        view=overview(db, site, today, store, reader=principal),
        done=DONE.get(done or ""),
        form=form,
        values=values or {},
        errors=sentences(errors or {}),
        kpis=KPIS,
        periods=PERIODS,
        parents=parents,
        can_manage=principal.may(db, Permission.program_manage, site=site),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
        status_code=status_code,
    )


@router.get("/sites/{code}/program")
def program_page(
    request: Request, code: str, access: SiteRead, db: DB, store: Store, done: str | None = None
) -> Response:
    """Where the program stands: objectives, steering, forum, engagement, the 90-day plan."""
    assert access.site is not None
    return _page(request, db, access.who, access.site, store, done=done)


def _submit(
    page: Handling,
    form: WebForm,
    *,
    name: str,
    save: Callable[[dict[str, Any]], object],
    done: str,
    anchor: str,
    problems: Mapping[str, str] | None = None,
    typed: Mapping[str, str] | None = None,
) -> Response:
    """Submit one of the page's forms; on a problem the page shows again with it open."""
    site = page.site
    return submit(
        form,
        store=save,
        then=lambda _: f"/sites/{site.code}/program?done={done}#{anchor}",
        again=lambda values, errors: _page(
            page.request,
            page.db,
            page.who,
            site,
            page.store,
            form=name,
            values=values,
            errors={f"{name}-{k}": v for k, v in errors.items()},
            status_code=422,
        ),
        problems=problems,
        typed=typed,
    )


class ObjectiveForm(WebForm):
    """A site-wide objective measured by a KPI, or one cascaded to a role."""

    title: str = ""
    owner: str = ""
    published_on: Day = ""
    kpi: TextOrNone = ""
    kpi_group: TextOrNone = ""
    target: Target = ""
    period: str = "quarter"
    parent: str = ""
    role: TextOrNone = ""
    what_good_looks_like: str = ""


class RetireForm(WebForm):
    """The day an objective stops counting."""

    retired_on: Day = ""


class CadenceForm(WebForm):
    """A steering forum: its name, who chairs it, how often it meets, and its first meeting."""

    name: str = ""
    chair: str = ""
    cadence_days: Number = ""
    first_meeting_on: Day = ""


class MeetingForm(WebForm):
    """What a held steering meeting recorded: who came, the agenda, minutes, decisions."""

    held_on: Day = ""
    attendees: Lines = ""
    agenda: Lines = ""
    minutes: str = ""
    decision_refs: Refs = ""


class RoadblockForm(WebForm):
    """A roadblock raised at the stop-and-fix forum and the leader who owns removing it."""

    roadblock: str = ""
    raised_by: str = ""
    raised_on: Day = ""
    owner: str = ""


class RemovalForm(WebForm):
    """When and how a roadblock was removed."""

    removed_on: Day = ""
    resolution: str = ""


@router.post("/sites/{code}/program/objectives")
def objective_add(
    code: str,
    page: ProgramForms,
    form: Annotated[ObjectiveForm, Form()],
) -> Response:
    """Publish a site-wide objective measured by a KPI, or cascade one to a role."""
    site = page.site
    problems: dict[str, str] = {}
    parent = linked_record(
        form,
        "parent",
        problems,
        what="objective",
        site=site,
        get=lambda found: get_objective(page.db, site=site, objective_id=found),
    )
    return _submit(
        page,
        form,
        name="objective",
        save=lambda fields: add_objective(page.db, site=site, **{**fields, "parent": parent}),
        done="objective",
        anchor="objectives",
        problems=problems,
    )


@router.post("/sites/{code}/program/meetings/{meeting_id}/hold")
def meeting_hold(
    code: str,
    meeting_id: str,
    page: ProgramForms,
    form: Annotated[MeetingForm, Form()],
) -> Response:
    """Record that a planned steering meeting was held; its minutes become evidence."""
    site = page.site
    meeting = get_meeting(
        page.db, site=site, meeting_id=find_id(meeting_id, what="steering meeting", site=site)
    )
    return _submit(
        page,
        form,
        name=f"meeting-{meeting.id}",
        save=lambda fields: hold_meeting(page.db, meeting=meeting, **fields),
        done="meeting",
        anchor="steering",
        typed={"meeting": meeting_id},
    )


@router.post("/sites/{code}/program/forum")
def roadblock_raise(
    code: str,
    page: ProgramForms,
    form: Annotated[RoadblockForm, Form()],
) -> Response:
    """Raise a roadblock at the stop-and-fix forum, with the leader who owns removing it."""
    site = page.site
    return _submit(
        page,
        form,
        name="roadblock",
        save=lambda fields: raise_roadblock(page.db, site=site, **fields),
        done="raised",
        anchor="forum",
    )


@router.post("/sites/{code}/program/forum/{item_id}/remove")
def roadblock_remove(
    code: str,
    item_id: str,
    page: ProgramForms,
    form: Annotated[RemovalForm, Form()],
) -> Response:
    """Record that a roadblock was removed, when and how."""
    site = page.site
    item = get_forum_item(
        page.db, site=site, item_id=find_id(item_id, what="forum item", site=site)
    )
    return _submit(
        page,
        form,
        name=f"remove-{item.id}",
        save=lambda fields: remove_roadblock(page.db, item=item, **fields),
        done="removed",
        anchor="forum",
    )


@router.post("/sites/{code}/program/objectives/{objective_id}/retire")
def objective_retire(
    code: str,
    objective_id: str,
    page: ProgramForms,
    form: Annotated[RetireForm, Form()],
) -> Response:
    """Retire an objective and the objectives cascaded from it, as `qmm objectives retire`."""
    site = page.site
    objective = get_objective(
        page.db, site=site, objective_id=find_id(objective_id, what="objective", site=site)
    )

    def save(fields: dict[str, Any]) -> object:
        day = fields["retired_on"]
        if not isinstance(day, date):
            shown = f"{day!r} is not a date; use YYYY-MM-DD" if day else "give the day it ends"
            raise InvalidFields({"retired_on": shown})
        try:
            retire_objective(page.db, objective=objective, on=day)
        except (InvalidInput, Conflict) as exc:
            raise InvalidFields({"retired_on": str(exc)}) from None
        return objective

    return _submit(
        page,
        form,
        name=f"retire-{objective.id}",
        save=save,
        done="retired",
        anchor="objectives",
    )


@router.post("/sites/{code}/program/cadences")
def cadence_set_up(
    code: str,
    page: ProgramForms,
    form: Annotated[CadenceForm, Form()],
) -> Response:
    """Stand up a steering forum and plan its first meeting, as `qmm steering cadence` does."""
    site = page.site
    return _submit(
        page,
        form,
        name="cadence",
        save=lambda fields: set_up_cadence(page.db, site=site, **fields),
        done="cadence",
        anchor="steering",
    )
