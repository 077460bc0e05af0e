"""yamlio's fast paths (block documents read line by line; plain documents built from
libyaml's node tree) give exactly what the strict loader gives, and leave everything unusual
(aliases, tags, duplicate keys, merge keys, errors) to the strict loader."""

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
        patched.setattr(yamlio, "_block_document", lambda _text: yamlio._UNUSUAL)
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


# -- the block-document path (lines read directly) ---------------------------------------
RECORD_LIKE = {
    "schema_version": 1,
    "id": "20240101T000712000000Z-6d2795d3",
    "alias": "v1",
    "note": None,
    "tags": {"team": "search", "yes": "on", "1": 1, "x y": "a - b"},
    "code": {"commit": "60a04eb84ee861959b5076496f8342d7930a64cf", "dirty": False},
    "command": {"argv": ["python", "--config", "-1", "it's", "#x", "a: b"], "started_at": "'q'"},
    "environment": {"lock_files": [], "gpus": [{"name": "A100", "memory": 80}], "cuda": None},
    "params": {"lr": 0.001, "epochs": 35, "neg": -0.5, "big": 10**30, "inf": math.inf},
    "data": {"train": {"path": "data/train.parquet", "hash": "xxh3_128:" + "0" * 32}},
    "artifacts": [],
    "validation": {},
    "nested": [[1, 2], {"a": [{"b": None}]}, "2024-01-01", "1:30", "0x1f", "~", "null", ""],
    "unicode": "caf\u00e9 \u2603",
}
BLOCK = [
    yamlio.dumps(RECORD_LIKE),
    "a:\n- 1\n- 2\nb:\n  - x\n  - y: 1\n    z:\n    - 2\nc:\n",
    "'quoted key': 1\n\"dq\": '2'\nk: 'it''s'\ne: ''\n",
    "ints:\n- 1\nd: 2024-01-02\nt: 2024-01-02T03:04:05Z\nf: .nan\ni: -.inf\nh: 0x1F\ns: 1:30\n",
    "- - x\n  - y\n- - - z\n- a\n",
    "a: b:c\nurl: https://x.org/?a=1&b=2\nm: a#b\nq: -x\n",
]
BLOCK_UNUSUAL = [  # left to the node-tree path or the strict loader: same results either way
    "a: 1 # comment\n",
    "# comment\na: 1\n",
    "a: 1\n\nb: 2\n",
    "a:\tb\n",
    "a: 1\r\nb: 2\r\n",
    "a: 1 \n",
    "a:  1\n",
    "a : 1\n",
    "note: a long\n  continued line\n",
    "- a long\n  continued item\n",
    "a:\n  plain\n",
    "a:\n    b: 1\n  c: 2\n",
    "a:\n  - x\n  b: 1\n",
    "a: - x\n",
    "- - -\n",
    "-\n  a: 1\n",
    "- a: 1\n   b: 2\n",
    "a: 'x'y\n",
    "a: 'open\n  quote'\n",
    'a: "esc\\n"\n',
    "a: {b: 1}\n",
    "a: [1, 2]\n",
    "a: |\n  text\n",
    "a: >-\n  text\n",
    "a: b: c\n",
    "a: b:\n",
    "a:b\n",
    "1: a\n0x1: b\n",
    "a: 1\na: 2\n",
    "? a\n: 1\n",
    "--- \na: 1\n",
    "a: 1\n...\n",
    " a: 1\n",
    "a: !!str 1\n",
    "<<: 1\n",
    "=: 1\n",
    "a: %x\n",
    "a: @x\n",
    "a: `x\n",
    "a: x\u2028y\n",
    "a: x\x85y\n",
    "a: \ufeffx\n",
    "just a scalar\n",
    "",
]


@pytest.mark.parametrize("text", BLOCK)
def test_block_documents_are_read_line_by_line_with_identical_results(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = yamlio._block_document(text)
    assert fast is not yamlio._UNUSUAL
    assert same(fast, strict(text, monkeypatch))


def test_a_record_as_mlog_writes_it_reads_back_line_by_line() -> None:
    assert same(yamlio._block_document(yamlio.dumps(RECORD_LIKE)), RECORD_LIKE)


@pytest.mark.parametrize("text", BLOCK_UNUSUAL)
def test_documents_outside_the_block_subset_go_on_to_the_other_paths(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert yamlio._block_document(text) is yamlio._UNUSUAL
    fast, reference = outcome(text), outcome(text, monkeypatch)
    assert fast[0] == reference[0]
    assert fast[1] == reference[1] if fast[0] == "error" else same(fast[1], reference[1])


fragments = st.sampled_from(
    ["a", "b", "- ", ": ", ":", "'q'", "''", '"d"', "1", "x y", " #c", "#", "-", "{}", "[]",
     "yes", "2024-01-01", " ", "?", "&a", "*a", "!!str", "|", "0x1", "1:2", "~", "\t", "é"]
)  # fmt: skip
hand_edits = st.lists(
    st.tuples(st.integers(0, 4), st.lists(fragments, min_size=1, max_size=4)),
    min_size=1,
    max_size=6,
).map(lambda lines: "".join(" " * n + "".join(parts) + "\n" for n, parts in lines))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=hand_edits)
def test_hand_edited_lines_load_the_same_both_ways(text: str) -> None:
    """Lines put together from YAML's indicators: whatever the block path accepts, the strict
    loader reads the same; whatever it refuses, the other paths decide as before."""
    with pytest.MonkeyPatch.context() as monkeypatch:
        fast, reference = outcome(text), outcome(text, monkeypatch)
    assert fast[0] == reference[0]
    assert fast[1] == reference[1] if fast[0] == "error" else same(fast[1], reference[1])


def test_the_odd_character_class_is_the_complement_of_what_the_line_reader_takes() -> None:
    """Written as the short complement, the class still sends on exactly the code points
    outside "\\n", printable ASCII and printable Unicode without U+2028/9 and the BOM."""
    takes = [(0x0A, 0x0A), (0x20, 0x7E), (0xA0, 0x2027), (0x202A, 0xD7FF), (0xE000, 0xFEFE),
             (0xFF00, 0xFFFD), (0x10000, 0x10FFFF)]  # fmt: skip
    every = "".join(map(chr, range(0x110000)))
    odd = {ord(char) for char in yamlio._ODD_CHAR.findall(every)}
    assert odd == {c for c in range(0x110000) if not any(lo <= c <= hi for lo, hi in takes)}
