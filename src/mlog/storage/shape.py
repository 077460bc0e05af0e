"""A fast yes/no check of a document against one of mlog's JSON Schemas, without jsonschema.

``compile_schema`` walks a schema once and returns a predicate built from closures; it answers
only "valid or not". The schema files stay the contract: ``storage.schema`` asks this check
first and brings in jsonschema only when it says "invalid", to word the problems.

The semantics follow JSON Schema 2020-12 as jsonschema's ``Draft202012Validator`` applies
them (no format assertion): ``bool`` is neither an integer nor a number, ``1.0`` is an
integer, only ``list`` is an array and only ``dict`` an object, patterns are searched (not
anchored), ``enum``/``const`` tell ``True`` from ``1``, and each keyword only constrains
instances of its own type. Only the keywords mlog's shipped schemas use are implemented; any
other keyword makes ``compile_schema`` raise ``UnsupportedSchema``, so a schema change can
never silently weaken the check (tests/test_shape.py compares both on many documents).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from numbers import Number
from typing import Any
from urllib.parse import unquote

Check = Callable[[Any], bool]

# Keywords that never affect validity (annotations, and $defs, reached only through $ref).
IGNORED = frozenset(
    {"$schema", "$id", "$comment", "$defs", "title", "description", "contentEncoding"}
)
SUPPORTED = IGNORED | {
    "$ref",
    "type",
    "enum",
    "const",
    "allOf",
    "anyOf",
    "not",
    "if",
    "then",
    "properties",
    "additionalProperties",
    "required",
    "propertyNames",
    "minProperties",
    "items",
    "minItems",
    "uniqueItems",
    "minLength",
    "pattern",
    "minimum",
    "maximum",
    "exclusiveMinimum",
}


class UnsupportedSchema(ValueError):
    """The schema uses something this checker does not implement."""


DIALECT = "https://json-schema.org/draft/2020-12/schema"


def compile_schema(root: Mapping[str, Any]) -> Check:
    """A predicate telling whether a document is valid against ``root``."""
    if root.get("$schema", DIALECT) != DIALECT:
        raise UnsupportedSchema(f"#: only JSON Schema 2020-12 is implemented: {root['$schema']}")
    return _Compiler(root).compile(root, "#")


def _is_number(value: Any) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    if isinstance(value, float):
        return value.is_integer()
    return isinstance(value, int) and not isinstance(value, bool)


TYPES: dict[str, Check] = {
    "object": lambda value: isinstance(value, dict),
    "array": lambda value: isinstance(value, list),
    "string": lambda value: isinstance(value, str),
    "boolean": lambda value: isinstance(value, bool),
    "null": lambda value: value is None,
    "integer": _is_integer,
    "number": _is_number,
}

_TRUE = object()
_FALSE = object()


def _unbool(value: Any) -> Any:
    if value is True:
        return _TRUE
    if value is False:
        return _FALSE
    return value


def equal(one: Any, two: Any) -> bool:
    """JSON equality: ``True`` is not ``1``, sequences and mappings compared member by member."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return len(one) == len(two) and all(
            key in two and equal(value, two[key]) for key, value in one.items()
        )
    return bool(_unbool(one) == _unbool(two))


def _unique(items: list[Any]) -> bool:
    seen: list[Any] = []
    for item in items:
        if any(equal(item, earlier) for earlier in seen):
            return False
        seen.append(item)
    return True


def _always(value: Any) -> bool:
    return True


def _never(value: Any) -> bool:
    return False


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _always
    if len(checks) == 1:
        return checks[0]

    def check(value: Any) -> bool:
        for each in checks:  # noqa: SIM110 - a plain loop beats all() over a generator
            if not each(value):
                return False
        return True

    return check


