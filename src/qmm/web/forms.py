"""One way to take a web form: a Pydantic model names each field once, FastAPI binds it with
`Form()`, and `submit` stores it through a service and redirects, or shows the page again with
what was typed and each problem by its field."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any, Final, TypeVar

from fastapi import Depends, Form, Request
from fastapi.responses import RedirectResponse
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.responses import Response

from qmm.errors import Conflict, InvalidFields, InvalidInput, NotFound
from qmm.events.store import EventStore
from qmm.evidence.service import normal_ref
from qmm.models import Site
from qmm.record_ids import parse_record_id
from qmm.text_rules import nul_problems
from qmm.web.deps import DB, Store
from qmm.web.security import Access, Principal, ProgramManage

_LINES: Final = re.compile(r"\r?\n")
_REF_SPLIT: Final = re.compile(r"[,;\n]+")
Stored = TypeVar("Stored")

#: A single text field, and a field that may repeat, for views taking one or two values.
FormText = Annotated[str, Form()]
FormList = Annotated[list[str] | None, Form()]


def find_id(text: str, *, what: str, site: Site) -> int:
    """A record id from a URL or a form: ASCII digits within range, anything else not found."""
    number = parse_record_id(text)
    if number is None:
        raise NotFound(f"no {what} {text!r} at {site.code}")
    return number


def form_lines(text: str) -> list[str]:
    """A textarea's non-empty lines, stripped."""
    return [line.strip() for line in _LINES.split(text) if line.strip()]


def form_day(text: str) -> date | str | None:
    """A form's date: empty is None; what does not parse goes to the service, which says why."""
    text = text.strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        return text


def form_number(text: str) -> float | int | str | None:
    """A number typed in a form: whole numbers stay whole; what does not parse goes on as text
    for the service to name (a thousands separator is not guessed: 1,5 is ambiguous)."""
    text = text.strip()
    if not text:
        return None
    if "_" in text:
        return text
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() and abs(value) < 1e15 else value


def form_flag(text: str) -> bool | str | None:
    """yes or no from a form; anything else goes on for the service to refuse."""
    return {"yes": True, "no": False, "": None}.get(text.strip().lower(), text)


def parse_refs(picked: Sequence[str] | None, typed: str) -> list[str]:
    """Refs ticked in a picker, then those typed; each once, whatever its case."""
    refs: dict[str, str] = {}
    for ref in [*(picked or []), *_REF_SPLIT.split(typed)]:
        ref = ref.strip()
        if ref and normal_ref(ref) not in refs:
            refs[normal_ref(ref)] = ref
    return list(refs.values())


def _text_or_none(text: str) -> str | None:
    return text.strip() or None


def _picked(values: list[str]) -> list[str]:
    return [v for v in values if v]


@dataclass(frozen=True)
class Converted:
    """How a field's typed text becomes what the service takes."""

    to_service: Callable[[Any], Any]


Lines = Annotated[str, Converted(form_lines)]
Day = Annotated[str, Converted(form_day)]
Number = Annotated[str, Converted(form_number)]
YesNo = Annotated[str, Converted(form_flag)]
Refs = Annotated[str, Converted(lambda text: parse_refs(None, text))]
TextOrNone = Annotated[str, Converted(_text_or_none)]
#: Choices ticked in a list (empty entries dropped); rows of a repeating group keep their places.
Picked = Annotated[list[str], Field(default_factory=list), AfterValidator(_picked)]
Rows = Annotated[list[str], Field(default_factory=list)]


class WebForm(BaseModel):
    """A submitted form: its fields as typed; `service_fields` gives them as the service takes."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    def typed(self) -> dict[str, Any]:
        """What was typed, to show again on the page."""
        return self.model_dump()

    def nul_problems(self) -> dict[str, str]:
        """Fields holding a NUL character, which no database column stores."""
        return nul_problems(self.typed())

    def service_fields(self) -> dict[str, Any]:
        """The fields converted as each declares (lines, dates, numbers, yes/no, refs)."""
        fields: dict[str, Any] = {}
        for name, info in type(self).model_fields.items():
            value = getattr(self, name)
            for mark in info.metadata:
                if isinstance(mark, Converted):
                    value = mark.to_service(value)
            fields[name] = value
        return fields


@dataclass(frozen=True)
class Handling:
    """What a site's form handler works with: the request, the guard's answer, session, store."""

    request: Request
    access: Access
    db: Session
    store: EventStore

    @property
    def site(self) -> Site:
        assert self.access.site is not None
        return self.access.site

    @property
    def who(self) -> Principal:
        return self.access.who


def _program_forms(request: Request, access: ProgramManage, db: DB, store: Store) -> Handling:
    """A program form's surroundings, once the user may manage the site's program."""
    return Handling(request, access, db, store)


#: The surroundings of a form that changes a site's program (objectives, plans, continuity...).
ProgramForms = Annotated[Handling, Depends(_program_forms)]


def linked_record(
    form: WebForm,
    field: str,
    problems: dict[str, str],
    *,
    what: str,
    site: Site,
    get: Callable[[int], Stored],
    required: str | None = None,
) -> Stored | None:
    """The record a form field names by id (None when left empty, or when it is not found:
    then the problem is added under the field, as is `required` when it is given and empty)."""
    typed = str(getattr(form, field)).strip()
    if field in form.nul_problems():
        return None
    if not typed:
        if required is not None:
            problems[field] = required
        return None
    try:
        return get(find_id(typed, what=what, site=site))
    except NotFound as exc:
        problems[field] = str(exc)
        return None


def service_problems(
    session: Session, problems: Mapping[str, str], store: Callable[[], object]
) -> dict[str, str]:
    """Problems this boundary found, with those the service finds in the rest of the input:
    the service runs in a savepoint that is always rolled back, so nothing is stored."""
    attempt = session.begin_nested()
    try:
        store()
    except InvalidFields as exc:
        return {**exc.problems, **problems}
    finally:
        attempt.rollback()
    return dict(problems)


def submit(
    form: WebForm,
    *,
    store: Callable[[dict[str, Any]], Stored],
    then: Callable[[Stored], str],
    again: Callable[[dict[str, Any], dict[str, str]], Response],
    problems: Mapping[str, str] | None = None,
    typed: Mapping[str, Any] | None = None,
    trial: Session | None = None,
) -> Response:
    """Store through the service and redirect (303) to `then(record)`; on any problem call
    `again(typed, problems)` to show the page with what was typed and each problem by field.

    `problems` are those the boundary found (a record the form names does not exist). With a
    `trial` session the service then still runs in a rolled-back savepoint so that every problem
    is named at once; never when a field holds a NUL character, which no database takes.
    """
    shown = {**form.typed(), **(typed or {})}
    nul = form.nul_problems()
    found = {**nul, **(problems or {})}
    if not found:
        try:
            record = store(form.service_fields())
        except InvalidFields as exc:
            return again(shown, dict(exc.problems))
        return RedirectResponse(then(record), status_code=303)
    if trial is not None and not nul:
        found = service_problems(trial, found, lambda: store(form.service_fields()))
    return again(shown, found)


def sentence(text: str) -> str:
    """A service's message as a sentence: first letter raised, the rest as written, one stop."""
    return text[:1].upper() + text[1:].rstrip(".") + "."


def on_field(field: str, call: Callable[[], Stored]) -> Stored:
    """Run a service whose refusal concerns one field, and name that field with its words."""
    try:
        return call()
    except InvalidFields:
        raise
    except (InvalidInput, Conflict, NotFound) as exc:
        raise InvalidFields({field: sentence(str(exc))}) from None
