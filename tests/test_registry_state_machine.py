"""State machine over the real registry API and a real repo: the governance invariants hold.

At most one production version per model, the audit log only grows (no event is
ever edited or removed), every production version passed its gates or carries a
forced reason, and a refused action leaves no partial event behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from mlog.errors import MlogError
from mlog.registry import events
from mlog.registry import fold as registry
from mlog.storage.store import Store
from tests.conftest import Repo
from tests.test_registry import setup_training, train

MODELS = ("fraud", "churn")
VERSIONS = ("v1", "v2", "v3")
PEOPLE = ("ada@example.com", "grace@example.com", "alan@example.com")


class RegistryMachine(RuleBasedStateMachine):
    template: ClassVar[Path]
    run_ids: ClassVar[list[str]]

    def __init__(self) -> None:
        super().__init__()
        self.tmp = tempfile.TemporaryDirectory()
        self.root = Path(self.tmp.name) / "repo"
        shutil.copytree(self.template, self.root, symlinks=True)
        self.store = Store(self.root)
        self.seen: dict[Path, bytes] = {}

    def teardown(self) -> None:
        self.tmp.cleanup()

    @initialize()
    def register_two_versions(self) -> None:
        """Start with fraud@v1 (current artifact) and fraud@v2, so promotions have targets."""
        os.environ["GIT_AUTHOR_EMAIL"] = PEOPLE[0]
        registry.register(self.store, self.run_ids[3], model="fraud")
        registry.register(self.store, self.run_ids[0], model="fraud")

    def _attempt(self, action: Any, by: str) -> None:
        """Run an action as ``by`` (the person git says you are); when it is refused,
        no event may have been written."""
        os.environ["GIT_AUTHOR_EMAIL"] = by
        before = self._event_paths()
        try:
            action()
        except MlogError:
            assert self._event_paths() == before

    def _event_paths(self) -> set[Path]:
        return {path for model in MODELS for path in events.event_files(self.store, model)}

    @rule(run=st.integers(0, 3), model=st.sampled_from(MODELS), by=st.sampled_from(PEOPLE))
    def register(self, run: int, model: str, by: str) -> None:
        run_id = self.run_ids[run]
        self._attempt(lambda: registry.register(self.store, run_id, model=model), by)

    @rule(
        model=st.sampled_from(MODELS),
        version=st.sampled_from(VERSIONS),
        stage=st.sampled_from(["staging", "production", "production", "archived", "qa"]),
        force=st.booleans(),
        by=st.sampled_from(PEOPLE),
    )
    def promote(self, model: str, version: str, stage: str, force: bool, by: str) -> None:
        reason = "override for test" if force else None
        self._attempt(
            lambda: registry.promote(
                self.store, f"{model}@{version}", to=stage, reason=reason, force=force
            ),
            by,
        )

    @rule(
        model=st.sampled_from(MODELS), version=st.sampled_from(VERSIONS), by=st.sampled_from(PEOPLE)
    )
    def approve(self, model: str, version: str, by: str) -> None:
        self._attempt(lambda: registry.approve(self.store, f"{model}@{version}"), by)

    @rule(tampered=st.booleans())
    def tamper_artifact(self, tampered: bool) -> None:
        (self.root / "model.pkl").write_bytes(b"tampered" if tampered else b"weights 0.9")

    @invariant()
    def at_most_one_production_version(self) -> None:
        for state in self._states():
            assert len(state.in_stage("production")) <= 1, state.to_json()
            assert state.conflicts == []

    @invariant()
    def audit_log_only_grows(self) -> None:
        now = {path: path.read_bytes() for path in self._event_paths()}
        for path, content in self.seen.items():
            assert now.get(path) == content, f"{path} was edited or removed"
        self.seen = now

    @invariant()
    def production_passed_gates_or_was_forced(self) -> None:
        for state in self._states():
            for version in state.in_stage("production"):
                event = self._last_promotion(state.model, version.version)
                gates_passed = all(g["passed"] for g in event["details"]["gates"])
                assert gates_passed or (event["forced"] and event["reason"]), event

    def _states(self) -> list[registry.ModelState]:
        return registry.all_states(self.store)

    def _last_promotion(self, model: str, version: str) -> dict[str, Any]:
        promotions = [
            e for e in events.load_events(self.store, model)
            if e["kind"] == "promote" and e["version"] == version and e["stage"] == "production"
        ]  # fmt: skip
        return promotions[-1]


@pytest.fixture
def template(repo: Repo, cli: Any) -> tuple[Path, list[str]]:
    """A repo with four runs: succeeded, failed, dirty, succeeded (its artifact is current)."""
    setup_training(repo)
    run_ids = [train(cli, 0.8), train(cli, 0.7, exit_code=2)]
    repo.gen({"notes.txt": "draft\n"})
    run_ids += [train(cli, 0.85, dirty=True)]
    (repo.path / "notes.txt").unlink()
    run_ids += [train(cli, 0.9)]
    return repo.path, run_ids


def test_registry_state_machine(template: tuple[Path, list[str]]) -> None:
    RegistryMachine.template, RegistryMachine.run_ids = template
    run_state_machine_as_test(
        RegistryMachine,
        settings=settings(max_examples=40, stateful_step_count=25, deadline=None, database=None),
    )
