"""yamlio's plain-document fast path gives exactly what the strict loader gives, and leaves
everything unusual (aliases, tags, duplicate keys, merge keys, errors) to the strict loader."""

from __future__ import annotations

import math
from datetime import date, datetime, timezone
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlog.errors import RecordError
from mlog.storage import yamlio
from tests.test_yamlio import BOMB


def strict(text: str | bytes, monkeypatch: pytest.MonkeyPatch, **kwargs: Any) -> Any:
    """The strict loader alone: the reference the fast path is held to."""
    with monkeypatch.context() as patched:
        patched.setattr(yamlio, "_plain_document", lambda _text: yamlio._UNUSUAL)
        return yamlio.loads(text, **kwargs)


def same(a: Any, b: Any) -> bool:
    """Equal, with the same types all the way down (1 is not True, 1.0 is not 1), NaN == NaN."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return bool(a == b)


def outcome(text: str, monkeypatch: pytest.MonkeyPatch | None = None, **kwargs: Any) -> Any:
    try:
        if monkeypatch is None:
            return ("ok", yamlio.loads(text, **kwargs))
        return ("ok", strict(text, monkeypatch, **kwargs))
    except RecordError as exc:
        return ("error", str(exc))


PLAIN = [
    "",
    "a: 1\n",
    "schema_version: 1\nid: 20240101T000000Z-abcd\nnote: null\ntags: {}\nlist: []\n",
    "n: [0, -1, +2, 1_000, 0x1f, 0o17, 017, 0b101, 1:30, 3.5, -.5, 1e3, 1.0e+3, .inf, -.Inf, .nan]\n",
    "b: [yes, No, on, OFF, true, False, y, n, ~, null, Null, '', '1', \"0x1\"]\n",
    "t: [2024-01-01, 2024-01-01T10:00:00Z, '2024-01-01', 2024-01-01 10:00:00.5 +02:00]\n",
    's: |\n  multi\n  line\nfolded: >\n  a\n  b\nq: "tab\\there \\u00e9"\n',
    "keys:\n  1: int\n  '1': str\n  1.5: float\n  false: bool\n  null: none\n",
    "nested:\n- a: 1\n  b: [1, {c: d}]\n- - x\n  - y\n",
    "explicit: [!!str 1, !!int '2', !!float '3', !!bool 'yes', !!null '']\n",
    "url: https://example.com/a?b=c*d\nstar: '*'\n",
    "--- \na: 1\n...\n",
    "just a scalar\n",
]
UNUSUAL = [
    "a: 1\na: 2\n",
    "a: 1\n'a': 2\n",
    "1: a\n1.0: b\n",
    "true: a\n1: b\n",
    BOMB,
    "a: &x 1\nb: *x\n",
    "a: &x [1]\n",
    "url: https://example.com/?a=1&b=2\n",
    "base: &b {x: 1}\nchild:\n  <<: *b\n  y: 2\n",
    "<<: {x: 1}\n",
    "x: !!python/object/apply:os.system ['echo hacked']\n",
    "x: !custom 1\n",
    "x: !!binary aGVsbG8=\n",
    "x: !!set {a, b}\n",
    "x: !!omap [{a: 1}]\n",
    "? [1, 2]\n: list key\n",
    "? {a: 1}\n: map key\n",
    "=: value key\n",
    "a: [1, 2\n",
    "a: 1\n---\nb: 2\n",
    "a: b: c\n",
    "[" * 2000 + "]" * 2000,
]


@pytest.mark.parametrize("text", PLAIN)
def test_plain_documents_take_the_fast_path_with_identical_results(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert yamlio._plain_document(text) is not yamlio._UNUSUAL
    fast, reference = outcome(text), outcome(text, monkeypatch)
    assert fast[0] == reference[0] == "ok"
    assert same(fast[1], reference[1])


@pytest.mark.parametrize("text", UNUSUAL)
@pytest.mark.parametrize("allow_aliases", [True, False])
def test_unusual_documents_are_left_to_the_strict_loader(
    text: str, allow_aliases: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert yamlio._plain_document(text) is yamlio._UNUSUAL
    fast = outcome(text, allow_aliases=allow_aliases)
    reference = outcome(text, monkeypatch, allow_aliases=allow_aliases)
    assert fast[0] == reference[0]
    assert fast[1] == reference[1] if fast[0] == "error" else same(fast[1], reference[1])


def test_strictness_is_unchanged_on_the_fast_path() -> None:
    """The refusals yamlio's own tests pin down still come from the strict loader."""
    with pytest.raises(RecordError, match="duplicate key 'a'"):
        yamlio.loads("a: 1\nb: 2\na: 3\n")
    with pytest.raises(RecordError, match="aliases are not allowed"):
        yamlio.loads("a: &x 1\nb: *x\n", allow_aliases=False)
    with pytest.raises(RecordError, match="could not determine"):
        yamlio.loads("x: !!python/name:os.system ''\n")
    with pytest.raises(RecordError, match="byte-order mark"):
        yamlio.loads(b"\xef\xbb\xbfa: 1\n")


def test_timestamps_and_special_floats_keep_their_types() -> None:
    loaded = yamlio.loads("d: 2024-01-02\nt: 2024-01-02T03:04:05Z\nf: .nan\ni: .inf\n")
    assert loaded["d"] == date(2024, 1, 2)
    assert loaded["t"] == datetime(2024, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert math.isnan(loaded["f"]) and loaded["i"] == math.inf


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True)
    | st.text(max_size=20)
    | st.sampled_from(["yes", "0x10", "1_0", "1:20", "2024-01-01", ".inf", "~", "null", "&a", "*a"])
)
keys = st.text(min_size=1, max_size=12) | st.integers(-5, 5) | st.booleans()
documents = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=documents, flow=st.booleans())
def test_any_dumped_document_loads_the_same_both_ways(document: Any, flow: bool) -> None:
    """Records as mlog writes them (block style) and as a hand edit might (flow style)."""
    text = (
        yamlio.dumps(document)
        if not flow
        else yaml.safe_dump(document, default_flow_style=True, allow_unicode=True)
    )
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, reference = outcome(text), outcome(text, monkeypatch)
    assert fast[0] == reference[0]
    assert fast[1] == reference[1] if fast[0] == "error" else same(fast[1], reference[1])
