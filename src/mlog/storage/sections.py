"""The one table of a run record's sections.

Every place that walks a record walks this table instead of naming sections: the order in
which a record is written (:func:`mlog.storage.records.seal`), which empty sections are left
out, what ``mlog show`` renders, what ``mlog diff`` compares, which model-card section shows
it, and the summary columns of ``mlog ls``. ``tests/test_sections.py`` fails when the run
schema has a section this table lacks, or when a view forgets a section the table gives it.

Adding a section: add a row here and the property to ``schemas/run.schema.json``; the tests
then name every view that still has to handle it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    """One top-level key of a run record and how each view treats it."""

    key: str
    title: str
    about: str
    optional: bool = False
    """Left out of the record when empty (rather than written as an empty value)."""
    header: bool = False
    """Shown in the one-line header of ``mlog show`` rather than as a table of its own."""
    diff: tuple[str, ...] = ()
    """The parts of ``mlog diff``'s result that compare this section."""
    not_compared: str = ""
    """Why ``mlog diff`` does not compare this section (required when ``diff`` is empty)."""
    card: str = ""
    """The model-card section that shows it, or ``""`` with the reason in ``not_carded``."""
    not_carded: str = ""
    summary: tuple[str, ...] = ()
    """Flattened keys of this section that every ``mlog ls`` row carries."""


_IDENTITY = "identity of the run: diff names both runs by it in its title"
SECTIONS: tuple[Section, ...] = (
    Section("schema_version", "schema version", "version of the record format",
            header=True, not_compared="format version, not a property of the run",
            not_carded="format version, not a property of the model"),
    Section("id", "run", "unique run id, sortable by start time", header=True,
            not_compared=_IDENTITY, card="Model Details", summary=("id",)),
    Section("alias", "alias", "short alias vN", header=True, not_compared=_IDENTITY,
            card="Model Details", summary=("alias",)),
    Section("model", "model", "model name", header=True, diff=("command",),
            card="Model Details", summary=("model",)),
    Section("status", "status", "succeeded, failed or interrupted", header=True,
            diff=("command",), card="Model Details", summary=("status",)),
    Section("note", "note", "note or hypothesis text", header=True, optional=False,
            not_compared="free text; shown beside each run in `mlog ls`",
            card="Model Details", summary=("note",)),
    Section("tags", "tags", "user tags", header=True,
            not_compared="labels for finding runs, not inputs of the training",
            not_carded="labels for finding runs, not properties of the model"),
    Section("imported", "imported", "the tool, run id and tracking URI an imported record "
            "came from", optional=True,
            not_compared="where the record came from, not how the model was trained",
            not_carded="where the record came from, not a property of the model"),
    Section("code", "code", "commit, branch, remote, dirty flag and patch", diff=("code",),
            card="Model Details", summary=("code.commit", "code.dirty")),
    Section("command", "command", "argv, cwd, exit code, times, resources, user and host",
            diff=("command", "resources"), card="Model Details",
            summary=("command.started_at", "command.duration_s")),
    Section("environment", "environment", "interpreter, OS, CPU, GPU, packages, lock files",
            diff=("environment", "packages"), card="Environment"),
    Section("params", "params", "parameters from declared files and the Python API",
            diff=("params",), card="Lineage"),
    Section("param_sources", "param sources", "files the params were read from",
            optional=True, not_compared="where params came from; the params themselves "
            "are compared", card="Lineage"),
    Section("seed", "seed", "the random seed found among the params",
            not_compared="a param: compared under params", card="Lineage"),
    Section("metrics", "metrics", "final metric values", diff=("metrics",), card="Evaluation"),
    Section("metric_sources", "metric sources", "metrics files the values were read from",
            optional=True, not_compared="where metrics came from; the metrics themselves "
            "are compared", card="Evaluation"),
    Section("series", "series", "per-step metric series, summarised (points in a sidecar)",
            optional=True, diff=("series",), card="Evaluation"),
    Section("data", "data", "datasets with content hashes and manifests", diff=("data",),
            card="Training Data"),
    Section("lineage", "lineage", "data windows and feature-store inputs", optional=True,
            not_compared="data windows change with the data, which is compared",
            card="Training Data"),
    Section("artifacts", "artifacts", "outputs with path, size and content hash",
            diff=("artifacts",), card="Lineage"),
    Section("stale", "stale (not written by this run)", "declared outputs the command left "
            "unchanged: not credited to the run (see capture/freshness.py)", optional=True,
            not_compared="marked for each run in diff's header (`stale` in --json)",
            not_carded="a run with stale artifacts cannot be registered"),
    Section("signature", "signature", "the model's input and output fields, names, types and "
            "shapes (mlog.log_signature)", optional=True, diff=("signature",),
            card="Model Signature"),
    Section("validation", "validation", "the report against the champion",
            not_compared="a judgement of each run against its champion, not an input",
            card="Evaluation"),
    Section("reproduces", "reproduces", "the run a rerun re-executed (`mlog rerun`)",
            optional=True, not_compared=_IDENTITY,
            not_carded="a link between runs, shown by `mlog show` and `mlog lineage`"),
    Section("data_drift", "data drift", "datasets a rerun used although their hash differs "
            "from the original's (--allow-data-drift)", optional=True,
            not_compared="the datasets themselves are compared under data",
            not_carded="the datasets themselves are in Training Data"),
    Section("redactions", "redactions", "places where secrets were redacted", optional=True,
            not_compared="bookkeeping of what was redacted",
            not_carded="bookkeeping of what was redacted"),
    Section("escaped", "escaped", "places whose value was not UTF-8, stored escaped",
            optional=True, not_compared="bookkeeping of how values were stored",
            not_carded="bookkeeping of how values were stored"),
    Section("warnings", "warnings", "what could not be captured, and why", optional=True,
            not_compared="bookkeeping of the capture",
            not_carded="bookkeeping of the capture"),
    Section("sidecars", "sidecars", "SHA-256 of every other file in the run directory",
            optional=True, not_compared="bookkeeping of the integrity hash",
            not_carded="checked by `mlog validate` and `mlog check`"),
    Section("integrity", "integrity", "SHA-256 over the canonical JSON of the record",
            not_compared="differs whenever anything does",
            not_carded="shown by `mlog show` and checked by `mlog check`"),
)  # fmt: skip

KEYS: tuple[str, ...] = tuple(section.key for section in SECTIONS)
"""Top-level keys in the order records are written."""

OPTIONAL: frozenset[str] = frozenset(s.key for s in SECTIONS if s.optional)
"""Sections left out of a record when empty."""

SUMMARY_KEYS: tuple[str, ...] = tuple(key for s in SECTIONS for key in s.summary)
"""Flattened keys every ``mlog ls`` row carries."""

DIFF_PARTS: tuple[str, ...] = tuple(dict.fromkeys(part for s in SECTIONS for part in s.diff))
"""Every part of ``mlog diff``'s result, each compared from the sections that name it."""


def by_key(key: str) -> Section:
    """The row of a section; ``KeyError`` for a key the record format does not have."""
    for section in SECTIONS:
        if section.key == key:
            return section
    raise KeyError(key)
