"""The one way mlog reads and writes YAML: safe, strict on input, stable on output.

Records are evidence, so loading rejects what a hand edit or an attack could
smuggle in (duplicate keys, aliases, custom tags, huge files, bad encodings),
and dumping is deterministic so records read well in ``git diff``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, ClassVar

import yaml

from mlog.errors import RecordError
from mlog.storage.limits import check_expansion

MAX_YAML_BYTES = 8 * 1024 * 1024
_HEX_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_BaseDumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _StrictSafeLoader(_BaseLoader):  # type: ignore[misc]
    """Safe loader that refuses duplicate keys and, when asked, aliases."""

    allow_aliases = True

    def construct_object(self, node: Any, deep: bool = False) -> Any:
        if not self.allow_aliases and node in self.constructed_objects:
            raise yaml.constructor.ConstructorError(
                None, None, "aliases are not allowed here", node.start_mark
            )
        return super().construct_object(node, deep)

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: set[tuple[str, Any]] = set()
        for key_node, _ in node.value:
            key = (
                key_node.tag,
                key_node.value if isinstance(key_node.value, str) else id(key_node),
            )
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key[1]!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep)


class _NoAliasSafeLoader(_StrictSafeLoader):
    allow_aliases = False


class _StableDumper(_BaseDumper):  # type: ignore[misc]
    def ignore_aliases(self, data: Any) -> bool:
        return True


def _represent_str(dumper: Any, value: str) -> Any:
    if _HEX_ID.fullmatch(value):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"')
    if "\n" in value:
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|")
    return dumper.represent_scalar("tag:yaml.org,2002:str", value)


_StableDumper.add_representer(str, _represent_str)


def loads(text: str | bytes, *, source: str = "<string>", allow_aliases: bool = True) -> Any:
    """Parse YAML text, raising ``RecordError`` with a one-line reason on anything suspect."""
    raw = text.encode("utf-8") if isinstance(text, str) else text
    if len(raw) > MAX_YAML_BYTES:
        raise RecordError(f"{source}: larger than {MAX_YAML_BYTES} bytes, refusing to parse")
    if raw.startswith(b"\xef\xbb\xbf"):
        raise RecordError(f"{source}: starts with a byte-order mark (save it as plain UTF-8)")
    try:
        decoded = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordError(f"{source}: not valid UTF-8 (byte {exc.start})") from None
    plain = _block_document(decoded)
    if plain is _UNUSUAL:
        plain = _plain_document(decoded)
    if plain is not _UNUSUAL:
        return plain
    try:  # both loaders are strict subclasses of yaml's (C)SafeLoader
        data = yaml.load(decoded, Loader=_StrictSafeLoader if allow_aliases else _NoAliasSafeLoader)
    except yaml.YAMLError as exc:
        raise RecordError(f"{source}: {_describe(exc)}") from None
    except RecursionError:
        raise RecordError(f"{source}: nested too deeply") from None
    if allow_aliases and "*" in decoded:  # only aliases can expand or loop
        check_expansion(data, source)
    return data


# -- the plain-document fast path ------------------------------------------------------
# A record is a tree of mappings, sequences and plain or quoted scalars. For such a document
# the node tree from libyaml is turned into Python objects directly, calling the very
# constructors the safe loader would call for each scalar tag, faster than the loader's
# generic construction. Anything else (an ``&`` anywhere, so possibly an anchor; a
# duplicate key, a tag other than str/int/float/bool/null/timestamp/map/seq, a merge key, a
# key that is not a scalar, any parse error) is left to the strict loader above, which then
# accepts or refuses it exactly as it always has: the fast path never refuses and never
# admits anything on its own. tests/test_yamlio_fast.py holds the two to the same results.
_UNUSUAL: Any = object()
_TAG = "tag:yaml.org,2002:"
_STR, _SEQ, _MAP = _TAG + "str", _TAG + "seq", _TAG + "map"
_SCALAR_TAGS = frozenset(_TAG + name for name in ("int", "float", "bool", "null", "timestamp"))


class _Unusual(Exception):
    """The document needs the strict loader's full machinery."""


class _PlainComposer(_NoAliasSafeLoader):
    """Composes with the same tags, remembering each node's: the resolver is a pure
    function of (kind, value, implicit) while no path resolver is registered."""

    _tags: ClassVar[dict[tuple[Any, Any, Any], str]] = {}

    def resolve(self, kind: Any, value: Any, implicit: Any) -> Any:
        key = (kind, value, implicit)
        tag = self._tags.get(key)
        if tag is not None and not self.yaml_path_resolvers:
            return tag
        tag = super().resolve(kind, value, implicit)
        short = value is None or len(value) <= 64
        if short and not self.yaml_path_resolvers and len(self._tags) < 65536:
            self._tags[key] = tag
        return tag


