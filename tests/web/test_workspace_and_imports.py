"""The assessment workspace (rating, roll-up, read-only views) and the imports page."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.orm import Session

from qmm.events.store import EventStore
from qmm.models import Assessment, ConsensusScore, ImportBatch, Rating
from qmm.web.app import create_app
from qmm.web.deps import WebSettings, get_session_factory
from web.support import CAPA_COLUMNS, World, bound_factory, capa_rows, csv_bytes, sign_in

RATING = {"question": "m1.q2", "score": "5", "rationale": "Council minutes", "evidence": ""}


def rate(client: TestClient, world: World, csrf: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/assessments/{world.assessment_a}/ratings",
        data={**RATING, **fields, "csrf_token": csrf},
    )


def current_ratings(db: Session, world: World) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(Rating)
            .where(Rating.assessment_id == world.assessment_a, Rating.superseded_by_id.is_(None))
        )
        or 0
    )


class TestRating:
    def test_the_form_shows_the_anchors_beside_the_levels(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        page = client.get(f"/assessments/{world.assessment_a}")
        assert page.status_code == 200
        assert (
            f'action="/assessments/{world.assessment_a}/ratings?question=m1.q2#q-m1.q2"'
            in page.text
        )
        assert '<label for="q-m1.q2-3">' in page.text
        assert "level 3 behaviour" in page.text
        assert "1 of 20" in page.text  # progress: questions with a score
        assert 'id="q-m1.q2-rationale"' in page.text

    def test_a_rating_is_saved_and_the_scores_roll_up_at_once(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        saved = rate(client, world, csrf, evidence="QC-1, QC-2")
        assert saved.status_code == 303
        assert saved.headers["location"] == (
            f"/assessments/{world.assessment_a}?rated=m1.q2#q-m1.q2"
        )
        page = client.get(saved.headers["location"])
        assert "Your rating of" in page.text
        assert "m1.q2" in page.text
        assert "2 of 20" in page.text
        assert '<span class="score-pill ">4.00</span>' in page.text  # m1: mean of 3 and 5
        stored = db.scalars(select(Rating).where(Rating.rationale == "Council minutes")).one()
        assert stored.score == 5
        assert stored.evidence_refs == ["QC-1", "QC-2"]

    def test_not_applicable_is_a_choice(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        assert rate(client, world, csrf, score="na").status_code == 303
        stored = db.scalars(select(Rating).where(Rating.rationale == "Council minutes")).one()
        assert stored.not_applicable

    @pytest.mark.parametrize(
        ("fields", "status", "message"),
        [
            ({"score": ""}, 422, "Choose a level from 1 to 5, or not applicable."),
            ({"score": "7"}, 422, "Choose a level from 1 to 5, or not applicable."),
            ({"rationale": "  "}, 422, "Write the rationale"),
            ({"question": "zz.q9"}, 404, "Question &#39;zz.q9&#39; is not in"),
        ],
    )
    def test_a_bad_rating_says_what_to_fix_keeps_what_was_typed_and_stores_nothing(
        self,
        client: TestClient,
        db: Session,
        world: World,
        fields: dict[str, str],
        status: int,
        message: str,
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        before = current_ratings(db, world)
        page = rate(client, world, csrf, evidence="KEEP-ME", **fields)
        assert page.status_code == status
        assert message in page.text
        assert "Your rating was not saved" in page.text
        if fields.get("question") != "zz.q9":
            assert 'value="KEEP-ME"' in page.text
        assert current_ratings(db, world) == before

    def test_a_closed_assessment_is_read_only(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        assessment = db.get(Assessment, world.assessment_a)
        assert assessment is not None
        assessment.status = "closed"
        db.commit()
        csrf = sign_in(client, db, world, "contrib-a")
        page = client.get(f"/assessments/{world.assessment_a}")
        assert "This assessment is closed" in page.text
        assert 'name="score"' not in page.text
        refused = rate(client, world, csrf)
        assert refused.status_code == 409
        assert "is closed" in refused.text

    @pytest.mark.parametrize("username", ["assessor-a", "viewer-a"])
    def test_people_who_may_not_rate_get_a_read_only_page(
        self, client: TestClient, db: Session, world: World, username: str
    ) -> None:
        csrf = sign_in(client, db, world, username)
        page = client.get(f"/assessments/{world.assessment_a}")
        assert page.status_code == 200
        assert "Read-only:" in page.text
        for control in ("<textarea", 'type="radio"', 'name="score"', "/ratings"):
            assert control not in page.text
        assert "level 3 behaviour" in page.text  # the anchors are still there to read
        assert rate(client, world, csrf).status_code == 403

    def test_someone_off_the_team_is_told_why_they_cannot_rate(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "root")
        page = client.get(f"/assessments/{world.assessment_a}")
        assert "not on this assessment&#39;s team" in page.text
        assert 'name="score"' not in page.text
        refused = rate(client, world, csrf)
        assert refused.status_code == 409
        assert "is not on the team" in refused.text

    def test_a_rating_without_the_csrf_token_is_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "contrib-a")
        refused = client.post(f"/assessments/{world.assessment_a}/ratings", data=RATING)
        assert refused.status_code == 403


CONSENSUS = {"question": "m1.q2", "score": "4", "rationale": "Agreed at calibration"}


def agree(client: TestClient, world: World, csrf: str, **fields: str):  # type: ignore[no-untyped-def]
    return client.post(
        f"/assessments/{world.assessment_a}/consensus",
        data={**CONSENSUS, **fields, "csrf_token": csrf},
    )


def consensus_rows(db: Session, world: World) -> int:
    return (
        db.scalar(
            select(func.count())
            .select_from(ConsensusScore)
            .where(ConsensusScore.assessment_id == world.assessment_a)
        )
        or 0
    )


class TestConsensus:
    def test_the_lead_is_offered_the_form_on_rated_questions_only(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "lead-a")
        page = client.get(f"/assessments/{world.assessment_a}").text
        assert (
            f'action="/assessments/{world.assessment_a}/consensus?question=m1.q1#q-m1.q1"' in page
        )
        assert (
            f'action="/assessments/{world.assessment_a}/consensus?question=m1.q2#q-m1.q2"'
            not in page
        )
        sign_in(client, db, world, "contrib-a")
        page = client.get(f"/assessments/{world.assessment_a}").text
        assert "/consensus#" not in page

    def test_a_consensus_replaces_the_mean_in_the_roll_up(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        saved = agree(client, world, csrf, score="2")
        assert saved.status_code == 303
        assert saved.headers["location"] == (
            f"/assessments/{world.assessment_a}?agreed=m1.q2#q-m1.q2"
        )
        page = client.get(saved.headers["location"]).text
        assert "The consensus for" in page
        assert "the lead&#39;s consensus" in page or "the lead's consensus" in page
        stored = db.scalars(
            select(ConsensusScore).where(ConsensusScore.assessment_id == world.assessment_a)
        ).one()
        assert (stored.score, stored.rationale) == (2, "Agreed at calibration")

    @pytest.mark.parametrize(
        ("fields", "status", "message"),
        [
            ({"score": ""}, 422, "Choose the agreed level from 1 to 5, or not applicable."),
            ({"score": "9"}, 422, "Choose the agreed level from 1 to 5, or not applicable."),
            ({"rationale": " "}, 422, "Write why the team agreed this level."),
            ({"question": "zz.q9"}, 404, "Question &#39;zz.q9&#39; is not in"),
        ],
    )
    def test_a_bad_consensus_says_what_to_fix_and_stores_nothing(
        self,
        client: TestClient,
        db: Session,
        world: World,
        fields: dict[str, str],
        status: int,
        message: str,
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        before = consensus_rows(db, world)
        page = agree(client, world, csrf, **fields)
        assert page.status_code == status
        assert message in page.text
        assert "The consensus was not recorded" in page.text
        assert consensus_rows(db, world) == before

    def test_only_the_lead_records_a_consensus(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "contrib-a")
        page = agree(client, world, csrf)
        assert page.status_code == 409
        assert "Only the lead of assessment" in page.text
        assert consensus_rows(db, world) == 0


def multipart(fields: dict[str, str], filename: str, content: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with fields and one file named upload, and its content type."""
    boundary = "qmm-test-boundary"
    parts = [
        f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
        for name, value in fields.items()
    ]
    parts.append(
        f'--{boundary}\r\nContent-Disposition: form-data; name="upload"; '
        f'filename="{filename}"\r\nContent-Type: text/csv\r\n\r\n'.encode()
        + content
        + b"\r\n"
    )
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


