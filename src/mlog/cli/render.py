"""Human rendering of one record with rich: a header, then one small table per section."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mlog import ui

TAMPERED = "TAMPERED"  # the marker every reader shows beside a record whose integrity fails


def render_record(record: dict[str, Any], links: dict[str, Any] | None = None) -> None:
    """The header line, then every other section of the sections table that the record has;
    after the artifacts, ``links`` (from the lineage index): who produced its data, its reruns."""
    from mlog.api.runs import SECTIONS, flat_pairs

    _header(record)
    for section in SECTIONS:
        if section.key == "validation":
            _pairs("provenance", _provenance_pairs(record, links or {}))
        value = record.get(section.key)
        if section.header or value in (None, {}, []):
            continue
        custom = _RENDERERS.get(section.key)
        if custom is not None:
            custom(section.title, value)
        elif isinstance(value, dict):
            _pairs(section.title, flat_pairs(value))
        elif isinstance(value, list):
            _pairs(section.title, [(str(i + 1), item) for i, item in enumerate(value)])
        else:
            _pairs(section.title, [(section.key, value)])
        if section.key == "environment":  # `mlog show` lists what the record only names
            _pairs("packages", list((record.get("packages") or {}).items()))


def _header(record: dict[str, Any]) -> None:
    style = {"succeeded": "green", "failed": "red", "interrupted": "yellow"}.get(
        record.get("status", ""), "white"
    )
    tags = " ".join(f"{k}={v}" for k, v in (record.get("tags") or {}).items())
    tampered = (record.get("integrity") or {}).get("verified") is False
    ui.line(
        *([(TAMPERED, "bold red"), (" ", "")] if tampered else []),
        (str(record.get("alias")), "bold"),
        (f" {record.get('id')}  model ", ""),
        (str(record.get("model")), "bold"),
        ("  ", ""),
        (str(record.get("status")), style),
        *([(f"  {tags}", "")] if tags else []),
    )
    if record.get("note"):
        ui.line((f"  {record['note']}", ""))


def _pairs(title: str, pairs: list[tuple[str, Any]]) -> None:
    ui.pairs(title, [(str(key), ui.format_value(value)) for key, value in pairs])


def _code_pairs(code: dict[str, Any]) -> list[tuple[str, Any]]:
    pairs = [(k, code.get(k)) for k in ("commit", "tree", "branch", "describe", "remote")]
    pairs.append(("dirty", code.get("dirty")))
    if code.get("shallow"):
        pairs.append(("shallow", True))
    if code.get("patch"):
        pairs.append(("patch", code["patch"]))
    pairs.extend((f"untracked {u['path']}", u.get("hash")) for u in code.get("untracked", []))
    return pairs


def _command_pairs(command: dict[str, Any]) -> list[tuple[str, Any]]:
    return [
        ("argv", " ".join(command.get("argv", []))),
        ("cwd", command.get("cwd")),
        ("exit", command.get("signal") or command.get("exit_code")),
        ("started", command.get("started_at")),
        ("duration", ui.format_duration(command.get("duration_s"))),
        (
            "cpu user/sys",
            f"{command.get('cpu_user_s', '-')}s / {command.get('cpu_system_s', '-')}s",
        ),
        ("peak memory", ui.format_bytes(command.get("peak_rss_bytes"))),
        ("user@host", f"{command.get('user')}@{command.get('host')}"),
        *([("recovered", command["recovered"])] if command.get("recovered") else []),
    ]


def _environment_pairs(env: dict[str, Any]) -> list[tuple[str, Any]]:
    python, osinfo, cpu = env.get("python", {}), env.get("os", {}), env.get("cpu", {})
    packages = env.get("packages") or {}
    pairs: list[tuple[str, Any]] = [
        ("python", f"{python.get('implementation', '')} {python.get('version', '')}".strip()),
        ("os", osinfo.get("distro") or f"{osinfo.get('system')} {osinfo.get('release')}"),
        ("cpu", f"{cpu.get('model') or '-'} x{cpu.get('count') or '?'}"),
        ("memory", ui.format_bytes(env.get("memory_bytes"))),
        ("packages", f"{packages.get('count', 0)} ({packages.get('object', '-')})"),
    ]
    pairs.extend((f"gpu {i}", _gpu(g)) for i, g in enumerate(env.get("gpus") or []))
    if env.get("cuda") or env.get("driver"):
        pairs.append(("cuda / driver", f"{env.get('cuda') or '-'} / {env.get('driver') or '-'}"))
    container = env.get("container") or {}
    if container.get("kind"):
        pairs.append(("container", f"{container['kind']} {container.get('image') or ''}".strip()))
    pairs.extend((f"lock {lf['path']}", lf.get("hash")) for lf in env.get("lock_files") or [])
    pairs.extend((f"${k}", v) for k, v in sorted((env.get("variables") or {}).items()))
    return pairs


def _gpu(gpu: dict[str, Any]) -> str:
    memory = gpu.get("memory_mib")
    return f"{gpu.get('name')} ({memory} MiB)" if memory else str(gpu.get("name"))


def _series(series: dict[str, Any]) -> None:
    rows = [
        [
            name,
            str(s["steps"]),
            ui.format_value(s.get("min")),
            ui.format_value(s.get("max")),
            ui.format_value(s.get("last")),
        ]
        for name, s in sorted(series.items())
    ]
    if rows:
        ui.table(["series", "steps", "min", "max", "last"], rows)


def _datasets(data: dict[str, Any]) -> None:
    rows = [
        [
            name,
            d.get("kind", ""),
            d.get("path", ""),
            str(d.get("hash") or d.get("version") or "-"),
            str(d.get("files") if d.get("files") is not None else "-"),
            ui.format_bytes(d.get("size")),
            _profile_cell(d.get("profile")),
        ]
        for name, d in sorted(data.items())
    ]
    if rows:
        ui.table(["data", "kind", "path", "hash", "files", "size", "profile"], rows)


def _profile_cell(profile: Any) -> str:
    """``3000×4`` (rows × columns, ``sampled`` when it was); the full one: `mlog data profile`."""
    if not isinstance(profile, dict):
        return "-"
    sampled = " (sampled)" if profile.get("sample") else ""
    return f"{profile.get('rows')}×{profile.get('columns')}{sampled}"


def _signature(signature: Any) -> None:
    if not isinstance(signature, dict):
        return
    rows = [
        [side, "-" if f.get("name") is None else str(f["name"]), str(f.get("type") or "-"),
         "-" if f.get("shape") is None else str(f["shape"])]
        for side in ("inputs", "outputs")
        for f in signature.get(side) or []
    ]  # fmt: skip
    ui.table(["signature", "name", "type", "shape"], rows)


def _artifacts(artifacts: list[dict[str, Any]]) -> None:
    rows = [
        [a["path"], str(a.get("hash") or _absent(a)), ui.format_bytes(a.get("size"))]
        for a in artifacts
    ]
    if rows:
        ui.table(["artifact", "hash", "size"], rows)


def _absent(artifact: dict[str, Any]) -> str:
    """An imported run's outputs live in the tool it came from, not in this repository."""
    return f"in {artifact['source']}" if artifact.get("source") == "mlflow" else "MISSING"