def _plain_document(decoded: str) -> Any:
    """The document built from its node tree, or ``_UNUSUAL`` when it is not plain."""
    if "&" in decoded:  # maybe an anchor, so maybe aliases: the strict loader decides
        return _UNUSUAL
    loader = _PlainComposer(decoded)
    try:
        node = loader.get_single_node()
        return None if node is None else _build(loader, node)
    except (yaml.YAMLError, _Unusual, RecursionError, ValueError, TypeError):
        return _UNUSUAL
    finally:
        loader.dispose()


def _scalar(loader: Any, node: Any) -> Any:
    tag = node.tag
    if tag == _STR:
        return node.value
    if tag not in _SCALAR_TAGS:
        raise _Unusual
    return loader.yaml_constructors[tag](loader, node)


def _build(loader: Any, node: Any) -> Any:
    kind = type(node)
    if kind is yaml.ScalarNode:
        return _scalar(loader, node)
    if kind is yaml.SequenceNode and node.tag == _SEQ:
        return [_build(loader, item) for item in node.value]
    if kind is not yaml.MappingNode or node.tag != _MAP:
        raise _Unusual
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        if type(key_node) is not yaml.ScalarNode:
            raise _Unusual
        key = key_node.value if key_node.tag == _STR else _scalar(loader, key_node)
        if key in mapping:
            raise _Unusual
        if type(value_node) is yaml.ScalarNode and value_node.tag == _STR:
            mapping[key] = value_node.value
        else:
            mapping[key] = _build(loader, value_node)
    return mapping


# -- the block-document fast path -------------------------------------------------------
# Faster still, for the documents mlog itself writes (block style, one scalar per line): the
# lines are read directly, without libyaml's node tree, each plain scalar's tag decided by
# PyYAML's own resolver and built by its own constructor (both cached per text). Only a
# narrow, unambiguous subset is taken: a line that is not ``key: scalar``, ``key:`` or
# ``- ...`` exactly as the dumper writes them (a comment, a blank line, a tab, a flow
# collection other than ``{}``/``[]``, a block or multi-line scalar, an escape in a double-
# quoted scalar, a plain scalar that YAML could read another way, a duplicate key, an
# unusual tag) sends the whole document on to the paths above, which decide as before.
# Everything but "\n", printable ASCII and the printable rest of Unicode other than U+2028/9 and
# the BOM, written as the complement: a negated class of the wide printable ranges costs 5 ms
# to compile at every start (``re`` fills its charset map one code point at a time).
_ODD_CHAR = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff\ufeff\ufffe\uffff]")
_SINGLE = re.compile(r"'((?:[^']|'')*)'")
_DOUBLE = re.compile(r'"([^"\\]*)"')
_NO_PLAIN_START = frozenset("-?:,[]{}#&*!|>'\"%@` ")
_RESOLVER: Any = yaml.resolver.Resolver()
_CONSTRUCTOR: Any = yaml.constructor.SafeConstructor()
_PLAIN_VALUES: dict[str, Any] = {}  # plain scalar text -> its (immutable) value
_KEYS: dict[str, Any] = {}  # text of a plain mapping key accepted before -> the key
_Line = tuple[int, str]  # (indent, content)


def _block_document(decoded: str) -> Any:
    """The document read line by line, or ``_UNUSUAL`` when it is not in the subset."""
    try:
        lines = _lines(decoded)
        value, end = _block(lines, 0, 0)
    except (_Unusual, yaml.YAMLError, ValueError, TypeError, IndexError, RecursionError):
        return _UNUSUAL
    return value if end == len(lines) else _UNUSUAL


def _lines(decoded: str) -> list[_Line]:
    if _ODD_CHAR.search(decoded):  # tabs, CR, controls, YAML's own line breaks, BOMs
        raise _Unusual
    raw = decoded.split("\n")
    if raw[-1] == "":
        raw.pop()
    lines = []
    for line in raw:
        content = line.lstrip(" ")
        indent = len(line) - len(content)
        if not content or content[0] == "#" or line[-1] == " ":
            raise _Unusual
        if indent == 0 and content[:3] in ("---", "..."):
            raise _Unusual
        lines.append((indent, content))
    if not lines or lines[0][0] != 0:
        raise _Unusual
    return lines


def _block(lines: list[_Line], i: int, indent: int) -> tuple[Any, int]:
    if lines[i][1][:2] == "- ":
        return _sequence(lines, i, indent)
    return _mapping(lines, i, indent)


def _mapping(lines: list[_Line], i: int, indent: int) -> tuple[dict[Any, Any], int]:
    mapping: dict[Any, Any] = {}
    while i < len(lines):
        own, content = lines[i]
        if own < indent:
            break
        if own > indent:
            raise _Unusual
        at = content.find(": ")  # the common ``key: value`` with a key and a value seen before
        key = _KEYS.get(content[:at], _UNUSUAL) if at > 0 else _UNUSUAL
        if key is not _UNUSUAL:
            value = _PLAIN_VALUES.get(content[at + 2 :], _UNUSUAL)
            if value is not _UNUSUAL and key not in mapping:
                mapping[key] = value
                i += 1
                continue
        key, rest = _key_line(content)
        if rest is None or key in mapping:
            raise _Unusual
        if rest:
            mapping[key] = _scalar_text(rest)
            i += 1
        else:
            mapping[key], i = _nested(lines, i + 1, indent)
    return mapping, i


