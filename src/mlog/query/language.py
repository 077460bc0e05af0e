"""The ``--where`` language: a tokenizer and recursive-descent parser, never ``eval``.

Grammar (keywords are case-insensitive)::

    expr       := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | primary
    primary    := "(" expr ")" | KEY test
    test       := OP literal | ["not"] "in" "(" literal ("," literal)* ")"
                | "~" (STRING | REGEX) | "exists"
    literal    := STRING | NUMBER | "true" | "false" | "null"

The evaluator here is the reference semantics; ``index.py`` compiles the same
AST to SQL and a property test holds the two to the same answers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from mlog.errors import UsageError
from mlog.storage.flatten import flatten

Literal = str | int | float | bool | None
COMPARISONS = ("=", "!=", "<", "<=", ">", ">=")
_KEYWORDS = {"and", "or", "not", "in", "exists", "true", "false", "null"}
_TOKEN = re.compile(
    r"""(?P<space>\s+)
      | (?P<number>[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
      | (?P<key>[A-Za-z_][A-Za-z0-9_.\-]*|`[^`]+`)
      | (?P<string>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
      | (?P<regex>/(?:[^/\\]|\\.)*/i?)
      | (?P<op>==|!=|<=|>=|=|<|>|~|\(|\)|,)
    """,
    re.VERBOSE,
)
_ESCAPES = {"n": "\n", "t": "\t", "\\": "\\", '"': '"', "'": "'"}


class QuerySyntaxError(UsageError):
    """A malformed ``--where`` expression; the message points at the column with a caret."""

    def __init__(self, expression: str, column: int, problem: str) -> None:
        self.expression, self.column, self.problem = expression, column, problem
        caret = " " * (column - 1) + "^"
        super().__init__(
            f"invalid --where expression at column {column}: {problem}\n  {expression}\n  {caret}"
        )


# -- AST ------------------------------------------------------------------
@dataclass(frozen=True)
class Compare:
    key: str
    op: str
    value: Literal


@dataclass(frozen=True)
class In:
    key: str
    values: tuple[Literal, ...]


@dataclass(frozen=True)
class Match:
    """``key ~ "text"`` (substring) or ``key ~ /regex/`` (``re.search``)."""

    key: str
    pattern: str
    regex: bool
    ignore_case: bool = False


@dataclass(frozen=True)
class Exists:
    key: str


@dataclass(frozen=True)
class Not:
    item: Node


@dataclass(frozen=True)
class BoolOp:
    op: str  # "and" | "or"
    items: tuple[Node, ...]


Node = Compare | In | Match | Exists | Not | BoolOp


@dataclass(frozen=True)
class Token:
    kind: str  # key, keyword, string, number, regex, op, end
    text: str
    column: int
    value: Any = None


# -- tokenizer ----------------------------------------------------------------
def tokenize(expression: str) -> list[Token]:
    """Split the expression into tokens, each with its 1-based column."""
    tokens, position = [], 0
    while position < len(expression):
        found = _TOKEN.match(expression, position)
        if not found or found.lastgroup is None:
            raise QuerySyntaxError(expression, position + 1, _unexpected(expression[position]))
        kind, text = found.lastgroup, found.group()
        if kind != "space":
            tokens.append(_token(expression, kind, text, position + 1))
        position = found.end()
    tokens.append(Token("end", "", len(expression) + 1))
    return tokens


def _unexpected(char: str) -> str:
    if char in "\"'":
        return "unterminated string (close the quote)"
    if char == "/":
        return "unterminated regex (close it with /)"
    return f"unexpected character {char!r}"


def _token(expression: str, kind: str, text: str, column: int) -> Token:
    if kind == "key" and text.startswith("`"):
        return Token("key", text, column, text[1:-1])
    if kind == "key" and text.lower() in _KEYWORDS:
        return Token("keyword", text.lower(), column)
    if kind == "number":
        number = float(text) if any(c in text for c in ".eE") else int(text)
        return Token("number", text, column, number)
    if kind == "string":
        return Token("string", text, column, _unquote(text[1:-1]))
    if kind == "regex":
        return _regex_token(expression, text, column)
    return Token(kind, text, column, text)


def _unquote(body: str) -> str:
    return re.sub(r"\\(.)", lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), body)


def _regex_token(expression: str, text: str, column: int) -> Token:
    ignore_case = text.endswith("i")
    pattern = text[1 : -2 if ignore_case else -1].replace("\\/", "/")
    try:
        re.compile(pattern)
    except re.error as exc:
        raise QuerySyntaxError(expression, column, f"invalid regex: {exc.msg}") from None
    return Token("regex", text, column, (pattern, ignore_case))


# -- parser -------------------------------------------------------------------
class _Parser:
    """Recursive descent over the token list; one method per grammar rule."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.index = 0

    def peek(self) -> Token:
        return self.tokens[self.index]

    def take(self) -> Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def accept(self, kind: str, text: str) -> bool:
        token = self.peek()
        if token.kind == kind and token.text == text:
            self.index += 1
            return True
        return False

    def fail(self, problem: str, token: Token | None = None) -> QuerySyntaxError:
        return QuerySyntaxError(self.expression, (token or self.peek()).column, problem)

    def parse(self) -> Node:
        if self.peek().kind == "end":
            raise self.fail("empty expression (try: metrics.acc > 0.9)")
        node = self.or_expr()
        if self.peek().kind != "end":
            raise self.fail(f"expected 'and', 'or' or the end, found {_show(self.peek())}")
        return node

    def or_expr(self) -> Node:
        items = [self.and_expr()]
        while self.accept("keyword", "or"):
            items.append(self.and_expr())
        return items[0] if len(items) == 1 else BoolOp("or", tuple(items))

    def and_expr(self) -> Node:
        items = [self.not_expr()]
        while self.accept("keyword", "and"):
            items.append(self.not_expr())
        return items[0] if len(items) == 1 else BoolOp("and", tuple(items))

    def not_expr(self) -> Node:
        if self.accept("keyword", "not"):
            return Not(self.not_expr())
        return self.primary()

    def primary(self) -> Node:
        if self.accept("op", "("):
            node = self.or_expr()
            if not self.accept("op", ")"):
                raise self.fail(f"expected ')', found {_show(self.peek())}")
            return node
        token = self.take()
        if token.kind != "key":
            raise self.fail(f"expected a key such as metrics.acc, found {_show(token)}", token)
        return self.test(str(token.value))

    def test(self, key: str) -> Node:
        token = self.take()
        if token.kind == "op" and token.text in (*COMPARISONS, "=="):
            return self.comparison(key, "=" if token.text == "==" else token.text, token)
        if token.kind == "op" and token.text == "~":
            return self.match(key)
        if token.kind == "keyword" and token.text == "exists":
            return Exists(key)
        if token.kind == "keyword" and token.text == "in":
            return In(key, self.literal_list())
        if token.kind == "keyword" and token.text == "not" and self.accept("keyword", "in"):
            return Not(In(key, self.literal_list()))
        raise self.fail(
            f"expected an operator (= != < <= > >= ~ in exists) after {key}, found {_show(token)}",
            token,
        )

    def comparison(self, key: str, op: str, op_token: Token) -> Node:
        value_token = self.peek()
        value = self.literal()
        if op not in ("=", "!=") and (value is None or isinstance(value, bool)):
            raise self.fail(f"{op} needs a number or a string, not {value_token.text}", value_token)
        if value is None:  # `= null` is "missing", `!= null` is "present"
            return Exists(key) if op == "!=" else Not(Exists(key))
        return Compare(key, op, value)

    def match(self, key: str) -> Node:
        token = self.take()
        if token.kind == "string":
            return Match(key, str(token.value), regex=False)
        if token.kind == "regex":
            pattern, ignore_case = token.value
            return Match(key, pattern, regex=True, ignore_case=ignore_case)
        raise self.fail(f'~ needs a "string" or a /regex/, found {_show(token)}', token)

    def literal(self) -> Literal:
        token = self.take()
        if token.kind in ("string", "number"):
            return token.value  # type: ignore[no-any-return]
        if token.kind == "keyword" and token.text in ("true", "false", "null"):
            return {"true": True, "false": False, "null": None}[token.text]
        raise self.fail(
            f'expected a value (number, "string", true, false), found {_show(token)}', token
        )

    def literal_list(self) -> tuple[Literal, ...]:
        if not self.accept("op", "("):
            raise self.fail(f"expected '(' after in, found {_show(self.peek())}")
        values = [self.list_item()]
        while self.accept("op", ","):
            values.append(self.list_item())
        if not self.accept("op", ")"):
            raise self.fail(f"expected ',' or ')', found {_show(self.peek())}")
        return tuple(values)

    def list_item(self) -> Literal:
        token = self.peek()
        value = self.literal()
        if value is None:
            raise self.fail("null cannot be listed in in (...) (use: not KEY exists)", token)
        return value


def _show(token: Token) -> str:
    return "the end of the expression" if token.kind == "end" else repr(token.text)


@cache
def parse(expression: str) -> Node:
    """Parse ``--where`` text into an AST; ``QuerySyntaxError`` (exit 2) points at the problem."""
    return _Parser(expression).parse()


# -- sort keys ----------------------------------------------------------------
@dataclass(frozen=True)
class SortKey:
    key: str
    descending: bool


def parse_sort(text: str) -> tuple[SortKey, ...]:
    """``-metrics.acc,params.lr`` → keys with directions; a leading ``-`` means descending."""
    keys = []
    for part in (p.strip() for p in text.split(",")):
        descending = part.startswith("-")
        name = part.lstrip("+-").strip()
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.\-]*", name):
            raise UsageError(
                f"invalid --sort key {part!r} (use dotted keys such as -metrics.acc,params.lr)"
            )
        keys.append(SortKey(name, descending))
    return tuple(keys)


# -- reference evaluation -----------------------------------------------------
def present_values(record: Mapping[str, Any]) -> dict[str, Any]:
    """Flattened leaves that count as present: not null and not an empty mapping."""
    return {k: v for k, v in flatten(record).items() if v is not None and v != {}}


def kind_of(value: Any) -> str:
    """Type class used by comparisons and sorting: n(umber), s(tring), b(ool), nan, j(son)."""
    if isinstance(value, bool):
        return "b"
    if isinstance(value, int | float):
        return "nan" if isinstance(value, float) and math.isnan(value) else "n"
    return "s" if isinstance(value, str) else "j"


_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: bool(a == b),
    "!=": lambda a, b: bool(a != b),
    "<": lambda a, b: bool(a < b),
    "<=": lambda a, b: bool(a <= b),
    ">": lambda a, b: bool(a > b),
    ">=": lambda a, b: bool(a >= b),
}


def evaluate(node: Node, values: Mapping[str, Any]) -> bool:
    """Does a record's ``present_values`` satisfy the expression? Pure Python reference."""
    if isinstance(node, BoolOp):
        results = (evaluate(item, values) for item in node.items)
        return all(results) if node.op == "and" else any(results)
    if isinstance(node, Not):
        return not evaluate(node.item, values)
    if isinstance(node, Exists):
        prefix = node.key + "."
        return node.key in values or any(k.startswith(prefix) for k in values)
    if node.key not in values:
        return False
    return _test_value(node, values[node.key])


def _test_value(node: Compare | In | Match, actual: Any) -> bool:
    if isinstance(node, In):
        return any(_compare(actual, "=", value) for value in node.values)
    if isinstance(node, Match):
        return kind_of(actual) == "s" and matches(node, actual)
    return _compare(actual, node.op, node.value)


def _compare(actual: Any, op: str, expected: Literal) -> bool:
    """Same type class only: a number never equals, nor differs from, a string."""
    if kind_of(actual) != kind_of(expected) or kind_of(actual) in ("nan", "j"):
        return False
    return _OPS[op](actual, expected)


def matches(node: Match, text: str) -> bool:
    if not node.regex:
        return node.pattern in text
    return _compiled(node.pattern, node.ignore_case).search(text) is not None


@cache
def _compiled(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    return re.compile(pattern, re.IGNORECASE if ignore_case else 0)
