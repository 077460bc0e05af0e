"""The fast schema check agrees with jsonschema on every document, valid or mutated."""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from mlog.storage import schema, yamlio
from mlog.storage.records import seal
from mlog.storage.shape import UnsupportedSchema, compile_schema
from tests.conftest import PYTHON, Repo

ROOT = Path(__file__).resolve().parent.parent
Path_ = tuple[str | int, ...]

VALUES: tuple[Any, ...] = (
    None, True, False, 0, 1, -1, 1.0, 2.5, -0.5, math.nan, math.inf, -math.inf, 2**70, "",
    "x", "v1", "sha256:" + "0" * 64, "2024-01-01T00:00:00Z", [], [1], ["a"], [True], {},
    {"a": 1}, {"name": "x"},
)  # fmt: skip


def synthesize_module() -> Any:
    spec = importlib.util.spec_from_file_location(
        "synthesize", ROOT / "benchmarks" / "synthesize.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def synthetic_records(count: int) -> list[dict[str, Any]]:
    synthesize = synthesize_module()
    rng = random.Random(19)
    packages = [f"xxh3_128:{n:032x}" for n in range(3)]  # objects are not read here
    made = [
        seal(synthesize.make_record(rng, n, "a" * 40, "b" * 40, packages))
        for n in range(1, count + 1)
    ]
    return [json.loads(json.dumps(r)) if n % 2 else r for n, r in enumerate(made)]


RICH_CONFIG: dict[str, Any] = {
    "schema_version": 1,
    "model": "fraud",
    "data": ["data/"],
    "artifacts": ["model.pkl"],
    "params": ["params.yaml"],
    "tags": {"team": "risk", "tier": 2, "prod": True},
    "env": ["CUDA_*", "SEED"],
    "hash_algorithm": "sha256",
    "stop_grace_s": 5,
    "metrics": {"auc": {"goal": "maximize", "tolerance": 0.01}},
    "data_window": None,
    "feature_views": [{"name": "users", "version": 3}],
    "sign_records": False,
    "remote": "file:///tmp/x",
    "remote_options": {"endpoint_url": "http://127.0.0.1:9000"},
    "remote_jobs": 8,
    "registry": {
        "gates": {"staging": ["succeeded"], "production": ["succeeded", "approvals"]},
        "approvals": {"production": 2, "allow_self": True},
    },
}


class Judge:
    """Both checkers for each schema, plus the partial variant ``part_problems`` uses."""

    def __init__(self) -> None:
        self.pairs: dict[str, tuple[Any, Any]] = {}
        for name in schema.SCHEMAS:
            full = schema.load_schema(name)
            partial = {**full, "required": []}
            self.pairs[name] = (compile_schema(full), Draft202012Validator(full))
            self.pairs[f"{name}/partial"] = (compile_schema(partial), Draft202012Validator(partial))
        self.seen = {True: 0, False: 0}

    def agree(self, name: str, document: Any) -> bool:
        fast, slow = self.pairs[name]
        verdict: bool = slow.is_valid(document)
        assert fast(document) is verdict, (name, verdict, document)
        self.seen[verdict] += 1
        return verdict


def walk(node: Any, path: Path_ = ()) -> Iterator[Path_]:
    yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, index))


def get(document: Any, path: Path_) -> Any:
    for part in path:
        document = document[part]
    return document


def replaced(document: Any, path: Path_, value: Any) -> Any:
    if not path:
        return value
    result = copy.deepcopy(document)
    get(result, path[:-1])[path[-1]] = value
    return result


def removed(document: Any, path: Path_) -> Any:
    result = copy.deepcopy(document)
    del get(result, path[:-1])[path[-1]]
    return result


def property_names(node: Any) -> set[str]:
    """Every property name a schema mentions, to add as plausible extra keys."""
    found: set[str] = set()
    if isinstance(node, dict):
        found.update(k for k in node.get("properties", {}) if isinstance(node["properties"], dict))
        for value in node.values():
            found |= property_names(value)
    elif isinstance(node, list):
        for value in node:
            found |= property_names(value)
    return found


