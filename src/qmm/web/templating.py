"""Jinja2 templates for the pages, with the presentation layer's formats as filters."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

import jinja2
from fastapi import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from qmm.presentation.formatting import format_cell, format_kpi_value, format_score, format_utc
from qmm.presentation.labels import (
    STATISTIC_HINTS,
    column_label,
    question_label,
    question_number,
    site_type_label,
    table_label,
    value_label,
)
from qmm.presentation.partials import PARTIALS_DIR
from qmm.web.security import CSRF_FIELD, Principal

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.ChoiceLoader(
            [jinja2.FileSystemLoader(TEMPLATES_DIR), jinja2.FileSystemLoader(PARTIALS_DIR)]
        ),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["score"] = format_score
    env.filters["utc"] = format_utc
    env.filters["kpi_value"] = format_kpi_value
    env.filters["cell"] = format_cell
    env.filters["site_type"] = site_type_label
    env.filters["question_label"] = question_label
    env.filters["question_number"] = question_number
    env.globals["column_label"] = column_label
    env.globals["value_label"] = value_label
    env.globals["table_label"] = table_label
    env.globals["statistic_hints"] = STATISTIC_HINTS
    env.globals["csrf_field"] = CSRF_FIELD
    return env


TEMPLATES: Final = Jinja2Templates(env=_environment())


def render(
    request: Request,
    name: str,
    *,
    principal: Principal | None,
    status_code: int = 200,
    **context: Any,
) -> HTMLResponse:
    """Render a page; the layout needs who is signed in and their CSRF token for sign-out."""
    context.setdefault("csrf_token", principal.csrf_token if principal else "")
    context.setdefault("title", "QMM Workbench")
    context.setdefault("breadcrumbs", [])
    return TEMPLATES.TemplateResponse(
        request, name, {"principal": principal, **context}, status_code=status_code
    )


def render_text(name: str, **context: Any) -> str:
    """Render a template without a request (the last-resort error page)."""
    context.setdefault("principal", None)
    context.setdefault("csrf_token", "")
    context.setdefault("title", "QMM Workbench")
    context.setdefault("breadcrumbs", [])
    return TEMPLATES.get_template(name).render(**context)
