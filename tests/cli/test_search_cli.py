"""`qmm search WORDS` and `qmm search reindex`: the web's search, from the command line."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from qmm.cli.main import app

runner = CliRunner()


def qmm(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output + str(result.exception or "")
    return result.output


@pytest.fixture
def workspace(cli_database: str) -> str:
    qmm("site", "add", "SITE-A", "--name", "Riverside")
    qmm("site", "add", "SITE-B", "--name", "Northfield")
    qmm("user", "add", "vera", "--name", "Vera")
    qmm("user", "grant", "vera", "viewer", "--site", "SITE-B")
    for site in ("SITE-A", "SITE-B"):
        qmm(
            "evidence", "add", "--site", site, "--title", f"Lyophiliser loading SOP of {site}",
            "--kind", "sop", "--owner", "QA", "--effective", "2026-03-01",
            "--link", "https://eqms.example.invalid/documents/SOP-1",
        )  # fmt: skip
    return cli_database


def test_every_search_command_has_help(workspace: str) -> None:
    assert "reindex" in qmm("search", "--help")
    for command in ("find", "reindex"):
        assert "Usage" in qmm("search", command, "--help")


def test_search_words_as_the_acting_user(workspace: str) -> None:
    everything = json.loads(qmm("search", "lyophiliser", "--format", "json"))
    assert everything["sites"] == ["SITE-A", "SITE-B"]
    assert everything["kinds"][0]["total"] == 2
    vera = json.loads(qmm("--as", "vera", "search", "lyophil", "--format", "json"))
    assert [h["site"] for h in vera["kinds"][0]["hits"]] == ["SITE-B"]
    table = qmm("search", "loading", "sop")
    assert "Evidence: 2 (showing 2)" in table
    assert "EV-0001" in table
    assert "Nothing matches" in qmm("search", "find", "reindex")


@pytest.mark.parametrize(
    ("words", "message"),
    [(("***",), "no letter or digit"), (("x" * 201,), "at most 200"), (("",), "Type a word")],
)
def test_a_search_that_cannot_run_says_why(
    workspace: str, words: tuple[str, ...], message: str
) -> None:
    assert message in qmm("search", *words, code=2)


def test_reindex_rebuilds_and_search_still_finds(workspace: str) -> None:
    assert "Reindexed" in qmm("search", "reindex")
    assert json.loads(qmm("search", "lyophiliser", "--format", "json"))["total"] == 2
