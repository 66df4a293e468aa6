"""The evidence index in the web app: browse by sub-element, open, download, and (with
evidence:manage) add, edit, map, attach and retire items. Each view parses, calls the evidence
service, renders; the request commits."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Annotated, Any, Final
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, Query, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.errors import Conflict, InvalidInput, NotFound
from qmm.evidence.files import (
    ACCEPTED,
    DAMAGED,
    StoredFileDamaged,
    StoredFileMissing,
    read_blob,
)
from qmm.evidence.service import (
    KINDS,
    SUPPORT_NEEDED_FROM,
    EvidenceCoverage,
    PracticeAreaEvidence,
    SubElementEvidence,
    add_evidence,
    attach_file,
    citations_of,
    coverage,
    evidence_by_sub_element,
    get_evidence,
    known_sub_element_codes,
    list_evidence,
    map_evidence,
    normal_ref,
    retire_evidence,
    review_overdue,
    site_framework,
    update_evidence,
)
from qmm.models import (
    Assessment,
    EvidenceFile,
    EvidenceItem,
    Framework,
    Site,
    utcnow,
)
from qmm.presentation.maturity import shown_assessment
from qmm.presentation.paging import Page, page_of
from qmm.search.service import ranked_ids
from qmm.text_rules import has_nul, nul_message
from qmm.threads.schemas import cited_thread
from qmm.web.deps import DB
from qmm.web.forms import Day, Picked, TextOrNone, WebForm, submit
from qmm.web.security import Access, Principal, SiteRead, require
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

logger = logging.getLogger("qmm.web")

Manage = Annotated[Access, Depends(require(Permission.evidence_manage, site="code"))]
REF_PATTERN: Final = re.compile(r"EV-\d{1,12}")
KIND_LABELS: Final = {
    kind: "SOP" if kind == "sop" else kind.replace("_", " ").capitalize() for kind in KINDS
}
TEXT_FIELDS: Final = ("title", "owner", "link", "eqms_id", "description")
DONE: Final = {
    "added": "was added to the index",
    "updated": "was updated",
    "mapped": "now supports the sub-elements below",
    "attached": "has the new file attached",
    "retired": "was retired; it stays readable here but has left the current index",
}
_FORM_SPLIT = re.compile(r"[,;\n]+")


# --- shared pieces -------------------------------------------------------------------------


def find_item(db: Session, site: Site, ref: str) -> EvidenceItem:
    """The site's item by ref; anything not shaped like EV-nnnn is simply not found."""
    if not REF_PATTERN.fullmatch(normal_ref(ref)):
        raise NotFound(f"no evidence item {ref!r} at {site.code}; refs look like EV-0001")
    return get_evidence(db, site=site, ref=ref)


def find_file(item: EvidenceItem, file_id: str) -> EvidenceFile:
    """One file of this item; a file of another item or site is not found."""
    found = next((f for f in item.files if str(f.id) == file_id), None)
    if found is None:
        raise NotFound(f"{item.ref} has no file {file_id!r}")
    return found


def download_name(filename: str) -> str:
    """A Content-Disposition value that no file name can break out of (RFC 6266 / 5987)."""
    ascii_name = "".join(
        c if 0x20 <= ord(c) < 0x7F and c not in '"\\;' else "_" for c in filename
    ).strip()
    return f"attachment; filename=\"{ascii_name or 'evidence'}\"; filename*=UTF-8''" + quote(
        filename, safe=""
    )


@dataclass(frozen=True)
class SubElementChoice:
    """A sub-element offered in a form, with the practice area it sits in."""

    code: str
    name: str


@dataclass(frozen=True)
class ChoiceGroup:
    """The sub-elements of one practice area, for a fieldset of checkboxes."""

    name: str
    choices: tuple[SubElementChoice, ...]


def sub_element_groups(framework: Framework, keep: Iterable[str] = ()) -> list[ChoiceGroup]:
    """Sub-elements by practice area; codes mapped outside this framework are kept at the end."""
    groups = [
        ChoiceGroup(
            name=pa.name,
            choices=tuple(SubElementChoice(se.code, se.name) for se in pa.sub_elements),
        )
        for pa in framework.practice_areas
    ]
    shown = {c.code for g in groups for c in g.choices}
    others = sorted(set(keep) - shown)
    if others:
        groups.append(
            ChoiceGroup(
                name=f"Not in {framework.ref}",
                choices=tuple(SubElementChoice(code, code) for code in others),
            )
        )
    return groups


