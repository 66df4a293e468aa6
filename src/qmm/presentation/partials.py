"""Template partials the pages and the reports both include, so a figure is drawn one way."""

from __future__ import annotations

from pathlib import Path
from typing import Final

#: The shared partials (the cohort band); each face's own templates are searched first.
PARTIALS_DIR: Final = Path(__file__).parent / "templates"
