"""Interop operations: MLflow import/export, in-toto provenance, Parquet tables."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlog.api import open_store, refs
from mlog.errors import UsageError

if TYPE_CHECKING:
    from mlog.interop import intoto, mlflow, parquet


def import_mlflow(
    *, cwd: Path, tracking_uri: str, experiments: list[str], model: str | None = None
) -> mlflow.ImportResult:
    """Every run of the named MLflow experiments (all when none) as an imported record."""
    from mlog.interop import mlflow

    store = open_store(cwd)
    return mlflow.import_runs(
        store, tracking_uri=tracking_uri, experiments=experiments, model=model
    )


def export_mlflow(
    *, cwd: Path, refs_: list[str], all_runs: bool, tracking_uri: str, experiment: str | None
) -> mlflow.ExportResult:
    """The named runs (or all) as MLflow runs, with the registry's versions as model versions."""
    from mlog.interop import mlflow

    store = open_store(cwd)
    run_ids = _run_ids(store, refs_, all_runs)
    return mlflow.export_runs(store, run_ids, tracking_uri=tracking_uri, experiment=experiment)


def _run_ids(store: Any, refs_: list[str], all_runs: bool) -> list[str]:
    if all_runs and refs_:
        raise UsageError("give run references or --all, not both")
    if all_runs:
        return list(store.run_ids())
    if not refs_:
        raise UsageError("no runs named (give RUN references, or --all for every run)")
    return list(dict.fromkeys(refs.resolve(store, ref) for ref in refs_))


def export_intoto(*, cwd: Path, ref: str) -> intoto.Statement:
    """The in-toto Statement (SLSA Provenance v1) of a run or ``MODEL@VERSION``."""
    from mlog.interop import intoto

    store = open_store(cwd)
    return intoto.statement(store, refs.resolve(store, ref), ref=ref)


def sign_intoto(*, cwd: Path, statement: intoto.Statement) -> dict[str, Any]:
    """A DSSE envelope around the statement, signed with git's ssh signing key."""
    from mlog.interop import intoto

    return intoto.sign(open_store(cwd), statement)


def verify_provenance(*, cwd: Path, path: Path) -> intoto.Verification:
    """Re-hash a provenance file's subjects in the working tree and check its signature."""
    from mlog.interop import intoto

    return intoto.verify(open_store(cwd), path)


def export_parquet(
    *, cwd: Path, output: Path, where: str | None, csv: bool, series: bool
) -> parquet.TableResult:
    """One row per run (and one per series point with ``series``) as Parquet or CSV."""
    from mlog.interop import parquet
    from mlog.query import listing

    store = open_store(cwd)
    rows = listing.list_runs(store, where=where, sort=None, limit=None, columns=())
    run_ids = sorted(str(row["id"]) for row in rows)
    return parquet.write_tables(store, run_ids, output=output, csv=csv, series=series)
