"""MLflow in and out: runs with their series, tags, datasets, and registered model versions.

Everything mlog knows that MLflow has no field for travels in ``mlog.*`` tags, so a record
exported and imported again comes back equal (docs/interop.md has the field mapping).
The ``mlflow`` package is imported only here, inside the functions that need it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from mlog.errors import NotFoundError, RecordError, UsageError
from mlog.interop.common import iso_to_ms, load_series, ms_to_iso, require, series_bytes
from mlog.storage import records, yamlio
from mlog.storage.redact import redact_mapping, strip_url_credentials
from mlog.storage.store import SERIES_FILE, Store

SHA = re.compile(r"^[0-9a-f]{40}$")
RUN_ID = re.compile(r"^\d{8}T\d{12}Z-[0-9a-f]{8}$")
STATUS_IN = {"FINISHED": "succeeded", "FAILED": "failed", "KILLED": "interrupted"}
STATUS_OUT = {"succeeded": "FINISHED", "failed": "FAILED", "interrupted": "KILLED"}
# MLflow system tags that have a field of their own in a record.
MAPPED_TAGS = (
    "mlflow.note.content", "mlflow.source.git.commit", "mlflow.source.git.branch",
    "mlflow.source.git.repoURL", "mlflow.user", "mlflow.runName",
)  # fmt: skip
MAX_TAG = 8000  # MLflow's limit on a tag value
MAX_PARAM = 6000  # and on a param value
BATCH = 900  # MLflow accepts at most 1000 entities per log_batch


def client(tracking_uri: str) -> Any:
    """An MLflow client for the tracking and registry store at ``tracking_uri``."""
    require("mlflow", "mlflow")
    for name in ("mlflow", "alembic"):  # keep the store's migration chatter off the terminal
        logging.getLogger(name).setLevel(logging.WARNING)
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


def clean_uri(uri: str) -> str:
    """The tracking URI as a record may keep it: no user, password or token."""
    return strip_url_credentials(uri)


# ================================================================== import


@dataclass
class ImportResult:
    imported: list[dict[str, Any]] = field(default_factory=list)
    skipped: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"imported": self.imported, "skipped": self.skipped}


def import_runs(
    store: Store, *, tracking_uri: str, experiments: list[str], model: str | None = None
) -> ImportResult:
    """Each MLflow run of ``experiments`` (all when empty) becomes a record, once."""
    from mlog.registry.events import check_model_name

    if model is not None:
        check_model_name(model)
    mlflow_client = client(tracking_uri)
    source = clean_uri(tracking_uri)
    result = ImportResult()
    from mlog.query import index

    with store.lock():  # aliases are taken in order, as `mlog run` takes them
        known = _imported_index(store)
        taken = set(index.alias_numbers(store).values())
        taken.update(_alias_number(p.get("alias", "")) for p in store.pending_runs().values())
        for experiment, run in _all_runs(mlflow_client, experiments):
            existing = known.get((source, run.info.run_id)) or known.get(
                ("id", run.data.tags.get("mlog.id", ""))
            )
            if existing:
                result.skipped.append(_row(run, existing, "already imported"))
                continue
            record, points = _record(mlflow_client, run, experiment, source, model, store)
            record["alias"] = f"v{max(taken, default=0) + 1}"
            try:
                _write(store, record, points)
            except RecordError as exc:  # one bad run does not stop the others
                result.skipped.append(_row(run, "", str(exc)))
                continue
            taken.add(int(record["alias"][1:]))
            known[(source, run.info.run_id)] = record["id"]
            result.imported.append(_row(run, record["id"], record["alias"]))
    return result


def _alias_number(alias: str) -> int:
    return int(alias[1:]) if alias[1:].isdigit() else 0


def _row(run: Any, record_id: str, note: str) -> dict[str, Any]:
    return {"mlflow_run": run.info.run_id, "run": record_id, "note": note}


def _imported_index(store: Store) -> dict[tuple[str, str], str]:
    """(tracking URI, MLflow run id) and ("id", record id) -> record id, for idempotence."""
    index: dict[tuple[str, str], str] = {}
    for run_id in store.run_ids():
        index[("id", run_id)] = run_id
        imported = store.load_record(run_id).get("imported")
        if isinstance(imported, dict):
            index[(str(imported.get("tracking_uri")), str(imported.get("run_id")))] = run_id
    return index


def _all_runs(mlflow_client: Any, names: list[str]) -> list[tuple[Any, Any]]:
    """(experiment, run) of every run, oldest first, so aliases follow the order of the runs."""
    found = [
        (experiment, run)
        for experiment in _experiments(mlflow_client, names)
        for run in _runs(mlflow_client, [experiment.experiment_id])
    ]
    return sorted(found, key=lambda pair: (pair[1].info.start_time or 0, pair[1].info.run_id))


def _experiments(mlflow_client: Any, names: list[str]) -> list[Any]:
    if not names:
        return list(mlflow_client.search_experiments())
    found = []
    for name in names:
        experiment = mlflow_client.get_experiment_by_name(name)
        if experiment is None:
            raise NotFoundError(f"no MLflow experiment named {name!r} (check --experiment)")
        found.append(experiment)
    return found


def _runs(mlflow_client: Any, experiment_ids: list[str]) -> list[Any]:
    """Every run, oldest first, so aliases follow the order the runs were made in."""
    runs, token = [], None
    while True:
        page = mlflow_client.search_runs(
            experiment_ids,
            max_results=1000,
            order_by=["attributes.start_time ASC"],
            page_token=token,
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def _record(
    mlflow_client: Any, run: Any, experiment: Any, source: str, model: str | None, store: Store
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    from mlog.capture.params import find_seed

    info = run.info
    tags = {key: strip_url_credentials(value) for key, value in run.data.tags.items()}
    from_mlog = "mlog.id" in tags
    params, redacted = redact_mapping(_params_in(dict(run.data.params), from_mlog), "params")
    metrics, points, series = _metrics_in(mlflow_client, run, tags)
    record: dict[str, Any] = {
        "schema_version": records.SCHEMA_VERSION,
        "id": _record_id(info, tags, source),
        "alias": "",
        "model": tags.get("mlog.model") or model or store.config().model,
        "status": _status_in(info.status, tags.get("mlog.status")),
        "note": tags.get("mlflow.note.content"),
        "tags": {k: v for k, v in tags.items() if not k.startswith(("mlflow.", "mlog."))},
        "imported": _imported_section(info, experiment, source, tags),
        "code": _code_in(tags),
        "command": _command_in(info, tags),
        "environment": {},
        "params": params,
        "seed": find_seed(params),
        "metrics": metrics,
        "data": _data_in(run, tags),
        "artifacts": _artifacts_in(mlflow_client, info, tags),
    }
    if series:
        record["series"] = series
    if redacted:
        record["redactions"] = redacted
    return record, points


def _status_in(mlflow_status: str, exported: str | None) -> str:
    if exported in STATUS_OUT:
        return str(exported)
    return STATUS_IN.get(mlflow_status, "interrupted")


def _record_id(info: Any, tags: dict[str, str], source: str) -> str:
    """The original id of a run mlog exported; otherwise start time + a hash of the source."""
    if RUN_ID.match(tags.get("mlog.id", "")):
        return tags["mlog.id"]
    started = (ms_to_iso(info.start_time) or records.utc_timestamp()).rstrip("Z")
    stamp = re.sub(r"[-:.]", "", started)
    suffix = hashlib.sha256(f"{source}\n{info.run_id}".encode()).hexdigest()[:8]
    return f"{stamp}Z-{suffix}"


def _imported_section(
    info: Any, experiment: Any, source: str, tags: dict[str, str]
) -> dict[str, Any]:
    other = {k: v for k, v in tags.items() if k.startswith("mlflow.") and k not in MAPPED_TAGS}
    section: dict[str, Any] = {
        "source": "mlflow",
        "run_id": info.run_id,
        "tracking_uri": source,
        "experiment": experiment.name,
        "experiment_id": str(experiment.experiment_id),
        "run_name": info.run_name,
        "artifact_uri": clean_uri(info.artifact_uri) if info.artifact_uri else None,
        "imported_at": records.utc_timestamp(),
    }
    if other:
        section["tags"] = other
    return section


def _params_in(params: dict[str, str], from_mlog: bool) -> dict[str, Any]:
    """MLflow keeps params as text: give numbers back their type (exactly, or not at all)."""
    return {key: _param_value(value, from_mlog) for key, value in sorted(params.items())}


def _param_value(text: str, from_mlog: bool) -> Any:
    if from_mlog:  # mlog wrote JSON for every value that is not plain text
        try:
            return json.loads(text)
        except ValueError:
            return text
    for kind in (int, float):
        try:
            value = kind(text)
        except ValueError:
            continue
        if repr(value) == text:
            return value
    return text


def _metrics_in(
    mlflow_client: Any, run: Any, tags: dict[str, str]
) -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
    """Final values, every point (step, value, time) and the series summary."""
    from mlog.capture.metrics import summarize_series

    declared = _json_tag(tags, "mlog.series")
    metrics: dict[str, Any] = dict(sorted(run.data.metrics.items()))
    points: list[dict[str, Any]] = []
    for name in metrics:
        history = sorted(
            mlflow_client.get_metric_history(run.info.run_id, name),
            key=lambda m: (m.timestamp, m.step),
        )
        listed = isinstance(declared, list)
        is_series = name in declared if listed else _looks_like_series(history)
        if is_series:
            points.extend(_point(name, m) for m in history)
    for key, value in tags.items():
        if key.startswith("mlog.metric."):
            metrics[key.removeprefix("mlog.metric.")] = _json_tag(tags, key, value)
    return metrics, points, summarize_series(points) if points else {}


def _json_tag(tags: dict[str, str], key: str, default: Any = None) -> Any:
    """A JSON value mlog exported as a tag; ``default`` when absent or not JSON."""
    try:
        return json.loads(tags[key]) if key in tags else default
    except ValueError:
        return default


def _looks_like_series(history: list[Any]) -> bool:
    return len(history) > 1 or any(m.step != 0 for m in history)


def _point(name: str, metric: Any) -> dict[str, Any]:
    time = _ms_time(metric.timestamp)
    return {"name": name, "step": int(metric.step), "value": metric.value, "time": time}


def _ms_time(ms: int) -> str:
    return (ms_to_iso(ms) or "").replace("000Z", "Z")


def _code_in(tags: dict[str, str]) -> dict[str, Any]:
    commit = tags.get("mlflow.source.git.commit", "")
    tree = tags.get("mlog.code.tree", "")
    remote = tags.get("mlflow.source.git.repoURL")
    return {
        "commit": commit if SHA.match(commit) else None,
        "tree": tree if SHA.match(tree) else None,
        "branch": tags.get("mlflow.source.git.branch"),
        "remote": clean_uri(remote) if remote else None,
        "dirty": tags.get("mlog.code.dirty") == "true",
    }


def _command_in(info: Any, tags: dict[str, str]) -> dict[str, Any]:
    exported = _json_tag(tags, "mlog.command.argv")
    if isinstance(exported, list):
        argv = [str(a) for a in exported]
    else:
        argv = [tags["mlflow.source.name"]] if tags.get("mlflow.source.name") else []
    started = tags.get("mlog.started_at") or ms_to_iso(info.start_time) or records.utc_timestamp()
    ended = tags.get("mlog.ended_at") or ms_to_iso(info.end_time)
    duration = (info.end_time - info.start_time) / 1000 if info.end_time else None
    return {
        "argv": argv,
        "cwd": ".",
        "started_at": started,
        "ended_at": ended,
        "exit_code": None,
        "duration_s": max(duration, 0.0) if duration is not None else None,
        "user": tags.get("mlflow.user") or info.user_id or None,
        "host": None,
    }


def _data_in(run: Any, tags: dict[str, str]) -> dict[str, Any]:
    """MLflow dataset inputs (name, digest, source) and the digests mlog exported as tags."""
    data: dict[str, Any] = {}
    inputs = getattr(run, "inputs", None)
    for item in getattr(inputs, "dataset_inputs", None) or []:
        dataset = item.dataset
        context = {t.key: t.value for t in item.tags}.get("mlflow.data.context")
        name = dataset.name if dataset.name not in data else f"{dataset.name}-{context}"
        data[name] = {
            "path": _dataset_source(dataset) or dataset.name,
            "kind": "uri",
            "hash": None,
            "mlflow_digest": dataset.digest,
            "source_type": dataset.source_type,
            "context": context,
        }
    for key in tags:
        entry = _json_tag(tags, key) if key.startswith("mlog.data.") else None
        if isinstance(entry, dict):
            data[key.removeprefix("mlog.data.")] = entry
    return data


def _dataset_source(dataset: Any) -> str | None:
    try:
        source = json.loads(dataset.source)
    except (TypeError, ValueError):
        return str(dataset.source) if dataset.source else None
    if isinstance(source, dict):
        for key in ("uri", "url", "path", "table_name"):
            if source.get(key):
                return clean_uri(str(source[key]))
    return None


def _artifacts_in(mlflow_client: Any, info: Any, tags: dict[str, str]) -> list[dict[str, Any]]:
    exported = _json_tag(tags, "mlog.artifacts")
    if isinstance(exported, list):
        return exported
    try:
        listed = _list_artifacts(mlflow_client, info.run_id, None)
    except Exception:  # an artifact store we cannot reach (credentials, network): paths unknown
        return []
    return [
        {"path": path, "present": False, "source": "mlflow", "hash": None, "size": size}
        for path, size in listed
    ]


def _list_artifacts(mlflow_client: Any, run_id: str, path: str | None) -> list[tuple[str, Any]]:
    found = []
    for item in mlflow_client.list_artifacts(run_id, path):
        if item.is_dir:
            found.extend(_list_artifacts(mlflow_client, run_id, item.path))
        else:
            found.append((item.path, item.file_size))
    return found


def _write(store: Store, record: dict[str, Any], points: list[dict[str, Any]]) -> None:
    from mlog.storage.schema import validate

    sidecars = {SERIES_FILE: series_bytes(points)} if points else {}
    body = {k: v for k, v in record.items() if v is not None or k == "note"}
    if sidecars:  # sealed with the record, like a captured run's
        body["sidecars"] = {name: records.sidecar_digest(data) for name, data in sidecars.items()}
    sealed = records.seal(body)
    validate(sealed, "run", source=f"MLflow run {record['imported']['run_id']}")
    store.write_run(record["id"], yamlio.dumps(sealed), sidecars)


# ================================================================== export


@dataclass
class ExportResult:
    experiment: str
    runs: list[dict[str, Any]] = field(default_factory=list)
    versions: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"experiment": self.experiment, "runs": self.runs, "versions": self.versions}


def export_runs(
    store: Store, run_ids: list[str], *, tracking_uri: str, experiment: str | None
) -> ExportResult:
    """Each record becomes an MLflow run (once); registry versions become model versions."""
    mlflow_client = client(tracking_uri)
    name = experiment or store.config().model
    experiment_id = _experiment_id(mlflow_client, name)
    existing = _exported(mlflow_client, experiment_id)
    result = ExportResult(name)
    for run_id in run_ids:
        if run_id in existing:
            result.runs.append({"run": run_id, "mlflow_run": existing[run_id], "note": "exists"})
            continue
        existing[run_id] = _export_run(mlflow_client, store, run_id, experiment_id)
        result.runs.append({"run": run_id, "mlflow_run": existing[run_id], "note": "exported"})
    result.versions = _export_registry(mlflow_client, store, existing)
    return result


def _experiment_id(mlflow_client: Any, name: str) -> str:
    found = mlflow_client.get_experiment_by_name(name)
    if found is not None:
        if found.lifecycle_stage != "active":
            raise UsageError(f"MLflow experiment {name!r} is deleted (restore it or pick another)")
        return str(found.experiment_id)
    return str(mlflow_client.create_experiment(name))


def _exported(mlflow_client: Any, experiment_id: str) -> dict[str, str]:
    """mlog run id -> MLflow run id of the runs mlog already exported to this experiment."""
    return {
        run.data.tags["mlog.id"]: run.info.run_id
        for run in _runs(mlflow_client, [experiment_id])
        if "mlog.id" in run.data.tags
    }


def _export_run(mlflow_client: Any, store: Store, run_id: str, experiment_id: str) -> str:
    from mlflow.entities import Metric, Param, RunTag

    record = store.load_record(run_id)
    command = record["command"]
    points = load_series(store, run_id)
    tags = export_tags(record, points)
    run = mlflow_client.create_run(
        experiment_id,
        start_time=iso_to_ms(command["started_at"]),
        run_name=f"{record['model']}-{record['alias']}",
    )
    mlflow_id = run.info.run_id
    entities: list[Any] = [Param(k, v) for k, v in export_params(record["params"]).items()]
    entities += [RunTag(k, v) for k, v in tags.items()]
    entities += [Metric(*m) for m in export_metrics(record, points)]
    _log(mlflow_client, mlflow_id, entities)
    mlflow_client.set_terminated(
        mlflow_id,
        STATUS_OUT.get(record["status"], "KILLED"),
        end_time=iso_to_ms(command.get("ended_at")),
    )
    return str(mlflow_id)


def _log(mlflow_client: Any, mlflow_id: str, entities: list[Any]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    for start in range(0, len(entities), BATCH):
        chunk = entities[start : start + BATCH]
        params = [e for e in chunk if isinstance(e, Param)]
        for first in range(0, max(len(params), 1), 100):  # and at most 100 params per call
            mlflow_client.log_batch(
                mlflow_id,
                metrics=[e for e in chunk if isinstance(e, Metric)] if first == 0 else [],
                params=params[first : first + 100],
                tags=[e for e in chunk if isinstance(e, RunTag)] if first == 0 else [],
            )


def export_params(params: dict[str, Any]) -> dict[str, str]:
    """Text for MLflow: plain strings as they are, everything else (and JSON-like text) as JSON."""
    out = {}
    for key, value in params.items():
        text = value if isinstance(value, str) and not _parses_as_json(value) else json.dumps(value)
        if len(text) <= MAX_PARAM:
            out[key] = text
    return out


def _parses_as_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def export_tags(record: dict[str, Any], points: list[dict[str, Any]]) -> dict[str, str]:
    """User tags, MLflow's own tags for what it has a field for, and mlog's as ``mlog.*``."""
    code, command = record["code"], record["command"]
    tags: dict[str, Any] = {**(record.get("imported") or {}).get("tags", {}), **record["tags"]}
    tags.update(
        {
            "mlog.id": record["id"],
            "mlog.alias": record["alias"],
            "mlog.model": record["model"],
            "mlog.status": record["status"],
            "mlog.started_at": command["started_at"],
            "mlog.ended_at": command.get("ended_at"),
            "mlog.record_hash": record["integrity"]["hash"],
            "mlog.command.argv": json.dumps(command["argv"]),
            "mlog.series": json.dumps(sorted({p["name"] for p in points})),
            "mlog.code.tree": code.get("tree"),
            "mlog.code.dirty": "true" if code.get("dirty") else "false",
            "mlog.artifacts": json.dumps(record["artifacts"]),
            "mlflow.source.git.commit": code.get("commit"),
            "mlflow.source.git.branch": code.get("branch"),
            "mlflow.source.git.repoURL": code.get("remote"),
            "mlflow.note.content": record.get("note"),
            "mlflow.user": command.get("user"),
        }
    )
    for name, entry in (record.get("data") or {}).items():
        tags[f"mlog.data.{name}"] = json.dumps(entry, sort_keys=True)
    last = {p["name"]: p["value"] for p in sorted(points, key=lambda p: p["step"])}
    for name, value in record["metrics"].items():
        if not _is_number(value) or (name in last and last[name] != value):
            tags[f"mlog.metric.{name}"] = json.dumps(value)  # MLflow would say: the last point
    return {k: str(v) for k, v in tags.items() if v is not None and len(str(v)) <= MAX_TAG}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def export_metrics(record: dict[str, Any], points: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """(key, value, timestamp ms, step) for every series point and every other final metric."""
    started = iso_to_ms(record["command"]["started_at"]) or 0
    ended = iso_to_ms(record["command"].get("ended_at")) or started
    out = [
        (p["name"], float(p["value"]), iso_to_ms(p.get("time")) or started, int(p["step"]))
        for p in points
        if _is_number(p.get("value"))
    ]
    in_series = {p["name"] for p in points}
    out += [
        (name, float(value), ended, 0)
        for name, value in record["metrics"].items()
        if _is_number(value) and name not in in_series
    ]
    return out


def _export_registry(
    mlflow_client: Any, store: Store, exported: dict[str, str]
) -> list[dict[str, Any]]:
    """Registry versions whose run is in MLflow become model versions; production -> champion."""
    from mlog.registry import events, fold

    rows = []
    for model in events.models(store):
        state = fold.load_state(store, model)
        versions = [v for v in state.versions.values() if v.run in exported]
        if not versions:
            continue
        known = _model_versions(mlflow_client, model)
        for version in versions:
            number = known.get(version.run) or _create_version(
                mlflow_client, model, version, exported[version.run]
            )
            for alias in _aliases(state, version):
                mlflow_client.set_registered_model_alias(model, alias, number)
            rows.append({"model": model, "version": version.version, "mlflow_version": number,
                         "aliases": _aliases(state, version)})  # fmt: skip
    return rows


def _model_versions(mlflow_client: Any, model: str) -> dict[str, str]:
    """mlog run id -> MLflow version number, creating the registered model if needed.

    Keyed by run, not version name: two repositories may both have a ``fraud@v1``.
    """
    from mlflow.exceptions import MlflowException

    try:
        mlflow_client.get_registered_model(model)
    except MlflowException:
        mlflow_client.create_registered_model(model, tags={"mlog.model": model})
        return {}
    found = mlflow_client.search_model_versions(f"name='{model}'")
    return {v.tags["mlog.run"]: str(v.version) for v in found if "mlog.run" in v.tags}


def _create_version(mlflow_client: Any, model: str, version: Any, mlflow_run: str) -> str:
    created = mlflow_client.create_model_version(
        model,
        source=f"runs:/{mlflow_run}/model",
        run_id=mlflow_run,
        tags={
            "mlog.version": version.version,
            "mlog.run": version.run,
            "mlog.stage": version.stage or "none",
            "mlog.run_hash": version.run_hash,
        },
    )
    return str(created.version)


def _aliases(state: Any, version: Any) -> list[str]:
    """MLflow aliases: the production version is the ``champion``; other stages keep their name."""
    if version.stage == "production":
        return ["champion", "production"]
    if state.production is None and state.champion == version.run:
        return ["champion"]
    return [version.stage] if version.stage and re.match(r"^[A-Za-z0-9_-]+$", version.stage) else []
