"""`qmm metrics`: KPI values per site and period, the records behind them, control charts."""

from __future__ import annotations

import csv
import io
import json
import sys
from datetime import date
from enum import StrEnum
from typing import Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from qmm.cli.common import (
    OutputFormat,
    boundary,
    console,
    err_console,
    fail,
    parse_day,
    print_json,
    print_table,
)
from qmm.db import get_engine
from qmm.metrics.catalogue import get_kpi
from qmm.metrics.control_charts import BaselineError, ControlChart
from qmm.metrics.engine import compute, records
from qmm.metrics.schemas import ControlChartOut, KPIRefreshOut, KPIValueOut
from qmm.metrics.service import (
    em_trend_for_site,
    extract_dates,
    kpi_series,
    kpi_values_freshness,
    open_tables,
    refresh_kpi_values,
)
from qmm.migrate import current_revision, database_problem, head_revision
from qmm.presentation.charts import vega_lite_spec
from qmm.spreadsheet_text import neutralise

app = typer.Typer(
    help="KPIs computed from the imported records: values, drill-down, control charts.",
    invoke_without_command=True,
    no_args_is_help=False,
)


class MetricsFormat(StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


class Period(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


def _print_csv(rows: list[dict[str, Any]], *, empty_header: str) -> None:
    """Rows as CSV on stdout, header from the first row's keys."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else [empty_header])
    writer.writeheader()
    writer.writerows(
        {k: neutralise(v) if isinstance(v, str) else v for k, v in row.items()} for row in rows
    )
    sys.stdout.write(buffer.getvalue())


def _as_of(text: str | None) -> date | None:
    return parse_day(text, option="--as-of") if text else None


def _fmt_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" if unit == "ratio" else f"{value:.2f}"


@app.callback()
def metrics(
    ctx: typer.Context,
    site: list[str] = typer.Option([], "--site", help="Site code; repeat. Default: all."),
    kpi: list[str] = typer.Option([], "--kpi", help="KPI id; repeat. Default: all."),
    period: Period = typer.Option(Period.month, "--period", help="month, quarter or year."),
    start: str | None = typer.Option(None, "--from", help="First period, e.g. 2025-01."),
    end: str | None = typer.Option(None, "--to", help="Last period, e.g. 2025-12."),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this day."),
    fmt: MetricsFormat = typer.Option(MetricsFormat.table, "--format", help="table, json, csv."),
) -> None:
    """Compute KPIs per site and period; JSON exactly as the data contract shows."""
    if ctx.invoked_subcommand is not None:
        return
    with boundary() as session:
        values = compute(
            open_tables(session),
            kpis=kpi or None,
            sites=site or None,
            period=period.value,
            start=start,
            end=end,
            as_of=_as_of(as_of),
            extract_dates=extract_dates(session),
        )
    rows = [KPIValueOut.of(v).model_dump(mode="json") for v in values]
    if fmt is MetricsFormat.json:
        sys.stdout.write(json.dumps(rows, indent=2, allow_nan=False) + "\n")
        return
    if fmt is MetricsFormat.csv:
        _print_csv(rows, empty_header="kpi")
        return
    days = sorted({v.as_of.isoformat() for v in values if v.as_of is not None})
    print_table(
        f"KPIs per {period.value}" + (f", data as of {', '.join(days)}" if days else ""),
        ["kpi", "site", "period", "group", "value", "n"],
        [
            [
                v.kpi,
                v.site,
                v.period if v.complete else f"{v.period} (partial)",
                v.group or "",
                _fmt_value(v.value, get_kpi(v.kpi).unit),
                f"{v.numerator}/{v.denominator}" if v.numerator is not None else v.denominator,
            ]
            for v in values
        ],
    )


@app.command("records")
def records_(
    kpi: str = typer.Option(..., "--kpi", help="KPI id."),
    site: str = typer.Option(..., "--site", help="Site code."),
    period_value: str = typer.Option(..., "--period", help="The period, e.g. 2025-03, 2025-Q1."),
    group: str | None = typer.Option(None, "--group", help="Risk tier or grade, for those KPIs."),
    as_of: str | None = typer.Option(None, "--as-of", help="Evaluate as of this day."),
    fmt: MetricsFormat = typer.Option(MetricsFormat.table, "--format", help="table, json, csv."),
) -> None:
    """The records behind one value, numerator and denominator marked."""
    kind = "year" if len(period_value) == 4 else ("quarter" if "Q" in period_value else "month")
    with boundary() as session:
        try:
            rows = records(
                open_tables(session),
                kpi=kpi,
                site=site,
                period_value=period_value,
                period=kind,
                group=group,
                as_of=_as_of(as_of),
                extract_dates=extract_dates(session),
            )
        except (KeyError, ValueError) as exc:
            fail(str(exc.args[0]) if exc.args else str(exc))
    if fmt is MetricsFormat.json:
        print_json(rows)
        return
    if fmt is MetricsFormat.csv:
        _print_csv(rows, empty_header="role")
        return
    columns = list(rows[0]) if rows else ["role"]
    print_table(
        f"{kpi} at {site}, {period_value}: {len(rows)} record(s)",
        columns,
        [[r.get(c) for c in columns] for r in rows],
    )


@app.command("chart")
def chart(
    kpi: str = typer.Option(..., "--kpi", help="KPI id."),
    site: str = typer.Option(..., "--site", help="Site code."),
    group: str | None = typer.Option(None, "--group", help="Risk tier or grade, for those KPIs."),
    period: Period = typer.Option(Period.month, "--period", help="month, quarter or year."),
    start: str | None = typer.Option(None, "--from", help="First period."),
    end: str | None = typer.Option(None, "--to", help="Last period."),
    fmt: str = typer.Option("table", "--format", help="table, json or vega (a Vega-Lite spec)."),
    baseline: str | None = typer.Option(
        None,
        "--baseline",
        help="FROM:TO periods (e.g. 2025-01:2025-12) the limits come from; later periods are "
        "judged against them. Default: limits from every period shown.",
    ),
) -> None:
    """A control chart of one KPI at one site, with the Nelson-rule signals it shows."""
    if fmt not in {"table", "json", "vega"}:
        fail(f"--format {fmt!r} is not one of table, json, vega")
    definition = get_kpi(kpi)
    with boundary() as session:
        values = compute(
            open_tables(session),
            kpis=[kpi],
            sites=[site],
            period=period.value,
            start=start,
            end=end,
            extract_dates=extract_dates(session),
        )
        try:
            series = kpi_series(values, kpi=kpi, site=site, group=group, baseline=baseline)
        except BaselineError as exc:
            fail(str(exc))
    if fmt == "json":
        print_json(
            ControlChartOut.of(
                series.chart,
                kpi=kpi,
                site=site,
                group=group,
                period=period.value,
                target=definition.target(group),
            )
        )
        return
    if fmt == "vega":
        print_json(vega_lite_spec(series.chart, f"{definition.name}, {site}", definition.unit))
        return
    c = series.chart
    print_table(
        f"{definition.name} at {site}"
        + (f" ({group})" if group else "")
        + f": {'p-chart' if c.kind == 'p' else 'individuals chart'}",
        ["period", "phase", "value", "n", "centre", "LCL", "UCL"],
        [
            [
                v.period,
                c.phase(i),
                "no data" if v.value is None else _fmt_value(v.value, definition.unit),
                f"{v.numerator}/{v.denominator}" if v.numerator is not None else v.denominator,
                _fmt_value(c.center[i], definition.unit),
                _fmt_value(c.lcl[i], definition.unit),
                _fmt_value(c.ucl[i], definition.unit),
            ]
            for i, v in enumerate(series.values)
        ],
    )
    if not c.signals:
        console.print("No Nelson-rule signal: the variation looks like noise.")
    for signal in c.signals:
        points = ", ".join(c.labels[i] for i in signal.indexes)
        console.print(
            f"Signal, rule {signal.rule}: {signal.description} ({points})", highlight=False
        )


def _signal_summary(chart: ControlChart) -> str:
    """The rules a chart breaks, each once, and how many signals in all."""
    if not chart.signals:
        return "none"
    rules = sorted({s.rule for s in chart.signals})
    return f"rules {', '.join(map(str, rules))} ({len(chart.signals)} signals)"


@app.command("em-trend")
def em_trend_(
    site: str = typer.Option(..., "--site", help="Site code."),
    fmt: str = typer.Option("table", "--format", help="table or json."),
) -> None:
    """EM excursion rate per room and grade per month, with the signals each chart shows."""
    with boundary() as session:
        charts = em_trend_for_site(session, site=site)
    if fmt == "json":
        print_json([{"room": r, "grade": g, **c.to_json()} for r, g, c in charts])
        return
    rows: list[list[Any]] = []
    for room, grade, c in charts:
        last = next((v for v in reversed(c.values) if v is not None), None)
        rows.append(
            [
                room,
                grade,
                len(c.labels),
                "-" if last is None else f"{last:.1%}",
                _signal_summary(c),
            ]
        )
    print_table(
        f"EM excursion trend at {site}", ["room", "grade", "months", "last month", "signals"], rows
    )


@app.command("refresh")
def refresh(
    if_stale: bool = typer.Option(
        False, "--if-stale", help="Leave the stored values alone when they are current."
    ),
    fmt: OutputFormat = typer.Option(OutputFormat.table, "--format", help="table or json."),
) -> None:
    """Compute and store every KPI value again: after an upgrade, for a store whose values were
    never stored, or when pages show them as refreshing. Imports keep them current themselves."""
    progress = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
        disable=fmt is OutputFormat.json,
    )
    problem = database_problem()
    if problem is None and current_revision(get_engine()) != head_revision():
        problem = (
            "the app database is from an earlier version and has no table for stored KPI "
            "values yet: run `qmm init` to upgrade it first"
        )
    if problem is not None:
        fail(problem)
    with progress, boundary(writer=True) as session:
        before = kpi_values_freshness(session)
        if if_stale and before == "fresh":
            out = KPIRefreshOut(before=before, refreshed=False, values=0, batch_id=None)
        else:
            task = progress.add_task("Computing KPI values", total=None)

            def step(done: int, total: int, what: str) -> None:
                progress.update(task, completed=done, total=total, description=what[:60])

            result = refresh_kpi_values(session, progress=step)
            out = KPIRefreshOut(
                before=before, refreshed=True, values=result.rows, batch_id=result.batch_id
            )
    if fmt is OutputFormat.json:
        print_json(out.model_dump(mode="json"))
        return
    if not out.refreshed:
        console.print("The stored KPI values are current; nothing was computed.")
        return
    version = "an empty store" if out.batch_id is None else f"import batch {out.batch_id}"
    console.print(
        f"Stored {out.values} KPI values (were {out.before}), current up to {version}.",
        highlight=False,
    )
