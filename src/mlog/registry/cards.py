"""Model cards built from records and registry events, in the sections of Mitchell et al.

"Model Cards for Model Reporting" (2019) asks for model details, intended use,
training and evaluation data, quantitative analyses, ethical considerations and
caveats. Everything mlog recorded fills itself in; what only people can say
(intended use, out-of-scope uses, ethics, caveats) comes from the ``card:``
section of config, and a visible warning says so when it is empty, because a
card that silently omits them misleads the stakeholders it is written for.

One intermediate form (a list of sections of blocks) renders to Markdown with
Hugging Face YAML front matter (``model-index`` metrics) and to self-contained HTML.
"""

from __future__ import annotations

import html
import numbers
from dataclasses import dataclass, field
from typing import Any

from mlog.registry import fold as registry
from mlog.storage import yamlio
from mlog.storage.store import Store

HUMAN_FIELDS = ("intended_use", "out_of_scope", "ethical_considerations", "caveats")
_LABELS = {
    "intended_use": "intended use",
    "out_of_scope": "out-of-scope uses",
    "ethical_considerations": "ethical considerations",
    "caveats": "caveats and recommendations",
}


@dataclass
class Table:
    headers: list[str]
    rows: list[list[str]]


Block = str | Table


@dataclass
class Section:
    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class ModelCard:
    """Everything a card shows, as plain data (the ``--format json`` output)."""

    model: str
    version: str | None
    stage: str | None
    run: str
    date: str | None
    commit: str | None
    config: dict[str, Any]
    missing: list[str]
    record: dict[str, Any]
    champion: dict[str, Any] | None
    version_info: registry.Version | None
    tampered: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "stage": self.stage,
            "run": self.run,
            "date": self.date,
            "commit": self.commit,
            "card": self.config,
            "missing": self.missing,
            "metrics": _numeric_metrics(self.record),
            "champion": self.champion,
            "data": self.record.get("data") or {},
            "signature": self.record.get("signature"),
            "approvals": [a.by for a in self.version_info.approvals] if self.version_info else [],
            "stage_history": self.version_info.history if self.version_info else [],
            "front_matter": front_matter(self),
            "tampered": self.tampered,
        }


# ------------------------------------------------------------------ data


def build_card(store: Store, run_id: str, version: registry.Version | None = None) -> ModelCard:
    """The card of a run, or of a registered version; a registered run shows its registry data.

    A record that fails its integrity check is marked on the card (``tampered``), not hidden.
    """
    record = store.load_record(run_id)
    tampered = list(store.unverified.get(run_id, []))
    if version and not tampered and record["integrity"]["hash"] != version.run_hash:
        tampered.append(f"the record differs from the one {version.model}@{version.version} pinned")
        store.mark_unverified(run_id, tampered)
    model = version.model if version else str(record.get("model") or "default")
    state = _state_or_none(store, model)
    if version is None and state is not None:
        version = next((v for v in state.versions.values() if v.run == run_id), None)
    config = dict(store.config().raw.get("card") or {})
    return ModelCard(
        model=model,
        version=version.version if version else None,
        stage=version.stage if version else None,
        run=run_id,
        date=(record.get("command") or {}).get("ended_at"),
        commit=(record.get("code") or {}).get("commit"),
        config=config,
        missing=[name for name in HUMAN_FIELDS if not str(config.get(name) or "").strip()],
        record=record,
        champion=_champion(store, state, run_id),
        version_info=version,
        tampered=tampered,
    )


def _state_or_none(store: Store, model: str) -> registry.ModelState | None:
    from mlog.registry import events

    return registry.load_state(store, model) if events.event_files(store, model) else None


def _champion(
    store: Store, state: registry.ModelState | None, run_id: str
) -> dict[str, Any] | None:
    champion = state.champion if state else None
    if champion is None or champion == run_id:
        return None
    metrics = _numeric_metrics(store.load_record(champion))
    production = state.production if state else None
    return {
        "run": champion,
        "version": production.version if production else None,
        "metrics": metrics,
    }


def _numeric_metrics(record: dict[str, Any]) -> dict[str, float]:
    metrics = record.get("metrics") or {}
    return {
        str(k): float(v)
        for k, v in metrics.items()
        if isinstance(v, numbers.Real) and not isinstance(v, bool)
    }


