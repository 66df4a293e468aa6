"""The shared web form: fields declared once, converted as the service takes them, and one
submit path that stores and redirects, or shows the page again with every problem."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Form
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session
from starlette.responses import Response

from factories import create_site_a
from qmm.errors import InvalidFields, NotFound
from qmm.models import Site
from qmm.web.forms import (
    Day,
    Lines,
    Number,
    Picked,
    Refs,
    Rows,
    TextOrNone,
    WebForm,
    YesNo,
    find_id,
    parse_refs,
    submit,
)


class SampleForm(WebForm):
    title: str = ""
    steps: Lines = ""
    held_on: Day = ""
    hours: Number = ""
    won: YesNo = ""
    refs: Refs = ""
    link: TextOrNone = ""
    codes: Picked
    rows: Rows


def sample(**typed: Any) -> SampleForm:
    return SampleForm.model_validate(typed)


class TestConversions:
    def test_each_field_becomes_what_the_service_takes(self) -> None:
        form = sample(
            title="Review",
            steps="one\r\n\n two \n",
            held_on="2026-03-04",
            hours="12",
            won="Yes",
            refs="ev-1; EV-1, QC-2",
            link="  ",
            codes=["X", "", "Y"],
            rows=["a", "", "b"],
        )
        assert form.service_fields() == {
            "title": "Review",
            "steps": ["one", "two"],
            "held_on": date(2026, 3, 4),
            "hours": 12,
            "won": True,
            "refs": ["ev-1", "QC-2"],
            "link": None,
            "codes": ["X", "Y"],
            "rows": ["a", "", "b"],
        }

    def test_what_does_not_parse_goes_on_as_typed_for_the_service_to_name(self) -> None:
        fields = sample(held_on="soon", hours="1,5", won="maybe").service_fields()
        assert (fields["held_on"], fields["hours"], fields["won"]) == ("soon", "1,5", "maybe")

    def test_an_empty_form_gives_nothing_rather_than_empty_text(self) -> None:
        fields = sample().service_fields()
        assert (fields["held_on"], fields["hours"], fields["won"], fields["codes"]) == (
            None,
            None,
            None,
            [],
        )

    def test_a_nul_character_is_named_by_field_in_text_and_in_lists(self) -> None:
        form = sample(title="a\x00b", codes=["X\x00"], steps="fine")
        assert form.nul_problems() == {
            "title": "title contains a NUL character; remove it",
            "codes": "codes contains a NUL character; remove it",
        }

    def test_refs_are_kept_once_in_order_whatever_their_case(self) -> None:
        assert parse_refs(["EV-0002"], "qc-1; EV-0002\nQC-1, ev-0003") == [
            "EV-0002",
            "qc-1",
            "ev-0003",
        ]
        assert parse_refs(None, " , ") == []


class TestFindId:
    @pytest.mark.parametrize("text", ["²", "٣", "1" * 19, "-1", "1.0", "", " 1"])
    def test_anything_but_ascii_digits_within_range_is_not_found(
        self, session: Session, text: str
    ) -> None:
        site = create_site_a(session)
        with pytest.raises(NotFound, match=f"no drill {text!r} at {site.code}"):
            find_id(text, what="drill", site=site)

    def test_digits_are_the_id(self, session: Session) -> None:
        assert find_id("42", what="drill", site=create_site_a(session)) == 42


def form_app(session: Session, stored: list[dict[str, Any]], *, trial: bool = False) -> FastAPI:
    """A one-route app: the service refuses a title 'bad' and records what it stored."""
    app = FastAPI()

    def save(fields: dict[str, Any]) -> dict[str, Any]:
        if fields["title"] == "bad":
            raise InvalidFields({"title": "title 'bad' is refused", "hours": "hours too many"})
        site = Site(code=f"S-{len(stored) + 10}", name=fields["title"])
        session.add(site)
        session.flush()
        stored.append(fields)
        return fields

    @app.post("/things")
    def add(form: Annotated[SampleForm, Form()]) -> Response:
        boundary = {"link": "no such link"} if form.link == "missing" else {}
        return submit(
            form,
            store=save,
            then=lambda record: f"/things/{record['title']}",
            again=lambda values, errors: JSONResponse(
                {"values": values, "errors": errors}, status_code=422
            ),
            problems=boundary,
            trial=session if trial else None,
        )

    return app


class TestSubmit:
    def test_a_good_form_is_stored_and_redirected_with_303(self, session: Session) -> None:
        stored: list[dict[str, Any]] = []
        client = TestClient(form_app(session, stored))
        answer = client.post("/things", data={"title": "fine"}, follow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/things/fine")
        assert [s["title"] for s in stored] == ["fine"]

    def test_a_refused_form_shows_again_with_what_was_typed(self, session: Session) -> None:
        stored: list[dict[str, Any]] = []
        client = TestClient(form_app(session, stored))
        answer = client.post("/things", data={"title": "bad", "hours": "99"})
        assert answer.status_code == 422
        assert answer.json()["values"]["hours"] == "99"
        assert answer.json()["errors"]["title"] == "title 'bad' is refused"
        assert stored == []

    def test_a_nul_character_stores_nothing_and_is_not_tried(self, session: Session) -> None:
        stored: list[dict[str, Any]] = []
        client = TestClient(form_app(session, stored, trial=True))
        answer = client.post("/things", data={"title": "nul\x00", "link": "missing"})
        assert answer.status_code == 422
        assert set(answer.json()["errors"]) == {"title", "link"}
        assert stored == []

    def test_on_trial_the_service_names_its_problems_too_and_keeps_nothing(
        self, session: Session
    ) -> None:
        stored: list[dict[str, Any]] = []
        client = TestClient(form_app(session, stored, trial=True))
        answer = client.post("/things", data={"title": "bad", "link": "missing"})
        assert answer.json()["errors"] == {
            "title": "title 'bad' is refused",
            "hours": "hours too many",
            "link": "no such link",
        }
        answer = client.post("/things", data={"title": "fine", "link": "missing"})
        assert answer.status_code == 422
        assert session.query(Site).filter(Site.code == "S-10").count() == 0
