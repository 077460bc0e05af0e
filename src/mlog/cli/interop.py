"""``mlog import``, ``mlog export`` and ``mlog verify-provenance``: what enters or leaves mlog."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from mlog.cli.common import JsonOption, cwd, handle_errors

TrackingUri = Annotated[
    str,
    typer.Option(
        "--tracking-uri",
        help="MLflow tracking URI, e.g. sqlite:///mlflow.db, http://host:5000, databricks.",
    ),
]


def register(app: typer.Typer) -> None:
    import_app = typer.Typer(
        help="Bring runs in from another tool (MLflow), keeping every field.",
        no_args_is_help=True,
    )
    export_app = typer.Typer(
        help="Hand runs out: to MLflow, as in-toto / SLSA provenance, as Parquet or CSV.",
        no_args_is_help=True,
    )
    app.add_typer(import_app, name="import")
    app.add_typer(export_app, name="export")
    import_app.command("mlflow")(import_mlflow_command)
    export_app.command("mlflow")(export_mlflow_command)
    export_app.command("in-toto")(export_intoto_command)
    export_app.command("parquet")(export_parquet_command)
    app.command("verify-provenance")(verify_provenance_command)


@handle_errors
def import_mlflow_command(
    tracking_uri: TrackingUri,
    experiment: Annotated[
        list[str] | None,
        typer.Option("--experiment", "-e", help="Import only this experiment (repeatable)."),
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Model name of runs that carry none (default: the config's)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Import MLflow runs as records marked `imported`, once (re-running skips them).

    Keeps status, times, params, every metric point (step, value, time), tags, git
    commit and source, dataset inputs with digests, and artifact paths.

    Examples:

        mlog import mlflow --tracking-uri sqlite:///mlflow.db
        mlog import mlflow --tracking-uri http://127.0.0.1:5000 --experiment fraud
        mlog import mlflow --tracking-uri ./mlruns --json | jq '.imported | length'
    """
    from mlog import ui
    from mlog.api import interop

    result = interop.import_mlflow(
        cwd=cwd(), tracking_uri=tracking_uri, experiments=list(experiment or []), model=model
    )
    if json_output:
        ui.print_json(result.to_json())
        return
    for row in result.imported:
        ui.print_text(f"imported {row['mlflow_run']} as {row['note']} ({row['run']})")
    refused = [row for row in result.skipped if not row["run"]]
    for row in refused:
        ui.warning(f"not imported: MLflow run {row['mlflow_run']}: {row['note']}")
    here = len(result.skipped) - len(refused)
    ui.success(f"{len(result.imported)} imported, {here} already here, {len(refused)} refused")