class _Compiler:
    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root
        self.refs: dict[str, Check] = {}

    def compile(self, schema: Any, where: str) -> Check:
        if schema is True:
            return _always
        if schema is False:
            return _never
        if not isinstance(schema, Mapping):
            raise UnsupportedSchema(f"{where}: a schema must be an object or a boolean")
        unknown = sorted(set(schema) - SUPPORTED)
        if unknown:
            raise UnsupportedSchema(f"{where}: keyword(s) not implemented: {', '.join(unknown)}")
        if schema is not self.root and ("$id" in schema or "$schema" in schema):
            raise UnsupportedSchema(f"{where}: $id or $schema below the root (refs would move)")
        if "then" in schema and "if" not in schema:
            raise UnsupportedSchema(f"{where}: 'then' without 'if'")
        checks: list[Check] = []
        if "type" in schema:
            checks.append(self._type(schema["type"], where))
        if "enum" in schema:
            checks.append(self._enum(schema["enum"]))
        if "const" in schema:
            const = schema["const"]
            checks.append(lambda value: equal(value, const))
        checks.extend(self._numeric(schema))
        checks.extend(self._string(schema, where))
        checks.extend(self._array(schema, where))
        checks.extend(self._object(schema, where))
        if "$ref" in schema:
            checks.append(self._ref(schema["$ref"], where))
        for index, part in enumerate(schema.get("allOf", ())):
            checks.append(self.compile(part, f"{where}/allOf/{index}"))
        if "anyOf" in schema:
            options = [self.compile(p, f"{where}/anyOf/{i}") for i, p in enumerate(schema["anyOf"])]
            checks.append(lambda value: any(option(value) for option in options))
        if "not" in schema:
            negated = self.compile(schema["not"], f"{where}/not")
            checks.append(lambda value: not negated(value))
        if "if" in schema and "then" in schema:
            condition = self.compile(schema["if"], f"{where}/if")
            then = self.compile(schema["then"], f"{where}/then")
            checks.append(lambda value: then(value) if condition(value) else True)
        elif "if" in schema:
            self.compile(schema["if"], f"{where}/if")  # no effect alone, but must be supported
        return _all(checks)

    def _type(self, types: Any, where: str) -> Check:
        names = [types] if isinstance(types, str) else list(types)
        unknown = [name for name in names if name not in TYPES]
        if unknown or not names:
            raise UnsupportedSchema(f"{where}: unknown type(s) {unknown or names}")
        tests = [TYPES[name] for name in names]
        if len(tests) == 1:
            return tests[0]
        return lambda value: any(test(value) for test in tests)

    def _enum(self, options: list[Any]) -> Check:
        if all(isinstance(option, str) for option in options):
            strings = frozenset(options)
            return lambda value: isinstance(value, str) and value in strings
        return lambda value: any(equal(option, value) for option in options)

    def _numeric(self, schema: Mapping[str, Any]) -> list[Check]:
        checks: list[Check] = []
        if "minimum" in schema:
            low = schema["minimum"]
            checks.append(lambda value: not _is_number(value) or not value < low)
        if "maximum" in schema:
            high = schema["maximum"]
            checks.append(lambda value: not _is_number(value) or not value > high)
        if "exclusiveMinimum" in schema:
            above = schema["exclusiveMinimum"]
            checks.append(lambda value: not _is_number(value) or not value <= above)
        return checks

    def _string(self, schema: Mapping[str, Any], where: str) -> list[Check]:
        checks: list[Check] = []
        if "minLength" in schema:
            shortest = schema["minLength"]
            checks.append(lambda value: not isinstance(value, str) or len(value) >= shortest)
        if "pattern" in schema:
            try:
                search = re.compile(schema["pattern"]).search
            except re.error as exc:
                raise UnsupportedSchema(f"{where}: pattern does not compile: {exc}") from exc
            checks.append(lambda value: not isinstance(value, str) or search(value) is not None)
        return checks

    def _array(self, schema: Mapping[str, Any], where: str) -> list[Check]:
        checks: list[Check] = []
        if "minItems" in schema:
            fewest = schema["minItems"]
            checks.append(lambda value: not isinstance(value, list) or len(value) >= fewest)
        if schema.get("uniqueItems") is True:
            checks.append(lambda value: not isinstance(value, list) or _unique(value))
        if "items" in schema:
            item = self.compile(schema["items"], f"{where}/items")
            checks.append(
                lambda value: not isinstance(value, list) or all(item(each) for each in value)
            )
        return checks

    def _object(self, schema: Mapping[str, Any], where: str) -> list[Check]:
        checks: list[Check] = []
        if "required" in schema:
            names = list(schema["required"])
            if names:
                checks.append(
                    lambda value: not isinstance(value, dict) or all(n in value for n in names)
                )
        if "minProperties" in schema:
            fewest = schema["minProperties"]
            checks.append(lambda value: not isinstance(value, dict) or len(value) >= fewest)
        properties = {
            name: self.compile(sub, f"{where}/properties/{name}")
            for name, sub in schema.get("properties", {}).items()
        }
        if properties:
            pairs = list(properties.items())

            def known(value: Any) -> bool:
                if not isinstance(value, dict):
                    return True
                for name, check in pairs:  # noqa: SIM110 - as in _all, for speed
                    if name in value and not check(value[name]):
                        return False
                return True

            checks.append(known)
        if "additionalProperties" in schema:
            checks.append(self._additional(schema["additionalProperties"], properties, where))
        if "propertyNames" in schema:
            key_check = self.compile(schema["propertyNames"], f"{where}/propertyNames")
            checks.append(
                lambda value: not isinstance(value, dict) or all(key_check(k) for k in value)
            )
        return checks

    def _additional(self, extra: Any, properties: Mapping[str, Check], where: str) -> Check:
        if extra is True or extra == {}:
            return _always
        if extra is False:
            return lambda value: not isinstance(value, dict) or all(k in properties for k in value)
        check = self.compile(extra, f"{where}/additionalProperties")

        def others(value: Any) -> bool:
            if not isinstance(value, dict):
                return True
            for key, member in value.items():
                if key not in properties and not check(member):
                    return False
            return True

        return others

    def _ref(self, ref: Any, where: str) -> Check:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise UnsupportedSchema(f"{where}: only local $ref is implemented, not {ref!r}")
        if ref not in self.refs:
            target: list[Check] = []
            self.refs[ref] = lambda value: target[0](value)  # a recursive ref sees itself
            target.append(self.compile(self._resolve(ref, where), ref))
            self.refs[ref] = target[0]
        return self.refs[ref]

    def _resolve(self, ref: str, where: str) -> Any:
        node: Any = self.root
        pointer = unquote(ref[1:])
        if pointer and not pointer.startswith("/"):
            raise UnsupportedSchema(f"{where}: $ref {ref!r} is not a JSON pointer")
        for raw in pointer.split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise UnsupportedSchema(f"{where}: $ref {ref!r} does not resolve")
        return node
