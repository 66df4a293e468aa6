"""Uploading an XLSX extract: every row of a sheet whose size information is stale, and a
workbook that unpacks past the limit refused in words, with earlier batches kept."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from events.support import with_padding, with_stale_dimension, write_xlsx
from qmm.config import get_settings
from qmm.models import ImportBatch
from web.support import CAPA_COLUMNS, World, bearer, capa_rows, csv_bytes, sign_in

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def workbook(folder: Path, change: Callable[[Path], Path]) -> bytes:
    """Six CAPAs of SITE-A in a workbook, changed as a test needs."""
    folder.mkdir(parents=True, exist_ok=True)
    path = write_xlsx(
        folder / "capa.xlsx", {"Sheet1": (CAPA_COLUMNS, capa_rows(months=1, per_month=6))}
    )
    return change(path).read_bytes()


def upload(client: TestClient, csrf: str, content: bytes, name: str = "capa.xlsx"):  # type: ignore[no-untyped-def]
    return client.post(
        "/sites/SITE-A/imports",
        data={"record_type": "capa", "profile": "", "csrf_token": csrf},
        files={"upload": (name, content, XLSX)},
    )


def batches(db: Session) -> int:
    return db.scalar(select(func.count()).select_from(ImportBatch)) or 0


@pytest.mark.parametrize("ref", ["A1:I2", "A1:C2", "A1"])
def test_a_stale_dimension_imports_every_row(
    client: TestClient, db: Session, world: World, tmp_path: Path, ref: str
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    done = upload(client, csrf, workbook(tmp_path, lambda p: with_stale_dimension(p, ref)))
    assert done.status_code == 303, done.text
    page = client.get(done.headers["location"])
    assert "6 rows, 6 new, 0 changed, 0 unchanged" in " ".join(page.text.split())


def test_a_workbook_that_unpacks_past_the_limit_is_refused(
    client: TestClient,
    db: Session,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    csrf = sign_in(client, db, world, "lead-a")
    earlier = client.post(
        "/sites/SITE-A/imports",
        data={"record_type": "capa", "profile": "", "csrf_token": csrf},
        files={"upload": ("capa.csv", csv_bytes(CAPA_COLUMNS, capa_rows(months=1, per_month=2)))},
    )
    assert earlier.status_code == 303
    before = batches(db)
    monkeypatch.setenv("QMM_XLSX_MAX_UNPACKED_BYTES", "10000000")
    get_settings.cache_clear()
    bomb = workbook(tmp_path, lambda p: with_padding(p, 50 << 20))
    assert len(bomb) < 200_000

    page = upload(client, csrf, bomb)
    assert page.status_code == 422
    text = " ".join(page.text.split())
    assert "The file was not imported" in text
    assert "capa.xlsx" in text
    assert "qmm-upload-" not in text, "the refusal names the upload, not its temporary path"
    assert "more than the limit of 10,000,000 bytes" in text
    assert "nothing was stored" in text

    api = client.post(
        "/api/sites/SITE-A/imports",
        headers=bearer(world.write_tokens["lead-a"]),
        data={"record_type": "capa"},
        files={"upload": ("capa.xlsx", bomb, XLSX)},
    )
    assert api.status_code == 422
    assert "more than the limit of 10,000,000 bytes" in api.json()["detail"]
    assert api.json()["detail"].startswith("capa.xlsx")
    assert batches(db) == before
    listed = client.get("/sites/SITE-A/imports")
    assert "capa.csv" in listed.text
