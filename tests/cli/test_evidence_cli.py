"""`qmm evidence`: the index from the command line, with permissions, coverage and the bundle."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from factories import tiny_pdf
from qmm.cli.main import app
from qmm.config import get_settings

runner = CliRunner()
LINK = "https://eqms.example.invalid/site-a/documents/SOP-QA-030"


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


def items(*args: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = json.loads(
        qmm("evidence", "list", "--site", "SITE-A", "--format", "json", *args)
    )
    return data


def add(*extra: str, code: int = 0, actor: tuple[str, ...] = ()) -> str:
    return qmm(
        *actor,
        "evidence",
        "add",
        "--site",
        "SITE-A",
        "--title",
        "CAPA procedure",
        "--kind",
        "sop",
        "--owner",
        "CAPA Coordinator",
        "--effective",
        "2026-03-01",
        *extra,
        code=code,
    )


@pytest.fixture
def workspace(cli_database: str) -> str:
    qmm("init")
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    qmm("site", "add", "SITE-B", "--name", "Northfield")
    for user, role in (("alice", "site_quality_lead"), ("bob", "contributor"), ("vera", "viewer")):
        qmm("user", "add", user, "--name", user.title())
        qmm("user", "grant", user, role, "--site", "SITE-A")
    return cli_database


@pytest.fixture
def pdf(tmp_path: Path) -> Path:
    path = tmp_path / "capa-sop.pdf"
    path.write_bytes(tiny_pdf())
    return path


def test_every_evidence_command_has_help(workspace: str) -> None:
    for command in (
        "add",
        "list",
        "show",
        "update",
        "map",
        "attach",
        "retire",
        "coverage",
        "export",
        "verify",
    ):
        assert "Usage:" in qmm("evidence", command, "--help")


def test_add_list_show_update_map_attach_and_retire(workspace: str, pdf: Path) -> None:
    output = add("--link", LINK, "--review-by", "2028-03-01", "--sub-element", "capa_effectiveness")
    assert "Added EV-0001 to SITE-A" in output
    [item] = items()
    assert (item["ref"], item["link"], item["sub_elements"]) == (
        "EV-0001",
        LINK,
        ["capa_effectiveness"],
    )
    assert item["created_by"].startswith("system:")
    assert "CAPA Coordinator" in qmm("evidence", "show", "ev-0001", "--site", "SITE-A")

    qmm(
        "evidence",
        "update",
        "EV-0001",
        "--site",
        "SITE-A",
        "--title",
        "CAPA SOP rev 5",
        "--review-by",
        "",
    )
    qmm(
        "evidence",
        "map",
        "EV-0001",
        "--site",
        "SITE-A",
        "--sub-element",
        "change_management",
        "--sub-element",
        "capa_effectiveness",
    )
    assert "sha256" in qmm("evidence", "attach", "EV-0001", str(pdf), "--site", "SITE-A")
    shown = json.loads(qmm("evidence", "show", "EV-0001", "--site", "SITE-A", "--format", "json"))
    assert shown["title"] == "CAPA SOP rev 5"
    assert shown["review_by"] is None
    assert shown["sub_elements"] == ["capa_effectiveness", "change_management"]
    assert [f["filename"] for f in shown["files"]] == ["capa-sop.pdf"]
    assert items("--sub-element", "change_management")[0]["ref"] == "EV-0001"
    assert items("--kind", "policy") == []

    qmm("evidence", "retire", "EV-0001", "--site", "SITE-A", "--reason", "superseded")
    assert items() == []
    assert items("--retired")[0]["retired_reason"] == "superseded"
    log = json.loads(qmm("audit", "log", "--table", "evidence_items", "--format", "json"))
    assert log[-1]["reason"] == "superseded"


def test_a_file_alone_is_enough(workspace: str, pdf: Path) -> None:
    add("--file", str(pdf))
    assert items()[0]["files"][0]["content_type"] == "application/pdf"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ((), "needs a link to its record in the eQMS or at least one file"),
        (("--link", "ftp://x.example/y"), "must be an http:// or https://"),
        (("--link", LINK, "--kind", "memo"), "kind 'memo' is not one of"),
        (("--link", LINK, "--review-by", "soon"), "--review-by 'soon' must be a date"),
        (("--link", LINK, "--sub-element", "nope"), "nope is not in any published framework"),
        (("--link", LINK, "--file", "/no/such/file.pdf"), "cannot be read"),
    ],
)
def test_bad_input_is_refused_and_nothing_is_stored(
    workspace: str, extra: tuple[str, ...], message: str
) -> None:
    output = add(*extra, code=2)
    assert message in " ".join(output.split())
    assert items() == []


def test_a_file_that_is_not_what_it_says_is_refused(workspace: str, tmp_path: Path) -> None:
    fake = tmp_path / "report.pdf"
    fake.write_text("not a pdf")
    output = add("--link", LINK, "--file", str(fake), code=2)
    assert "file says .pdf but its content is not a PDF" in " ".join(output.split())
    assert items() == []


def test_a_file_over_the_limit_is_refused_before_reading(
    workspace: str, pdf: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QMM_EVIDENCE_MAX_BYTES", "100")
    get_settings.cache_clear()
    output = add("--file", str(pdf), code=2)
    assert "over the limit of 100 bytes" in " ".join(output.split())


def test_map_and_update_need_something_to_do(workspace: str) -> None:
    add("--link", LINK)
    assert "name at least one --sub-element" in qmm(
        "evidence", "map", "EV-0001", "--site", "SITE-A", code=2
    )
    assert "name at least one field" in qmm(
        "evidence", "update", "EV-0001", "--site", "SITE-A", code=2
    )
    qmm("evidence", "map", "EV-0001", "--site", "SITE-A", "--clear")
    assert items()[0]["sub_elements"] == []
    assert "EV-0042" in qmm("evidence", "show", "EV-0042", "--site", "SITE-A", code=2)


def test_changing_evidence_needs_evidence_manage_for_the_acting_user(
    workspace: str, pdf: Path
) -> None:
    assert "has no evidence:manage permission at SITE-A" in add(
        "--link", LINK, actor=("--as", "vera"), code=2
    )
    assert items() == []
    add("--link", LINK, actor=("--as", "bob"))
    add("--link", LINK, actor=("--as", "alice"))
    assert [i["created_by"] for i in items()] == ["bob", "alice"]
    for command in (
        ("retire", "EV-0001", "--site", "SITE-A", "--reason", "x"),
        ("attach", "EV-0001", str(pdf), "--site", "SITE-A"),
        ("map", "EV-0001", "--site", "SITE-A", "--clear"),
        ("update", "EV-0001", "--site", "SITE-A", "--title", "x"),
    ):
        assert "no evidence:manage permission" in qmm("--as", "vera", "evidence", *command, code=2)
    # Reading needs site:read, which the viewer has at SITE-A but nobody has at SITE-B.
    assert "EV-0002" in qmm("--as", "vera", "evidence", "list", "--site", "SITE-A")
    assert "no site:read permission at SITE-B" in qmm(
        "--as", "vera", "evidence", "list", "--site", "SITE-B", code=2
    )


def test_coverage_reports_gaps_and_ratings_without_evidence(workspace: str) -> None:
    add("--link", LINK, "--sub-element", "capa_effectiveness", "--review-by", "2026-04-01")
    qmm("assess", "create", "--site", "SITE-A", "--title", "FY26 self", "--lead", "alice")
    for question, score, ref in (
        ("capa_effectiveness.q1", "4", "EV-0001"),
        ("capa_effectiveness.q2", "3", "EV-0099"),
    ):
        qmm(
            "assess",
            "rate",
            "1",
            "--question",
            question,
            "--assessor",
            "alice",
            "--score",
            score,
            "--rationale",
            "seen",
            "--evidence",
            ref,
        )
    result = json.loads(
        qmm("evidence", "coverage", "--site", "SITE-A", "--today", "2026-09-01", "--format", "json")
    )
    assert result["sub_elements"] == 25
    assert len(result["sub_elements_without_evidence"]) == 24
    assert [o["ref"] for o in result["overdue_reviews"]] == ["EV-0001"]
    assert [r["question"] for r in result["unsupported_ratings"]] == ["capa_effectiveness.q2"]
    assert result["unknown_refs"] == ["EV-0099"]
    table = qmm("evidence", "coverage", "--site", "SITE-A", "--assessment", "1")
    assert "1/25 sub-elements have current evidence" in table
    assert "EV-0099" in table
    assert "not an assessment of SITE-B" in qmm(
        "evidence", "coverage", "--site", "SITE-B", "--assessment", "1", code=2
    )
    assert "has no assessment yet" in qmm("evidence", "coverage", "--site", "SITE-B", code=2)


def test_export_and_verify_name_every_changed_file(
    workspace: str, pdf: Path, tmp_path: Path
) -> None:
    add("--file", str(pdf), "--sub-element", "capa_effectiveness")
    bundle = tmp_path / "bundle"
    assert "Wrote 2 pages and 1 file(s) for 1 item(s)" in " ".join(
        qmm("evidence", "export", "--site", "SITE-A", "--out", str(bundle)).split()
    )
    assert "all 3 files match the manifest" in " ".join(
        qmm("evidence", "verify", str(bundle)).split()
    )
    assert "is not empty" in qmm(
        "evidence", "export", "--site", "SITE-A", "--out", str(bundle), code=2
    )

    (bundle / "index.html").write_text("changed")
    (bundle / "items/EV-0001.html").unlink()
    (bundle / "planted.html").write_text("new")
    output = qmm("evidence", "verify", str(bundle), code=1)
    assert "altered: index.html" in output
    assert "missing: items/EV-0001.html" in output
    assert "added (not in the manifest): planted.html" in output
    report = json.loads(qmm("evidence", "verify", str(bundle), "--format", "json", code=1))
    assert report["ok"] is False
    assert report["added"] == ["planted.html"]

    (bundle / "MANIFEST.sha256").write_text("garbage\n")
    assert "is malformed" in qmm("evidence", "verify", str(bundle), code=2)
    (bundle / "MANIFEST.sha256").unlink()
    assert "has no MANIFEST.sha256" in qmm("evidence", "verify", str(bundle), code=2)


def test_check_names_every_missing_or_damaged_stored_file(workspace: str, tmp_path: Path) -> None:
    """Issue 17, L4: a stored file changed on disk is reported as damaged, by name."""
    for name, text in (
        ("kept.txt", "kept\n"),
        ("changed.txt", "as attached\n"),
        ("lost.txt", "x\n"),
    ):
        path = tmp_path / name
        path.write_text(text)
        add("--file", str(path), "--title", name)
    assert "All 3 stored evidence files match their recorded hash" in " ".join(
        qmm("evidence", "check").split()
    )
    store = get_settings().evidence_dir
    by_content = {p.read_text(): p for p in store.glob("*/*")}
    by_content["as attached\n"].write_text("changed on disk\n")
    by_content["x\n"].unlink()

    output = " ".join(qmm("evidence", "check", code=1).split())

    assert "SITE-A EV-0002 changed.txt: the stored file no longer matches its recorded hash" in (
        output
    )
    assert "SITE-A EV-0003 lost.txt: the stored file is missing" in output
    assert "kept.txt" not in output
    report = json.loads(qmm("evidence", "check", "--format", "json", code=1))
    assert [(p["ref"], p["problem"]) for p in report["problems"]] == [
        ("EV-0002", "damaged"),
        ("EV-0003", "missing"),
    ]
    # The bundle export names the damaged file too, as a clear error.
    output = qmm("evidence", "export", "--site", "SITE-A", "--out", str(tmp_path / "b"), code=1)
    assert "no longer matches its recorded hash" in output


@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-folder", "dangling"])
def test_export_to_a_symlink_is_refused_clearly(
    workspace: str, tmp_path: Path, dangling: bool
) -> None:
    """Issue 17, L4: --out naming a symbolic link is refused with a message, not a traceback."""
    elsewhere = tmp_path / "elsewhere"
    if not dangling:
        elsewhere.mkdir()
    link = tmp_path / "bundle"
    link.symlink_to(elsewhere)
    result = runner.invoke(app, ["evidence", "export", "--site", "SITE-A", "--out", str(link)])
    assert result.exit_code == 2, result.output
    assert "is a symbolic link" in result.output
    assert "Traceback" not in result.output
    assert not isinstance(result.exception, OSError)
    assert link.is_symlink()
    assert not elsewhere.exists() or list(elsewhere.iterdir()) == []