def variants(node: Any, names: list[str]) -> list[Any]:
    """Values that stand in for ``node``: near misses of its own kind, and every other kind."""
    near: list[Any] = []
    if isinstance(node, str):
        near = [node + "!", "!" + node, node[:-1], node.upper(), node * 2, " " + node]
    elif isinstance(node, bool):
        near = [not node, int(node)]
    elif isinstance(node, int | float):
        near = [-node, node + 0.5, float(node), node - 1, node + 1, -abs(node) - 1]
    elif isinstance(node, list):
        near = [[], node + node[:1], node[1:], [*node, None], list(reversed(node))]
        near += [tuple(node)]
    elif isinstance(node, dict):
        near = [{**node, "zz_extra": 1}, {}, {str(k): v for k, v in node.items()}]
        near += [{**node, name: value} for name in names for value in (None, "x", 1, {})]
    return [*near, *VALUES]


def mutants(document: Any, names: list[str], rng: random.Random, per_path: int) -> Iterator[Any]:
    """Each node dropped, and replaced by ``per_path`` of its variants chosen by ``rng``."""
    for path in walk(document):
        node = get(document, path)
        if path:
            yield removed(document, path)
        options = variants(node, rng.sample(names, 3))
        for value in rng.sample(options, min(per_path, len(options))):
            yield replaced(document, path, value)


def mutate_randomly(document: Any, names: list[str], rng: random.Random) -> Any:
    for _ in range(rng.randint(1, 3)):
        paths = list(walk(document))
        path = rng.choice(paths)
        if path and rng.random() < 0.25:
            document = removed(document, path)
        else:
            node = get(document, path)
            document = replaced(document, path, rng.choice(variants(node, rng.sample(names, 2))))
    return document


def test_every_shipped_schema_compiles() -> None:
    for name in schema.SCHEMAS:
        check = compile_schema(schema.load_schema(name))
        assert check(None) is False  # every schema wants an object


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ({"type": "object", "properties": {"a": {"format": "email"}}}, "format"),
        ({"oneOf": [{"type": "string"}]}, "oneOf"),
        ({"$ref": "#/$defs/x", "$defs": {"x": {"maxLength": 3}}}, "maxLength"),
        ({"$ref": "https://example.com/other.json"}, "only local $ref"),
        ({"$ref": "#/$defs/missing"}, "does not resolve"),
        ({"if": {"type": "string"}, "then": True, "else": False}, "else"),
        ({"type": "decimal"}, "unknown type"),
        ({"items": 3}, "must be an object or a boolean"),
        ({"$schema": "http://json-schema.org/draft-07/schema#"}, "only JSON Schema 2020-12"),
        (
            {"properties": {"a": {"$id": "https://example.com/a", "type": "string"}}},
            "below the root",
        ),
    ],
)
def test_a_keyword_it_does_not_implement_refuses_to_compile(
    bad: dict[str, Any], named: str
) -> None:
    with pytest.raises(UnsupportedSchema, match=named.replace("$", r"\$")):
        compile_schema(bad)


def test_json_semantics_match_jsonschema() -> None:
    cases: list[tuple[dict[str, Any], Any]] = [
        ({"type": "integer"}, 1.0),
        ({"type": "integer"}, True),
        ({"type": "number"}, False),
        ({"type": "number"}, math.nan),
        ({"minimum": 0}, math.nan),
        ({"minimum": 0}, -math.inf),
        ({"exclusiveMinimum": 0}, 0),
        ({"maximum": 1}, math.inf),
        ({"pattern": "b"}, "abc"),
        ({"pattern": "^b"}, "abc"),
        ({"enum": [1, "a"]}, True),
        ({"enum": [1, "a"]}, 1.0),
        ({"enum": [[1]]}, [True]),
        ({"const": 1}, True),
        ({"const": {"a": [1]}}, {"a": [1.0]}),
        ({"type": "array"}, (1,)),
        ({"uniqueItems": True}, [1, True]),
        ({"uniqueItems": True}, [1, 1.0]),
        ({"uniqueItems": True}, [{"a": 1}, {"a": 1}]),
        ({"propertyNames": {"pattern": "^a"}}, {1: "x"}),
        ({"minLength": 2}, "\u00e9"),
        ({"$ref": "#/$defs/n", "$defs": {"n": {"items": {"$ref": "#/$defs/n"}}}}, [[[1]]]),
    ]
    for rule, instance in cases:
        expected = Draft202012Validator(rule).is_valid(instance)
        assert compile_schema(rule)(instance) is expected, (rule, instance)


