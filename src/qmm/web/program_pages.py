"""The program overview in the web app: objectives against their KPIs, the steering cadence,
the stop-and-fix forum, engagement and the readiness plan; with program:manage, forms to
publish an objective, record a held meeting, raise and remove a roadblock."""

from __future__ import annotations

from typing import Any, Final, cast

from fastapi import Request
from fastapi.responses import RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.errors import NotFound
from qmm.events.store import EventStore
from qmm.metrics.catalogue import KPIS
from qmm.models import QualityObjective, Site, utcnow
from qmm.presentation.program import overview
from qmm.program.common import InvalidProgramInput
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
)
from qmm.program.steering import (
    get_meeting,
    hold_meeting,
)
from qmm.web.deps import DB, Store
from qmm.web.evidence_pages import parse_refs, sentences
from qmm.web.form_values import FormText, form_day, form_lines, nul_problems
from qmm.web.security import Principal, ProgramManage, SiteRead
from qmm.web.templating import render

DONE: Final = {
    "objective": "The objective was published.",
    "meeting": "The meeting was recorded; its minutes are filed in the evidence index.",
    "raised": "The roadblock was raised at the forum.",
    "removed": "The roadblock was recorded as removed.",
}


def _number(text: str) -> float | str | None:
    text = text.strip()
    if not text:
        return None
    try:
        return float(text.rstrip("%")) / (100 if text.endswith("%") else 1)
    except ValueError:
        return text


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


def program_page(
    request: Request, code: str, access: SiteRead, db: DB, store: Store, done: str | None = None
) -> Response:
    """Where the program stands: objectives, steering, forum, engagement, the 90-day plan."""
    assert access.site is not None
    return _page(request, db, access.who, access.site, store, done=done)


def _after(site: Site, done: str, anchor: str) -> Response:
    return RedirectResponse(f"/sites/{site.code}/program?done={done}#{anchor}", status_code=303)


def objective_add(
    request: Request,
    code: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    title: FormText = "",
    owner: FormText = "",
    published_on: FormText = "",
    kpi: FormText = "",
    kpi_group: FormText = "",
    target: FormText = "",
    period: FormText = "quarter",
    parent: FormText = "",
    role: FormText = "",
    what_good_looks_like: FormText = "",
) -> Response:
    """Publish a site-wide objective measured by a KPI, or cascade one to a role."""
    site = access.site
    assert site is not None
    typed = {
        "title": title,
        "owner": owner,
        "published_on": published_on,
        "kpi": kpi,
        "kpi_group": kpi_group,
        "target": target,
        "period": period,
        "parent": parent,
        "role": role,
        "what_good_looks_like": what_good_looks_like,
    }
    problems = nul_problems(typed)
    parent_objective: QualityObjective | None = None
    if parent.strip() and "parent" not in problems:
        try:
            if not parent.strip().isdigit():
                raise NotFound(f"no objective {parent!r}")
            parent_objective = get_objective(db, site=site, objective_id=int(parent))
        except NotFound as exc:
            problems["parent"] = str(exc)
    number = _number(target)  # what does not parse goes to the service, which says why
    if not problems:
        try:
            add_objective(
                db,
                site=site,
                title=title,
                owner=owner,
                published_on=cast(Any, form_day(published_on)),
                kpi=kpi.strip() or None,
                target=cast(Any, number),
                kpi_group=kpi_group.strip() or None,
                period=period,
                role=role.strip() or None,
                what_good_looks_like=what_good_looks_like,
                parent=parent_objective,
            )
        except InvalidProgramInput as exc:
            problems = exc.problems
        else:
            return _after(site, "objective", "objectives")
    return _page(
        request,
        db,
        access.who,
        site,
        store,
        form="objective",
        values=typed,
        errors={f"objective-{k}": v for k, v in problems.items()},
        status_code=422,
    )


def meeting_hold(
    request: Request,
    code: str,
    meeting_id: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    held_on: FormText = "",
    attendees: FormText = "",
    agenda: FormText = "",
    minutes: FormText = "",
    decision_refs: FormText = "",
) -> Response:
    """Record that a planned steering meeting was held; its minutes become evidence."""
    site = access.site
    assert site is not None
    if not meeting_id.isdigit():
        raise NotFound(f"no steering meeting {meeting_id!r} at {site.code}")
    meeting = get_meeting(db, site=site, meeting_id=int(meeting_id))
    typed = {
        "meeting": meeting_id,
        "held_on": held_on,
        "attendees": attendees,
        "agenda": agenda,
        "minutes": minutes,
        "decision_refs": decision_refs,
    }
    problems = nul_problems(typed)
    if not problems:
        try:
            hold_meeting(
                db,
                meeting=meeting,
                held_on=cast(Any, form_day(held_on)),
                attendees=form_lines(attendees),
                agenda=form_lines(agenda),
                minutes=minutes,
                decision_refs=parse_refs(None, decision_refs),
            )
        except InvalidProgramInput as exc:
            problems = exc.problems
        else:
            return _after(site, "meeting", "steering")
    return _page(
        request,
        db,
        access.who,
        site,
        store,
        form=f"meeting-{meeting.id}",
        values=typed,
        errors={f"meeting-{meeting.id}-{k}": v for k, v in problems.items()},
        status_code=422,
    )


def roadblock_raise(
    request: Request,
    code: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    roadblock: FormText = "",
    raised_by: FormText = "",
    raised_on: FormText = "",
    owner: FormText = "",
) -> Response:
    """Raise a roadblock at the stop-and-fix forum, with the leader who owns removing it."""
    site = access.site
    assert site is not None
    typed = {"roadblock": roadblock, "raised_by": raised_by, "raised_on": raised_on, "owner": owner}
    problems = nul_problems(typed)
    if not problems:
        try:
            raise_roadblock(
                db,
                site=site,
                roadblock=roadblock,
                raised_by=raised_by,
                raised_on=cast(Any, form_day(raised_on)),
                owner=owner,
            )
        except InvalidProgramInput as exc:
            problems = exc.problems
        else:
            return _after(site, "raised", "forum")
    return _page(
        request,
        db,
        access.who,
        site,
        store,
        form="roadblock",
        values=typed,
        errors={f"roadblock-{k}": v for k, v in problems.items()},
        status_code=422,
    )


def roadblock_remove(
    request: Request,
    code: str,
    item_id: str,
    access: ProgramManage,
    db: DB,
    store: Store,
    removed_on: FormText = "",
    resolution: FormText = "",
) -> Response:
    """Record that a roadblock was removed, when and how."""
    site = access.site
    assert site is not None
    if not item_id.isdigit():
        raise NotFound(f"no forum item {item_id!r} at {site.code}")
    item = get_forum_item(db, site=site, item_id=int(item_id))
    typed = {"removed_on": removed_on, "resolution": resolution}
    problems = nul_problems(typed)
    if not problems:
        try:
            remove_roadblock(
                db, item=item, removed_on=cast(Any, form_day(removed_on)), resolution=resolution
            )
        except InvalidProgramInput as exc:
            problems = exc.problems
        else:
            return _after(site, "removed", "forum")
    return _page(
        request,
        db,
        access.who,
        site,
        store,
        form=f"remove-{item.id}",
        values=typed,
        errors={f"remove-{item.id}-{k}": v for k, v in problems.items()},
        status_code=422,
    )