# ------------------------------------------------------------------ front matter


def front_matter(card: ModelCard) -> dict[str, Any]:
    """Hugging Face model-card metadata; ``model-index`` lets hub tooling read the metrics."""
    meta: dict[str, Any] = {}
    if card.config.get("license"):
        meta["license"] = card.config["license"]
    meta["tags"] = ["mlog", *card.config.get("tags", [])]
    metrics = _numeric_metrics(card.record)
    if metrics:
        meta["model-index"] = [{"name": card.model, "results": [_result(card, metrics)]}]
    return meta


EVALUATION_NAMES = ("test", "eval", "evaluation", "valid", "validation", "holdout", "val")


def evaluation_data(record: dict[str, Any]) -> str:
    """What the metrics were measured on, as the record knows it; never a guess of "train".

    A declared dataset named like an evaluation split (test, eval, valid, holdout, ...),
    else the metrics file the values were read from, else ``unspecified``.
    """
    names = [str(name) for name in (record.get("data") or {})]
    split = next((n for n in names if n.lower() in EVALUATION_NAMES), None)
    if split:
        return split
    sources = record.get("metric_sources") or []
    return str(sources[0]) if sources else "unspecified"


def _result(card: ModelCard, metrics: dict[str, float]) -> dict[str, Any]:
    dataset = evaluation_data(card.record)
    task = str(card.config.get("task") or "other")
    return {
        "task": {"type": task, "name": task},
        "dataset": {"type": dataset, "name": dataset},
        "metrics": [
            {"type": name, "name": name, "value": value} for name, value in metrics.items()
        ],
    }


# ------------------------------------------------------------------ sections


def sections(card: ModelCard) -> list[Section]:
    """The card's content in the order of Mitchell et al., plus mlog's provenance sections."""
    return [
        _details(card),
        _text_section(card, "Intended Use", ("intended_use", "out_of_scope")),
        _training_data(card),
        _signature(card),
        _evaluation(card),
        _text_section(card, "Ethical Considerations", ("ethical_considerations",)),
        _text_section(card, "Caveats and Recommendations", ("caveats",)),
        _environment(card),
        _lineage(card),
        _governance(card),
    ]


TAMPERED = "TAMPERED"


def tampered_text(card: ModelCard) -> str:
    return f"run {card.run} fails its integrity check, do not trust this card: " + "; ".join(
        card.tampered
    )


def warning_text(card: ModelCard) -> str | None:
    if not card.missing:
        return None
    names = ", ".join(_LABELS[name] for name in card.missing)
    return f"Not documented: {names}. Add them under `card:` in .mlog/config.yaml."


def _details(card: ModelCard) -> Section:
    code = card.record.get("code") or {}
    rows = [
        ["Name", card.model],
        ["Version", card.version or "(not registered)"],
        ["Stage", card.stage or "-"],
        ["Date", card.date or "-"],
        ["Run", f"{card.run} ({card.record.get('alias', '')})"],
        ["Status", str(card.record.get("status"))],
        ["Commit", str(card.commit or "-")],
        ["Branch", str(code.get("branch") or "-")],
        ["Repository", str(code.get("remote") or "-")],
        ["Owners", ", ".join(card.config.get("owners") or []) or "-"],
        ["License", str(card.config.get("license") or "-")],
    ]
    blocks: list[Block] = [Table(["Field", "Value"], rows)]
    if card.config.get("description"):
        blocks.insert(0, str(card.config["description"]))
    if card.record.get("note"):
        blocks.append(f"Run note: {card.record['note']}")
    return Section("Model Details", blocks)


def _text_section(card: ModelCard, title: str, names: tuple[str, ...]) -> Section:
    blocks: list[Block] = []
    for name in names:
        text = str(card.config.get(name) or "").strip()
        label = _LABELS[name].capitalize()
        blocks.append(f"{label}: {text}" if text else f"{label}: NOT DOCUMENTED.")
    return Section(title, blocks)


