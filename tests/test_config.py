"""Settings come from the environment with defaults that need no configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from qmm.config import Settings


def test_the_default_database_is_a_sqlite_file_in_the_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("QMM_DATABASE_URL", raising=False)
    monkeypatch.setenv("QMM_DATA_DIR", str(tmp_path))
    assert Settings().resolved_database_url == f"sqlite:///{tmp_path / 'qmm.sqlite3'}"


def test_a_database_url_overrides_the_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("QMM_DATABASE_URL", "postgresql+psycopg://u@h/db")
    assert Settings().resolved_database_url == "postgresql+psycopg://u@h/db"


def test_the_data_dir_defaults_to_a_per_user_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QMM_DATA_DIR", raising=False)
    assert "qmm-workbench" in str(Settings().data_dir)