def chunks(body: bytes, size: int = 1024) -> Iterator[bytes]:
    """The body as a stream, so the client sends it chunked, without a Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


def upload(
    client: TestClient,
    csrf: str,
    content: bytes,
    *,
    name: str = "capa.csv",
    record_type: str = "capa",
    profile: str = "",
):  # type: ignore[no-untyped-def]
    return client.post(
        "/sites/SITE-A/imports",
        data={"record_type": record_type, "profile": profile, "csrf_token": csrf},
        files={"upload": (name, content, "text/csv")},
    )


def batches(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ImportBatch)) or 0


class TestImports:
    def test_an_extract_is_imported_and_shown_as_a_batch(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        done = upload(client, csrf, csv_bytes(CAPA_COLUMNS, capa_rows(months=2, per_month=3)))
        assert done.status_code == 303
        page = client.get(done.headers["location"])
        assert "Imported <strong>capa.csv</strong>" in page.text
        assert "6 rows, 6 new, 0 changed, 0 unchanged" in " ".join(page.text.split())
        again = upload(client, csrf, csv_bytes(CAPA_COLUMNS, capa_rows(months=2, per_month=3)))
        page = client.get(again.headers["location"])
        assert "0 new, 0 changed, 6 unchanged" in " ".join(page.text.split())
        assert page.text.count('<th scope="row" class="num">') == 2  # both batches listed

    def test_every_problem_is_listed_and_nothing_is_stored(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        rows = capa_rows(months=1, per_month=3)
        rows[0][2] = "2025-02-30"
        rows[2][8] = "maybe"
        before = batches(db)
        page = upload(client, csrf, csv_bytes(CAPA_COLUMNS, rows))
        assert page.status_code == 422
        assert "nothing was stored" in page.text
        table = page.text[page.text.index('class="data compact problems"') :]
        assert '<td class="num">2</td>' in table
        assert "2025-02-30" in table
        assert '<td class="num">4</td>' in table
        assert "maybe" in table
        assert 'value="capa" selected' in page.text  # what was chosen is kept
        assert batches(db) == before

    def test_rows_of_another_site_are_refused(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        rows = capa_rows(months=1, per_month=2) + capa_rows("SITE-B", months=1, per_month=1)
        page = upload(client, csrf, csv_bytes(CAPA_COLUMNS, rows))
        assert page.status_code == 422
        assert "belongs to another site; this page imports records of SITE-A only" in page.text
        assert batches(db) == 0

    @pytest.mark.parametrize(
        ("kwargs", "message"),
        [
            ({"record_type": ""}, "record type &#39;&#39; is not one of"),
            ({"record_type": "widget"}, "record type &#39;widget&#39; is not one of"),
            ({"name": "capa.txt"}, "the file type .txt cannot be imported"),
            ({"profile": "nope"}, "profile &#39;nope&#39; is not one of"),
            ({"content": b""}, "the file is empty"),
        ],
    )
    def test_bad_choices_are_refused_in_words(
        self, client: TestClient, db: Session, world: World, kwargs: dict[str, object], message: str
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        content = kwargs.pop("content", csv_bytes(CAPA_COLUMNS, capa_rows(months=1, per_month=1)))
        page = upload(client, csrf, content, **kwargs)  # type: ignore[arg-type]
        assert page.status_code == 422
        assert message in page.text
        assert batches(db) == 0

    def test_a_form_without_a_file_asks_for_one(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        page = client.post(
            "/sites/SITE-A/imports", data={"record_type": "capa", "csrf_token": csrf}
        )
        assert page.status_code == 422
        assert "Choose the extract file to upload." in page.text

    def test_administrators_see_a_store_that_does_not_verify(
        self, client: TestClient, db: Session, world: World, store: EventStore
    ) -> None:
        csrf = sign_in(client, db, world, "lead-a")
        done = upload(client, csrf, csv_bytes(CAPA_COLUMNS, capa_rows(months=1, per_month=2)))
        assert done.status_code == 303
        batch = db.scalars(select(ImportBatch).order_by(ImportBatch.id.desc())).first()
        assert batch is not None
        sign_in(client, db, world, "root")
        assert "does not verify" not in client.get("/sites/SITE-A/imports").text
        data_file = store.directory / (batch.data_files or [])[0]["path"]
        data_file.write_bytes(data_file.read_bytes() + b"\0")
        page = client.get("/sites/SITE-A/imports")
        assert "The event store does not verify" in page.text
        assert f"batch #{batch.id} (capa.csv)" in page.text
        sign_in(client, db, world, "lead-a")
        assert "does not verify" not in client.get("/sites/SITE-A/imports").text
        data_file.write_bytes(data_file.read_bytes()[:-1])

    def test_viewers_see_the_batches_but_no_form(
        self, client: TestClient, db: Session, world: World
    ) -> None:
        sign_in(client, db, world, "viewer-a")
        page = client.get("/sites/SITE-A/imports")
        assert page.status_code == 200
        assert "No extract of SITE-A has been imported yet." in page.text
        assert 'type="file"' not in page.text
        assert "needs the site:manage permission" in page.text

    def test_an_upload_over_the_limit_is_refused_before_it_is_read(
        self, engine: Engine, connection: Connection, store: EventStore, db: Session, world: World
    ) -> None:
        app: FastAPI = create_app(engine, settings=WebSettings(max_upload_bytes=1000), store=store)
        factory = bound_factory(connection)
        app.dependency_overrides[get_session_factory] = lambda: factory
        with TestClient(app, follow_redirects=False) as small:
            csrf = sign_in(small, db, world, "lead-a")
            page = upload(small, csrf, csv_bytes(CAPA_COLUMNS, capa_rows(months=1)))
            assert page.status_code == 413
            assert "larger than the" in page.text
            assert "qmm import" in page.text
            api = small.post(
                "/api/sites/SITE-A/imports",
                headers={"X-CSRF-Token": csrf},
                data={"record_type": "capa"},
                files={"upload": ("capa.csv", b"x" * 5000, "text/csv")},
            )
            assert api.status_code == 413
            assert "qmm import" in api.json()["detail"]
        assert batches(db) == 0

    def test_a_chunked_upload_over_the_limit_gets_413_like_a_sized_one(
        self, engine: Engine, connection: Connection, store: EventStore, db: Session, world: World
    ) -> None:
        """Issue 17, L4: Transfer-Encoding: chunked, no Content-Length, still 413 (not 400)."""
        app: FastAPI = create_app(engine, settings=WebSettings(max_upload_bytes=1000), store=store)
        factory = bound_factory(connection)
        app.dependency_overrides[get_session_factory] = lambda: factory
        with TestClient(app, follow_redirects=False) as small:
            csrf = sign_in(small, db, world, "lead-a")
            fields = {"record_type": "capa", "csrf_token": csrf}
            body, content_type = multipart(fields, "capa.csv", b"x" * 5000)
            headers = {"Content-Type": content_type, "X-CSRF-Token": csrf}
            for url in ("/sites/SITE-A/imports", "/api/sites/SITE-A/imports"):
                answer = small.post(url, content=chunks(body), headers=headers)
                assert answer.request.headers.get("transfer-encoding") == "chunked"
                assert "content-length" not in answer.request.headers
                assert answer.status_code == 413, answer.text[:300]
                assert "larger than the" in answer.text
        assert batches(db) == 0

    def test_a_70_mb_chunked_upload_gets_413_at_the_default_limit(
        self, client: TestClient, world: World
    ) -> None:
        token = world.write_tokens["lead-a"]
        body, content_type = multipart({"record_type": "capa"}, "capa.csv", b"x" * (70 << 20))
        answer = client.post(
            "/api/sites/SITE-A/imports",
            content=chunks(body, size=1 << 20),
            headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 413
        assert "larger than the 50 MB the web server accepts" in answer.json()["detail"]
