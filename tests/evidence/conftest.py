"""Evidence tests keep their stored files in a data directory of their own."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from qmm.config import get_settings


@pytest.fixture(autouse=True)
def evidence_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Point QMM_DATA_DIR at a fresh folder; returns where the evidence files go."""
    monkeypatch.setenv("QMM_DATA_DIR", str(tmp_path / "data"))
    get_settings.cache_clear()
    yield tmp_path / "data" / "evidence-files"
    get_settings.cache_clear()