def sub_element_names(framework: Framework) -> dict[str, tuple[str, str]]:
    """Sub-element code -> (practice area name, sub-element name)."""
    return {
        se.code: (pa.name, se.name) for pa in framework.practice_areas for se in pa.sub_elements
    }


def _uploads(files: Sequence[UploadFile] | None) -> list[tuple[str, bytes]]:
    """The chosen files; a file input left empty sends a nameless, empty part, which is skipped."""
    chosen = []
    for upload in files or ():
        content = upload.file.read()
        if upload.filename or content:
            chosen.append((upload.filename or "", content))
    return chosen


def sentences(errors: dict[str, str]) -> dict[str, str]:
    """Messages as sentences: the first letter raised unless they open with a file name."""

    def sentence(text: str) -> str:
        if "." not in text.split(" ", 1)[0]:
            text = text[:1].upper() + text[1:]
        return text.rstrip(".") + "."

    return {field: sentence(message) for field, message in errors.items()}


def _page(request: Request, principal: Principal, name: str, **context: Any) -> Response:
    if "errors" in context:
        context["errors"] = sentences(context["errors"])
    return render(request, name, principal=principal, **context)


def _crumbs(site: Site, *, index: bool = True) -> list[tuple[str, str]]:
    crumbs = [("Sites", "/"), (site.code, f"/sites/{site.code}")]
    if index:
        crumbs.append(("Evidence", f"/sites/{site.code}/evidence"))
    return crumbs


#: Items a page of the evidence index shows as one list (a search, or `view=list`).
EVIDENCE_PAGE_SIZE: Final = 50


# --- the index -----------------------------------------------------------------------------


@dataclass
class IndexView:
    """The index as the page shows it: filtered groups, and the unfiltered summary."""

    areas: list[PracticeAreaEvidence]
    others: list[EvidenceItem]
    retired: list[EvidenceItem]
    current: int
    sub_element_total: int
    without: list[tuple[str, str, str]] = field(default_factory=list)
    overdue: list[EvidenceItem] = field(default_factory=list)
    #: The current items the filters keep, by number: the list a search or "one list" pages.
    listed: list[EvidenceItem] = field(default_factory=list)


def index_view(
    db: Session, site: Site, framework: Framework, *, kind: str | None, sub_element: str | None
) -> IndexView:
    """Group, filter and summarise the site's current items against its framework."""
    grouped = evidence_by_sub_element(db, site=site, framework_version=framework)
    everything = list_evidence(db, site=site, include_retired=True)
    current = [i for i in everything if i.retired_at is None]
    codes = {se.code for pa in grouped for se in pa.sub_elements}
    today = utcnow().date()
    view = IndexView(
        areas=[],
        others=[i for i in current if not codes.intersection(i.sub_element_codes)],
        retired=[i for i in everything if i.retired_at is not None],
        current=len(current),
        sub_element_total=len(codes),
        without=[
            (pa.name, se.code, se.name) for pa in grouped for se in pa.sub_elements if not se.items
        ],
        overdue=sorted(
            (i for i in current if review_overdue(i, today)), key=lambda i: (i.review_by, i.number)
        ),
    )

    def wanted(item: EvidenceItem) -> bool:
        return (kind is None or item.kind == kind) and (
            sub_element is None or sub_element in item.sub_element_codes
        )

    for pa in grouped:
        sub_elements = tuple(
            SubElementEvidence(se.code, se.name, tuple(i for i in se.items if wanted(i)))
            for se in pa.sub_elements
            if sub_element is None or se.code == sub_element
        )
        if sub_elements:
            view.areas.append(PracticeAreaEvidence(pa.code, pa.name, sub_elements))
    view.others = [i for i in view.others if wanted(i)]
    view.listed = sorted((i for i in current if wanted(i)), key=lambda i: i.number)
    return view