@handle_errors
def export_mlflow_command(
    tracking_uri: TrackingUri,
    refs: Annotated[
        list[str] | None, typer.Argument(help="Runs to export (vN, id, MODEL@VERSION...).")
    ] = None,
    all_runs: Annotated[bool, typer.Option("--all", help="Export every run.")] = False,
    experiment: Annotated[
        str | None,
        typer.Option("--experiment", "-e", help="MLflow experiment (default: the config's model)."),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Export runs to MLflow, and registry versions as registered model versions.

    Runs already exported to the experiment are not duplicated. The production version
    gets the MLflow alias `champion`.

    Examples:

        mlog export mlflow --all --tracking-uri sqlite:///mlflow.db
        mlog export mlflow v3 v4 --tracking-uri http://127.0.0.1:5000 --experiment fraud
    """
    from mlog import ui
    from mlog.api import interop

    result = interop.export_mlflow(
        cwd=cwd(),
        refs_=list(refs or []),
        all_runs=all_runs,
        tracking_uri=tracking_uri,
        experiment=experiment,
    )
    if json_output:
        ui.print_json(result.to_json())
        return
    done = [row for row in result.runs if row["note"] == "exported"]
    for row in done:
        ui.print_text(f"exported {row['run']} as MLflow run {row['mlflow_run']}")
    for row in result.versions:
        aliases = f" ({', '.join(row['aliases'])})" if row["aliases"] else ""
        target = f"version {row['mlflow_version']}{aliases}"
        ui.print_text(f"{row['model']}@{row['version']} -> {target}")
    ui.success(
        f"{len(done)} exported, {len(result.runs) - len(done)} already in "
        f"experiment {result.experiment}"
    )


@handle_errors
def export_intoto_command(
    ref: Annotated[str, typer.Argument(help="A run (vN, id, latest) or MODEL@VERSION.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write to FILE instead of stdout.")
    ] = None,
    sign: Annotated[
        bool,
        typer.Option("--sign", help="Wrap in a DSSE envelope signed with git's ssh signing key."),
    ] = False,
) -> None:
    """Write an in-toto Statement v1 with SLSA Provenance v1 for a run or model version.

    Subjects are the run's artifacts with their sha256; the predicate names the git commit,
    every dataset with its digest, the command line and params, the builder and times.

    Examples:

        mlog export in-toto v3
        mlog export in-toto fraud@2 -o fraud-2.intoto.json
        mlog export in-toto fraud@2 --sign -o fraud-2.dsse.json
    """
    from mlog import ui
    from mlog.api import interop

    statement = interop.export_intoto(cwd=cwd(), ref=ref)
    document: Any = statement.document
    if sign:
        document = interop.sign_intoto(cwd=cwd(), statement=statement)
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if output is None:
        ui.print_text(text.rstrip("\n"))
        return
    output.write_text(text, encoding="utf-8")
    ui.success(f"wrote {output} ({len(statement.document['subject'])} subject(s))")


@handle_errors
def verify_provenance_command(
    path: Annotated[
        Path, typer.Argument(help="A statement or DSSE envelope from `export in-toto`.")
    ],
    json_output: JsonOption = False,
) -> None:
    """Check a provenance file: re-hash its subjects here and verify its signature.

    Fails (exit 1) when a subject's sha256 differs from the file in the working tree or a
    signature does not verify against `.mlog/allowed_signers`.

    Examples:

        mlog verify-provenance fraud-2.dsse.json
        mlog verify-provenance v3.intoto.json --json
    """
    from mlog import ui
    from mlog.api import interop
    from mlog.errors import CheckFailed

    report = interop.verify_provenance(cwd=cwd(), path=path)
    if json_output:  # the report is the output; the exit code says whether it verified
        ui.print_json(report.to_json())
        if not report.ok:
            raise typer.Exit(CheckFailed.exit_code)
        return
    for line in report.lines():
        ui.print_text(line)
    if not report.ok:
        raise CheckFailed(f"provenance does not verify: {report.summary()}")
    ui.success(f"provenance verified: {report.summary()}")


@handle_errors
def export_parquet_command(
    output: Annotated[Path, typer.Option("--output", "-o", help="File to write (runs.parquet).")],
    where: Annotated[
        str | None,
        typer.Option("--where", "-w", help="Only runs matching this query (query-language.md)."),
    ] = None,
    csv: Annotated[bool, typer.Option("--csv", help="Write CSV instead of Parquet.")] = False,
    series: Annotated[
        bool,
        typer.Option(
            "--series", help="Also write the series points to a second file (<name>.series.*)."
        ),
    ] = False,
) -> None:
    """Export one row per run (identity, status, times, commit, params, metrics, digests).

    For DuckDB, Spark or a warehouse: query the runs of many repositories at once.

    Examples:

        mlog export parquet -o runs.parquet
        mlog export parquet --where 'status = "succeeded"' -o ok.csv --csv
        mlog export parquet -o runs.parquet --series
        duckdb -c "select id, \\"metrics.auc\\" from 'runs.parquet' order by 2 desc"
    """
    from mlog import ui
    from mlog.api import interop

    result = interop.export_parquet(cwd=cwd(), output=output, where=where, csv=csv, series=series)
    for path, rows in result.files:
        ui.print_text(f"wrote {path} ({rows} rows)")
