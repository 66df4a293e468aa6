"""Importing eQMS extracts on a site's page: the batches so far, and an upload checked whole
through the importer's own pipeline (qmm.events.uploads)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, BinaryIO

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from qmm.auth.permissions import Permission
from qmm.errors import InvalidInput
from qmm.events.integrity import store_problems
from qmm.events.store import EventStore
from qmm.events.uploads import (
    accepted_suffixes,
    batch_of_site,
    batches_of,
    checked_upload,
    problems_of,
    profile_names,
    record_type_names,
    store_upload,
)
from qmm.models import ImportBatch, Site
from qmm.web.deps import DB, Store, in_writer_turn, reads_first
from qmm.web.security import (
    Access,
    Principal,
    SiteRead,
    require,
)
from qmm.web.templating import render

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)


def _imports_page(
    request: Request,
    db: Session,
    principal: Principal,
    site: Site,
    *,
    batch: ImportBatch | None = None,
    error: str | None = None,
    problems: list[Any] | None = None,
    problem_total: int = 0,
    record_type: str = "",
    profile: str = "",
    extracted_on: str = "",
    status_code: int = 200,
    store: EventStore | None = None,
) -> Response:
    administrator = principal.may(db, Permission.user_manage)
    damaged = store_problems(db, store) if administrator and store is not None else None
    return render(
        request,
        "imports.html",
        principal=principal,
        title=f"Imports for {site.code}",
        site=site,
        batch=batch,
        error=error,
        problems=problems or [],
        problem_total=problem_total,
        batches=batches_of(db, site=site),
        record_types=record_type_names(),
        profiles=profile_names(),
        suffixes=accepted_suffixes(),
        record_type=record_type,
        profile=profile,
        extracted_on=extracted_on,
        today=datetime.now(UTC).date().isoformat(),
        max_mb=request.app.state.web_settings.max_upload_bytes // (1024 * 1024),
        can_import=principal.may(db, Permission.site_manage, site=site),
        breadcrumbs=[("Sites", "/"), (site.code, f"/sites/{site.code}")],
        store_problems=damaged.problems if damaged is not None else [],
        status_code=status_code,
    )


@router.get("/sites/{code}/imports")
def imports_page(request: Request, code: str, access: SiteRead, db: DB, store: Store) -> Response:
    """The site's import batches, newest first, and (for those who may) the upload form;
    administrators also see whether the event store verifies."""
    site = access.site
    assert site is not None
    batch = batch_of_site(db, site=site, batch_id=request.query_params.get("batch", ""))
    return _imports_page(request, db, access.who, site, batch=batch, store=store)


async def stored_upload(
    request: Request,
    db: Session,
    *,
    store: EventStore,
    site_code: str,
    file_name: str,
    content: BinaryIO,
    record_type: str,
    profile: str | None,
    extracted_on: date | None = None,
) -> ImportBatch:
    """For a reads_first route: the upload is saved, read, checked and staged holding no
    connection, lock or turn; only storing the staged rows (and the batch row, and the
    after-import hooks) waits for the request's turn to write. A refused file takes no turn.

    Raises InvalidInput when the file is refused, having stored nothing.
    """
    await run_in_threadpool(db.rollback)  # end the request's read before the slow part
    upload = checked_upload(
        store=store,
        site_code=site_code,
        file_name=file_name,
        content=content,
        record_type=record_type,
        profile=profile,
        extracted_on=extracted_on,
    )
    checked = await run_in_threadpool(upload.__enter__)
    try:
        return await in_writer_turn(
            request, db, lambda: store_upload(db, store=store, checked=checked)
        )
    finally:
        await run_in_threadpool(upload.__exit__, None, None, None)


@router.post("/sites/{code}/imports")
@reads_first
async def import_file(
    request: Request,
    code: str,
    access: Annotated[Access, Depends(require(Permission.site_manage, site="code"))],
    db: DB,
    store: Store,
    record_type: Annotated[str, Form()] = "",
    profile: Annotated[str, Form()] = "",
    extracted_on: Annotated[str, Form()] = "",
    upload: Annotated[UploadFile | None, File()] = None,
) -> Response:
    """Import one extract for this site; any bad row stores nothing and every error is listed.

    The file is checked before the request's turn to write; only storing it takes the turn.
    """
    site = access.site
    assert site is not None
    principal = access.who

    def page(**shown: Any) -> Response:
        return _imports_page(
            request,
            db,
            principal,
            site,
            status_code=422,
            record_type=record_type,
            profile=profile,
            extracted_on=extracted_on,
            **shown,
        )

    if upload is None or not upload.filename:
        return await run_in_threadpool(page, error="Choose the extract file to upload.")
    try:
        extracted = date.fromisoformat(extracted_on.strip()) if extracted_on.strip() else None
    except ValueError:
        return await run_in_threadpool(
            page,
            error=f"Extract date {extracted_on!r} is not a date: use YYYY-MM-DD, or leave it "
            "empty for today.",
        )
    site_code = site.code
    try:
        batch = await stored_upload(
            request,
            db,
            store=store,
            site_code=site_code,
            file_name=upload.filename,
            content=upload.file,
            record_type=record_type,
            profile=profile or None,
            extracted_on=extracted,
        )
    except InvalidInput as exc:
        problems, total = problems_of(exc)
        message = (
            f"{upload.filename}: {total} problem{'s' if total != 1 else ''} found; "
            "nothing was stored. Correct the rows below in the extract and upload it again."
            if problems
            else str(exc)
        )
        return await run_in_threadpool(page, error=message, problems=problems, problem_total=total)
    return RedirectResponse(f"/sites/{site_code}/imports?batch={batch.id}", status_code=303)