def real_documents(repo: Repo, cli: Any) -> dict[str, list[Any]]:
    """Records, events, config and provenance the real CLI writes in a small project."""
    train = "import json, time\njson.dump({'auc': 0.9}, open('m.json', 'w'))\n"
    train += "open('model.pkl', 'w').write(str(time.time()))\n"
    repo.gen({"train.py": train, "data/train.csv": "a\n1\n", ".gitignore": "m.json\nmodel.pkl\n"})
    repo.gen(
        {".mlog/config.yaml": "schema_version: 1\nregistry:\n  gates:\n    staging: [succeeded]\n"}
    )
    repo.commit("training")
    flags = (
        "--model",
        "fraud",
        "-a",
        "model.pkl",
        "-d",
        "train=data/train.csv",
        "-p",
        "params.yaml",
        "-m",
        "m.json",
    )
    for args in [flags, ("--note", "second", "-t", "team=risk"), ()]:
        result = cli("run", *args, "--", PYTHON, "train.py")
        assert result.exit_code == 0, result
    assert cli("run", "--", PYTHON, "-c", "raise SystemExit(3)").exit_code == 3
    registry = [
        ("register", "v1", "--model", "fraud"),
        ("promote", "fraud@v1", "--to", "staging"),
        ("register", "latest", "--model", "fraud"),
        ("promote", "fraud@v2", "--to", "staging", "--force", "--reason", "try it"),
    ]
    for args in registry:
        result = cli(*args)
        assert result.exit_code == 0, result
    provenance = cli("export", "in-toto", "v1")
    assert provenance.exit_code == 0, provenance
    mlog = repo.path / ".mlog"
    return {
        "run": [yamlio.loads(p.read_text()) for p in sorted(mlog.glob("runs/*/record.yaml"))],
        "registry-event": [
            yamlio.loads(p.read_text()) for p in sorted(mlog.glob("registry/*/*.yaml"))
        ],
        "config": [yamlio.loads((mlog / "config.yaml").read_text()), RICH_CONFIG],
        "intoto-provenance": [json.loads(provenance.stdout)],
    }


def test_real_and_mutated_documents_get_the_same_verdict(repo: Repo, cli: Any) -> None:
    documents = real_documents(repo, cli)
    documents["run"] += synthetic_records(20)
    assert all(len(found) >= 2 or name != "run" for name, found in documents.items())
    assert len(documents["registry-event"]) >= 2
    judge = Judge()
    rng = random.Random(1919)
    for name, found in documents.items():
        names = sorted(property_names(schema.load_schema(name)))
        for document in found:
            assert judge.agree(name, document), (name, document)
            assert judge.agree(f"{name}/partial", document)
        # every node of one document of each kind, several stand-ins each
        for mutant in mutants(found[0], names, rng, per_path=6):
            judge.agree(name, mutant)
        if name == "run":
            for mutant in mutants(found[-1], names, rng, per_path=2):
                judge.agree(name, mutant)
                judge.agree("run/partial", mutant)
        # and seeded random stacks of one to three mutations anywhere in any of them
        for _ in range(1500 if name == "run" else 500):
            mutant = mutate_randomly(rng.choice(found), names, rng)
            judge.agree(name, mutant)
    assert judge.seen[True] > 100 and judge.seen[False] > 2000, judge.seen


def test_invalid_documents_keep_jsonschemas_messages() -> None:
    record = synthetic_records(1)[0]
    record["alias"] = 7
    del record["status"]
    slow = Draft202012Validator(schema.load_schema("run"))
    expected = sorted(
        f"{'.'.join(str(p) for p in e.absolute_path) or '(top)'}: {e.message}"
        for e in slow.iter_errors(record)
    )
    assert schema.problems(record, "run") == expected and len(expected) >= 2
    assert schema.problems(synthetic_records(1)[0], "run") == []


def test_a_value_the_fast_check_cannot_compare_goes_to_jsonschema() -> None:
    config = {"schema_version": 1, "stop_grace_s": complex(1, 1)}
    with pytest.raises(TypeError):
        compile_schema(schema.load_schema("config"))(config)
    with pytest.raises(TypeError):  # jsonschema cannot order it either, and says so
        schema.problems(config, "config")