def _training_data(card: ModelCard) -> Section:
    data = card.record.get("data") or {}
    rows = [
        [name, str(d.get("path")), str(d.get("kind")), str(d.get("hash")),
         _size(d.get("size")), str(d.get("files", "-"))]
        for name, d in data.items()
    ]  # fmt: skip
    blocks: list[Block] = [Table(["Dataset", "Path", "Kind", "Hash", "Size", "Files"], rows)]
    if not rows:
        blocks = ["No datasets were declared for this run."]
    profiled = [
        f"{name}: {d['profile']['rows']} rows, {d['profile']['columns']} columns profiled"
        + (" (sampled)" if d["profile"].get("sample") else "")
        for name, d in data.items()
        if isinstance(d.get("profile"), dict)
    ]
    if profiled:
        blocks.append("Profiles: " + "; ".join(profiled) + ".")
    window = (card.record.get("lineage") or {}).get("data_window")
    if window:
        blocks.append(f"Data window: {window.get('start')} .. {window.get('end')}")
    return Section("Training Data", blocks)


def _signature(card: ModelCard) -> Section:
    """Inputs and outputs as the training script logged them (``mlog.log_signature``)."""
    found = card.record.get("signature")
    if not found:
        return Section("Model Signature", ["No signature was logged (use mlog.log_signature)."])
    rows = [
        [side, str(item.get("name") if item.get("name") is not None else "-"),
         str(item.get("type") or "-"), str(item.get("shape") or "-")]
        for side in ("inputs", "outputs")
        for item in found.get(side) or []
    ]  # fmt: skip
    return Section("Model Signature", [Table(["Side", "Name", "Type", "Shape"], rows)])


def _evaluation(card: ModelCard) -> Section:
    metrics = _numeric_metrics(card.record)
    theirs = (card.champion or {}).get("metrics", {})
    headers = ["Metric", "Value"] + (["Champion", "Delta"] if card.champion else [])
    rows = []
    for name, value in metrics.items():
        row = [name, f"{value:.6g}"]
        if card.champion:
            other = theirs.get(name)
            row += ["-", "-"] if other is None else [f"{other:.6g}", f"{value - other:+.6g}"]
        rows.append(row)
    blocks: list[Block] = [Table(headers, rows)] if rows else ["No numeric metrics recorded."]
    blocks.append(f"Evaluated on: {evaluation_data(card.record)}")
    sources = card.record.get("metric_sources") or []
    if sources:
        blocks.append("Metrics read from: " + ", ".join(str(s) for s in sources))
    series = card.record.get("series") or {}
    if series:
        blocks.append(Table(["Series", "Steps", "Last"], [
            [name, str(s.get("steps")), _short(s.get("last"))] for name, s in sorted(series.items())
        ]))  # fmt: skip
    blocks.append(_champion_sentence(card))
    verdict = (card.record.get("validation") or {}).get("verdict")
    if verdict:
        blocks.append(f"Validation verdict against the champion at training time: {verdict}.")
    return Section("Evaluation", blocks)


def _champion_sentence(card: ModelCard) -> str:
    if card.champion is None:
        return "Compared with: no other champion (this run is the champion, or none exists)."
    version = card.champion.get("version")
    named = f"{card.model}@{version}" if version else "champion"
    return f"Compared with {named} (run {card.champion['run']})."


def _environment(card: ModelCard) -> Section:
    env = card.record.get("environment") or {}
    python, system = env.get("python") or {}, env.get("os") or {}
    cpu = env.get("cpu") or {}
    gpus = ", ".join(str(g.get("name")) for g in env.get("gpus") or []) or "none"
    locks = [
        str(x.get("path", x)) if isinstance(x, dict) else str(x)
        for x in env.get("lock_files") or []
    ]
    rows = [
        ["Python", f"{python.get('implementation', '')} {python.get('version', '')}".strip()],
        ["OS", f"{system.get('system', '')} {system.get('release', '')}".strip()],
        ["CPU", f"{cpu.get('model', '-')} x{cpu.get('count', '?')}"],
        ["GPUs", gpus],
        ["CUDA / driver", f"{env.get('cuda') or '-'} / {env.get('driver') or '-'}"],
        ["Packages", str((env.get("packages") or {}).get("count", "-"))],
        ["Lock files", ", ".join(locks) or "-"],
    ]
    return Section("Environment", [Table(["Item", "Value"], rows)])


