"""Meta-tests: every command is helpful and documented, every exit code is published."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
from jsonschema import Draft202012Validator
from typer.main import get_command

from mlog.cli.app import app
from mlog.errors import EXIT_CODES, MlogError

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"


def all_commands() -> list[tuple[str, typer.core.TyperCommand]]:
    found = []

    def walk(group, prefix: str) -> None:
        for name, command in group.commands.items():
            if getattr(command, "hidden", False):
                continue
            if hasattr(command, "commands"):
                walk(command, f"{prefix}{name} ")
            else:
                found.append((f"{prefix}{name}", command))

    walk(get_command(app), "")
    return found


COMMANDS = all_commands()


def test_the_core_commands_exist() -> None:
    names = {name for name, _ in COMMANDS}
    assert {"init", "run", "ls", "show", "validate"} <= names


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_command_has_help_with_examples(name: str, command) -> None:
    assert command.help and len(command.help) > 40, name
    assert "Examples:" in command.help, f"`mlog {name} --help` needs an Examples: block"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_help_shows_each_example_on_its_own_line(name: str, command) -> None:
    """Typer dedents the text after the first paragraph: when that text began with
    "Examples:", the examples lost their indent and ran together into one line."""
    from typer.testing import CliRunner

    shown = CliRunner().invoke(app, [*name.split(), "--help"], env={"COLUMNS": "250"})
    lines = [line.strip(" │") for line in shown.stdout.splitlines()]
    examples = [line.strip() for line in command.help.split("Examples:")[1].splitlines()]
    missing = [example for example in examples if example and example not in lines]
    assert shown.exit_code == 0 and not missing, f"mlog {name} --help:\n{shown.stdout}"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_option_has_help(name: str, command) -> None:
    for param in command.params:
        if getattr(param, "hidden", False):
            continue
        assert getattr(param, "help", None), f"mlog {name}: {param.name} has no help text"


@pytest.mark.parametrize(("name", "command"), COMMANDS, ids=[n for n, _ in COMMANDS])
def test_every_command_is_documented(name: str, command) -> None:
    text = "\n".join(p.read_text() for p in DOCS.glob("*.md"))
    assert f"mlog {name}" in text, f"docs/ never mentions `mlog {name}`"


def test_every_exit_code_is_documented() -> None:
    page = (DOCS / "exit-codes.md").read_text()
    documented = {int(code) for code in re.findall(r"^\| (\d+) \|", page, re.MULTILINE)}
    assert documented == set(EXIT_CODES)


def test_every_error_class_has_a_documented_exit_code() -> None:
    def subclasses(cls: type) -> list[type]:
        return [cls, *(s for sub in cls.__subclasses__() for s in subclasses(sub))]

    for cls in subclasses(MlogError):
        assert cls.exit_code in EXIT_CODES, cls


@pytest.mark.parametrize("path", sorted((ROOT / "schemas").glob("*.json")), ids=lambda p: p.name)
def test_schemas_are_valid_json_schema_2020_12(path: Path) -> None:
    schema = json.loads(path.read_text())
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(schema)


def test_changelog_has_dated_versions() -> None:
    text = (ROOT / "CHANGELOG.md").read_text()
    assert re.search(r"^## \[?\d+\.\d+\.\d+\]? - \d{4}-\d{2}-\d{2}", text, re.MULTILINE)