@router.get("/sites/{code}/evidence")
def evidence_index(
    request: Request,
    code: str,
    access: SiteRead,
    db: DB,
    kind: str = "",
    sub_element: str = "",
    q: str = "",
    view_as: Annotated[str, Query(alias="view")] = "",
    page: str = "",
) -> Response:
    """The site's evidence by practice area and sub-element, gaps and overdue reviews first;
    with words to find (`q=`) or `view=list`, the items kept as one list, a page at a time."""
    site = access.site
    assert site is not None
    principal = access.who
    framework = site_framework(db, site=site)
    errors: dict[str, str] = {}
    kind, sub_element = kind.strip(), sub_element.strip()
    if kind and kind not in KINDS:
        errors["kind"] = f"There is no kind {kind!r}; choose one from the list."
    if sub_element and sub_element not in known_sub_element_codes(db, site=site):
        errors["sub_element"] = (
            f"There is no sub-element {sub_element!r} in a framework of {site.code}; "
            "choose one from the list."
        )
    view = index_view(
        db,
        site,
        framework,
        kind=(kind or None) if "kind" not in errors else None,
        sub_element=(sub_element or None) if "sub_element" not in errors else None,
    )
    listed: Page[EvidenceItem] | None = None
    if q.strip() or view_as == "list":
        matching = view.listed
        if q.strip():
            try:
                ranked = ranked_ids(db, reader=principal, sites=[site], query=q, kind="evidence")
            except InvalidInput as exc:
                errors["q"] = str(exc)
                ranked = []
            by_id = {i.id: i for i in view.listed}
            matching = [by_id[i] for i in ranked if i in by_id]
        try:
            listed = page_of(matching, page, size=EVIDENCE_PAGE_SIZE)
        except InvalidInput as exc:
            errors["page"] = str(exc)
            listed = page_of(matching, 1, size=EVIDENCE_PAGE_SIZE)
    shown = shown_assessment(db, principal, site)
    return _page(
        request,
        principal,
        "evidence_index.html",
        title=f"Evidence of {site.code}",
        site=site,
        framework=framework,
        view=view,
        kind=kind,
        sub_element=sub_element,
        filtered=bool((kind or sub_element) and not errors),
        q=q.strip(),
        view_as="list" if listed is not None else "",
        listed=listed,
        errors=errors,
        kinds=KIND_LABELS,
        groups=sub_element_groups(framework),
        today=utcnow().date(),
        shown=shown,
        can_manage=principal.may(db, Permission.evidence_manage, site=site),
        breadcrumbs=_crumbs(site, index=False),
        status_code=422 if errors else 200,
    )


# --- adding an item ------------------------------------------------------------------------


