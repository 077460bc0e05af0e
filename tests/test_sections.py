"""The sections table drives the record, `show`, `diff` and `card`: none may forget a section."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mlog.cli.diffview import SHOWN_ORDER
from mlog.storage import records, sections
from mlog.storage.flatten import flatten
from tests.conftest import PYTHON, Repo

ROOT = Path(__file__).resolve().parent.parent
TRAIN = """
import json, mlog
mlog.log_params({"api_key": "s3cr3t-value", "layers": LAYERS})
for step in range(3):
    mlog.log_metric("loss", 1.0 / (step + 1 + LAYERS), step=step)
json.dump({"accuracy": 0.5 + LAYERS / 100}, open("metrics.json", "w"))
open("model.bin", "w").write("weights %d" % LAYERS)
mlog.log_signature({"x": "int64"}, {"y": "float64"})
"""


def _run(repo: Repo, cli: Any, layers: int) -> dict[str, Any]:
    repo.gen(
        {
            "train.py": TRAIN.replace("LAYERS", str(layers)),
            "params.yaml": f"seed: {40 + layers}\nlr: 0.{layers}\n",
            "data/train.csv": f"x,y\n{layers},1\n",
            "stale.json": '{"left": "by an earlier run"}',
            ".gitignore": "metrics.json\nmodel.bin\n",
        }
    )
    repo.commit(f"layers {layers}")
    result = cli(
        "run", "--params", "params.yaml", "--data", "train=data/train.csv",
        "--metrics", "metrics.json", "--metrics", "never-written.json", "--metrics", "stale.json",
        "--artifact", "model.bin",
        "--note", f"note number {layers}", "--tag", f"team=t{layers}", "--tag", "raw=b\udcff",
        "--data-window", "2026-01-01..2026-02-01", "--", PYTHON, "train.py",
    )  # fmt: skip
    assert result.exit_code == 0, result
    shown = cli("show", "latest", "--json")
    assert shown.exit_code == 0, shown
    record: dict[str, Any] = json.loads(shown.stdout)
    return record


@pytest.fixture
def two_runs(repo: Repo, cli: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    first = _run(repo, cli, 1)
    assert cli("champion", "v1", "--reason", "baseline").exit_code == 0
    return first, _run(repo, cli, 2)


ONLY_IN_RERUNS = ("reproduces", "data_drift")
"""Sections only `mlog rerun` writes; tests/test_rerun.py and tests/test_lineage.py cover them."""


def _leaves(value: Any) -> list[str]:
    """What a reader may find of a section: its keys and scalar values, as text."""
    if isinstance(value, dict):
        flat = flatten(value)
        return [*flat, *(str(v) for v in flat.values() if isinstance(v, str | int))]
    if isinstance(value, list):
        return [leaf for item in value for leaf in _leaves(item)]
    return [str(value)]


def test_the_schema_and_the_table_name_the_same_sections_in_the_same_order() -> None:
    schema = json.loads((ROOT / "schemas" / "run.schema.json").read_text())
    assert list(schema["properties"]) == list(sections.KEYS)
    assert records.SECTION_ORDER == sections.KEYS


def test_every_section_says_how_diff_and_card_treat_it() -> None:
    for section in sections.SECTIONS:
        assert section.diff or section.not_compared, section.key
        assert section.card or section.not_carded, section.key
        assert section.about and section.title, section.key


def test_the_diff_views_present_every_part_of_the_table() -> None:
    assert set(SHOWN_ORDER) == set(sections.DIFF_PARTS)
    assert len(SHOWN_ORDER) == len(set(SHOWN_ORDER))


# Sections only records imported from another tool have; tests/test_interop_mlflow.py
# checks that `mlog show` renders them.
IMPORTED_ONLY = ("imported",)


def test_the_fixture_record_fills_every_section(two_runs: Any) -> None:
    _, second = two_runs
    empty = [key for key in sections.KEYS if second.get(key) in (None, {}, [])]
    assert sorted(empty) == sorted((*ONLY_IN_RERUNS, *IMPORTED_ONLY))


def test_show_renders_every_section(two_runs: Any, cli: Any) -> None:
    _, record = two_runs
    shown = cli("show", "latest")
    assert shown.exit_code == 0, shown
    for section in sections.SECTIONS:
        if section.key == "schema_version" or section.key in (*ONLY_IN_RERUNS, *IMPORTED_ONLY):
            continue
        leaves = _leaves(record[section.key])
        assert any(leaf in shown.stdout for leaf in leaves), (section.key, leaves, shown.stdout)
        if not section.header and section.key not in ("series", "data", "artifacts"):
            assert section.title in shown.stdout, (section.key, shown.stdout)


def test_diff_compares_every_part_in_json_human_and_markdown(two_runs: Any, cli: Any) -> None:
    as_json = cli("diff", "v1", "v2", "--json", "--all")
    human = cli("diff", "v1", "v2", "--all")
    markdown = cli("diff", "v1", "v2", "--md")
    for result in (as_json, human, markdown):
        assert result.exit_code == 0, result
    diff = json.loads(as_json.stdout)
    for part in sections.DIFF_PARTS:
        assert part in diff, part
    changed = ("params", "metrics", "series", "data", "code")
    for part in changed:
        assert diff[part] and (part == "code" or any(e["change"] != "same" for e in diff[part]))
        assert part.capitalize() in markdown.stdout, (part, markdown.stdout)
    for part in (*changed, "environment", "command", "resources"):
        assert part in human.stdout, (part, human.stdout)


def test_the_card_shows_every_section_it_is_given(two_runs: Any, cli: Any) -> None:
    _, record = two_runs
    card = cli("card", "latest")
    assert card.exit_code == 0, card
    chapters = {chunk.split("\n", 1)[0].strip(): chunk for chunk in card.stdout.split("\n## ")[1:]}
    for section in sections.SECTIONS:
        if not section.card:
            continue
        text = chapters[section.card]
        leaves = _leaves(record[section.key])
        assert any(leaf in text for leaf in leaves), (section.key, leaves, text)


def test_ls_rows_carry_the_summary_keys(two_runs: Any, cli: Any) -> None:
    listed = cli("ls", "--json")
    assert listed.exit_code == 0, listed
    row = json.loads(listed.stdout)[0]
    _, record = two_runs
    assert row["id"] == record["id"] and row["alias"] == record["alias"]
    assert record["code"]["commit"].startswith(row["commit"]) and row["note"] == record["note"]
    assert {key.split(".")[0] for key in sections.SUMMARY_KEYS} <= set(sections.KEYS)
