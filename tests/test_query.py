"""The --where language: tokens, precedence, quoting, semantics, and errors that point at columns."""

from __future__ import annotations

import math

import pytest

from mlog.errors import UsageError
from mlog.query.language import (
    BoolOp,
    Compare,
    Exists,
    In,
    Match,
    Not,
    QuerySyntaxError,
    SortKey,
    evaluate,
    parse,
    parse_sort,
    present_values,
)

RECORD = {
    "status": "succeeded",
    "model": "fraud-gbm",
    "note": None,
    "tags": {"team": "fraud"},
    "params": {"lr": 0.01, "batch_size": 64, "optimizer": "adam", "early_stop": True},
    "metrics": {"auc": 0.93, "loss": 0.2, "bad": math.nan},
    "data": {"train": {"hash": "xxh3_128:ab", "size": 10}},
    "command": {"argv": ["python", "train.py"]},
    "empty": {},
}
VALUES = present_values(RECORD)


def test_precedence_not_binds_tighter_than_and_tighter_than_or() -> None:
    node = parse("a = 1 or b = 2 and not c = 3")
    assert node == BoolOp(
        "or",
        (Compare("a", "=", 1), BoolOp("and", (Compare("b", "=", 2), Not(Compare("c", "=", 3))))),
    )


def test_parentheses_override_precedence() -> None:
    node = parse("(a = 1 or b = 2) and c = 3")
    assert node == BoolOp(
        "and", (BoolOp("or", (Compare("a", "=", 1), Compare("b", "=", 2))), Compare("c", "=", 3))
    )


def test_keywords_are_case_insensitive_and_double_equals_is_equals() -> None:
    assert parse("a == 1 AND NOT b Exists") == BoolOp(
        "and", (Compare("a", "=", 1), Not(Exists("b")))
    )


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ('"fraud"', "fraud"),
        ("'fraud'", "fraud"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r'"tab\there"', "tab\there"),
        ('"a and b or (c)"', "a and b or (c)"),
        ("-1.5e-3", -0.0015),
        ("42", 42),
        (".5", 0.5),
        ("true", True),
    ],
)
def test_literals_and_quoting(text: str, value: object) -> None:
    assert parse(f"k = {text}") == Compare("k", "=", value)


def test_backquoted_keys_allow_keywords_and_spaces() -> None:
    assert parse("`params.my key` = 1") == Compare("params.my key", "=", 1)
    assert parse("`in` exists") == Exists("in")


def test_in_not_in_match_regex_and_null() -> None:
    assert parse('status in ("failed", "interrupted")') == In("status", ("failed", "interrupted"))
    assert parse("x not in (1, 2)") == Not(In("x", (1, 2)))
    assert parse('note ~ "oom"') == Match("note", "oom", regex=False)
    assert parse(r"note ~ /o\/om$/i") == Match("note", "o/om$", regex=True, ignore_case=True)
    assert parse("note = null") == Not(Exists("note"))
    assert parse("note != null") == Exists("note")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("metrics.auc > 0.9 and params.lr <= 0.01", True),
        ('status = "failed"', False),
        ('tags.team = "fraud"', True),
        ("params.batch_size = 64.0", True),  # numbers compare numerically
        ('params.batch_size = "64"', False),  # a number never equals a string
        ('params.batch_size != "64"', False),  # ... nor differs from one
        ('params.optimizer < "sgd"', True),  # strings compare lexicographically
        ("params.early_stop = true", True),
        ("params.early_stop = 1", False),  # booleans are not numbers
        ("missing.key != 1", False),  # a missing value matches no comparison
        ("not missing.key = 1", True),
        ("metrics.bad != 1", False),
        ("metrics.bad exists", True),  # NaN is present but compares with nothing
        ("data.train exists", True),  # a section exists when any value under it does
        ("note exists", False),  # null counts as missing
        ("empty exists", False),  # so does an empty mapping
        ('model ~ "gbm"', True),
        ("model ~ /^FRAUD/i", True),
        ("model ~ /^gbm/", False),
        ('command.argv ~ "train"', False),  # ~ applies to strings only
        ('model in ("ranker", "fraud-gbm")', True),
        ("params.lr in (0.1, 0.3)", False),
    ],
)
def test_semantics(expression: str, expected: bool) -> None:
    assert evaluate(parse(expression), VALUES) is expected


@pytest.mark.parametrize(
    ("expression", "column", "problem"),
    [
        ("metrics.auc > and x = 1", 15, "expected a value"),
        ("metrics.auc >", 14, "expected a value"),
        ("metrics.auc 0.9", 13, "expected an operator"),
        ("(a = 1", 7, "expected ')'"),
        ("a = 1 b = 2", 7, "expected 'and', 'or'"),
        ('a = "open', 5, "unterminated string"),
        ("a ~ /open", 5, "unterminated regex"),
        ("a ~ /(/", 5, "invalid regex"),
        ("a ~ 3", 5, "~ needs"),
        ("a = 1 & b = 2", 7, "unexpected character '&'"),
        ("a < true", 5, "needs a number or a string"),
        ("a in 1", 6, "expected '(' after in"),
        ("a in (null)", 7, "null cannot be listed"),
        ("", 1, "empty expression"),
        ("and", 1, "expected a key"),
    ],
)
def test_errors_point_at_the_column(expression: str, column: int, problem: str) -> None:
    with pytest.raises(QuerySyntaxError) as caught:
        parse(expression)
    error = caught.value
    assert (error.column, problem in error.problem) == (column, True), str(error)
    lines = str(error).splitlines()
    assert lines[0].startswith(f"invalid --where expression at column {column}: ")
    assert lines[1] == f"  {expression}"
    assert lines[2] == " " * (column + 1) + "^"
    assert isinstance(error, UsageError) and error.exit_code == 2


def test_parse_sort_keys_and_directions() -> None:
    assert parse_sort("-metrics.auc, params.lr,+seed") == (
        SortKey("metrics.auc", True),
        SortKey("params.lr", False),
        SortKey("seed", False),
    )
    with pytest.raises(UsageError, match="invalid --sort key"):
        parse_sort("metrics.auc,")