def _integrity(title: str, integrity: dict[str, Any]) -> None:
    if integrity.get("verified") is False:
        problems = "; ".join(integrity.get("problems") or [])
        ui.line((f"{TAMPERED} {title} {integrity.get('hash', '-')}", "bold red"))
        ui.line((f"  {problems}", "red"))
        return
    ui.line((f"{title} {integrity.get('hash', '-')}", "dim"))


def _stale(title: str, stale: dict[str, Any]) -> None:
    pairs = [("metrics_files", path) for path in stale.get("metrics_files") or []]
    pairs += [("artifacts", a.get("path")) for a in stale.get("artifacts") or []]
    _pairs(title, pairs)


def _validation(title: str, report: dict[str, Any]) -> None:
    champion = report.get("champion") or {}
    against = f" against {champion.get('alias') or champion.get('run')}" if champion else ""
    pairs: list[tuple[str, Any]] = [("verdict", f"{report.get('verdict')}{against}")]
    pairs += [(m["name"], f"{m['verdict']} ({ui.format_value(m['value'])})")
              for m in report.get("metrics") or []]  # fmt: skip
    _pairs(title, pairs)


_RENDERERS: dict[str, Callable[[str, Any], None]] = {
    "code": lambda title, code: _pairs(title, _code_pairs(code)),
    "command": lambda title, command: _pairs(title, _command_pairs(command)),
    "environment": lambda title, env: _pairs(title, _environment_pairs(env)),
    "metrics": lambda title, metrics: _pairs(title, sorted(metrics.items())),
    "series": lambda _title, series: _series(series),
    "data": lambda _title, data: _datasets(data),
    "artifacts": lambda _title, artifacts: _artifacts(artifacts),
    "signature": lambda _title, signature: _signature(signature),
    "validation": _validation,
    "stale": _stale,
    "integrity": _integrity,
    "reproduces": lambda _title, _run: None,  # in the provenance table, with its alias
    "data_drift": lambda _title, _drift: None,  # in the provenance table
}
"""Sections with a layout of their own; every other section renders as key/value pairs."""


def _provenance_pairs(record: dict[str, Any], links: dict[str, Any]) -> list[tuple[str, Any]]:
    """The runs that produced this run's inputs, the run it reproduces, and its reruns."""
    pairs: list[tuple[str, Any]] = []
    for p in links.get("producers") or []:
        inside = f" as {p['file']}" if p.get("file") else ""
        pairs.append((p["dataset"], f"← {p['alias']} ({p['run']}) wrote {p['artifact']}{inside}"))
    if record.get("reproduces"):
        alias = (links.get("reproduces") or {}).get("alias")
        run = record["reproduces"]
        pairs.append(("reproduces", f"{alias} ({run})" if alias else run))
    for drift in record.get("data_drift") or []:
        pairs.append(("data drift", f"{drift['name']}: {drift['recorded']} -> {drift['found']}"))
    for rerun in links.get("reproduced_by") or []:
        pairs.append(("reproduced by", f"{rerun['alias']} ({rerun['run']}) {rerun['status']}"))
    if links.get("indexed") is False and record.get("data"):
        pairs.append(("producers", "not indexed yet in this clone (see `mlog lineage RUN`)"))
    return pairs
