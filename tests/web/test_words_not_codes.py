"""Pages say in words what the database stores as codes, and the small defects of issue 16 stay
fixed: the favicon is served, every page sets a viewport, the footer links the API docs."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from web.support import World, sign_in

pytestmark = pytest.mark.usefixtures("world_files")

QUESTION_CODE = re.compile(r"\b[a-z][a-z0-9_]*\.q\d+\b")
FIELD_NAME = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b")


class _VisibleText(HTMLParser):
    """The text a reader sees: text nodes outside script and style, never attribute values."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in {"script", "style"}:
            self._hidden += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in {"script", "style"}:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def visible_text(html: str) -> str:
    parser = _VisibleText()
    parser.feed(html)
    return " ".join(parser.parts)


def test_the_assessment_page_names_questions_in_words(
    client: TestClient, db: Session, world: World
) -> None:
    sign_in(client, db, world, "lead-a")
    page = client.get(f"/assessments/{world.assessment_a}")
    assert page.status_code == 200
    assert 'id="q-m1.q1"' in page.text  # the anchor keeps the code, for links
    text = visible_text(page.text)
    found = QUESTION_CODE.search(text)
    assert found is None, text[max(0, found.start() - 200) : found.end() + 50]
    assert "Question 1." in text
    assert "0.8 or more is reliable" in text  # what the agreement statistic means


def test_the_audit_history_names_fields_and_site_types_in_words(
    client: TestClient, db: Session, world: World
) -> None:
    sign_in(client, db, world, "root")
    page = client.get(f"/audit/sites/{world.site_a}")
    assert page.status_code == 200, page.text
    text = visible_text(page.text)
    assert "Site type" in text
    assert "Finished dosage form" in text
    assert not re.search(r"\bfdf\b", text)
    assert not FIELD_NAME.search(text), FIELD_NAME.search(text)


def test_the_site_list_and_dashboard_name_the_site_type(
    client: TestClient, db: Session, world: World
) -> None:
    sign_in(client, db, world, "lead-a")
    for url in ("/", "/sites/SITE-A"):
        text = visible_text(client.get(url).text)
        assert "Finished dosage form" in text, url
        assert not re.search(r"\bfdf\b", text), url


def test_the_benchmark_explains_icc_and_alpha_in_plain_words(
    client: TestClient, db: Session, world: World
) -> None:
    sign_in(client, db, world, "lead-a")
    page = client.get("/benchmark")
    assert page.status_code == 200
    text = visible_text(page.text)
    assert "above 0.75 is good" in text
    assert "0.7 or more is acceptable" in text
    assert not QUESTION_CODE.search(text)
    assert not re.search(r"\bfdf\b", text)


def test_the_favicon_is_served_and_linked(client: TestClient, db: Session, world: World) -> None:
    icon = client.get("/favicon.ico")
    assert icon.status_code == 200
    assert icon.headers["content-type"].startswith("image/svg+xml")
    assert icon.content.startswith(b"<svg")
    assert client.get("/static/favicon.svg").status_code == 200
    assert '<link rel="icon" href="/static/favicon.svg"' in client.get("/login").text


def test_every_page_sets_a_viewport_for_phones(
    client: TestClient, db: Session, world: World
) -> None:
    viewport = '<meta name="viewport" content="width=device-width, initial-scale=1">'
    assert viewport in client.get("/login").text
    sign_in(client, db, world, "lead-a")
    for url in ("/", "/sites/SITE-A", f"/assessments/{world.assessment_a}", "/benchmark"):
        assert viewport in client.get(url).text, url


def test_the_footer_links_the_api_docs_for_signed_in_users_only(
    client: TestClient, db: Session, world: World
) -> None:
    assert 'href="/api/docs"' not in client.get("/login").text
    sign_in(client, db, world, "lead-a")
    assert 'href="/api/docs"' in client.get("/").text
    assert client.get("/api/docs").status_code == 200


def test_the_html_report_links_back_to_the_site(
    client: TestClient, db: Session, world: World
) -> None:
    sign_in(client, db, world, "lead-a")
    report = client.get(f"/sites/SITE-A/report?assessment={world.assessment_a}")
    assert report.status_code == 200, report.text
    assert '<a href="/sites/SITE-A">' in report.text
    assert "Back to SITE-A" in report.text