def _nested(lines: list[_Line], i: int, indent: int) -> tuple[Any, int]:
    """The value of a ``key:`` line: a deeper block, a sequence at the key's own indent
    (how the dumper writes a list under a key), or null."""
    if i < len(lines):
        own, content = lines[i]
        if own > indent:
            return _block(lines, i, own)
        if own == indent and content[:2] == "- ":
            return _sequence(lines, i, indent)
    return None, i


def _sequence(lines: list[_Line], i: int, indent: int) -> tuple[list[Any], int]:
    items: list[Any] = []
    while i < len(lines):
        own, content = lines[i]
        if own < indent or (own == indent and content[:2] != "- "):
            break  # a key after a sequence at its own indent: the mapping goes on
        if own > indent or content[2:3] == " ":
            raise _Unusual
        rest = content[2:]
        if rest[:2] == "- ":  # ``- - x``: a sequence in a sequence, two columns in
            lines[i] = (indent + 2, rest)
            inner, i = _sequence(lines, i, indent + 2)
            items.append(inner)
            continue
        _, after = _key_line(rest)
        if after is None:
            items.append(_scalar_text(rest))
            i += 1
            continue
        lines[i] = (indent + 2, rest)  # ``- key: value`` opens a mapping two columns in
        mapping, i = _mapping(lines, i, indent + 2)
        items.append(mapping)
    return items, i


def _key_line(content: str) -> tuple[Any, str | None]:
    """(key, what follows ``: ``, "" after a bare ``key:``), or (None, None) when the
    content is not a mapping entry but a scalar."""
    first = content[:1]
    if first in ("'", '"'):
        quoted = (_SINGLE if first == "'" else _DOUBLE).match(content)
        if quoted is None:
            raise _Unusual
        after = content[quoted.end() :]
        if not after:
            return None, None
        if after != ":" and after[:2] != ": ":
            raise _Unusual
        return _scalar_text(content[: quoted.end()]), after[2:]
    at = content.find(": ")
    if at >= 0:
        key, rest = content[:at], content[at + 2 :]
    elif content[-1:] == ":":
        key, rest = content[:-1], ""
    else:
        return None, None
    if ":" in key or first in ("{", "["):
        raise _Unusual
    value = _plain_scalar(key)
    if at >= 0 and len(_KEYS) < 4096:
        _KEYS[key] = value
    return value, rest


def _scalar_text(text: str) -> Any:
    first = text[:1]
    if first == "'":
        quoted = _SINGLE.fullmatch(text)
        if quoted is None:
            raise _Unusual
        return quoted.group(1).replace("''", "'")
    if first == '"':
        quoted = _DOUBLE.fullmatch(text)
        if quoted is None:
            raise _Unusual
        return quoted.group(1)
    if text == "{}":
        return {}
    if text == "[]":
        return []
    return _plain_scalar(text)


def _plain_scalar(text: str) -> Any:
    """A one-line plain scalar as the safe loader reads it: PyYAML's resolver decides the tag
    and its constructor builds the value. Text YAML could read as more than a scalar (an
    indicator first, ``: `` or `` #`` inside, a trailing colon) is refused."""
    known = _PLAIN_VALUES.get(text, _UNUSUAL)
    if known is not _UNUSUAL:
        return known
    first = text[:1]
    if not text or (first in _NO_PLAIN_START and (first != "-" or text[1:2] in ("", " "))):
        raise _Unusual
    if ": " in text or " #" in text or text[-1] in (":", " "):
        raise _Unusual
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    if tag == _STR:
        value: Any = text
    elif tag in _SCALAR_TAGS:
        value = _CONSTRUCTOR.yaml_constructors[tag](_CONSTRUCTOR, yaml.ScalarNode(tag, text))
    else:
        raise _Unusual
    if len(text) <= 64 and len(_PLAIN_VALUES) < 65536:
        _PLAIN_VALUES[text] = value
    return value


def load_file(path: Path, *, allow_aliases: bool = True) -> Any:
    """Read and parse a YAML file; OS errors become ``RecordError`` naming the file."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordError(f"{path}: cannot read ({exc.strerror})") from None
    return loads(raw, source=str(path), allow_aliases=allow_aliases)


def dumps(data: Any) -> str:
    """Serialise in block style, keys in the order given, so diffs stay small and readable."""
    text: str = yaml.dump(
        data,
        Dumper=_StableDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=100,
    )
    return text


def _describe(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"{problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(problem)
