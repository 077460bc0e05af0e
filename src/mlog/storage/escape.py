"""Text that is not valid Unicode, made storable without losing a byte.

Python hands mlog the bytes of argv, environment variables and paths that are not UTF-8 as
lone surrogates (``surrogateescape``: byte 0xff arrives as ``"\\udcff"``), and a JSON spool
line can carry other lone surrogates. None of them can be written as UTF-8, so sealing a
record that holds one used to crash. Such a value is stored escaped instead:

* a backslash becomes ``\\\\``,
* an undecodable byte ``0xNN`` (surrogate ``U+DC80..U+DCFF``) becomes ``\\xNN``,
* any other lone surrogate becomes ``\\uXXXX``;

everything else is kept as it is. Only values that needed it are escaped, and the record's
``escaped`` list names each of them (``command.argv[2]``, ``note``), so :func:`unescape`
gives back the exact original and readers know which values to decode.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

_LONE_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPE = re.compile(r"\\(\\|x[0-9a-f]{2}|u[0-9a-f]{4})")


def needs_escape(text: str) -> bool:
    """True when ``text`` holds a lone surrogate and so cannot be encoded as UTF-8."""
    return _LONE_SURROGATE.search(text) is not None


def escape(text: str) -> str:
    """The storable form of ``text`` (see the module doc); call only when it needs it."""
    return _LONE_SURROGATE.sub(_escape_char, text.replace("\\", "\\\\"))


def _escape_char(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    return f"\\x{code - 0xDC00:02x}" if 0xDC80 <= code <= 0xDCFF else f"\\u{code:04x}"


def unescape(text: str) -> str:
    """The original value of an escaped one: ``unescape(escape(s)) == s`` for every ``s``."""
    return _ESCAPE.sub(_unescape_match, text)


def _unescape_match(match: re.Match[str]) -> str:
    body = match.group(1)
    if body == "\\":
        return "\\"
    if body[0] == "x":
        return chr(0xDC00 + int(body[1:], 16))
    return chr(int(body[1:], 16))


def escape_tree(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """Escape every string (keys included) in a tree of dicts and lists that needs it.

    Returns the new tree and the dotted paths of the values (or keys) that were escaped.
    """
    paths: list[str] = []
    return _walk(value, path, paths), paths


def _walk(value: Any, path: str, paths: list[str]) -> Any:
    if isinstance(value, str):
        if needs_escape(value):
            paths.append(path)
            return escape(value)
        return value
    if isinstance(value, Mapping):
        result: dict[Any, Any] = {}
        for key, item in value.items():
            name = key
            if isinstance(key, str) and needs_escape(key):
                name = escape(key)
            child = f"{path}.{name}" if path else str(name)
            if name is not key:
                paths.append(child)
            result[name] = _walk(item, child, paths)
        return result
    if isinstance(value, (list, tuple)):
        return [_walk(item, f"{path}[{i}]", paths) for i, item in enumerate(value)]
    return value