def _lineage(card: ModelCard) -> Section:
    params = card.record.get("params") or {}
    rows = [[str(k), _short(v)] for k, v in sorted(params.items())]
    blocks: list[Block] = [Table(["Param", "Value"], rows)] if rows else ["No params recorded."]
    sources = card.record.get("param_sources") or []
    if sources:
        blocks.append("Params read from: " + ", ".join(str(s) for s in sources))
    blocks.append(f"Seed: {card.record.get('seed')}")
    artifacts = card.record.get("artifacts") or []
    art_rows = [[str(a.get("path")), str(a.get("hash")), _size(a.get("size"))] for a in artifacts]
    if art_rows:
        blocks.append(Table(["Artifact", "Hash", "Size"], art_rows))
    return Section("Lineage", blocks)


def _governance(card: ModelCard) -> Section:
    version = card.version_info
    if version is None:
        return Section("Approvals and Stage History", ["Not registered in the model registry."])
    approvals = [[a.by, a.at, a.reason or ""] for a in version.approvals]
    history = [
        [h["at"], h["kind"], str(h.get("stage") or ""), h["by"],
         "yes" if h.get("forced") else "", h.get("reason") or ""]
        for h in version.history
    ]  # fmt: skip
    return Section(
        "Approvals and Stage History",
        [
            Table(["Approved by", "At", "Reason"], approvals) if approvals else "No approvals.",
            Table(["At", "Event", "Stage", "By", "Forced", "Reason"], history),
        ],
    )


def _size(size: Any) -> str:
    return "-" if size is None else f"{size:,} B"


def _short(value: Any) -> str:
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."


# ------------------------------------------------------------------ renderers


def to_markdown(card: ModelCard) -> str:
    """Markdown that starts with YAML front matter, as Hugging Face model cards do."""
    title = f"{card.model}@{card.version}" if card.version else f"{card.model} (run {card.run})"
    parts = ["---\n" + yamlio.dumps(front_matter(card)) + "---", f"# Model card: {title}"]
    if card.tampered:
        parts.append(f"> **{TAMPERED}:** {_md_inline(tampered_text(card))}")
    warning = warning_text(card)
    if warning:
        parts.append(f"> **Warning:** {_md_inline(warning)}")
    for section in sections(card):
        parts.append(f"## {section.title}")
        parts.extend(_md_block(block) for block in section.blocks)
    return "\n\n".join(parts) + "\n"


def _md_block(block: Block) -> str:
    if isinstance(block, str):
        return _md_inline(block)
    lines = ["| " + " | ".join(_md_cell(h) for h in block.headers) + " |"]
    lines.append("|" + "---|" * len(block.headers))
    lines.extend("| " + " | ".join(_md_cell(c) for c in row) + " |" for row in block.rows)
    return "\n".join(lines) if block.rows else "_(none)_"


def _md_inline(text: str) -> str:
    return html.escape(text, quote=False).replace("\n", "  \n")


def _md_cell(text: str) -> str:
    return _md_inline(text).replace("|", "\\|").replace("\n", " ")


def to_html(card: ModelCard) -> str:
    """One self-contained page in the report's style: inline CSS, every value escaped."""
    from mlog.report import style

    title = f"Model card: {card.model}@{card.version or card.run}"
    body = []
    if card.tampered:
        text = style.esc(tampered_text(card))
        body.append(f'<p class="warning"><strong>{TAMPERED}:</strong> {text}</p>')
    warning = warning_text(card)
    if warning:
        body.append(f'<p class="warning"><strong>Warning:</strong> {style.esc(warning)}</p>')
    for section in sections(card):
        body.append(f"<h2>{style.esc(section.title)}</h2>")
        body.extend(_html_block(block) for block in section.blocks)
    return style.page(title, "\n".join(body))


def _html_block(block: Block) -> str:
    from mlog.report import style

    if isinstance(block, str):
        return f"<p>{style.esc(block)}</p>"
    return style.table(block.headers, [[style.esc(c) for c in row] for row in block.rows])


def render(card: ModelCard, fmt: str) -> str:
    """``md``, ``html`` or ``json`` text of the card."""
    if fmt == "html":
        return to_html(card)
    if fmt == "json":
        import json

        return json.dumps(card.to_json(), indent=2, sort_keys=True, default=str) + "\n"
    return to_markdown(card)
