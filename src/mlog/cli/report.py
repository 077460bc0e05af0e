"""``mlog report``: one self-contained HTML page with charts of the selected runs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from mlog.cli.common import Command, JsonOption, cwd, handle_errors


def register(app: typer.Typer) -> None:
    app.command("report", cls=Command)(report_command)


@handle_errors
def report_command(
    refs: Annotated[
        list[str] | None,
        typer.Argument(
            help="Runs to show (vN, latest~K, run id, MODEL@VERSION); default: all.",
            metavar="[RUN]...",
        ),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option("--where", "-w", help="Keep runs matching a query, as in `mlog ls`."),
    ] = None,
    last: Annotated[
        int | None,
        typer.Option("--last", "-n", help="Keep the newest N runs (default 100 without REFs)."),
    ] = None,
    output: Annotated[Path, typer.Option("--output", "-o", help="The HTML file to write.")] = Path(
        "report.html"
    ),
    open_page: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser when written.")
    ] = False,
    json_output: JsonOption = False,
) -> None:
    """Write one self-contained HTML page: runs table, series and metric charts, diff, registry.

    Everything is inline (styles, the BokehJS script, the data), so the file opens offline,
    from a CI artifact or a pull request; tables read without JavaScript. Charts need the
    `report` extra: `pip install 'mlog-cli[report]'`.

    Examples:

        mlog report                                # the newest 100 runs -> report.html
        mlog report --last 20 --open
        mlog report --where "model = 'fraud' and status = 'succeeded'" -o fraud.html
        mlog report champion latest -o pr.html     # two runs: their diff too
    """
    from mlog import ui
    from mlog.api import report

    written = report.report(cwd=cwd(), output=output, run_refs=refs or [], where=where, last=last)
    for warning in written.warnings:
        ui.warning(warning)
    if json_output:
        ui.print_json(written.to_json())
    else:
        ui.success(f"wrote {written.path} ({written.runs} runs, {written.bytes / 1e6:.1f} MB)")
    if open_page:
        import webbrowser

        webbrowser.open(written.path.resolve().as_uri())