def _new_form(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    *,
    values: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    framework = site_framework(db, site=site)
    return _page(
        request,
        principal,
        "evidence_new.html",
        title=f"Add evidence to {site.code}",
        site=site,
        values=values,
        errors=errors or {},
        kinds=KIND_LABELS,
        groups=sub_element_groups(framework, values.get("sub_elements", ())),
        accepted=ACCEPTED,
        breadcrumbs=_crumbs(site),
        status_code=status_code,
    )


@router.get("/sites/{code}/evidence/new")
def evidence_new(request: Request, code: str, access: Manage, db: DB) -> Response:
    """The form to add an item: its details, the sub-elements it supports, and files."""
    assert access.site is not None
    return _new_form(request, db, access.who, access.site, values={"sub_elements": []})


class EvidenceForm(WebForm):
    """An evidence item's details as its form sends them."""

    title: str = ""
    kind: str = ""
    owner: str = ""
    effective_on: Day = ""
    review_by: Day = ""
    link: TextOrNone = ""
    eqms_id: TextOrNone = ""
    description: str = ""


class NewEvidenceForm(EvidenceForm):
    """A new item: its details and the sub-elements it supports (files come beside it)."""

    sub_elements: Picked


class MappingForm(WebForm):
    """The sub-elements an item supports."""

    sub_elements: Picked


@router.post("/sites/{code}/evidence")
def evidence_add(
    request: Request,
    code: str,
    access: Manage,
    db: DB,
    form: Annotated[NewEvidenceForm, Form()],
    upload: Annotated[list[UploadFile] | None, File()] = None,
) -> Response:
    """Add an item under the next EV-nnnn; any problem stores nothing and keeps what was typed."""
    site = access.site
    assert site is not None
    return submit(
        form,
        store=lambda fields: add_evidence(db, site=site, **fields, files=_uploads(upload)),
        then=lambda item: f"/sites/{site.code}/evidence/{item.ref}?done=added",
        again=lambda values, errors: _new_form(
            request, db, access.who, site, values=values, errors=errors, status_code=422
        ),
    )


# --- one item ------------------------------------------------------------------------------


def _item_values(item: EvidenceItem) -> dict[str, Any]:
    return {
        "title": item.title,
        "kind": item.kind,
        "owner": item.owner,
        "effective_on": item.effective_on.isoformat(),
        "review_by": item.review_by.isoformat() if item.review_by else "",
        "link": item.link or "",
        "eqms_id": item.eqms_id or "",
        "description": item.description or "",
        "sub_elements": item.sub_element_codes,
        "reason": "",
    }


def _item_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    item: EvidenceItem,
    *,
    done: str | None = None,
    form: str | None = None,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    framework = site_framework(db, site=site)
    shown_values = {**_item_values(item), **(values or {})}
    today = utcnow().date()
    return _page(
        request,
        principal,
        "evidence_item.html",
        title=f"{item.ref}: {item.title}",
        site=site,
        item=item,
        thread_href=cited_thread(site.code, item.link, item.eqms_id),
        overdue=review_overdue(item, today),
        framework=framework,
        names=sub_element_names(framework),
        citations=citations_of(
            db,
            item=item,
            may_read=lambda a: principal.may(db, Permission.assessment_read, assessment=a),
        ),
        done=DONE.get(done or ""),
        form=form,
        values=shown_values,
        errors=errors or {},
        kinds=KIND_LABELS,
        groups=sub_element_groups(framework, shown_values["sub_elements"]),
        accepted=ACCEPTED,
        can_manage=item.retired_at is None
        and principal.may(db, Permission.evidence_manage, site=site),
        can_audit=principal.may(db, Permission.audit_read, site=site),
        breadcrumbs=_crumbs(site),
        status_code=status_code,
    )


@router.get("/sites/{code}/evidence/{ref}")
def evidence_item(
    request: Request,
    code: str,
    ref: str,
    access: SiteRead,
    db: DB,
    done: str | None = None,
) -> Response:
    """One item: its details, sub-elements, files, the ratings citing it, and its history."""
    site = access.site
    assert site is not None
    item = find_item(db, site, ref)
    return _item_page(request, db, access.who, site, item, done=done)


def _after(site: Site, item: EvidenceItem, done: str) -> str:
    return f"/sites/{site.code}/evidence/{item.ref}?done={done}"


def _item_submit(
    request: Request,
    access: Access,
    db: Session,
    item: EvidenceItem,
    form: WebForm,
    *,
    name: str,
    save: Callable[[dict[str, Any]], object],
    done: str,
) -> Response:
    """Submit one of an item's forms; on a problem its page shows again with the form open."""
    site = access.site
    assert site is not None
    return submit(
        form,
        store=save,
        then=lambda _: _after(site, item, done),
        again=lambda values, errors: _item_page(
            request,
            db,
            access.who,
            site,
            item,
            form=name,
            values=values,
            errors=errors,
            status_code=422,
        ),
    )


@router.post("/sites/{code}/evidence/{ref}/edit")
def evidence_edit(
    request: Request,
    code: str,
    ref: str,
    access: Manage,
    db: DB,
    form: Annotated[EvidenceForm, Form()],
) -> Response:
    """Change an item's details; its ref, files and sub-elements stay as they are."""
    assert access.site is not None
    item = find_item(db, access.site, ref)
    return _item_submit(
        request,
        access,
        db,
        item,
        form,
        name="edit",
        save=lambda fields: update_evidence(db, item=item, **fields),
        done="updated",
    )


@router.post("/sites/{code}/evidence/{ref}/map")
def evidence_map(
    request: Request,
    code: str,
    ref: str,
    access: Manage,
    db: DB,
    form: Annotated[MappingForm, Form()],
) -> Response:
    """Replace the sub-elements an item supports (none checked clears them)."""
    assert access.site is not None
    item = find_item(db, access.site, ref)
    return _item_submit(
        request,
        access,
        db,
        item,
        form,
        name="map",
        save=lambda fields: map_evidence(db, item=item, **fields),
        done="mapped",
    )


@router.post("/sites/{code}/evidence/{ref}/files")
def evidence_attach(
    request: Request,
    code: str,
    ref: str,
    access: Manage,
    db: DB,
    upload: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Attach one checked file to an item (stored once under its SHA-256)."""
    site = access.site
    assert site is not None
    item = find_item(db, site, ref)
    chosen = _uploads([upload] if upload is not None else [])
    error: str | None = None
    status = 422
    if not chosen:
        error = "Choose the file to attach."
    else:
        filename, content = chosen[0]
        try:
            attach_file(db, item=item, filename=filename, content=content)
        except Conflict as exc:
            error, status = str(exc), exc.status_code
        except InvalidInput as exc:
            error = str(exc)
    if error is not None:
        return _item_page(
            request,
            db,
            access.who,
            site,
            item,
            form="attach",
            errors={"upload": error},
            status_code=status,
        )
    return RedirectResponse(_after(site, item, "attached"), status_code=303)


@router.post("/sites/{code}/evidence/{ref}/retire")
def evidence_retire(
    request: Request,
    code: str,
    ref: str,
    access: Manage,
    db: DB,
    reason: Annotated[str, Form()] = "",
) -> Response:
    """Retire an item with a reason: it leaves the current index and can no longer change."""
    site = access.site
    assert site is not None
    item = find_item(db, site, ref)
    error: str | None = None
    if has_nul(reason):
        error = nul_message("the reason")
    else:
        try:
            retire_evidence(db, item=item, reason=reason)
        except InvalidInput as exc:
            error = str(exc)
    if error is not None:
        return _item_page(
            request,
            db,
            access.who,
            site,
            item,
            form="retire",
            values={"reason": reason},
            errors={"reason": error},
            status_code=422,
        )
    return RedirectResponse(_after(site, item, "retired"), status_code=303)


@router.get("/sites/{code}/evidence/{ref}/files/{file_id}")
def evidence_download(
    code: str,
    ref: str,
    file_id: str,
    access: SiteRead,
    db: DB,
) -> Response:
    """The stored file as an attachment, with its checked type; never rendered in the page."""
    site = access.site
    assert site is not None
    item = find_item(db, site, ref)
    stored = find_file(item, file_id)
    after = (
        "; nothing is wrong with the record itself. Tell your administrator: "
        "`qmm evidence check` names every such file, and the server log this one."
    )
    try:
        data = read_blob(stored.sha256, label=f"{item.ref} {stored.filename}")
    except StoredFileMissing:
        logger.warning("evidence file %s of %s %s is missing", stored.id, site.code, item.ref)
        raise StoredFileMissing(f"the stored copy of {stored.filename} is missing{after}") from None
    except StoredFileDamaged as exc:
        logger.warning("evidence file %s of %s %s: %s", stored.id, site.code, item.ref, exc)
        raise StoredFileDamaged(
            f"{item.ref} {stored.filename}: {DAMAGED} (it was changed on disk after it was "
            f"attached){after}"
        ) from None
    return Response(
        content=data,
        media_type=stored.content_type,
        headers={
            "Content-Disposition": download_name(stored.filename),
            "X-Content-Type-Options": "nosniff",
        },
    )


# --- the assessment workspace and the dashboard --------------------------------------------


def site_coverage(db: Session, assessment: Assessment | None) -> EvidenceCoverage | None:
    """The evidence coverage of the assessment a page shows, if there is one."""
    return coverage(db, assessment=assessment) if assessment is not None else None


def workspace_evidence(db: Session, assessment: Assessment) -> dict[str, Any]:
    """What the workspace needs for evidence: coverage, picker choices, unsupported ratings."""
    result = coverage(db, assessment=assessment)
    choices: dict[str, list[EvidenceItem]] = {}
    index_refs: dict[str, str] = {}
    for item in list_evidence(db, site=assessment.site, include_retired=True):
        index_refs[item.ref] = item.ref
        if item.retired_at is None:
            for code in item.sub_element_codes:
                choices.setdefault(code, []).append(item)
    return {
        "evidence_coverage": result,
        "evidence_choices": choices,
        "index_refs": index_refs,
        "unsupported": {(u.question_code, u.assessor) for u in result.unsupported_ratings},
        "support_needed_from": SUPPORT_NEEDED_FROM,
    }
