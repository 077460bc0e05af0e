"""Model cards: Hugging Face front matter, Mitchell et al. sections, self-contained HTML."""

from __future__ import annotations

import re
from typing import Any

import yaml

from tests.conftest import Repo
from tests.test_registry import ok, setup_training, train

CARD_CONFIG = """
card:
  intended_use: Score card transactions for fraud review.
  out_of_scope: Credit decisions.
  ethical_considerations: "Audited for <script>alert(1)</script> bias | quarterly"
  caveats: Retrain monthly.
  owners: [fraud-team@example.com]
  license: mit
  task: tabular-classification
"""


def front_matter(markdown: str) -> dict[str, Any]:
    assert markdown.startswith("---\n")
    head = markdown.split("\n---\n", 1)[0][4:]
    data = yaml.safe_load(head)
    assert isinstance(data, dict)
    return data


def test_markdown_card_has_model_index_and_warns_when_undocumented(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    ok(cli("register", train(cli, 0.9)))
    result = ok(cli("card", "fraud@v1"))
    meta = front_matter(result.stdout)
    [entry] = meta["model-index"]
    assert entry["name"] == "fraud"
    metrics = {m["type"]: m["value"] for m in entry["results"][0]["metrics"]}
    assert metrics["auc"] == 0.9 and "loss" in metrics
    assert entry["results"][0]["task"]["type"] == "other"
    assert "warning:" in result.stderr and "intended use" in result.stderr
    assert "> **Warning:** Not documented" in result.stdout
    for title in ("Model Details", "Intended Use", "Training Data", "Evaluation",
                  "Ethical Considerations", "Caveats and Recommendations", "Environment",
                  "Lineage", "Approvals and Stage History"):  # fmt: skip
        assert f"## {title}" in result.stdout
    assert "fraud@v1" in result.stdout and "register" in result.stdout


def test_card_from_config_compares_with_the_champion(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + CARD_CONFIG)
    repo.commit("card text")
    ok(cli("register", train(cli, 0.9)))
    ok(cli("promote", "fraud@v1", "--to", "production", "--force", "--reason", "first"))
    challenger = train(cli, 0.95)
    result = ok(cli("card", challenger))
    assert "warning" not in result.stderr
    meta = front_matter(result.stdout)
    assert meta["license"] == "mit" and meta["model-index"][0]["results"][0]["task"]["type"] == (
        "tabular-classification"
    )
    assert "Compared with fraud@v1" in result.stdout and "+0.05" in result.stdout
    assert "&lt;script&gt;" in result.stdout and "bias | quarterly" in result.stdout
    assert "Not registered in the model registry." in result.stdout


def test_html_card_is_self_contained_and_escaped(repo: Repo, cli: Any, tmp_path: Any) -> None:
    setup_training(repo)
    config = repo.path / ".mlog" / "config.yaml"
    config.write_text(config.read_text() + CARD_CONFIG)
    repo.commit("card text")
    ok(cli("register", train(cli)))
    target = tmp_path / "card.html"
    result = ok(cli("card", "fraud@v1", "--format", "html", "-o", str(target)))
    assert "wrote" in result.stderr and result.stdout == ""
    page = target.read_text()
    assert page.startswith("<!DOCTYPE html>") and "<style>" in page
    assert "<script" not in page and "&lt;script&gt;" in page
    assert not re.search(r"""(src|href)\s*=|<link|@import|url\(""", page)
    assert "Model Details" in page and "fraud-team@example.com" in page


def test_card_errors(repo: Repo, cli: Any) -> None:
    setup_training(repo)
    train(cli)
    bad_format = cli("card", "latest", "--format", "pdf")
    assert bad_format.exit_code == 2 and "unknown card format" in bad_format.stderr, bad_format
    unknown = cli("card", "fraud@v3")
    assert unknown.exit_code == 6 and "unknown model 'fraud'" in unknown.stderr, unknown
    json_card = ok(cli("card", "latest", "--format", "json"))
    assert '"model-index"' in json_card.stdout
