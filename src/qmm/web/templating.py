"""Jinja2 templates for the pages, with the few filters the numbers and times need."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Final

import jinja2
from fastapi import Request
from starlette.responses import HTMLResponse
from starlette.templating import Jinja2Templates

from qmm.metrics.catalogue import KPIDefinition
from qmm.web.kpi_views import format_value
from qmm.web.security import CSRF_FIELD, Principal

TEMPLATES_DIR: Final = Path(__file__).parent / "templates"
STATIC_DIR: Final = Path(__file__).parent / "static"


def format_score(value: float | None, digits: int = 2) -> str:
    """A score to two decimals; a missing one says so in words rather than showing 0."""
    return "not scored" if value is None else f"{value:.{digits}f}"


def format_utc(value: datetime | None) -> str:
    """A timestamp in UTC, labelled, so nobody has to guess the time zone."""
    if value is None:
        return ""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def format_kpi_value(value: float | None, definition: KPIDefinition) -> str:
    """A KPI value in its unit (a ratio as a percentage)."""
    return format_value(definition, value)


def format_cell(value: Any) -> str:
    """A record's field for a table: times in UTC, dates as ISO, numbers without noise."""
    if isinstance(value, datetime):
        return format_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:,.2f}".rstrip("0").rstrip(".") if value == value else ""
    return str(value)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES_DIR),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["score"] = format_score
    env.filters["utc"] = format_utc
    env.filters["kpi_value"] = format_kpi_value
    env.filters["cell"] = format_cell
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
