"""Strict YAML in, stable YAML out, and the integrity hash survives the round trip."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlog.errors import RecordError
from mlog.storage import records, yamlio
from mlog.storage.store import Store

BOMB = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, "
    f"*{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}, *{chr(97 + i)}]\n"
    for i in range(9)
)


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        (b"a: 1\na: 2\n", "duplicate key 'a'"),
        (BOMB.encode(), "aliases are not allowed"),
        (b"x: !!python/object/apply:os.system ['echo hacked']\n", "could not determine"),
        (b"\xef\xbb\xbfa: 1\n", "byte-order mark"),
        (b"a: \xff\xfe\n", "not valid UTF-8"),
        (b"a: [1, 2\n", "line"),
    ],
)
def test_suspect_yaml_is_rejected_with_a_reason(raw: bytes, needle: str) -> None:
    with pytest.raises(RecordError, match=needle.replace("(", r"\(")):
        yamlio.loads(raw, source="x.yaml", allow_aliases=False)


def test_oversized_yaml_is_refused_before_parsing() -> None:
    with pytest.raises(RecordError, match="larger than"):
        yamlio.loads(b"a: 1\n" + b"#" * yamlio.MAX_YAML_BYTES)


def test_commit_ids_are_quoted_and_multiline_text_is_a_block() -> None:
    text = yamlio.dumps({"commit": "0" * 40, "note": "two\nlines"})
    assert f'commit: "{"0" * 40}"' in text and "note: |" in text


scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
documents = st.dictionaries(
    st.text(min_size=1, max_size=10),
    st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=3)
            | st.dictionaries(st.text(min_size=1, max_size=5), inner, max_size=3)
        ),
        max_leaves=10,
    ),
    max_size=8,
)


@given(documents)
def test_dump_load_round_trip_keeps_the_integrity_hash(document: dict) -> None:
    sealed = records.seal(document)
    loaded = yamlio.loads(yamlio.dumps(sealed), allow_aliases=False)
    assert loaded == sealed
    assert records.integrity_matches(loaded)


@given(documents, st.text(min_size=1, max_size=5))
def test_any_change_breaks_the_integrity_hash(document: dict, key: str) -> None:
    sealed = records.seal(document)
    tampered = {**sealed, key + "_x": "tampered"}
    assert not records.integrity_matches(tampered)


def test_objects_are_content_addressed_and_verified(tmp_path: Path) -> None:
    store = Store(tmp_path)
    first = store.put_object(b"numpy==2.0\n")
    assert store.put_object(b"numpy==2.0\n") == first
    assert store.get_object(first) == b"numpy==2.0\n"
    digest = first.split(":")[1]
    (store.objects_dir / digest[:2] / digest[2:]).write_bytes(b"forged")
    with pytest.raises(RecordError, match="corrupt"):
        store.get_object(first)


def test_a_run_directory_is_never_overwritten(tmp_path: Path) -> None:
    store = Store(tmp_path)
    run_id = records.new_id()
    store.write_run(run_id, "a: 1\n", {})
    with pytest.raises(RecordError, match="never overwritten"):
        store.write_run(run_id, "a: 2\n", {})
    assert store.record_path(run_id).read_text() == "a: 1\n"
