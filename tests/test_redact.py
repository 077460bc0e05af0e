"""Secret redaction: names, argv, URLs, nested mappings, and a canary property test."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlog.storage.redact import (
    REDACTED,
    is_secret_name,
    name_words,
    redact_argv,
    redact_mapping,
    strip_url_credentials,
)

SECRET_NAMES = [
    "api_key",
    "apiKey",
    "APIKey",
    "AWS_SECRET_ACCESS_KEY",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "GITHUB_TOKEN",
    "db-password",
    "DB_PASSWORD2",
    "dbpassword",
    "x-auth-token",
    "auth",
    "basic_auth",
    "client_secret",
    "secret",
    "credentials",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "private_key",
    "ssh.private_key_path",
    "passwd",
    "PWD",
    "passphrase",
    "session_cookie",
    "Authorization",
    "request_signature",
    "apikey",
    "access_token",
    "wandb.api_key",
    "token",
    "key",
]
PLAIN_NAMES = [
    "keyboard",
    "monkey",
    "author",
    "tokenizer",
    "tokenizer_name",
    "max_tokens",
    "max_new_tokens",
    "num_keys",
    "key_dim",
    "num_key_value_heads",
    "token_type_ids",
    "pad_token",
    "eos_token_id",
    "pad_token_id",
    "learning_rate",
    "seed",
    "session_count_by_user2",
    "",
    "__",
    "123",
]


@pytest.mark.parametrize("name", SECRET_NAMES)
def test_secret_names_are_recognised(name: str) -> None:
    assert is_secret_name(name), name


@pytest.mark.parametrize("name", PLAIN_NAMES)
def test_ordinary_names_are_not_secret(name: str) -> None:
    assert not is_secret_name(name), name


def test_name_words_split_on_separators_camel_case_and_digits() -> None:
    assert name_words("AWS_SECRET_ACCESS_KEY") == ["aws", "secret", "access", "key"]
    assert name_words("myAPIKey2") == ["my", "api", "key", "2"]
    assert name_words("x-auth.token") == ["x", "auth", "token"]


@pytest.mark.parametrize(
    ("argv", "expected", "paths"),
    [
        (["train.py", "--password=hunter2"], ["train.py", f"--password={REDACTED}"], [1]),
        (
            ["train.py", "--api-key", "abc", "--lr", "3"],
            ["train.py", "--api-key", REDACTED, "--lr", "3"],
            [2],
        ),
        (["train.py", "--token"], ["train.py", "--token"], []),
        (
            ["train.py", "--use_auth_token", "--lr", "3"],
            ["train.py", "--use_auth_token", "--lr", "3"],
            [],
        ),
        (["train.py", "--token", "--", "x"], ["train.py", "--token", "--", "x"], []),
        (["run", "--", "--token", "t0k"], ["run", "--", "--token", REDACTED], [3]),
        (["train.py", "--token", "-dash-start"], ["train.py", "--token", REDACTED], [2]),
        (["train.py", "-p", "secretish"], ["train.py", "-p", "secretish"], []),
        (["env", "HF_TOKEN=hf_abc", "python"], ["env", f"HF_TOKEN={REDACTED}", "python"], [1]),
        (
            ["train.py", "db.password=pw", "lr=3"],
            ["train.py", f"db.password={REDACTED}", "lr=3"],
            [1],
        ),
        (["train.py", "++db.password=pw"], ["train.py", f"++db.password={REDACTED}"], [1]),
        (
            ["clone", "https://me:tok@github.com/o/r.git"],
            ["clone", f"https://{REDACTED}@github.com/o/r.git"],
            [1],
        ),
        (
            ["train.py", "--data=s3://AKIA:sk@bucket/x"],
            ["train.py", f"--data=s3://{REDACTED}@bucket/x"],
            [1],
        ),
        (
            ["train.py", "--lr", "0.1", "--max_tokens", "512"],
            ["train.py", "--lr", "0.1", "--max_tokens", "512"],
            [],
        ),
        ([], [], []),
    ],
)
def test_redact_argv(argv: list[str], expected: list[str], paths: list[int]) -> None:
    new, redacted = redact_argv(argv)
    assert new == expected
    assert redacted == [f"command.argv[{index}]" for index in paths]


def test_redact_argv_does_not_modify_its_input() -> None:
    argv = ["train.py", "--token", "abc"]
    redact_argv(argv)
    assert argv == ["train.py", "--token", "abc"]


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:token@host/x", f"https://{REDACTED}@host/x"),
        ("http://ghp_abc123@github.com/o/r", f"http://{REDACTED}@github.com/o/r"),
        ("postgres://user:pw@host:5432/db", f"postgres://{REDACTED}@host:5432/db"),
        ("https://u:p@ss@host/x", f"https://{REDACTED}@host/x"),
        ("git@github.com:org/repo.git", "git@github.com:org/repo.git"),
        ("ssh://git@host/x", "ssh://git@host/x"),
        ("ssh://git:pw@host/x", f"ssh://{REDACTED}@host/x"),
        ("https://github.com/org/repo.git", "https://github.com/org/repo.git"),
        ("https://host/x?a=1&token=abc#f", f"https://host/x?a=1&token={REDACTED}#f"),
        ("https://host/x?max_tokens=5", "https://host/x?max_tokens=5"),
        (
            "see https://a:b@h/ and ftp://c:d@k/",
            f"see https://{REDACTED}@h/ and ftp://{REDACTED}@k/",
        ),
        ("https://host/path@v2", "https://host/path@v2"),
        ("no url here user:pw@host", "no url here user:pw@host"),
    ],
)
def test_strip_url_credentials(url: str, expected: str) -> None:
    assert strip_url_credentials(url) == expected


def test_redact_mapping_recurses_and_reports_paths() -> None:
    params = {
        "lr": 0.1,
        "db": {"password": "pw", "host": "h", "url": "postgres://u:p@h/db"},
        "wandb": {"api_key": 1234, "use_auth_token": True, "token": None},
        "mirrors": ["https://a:b@h/x", "https://h/y"],
        "credentials": {"user": "u", "pass": "p"},
    }
    new, paths = redact_mapping(params, "params")
    assert new == {
        "lr": 0.1,
        "db": {"password": REDACTED, "host": "h", "url": f"postgres://{REDACTED}@h/db"},
        "wandb": {"api_key": REDACTED, "use_auth_token": True, "token": None},
        "mirrors": [f"https://{REDACTED}@h/x", "https://h/y"],
        "credentials": REDACTED,
    }
    assert paths == [
        "params.db.password",
        "params.db.url",
        "params.wandb.api_key",
        "params.mirrors[0]",
        "params.credentials",
    ]
    assert params["db"] == {"password": "pw", "host": "h", "url": "postgres://u:p@h/db"}


def test_redact_mapping_without_prefix_uses_bare_keys() -> None:
    assert redact_mapping({"HF_TOKEN": "x", "LANG": "C"}) == (
        {"HF_TOKEN": REDACTED, "LANG": "C"},
        ["HF_TOKEN"],
    )


# --- canary property test ---------------------------------------------------------------
# Secret values are uppercase "CANARY" strings; everything else is drawn from lowercase, so a
# canary found in the output can only have leaked from a secret slot.
SECRET_WORDS = ["password", "secret", "api_key", "token", "credentials", "passwd", "auth"]
plain_text = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/.:", max_size=12)
# No d, e, k, p, s, t: plain names can never spell a secret word or a tokenizer special ("end").
plain_names = st.text(alphabet="abcfghijlmnoqruvwxyz", min_size=1, max_size=8)
canaries = st.text(alphabet="ABCDEFGHIJ0123456789!@#:/ ", min_size=4, max_size=16).map(
    lambda tail: f"CANARY{tail}"
)
url_canaries = st.text(alphabet="ABCDEFGHIJ0123456789!:@", min_size=4, max_size=16).map(
    lambda tail: f"CANARY{tail}"
)
secret_names = st.builds(
    lambda prefix, word, upper: f"{prefix}_{word}".upper() if upper else f"{prefix}_{word}",
    plain_names,
    st.sampled_from(SECRET_WORDS),
    st.booleans(),
)
plain_values = st.one_of(plain_text, st.integers(), st.floats(allow_nan=False), st.none())
mappings = st.recursive(
    st.dictionaries(plain_names, plain_values, max_size=4),
    lambda children: st.dictionaries(
        plain_names, st.one_of(children, st.lists(children, max_size=3)), max_size=4
    ),
    max_leaves=12,
)


def _plant(tree: dict[str, object], name: str, secret: object, depth: int) -> dict[str, object]:
    """Put ``secret`` under ``name`` at some depth of the tree (creating dicts as needed)."""
    node = tree
    for level in range(depth):
        child = node.get(f"level{level}")
        if not isinstance(child, dict):
            child = {}
            node[f"level{level}"] = child
        node = child
    node[name] = secret
    return tree


@given(
    tree=mappings,
    name=secret_names,
    canary=canaries,
    url_canary=url_canaries,
    depth=st.integers(0, 3),
    nested=st.booleans(),
)
def test_canary_never_survives_redact_mapping(
    tree: dict[str, object], name: str, canary: str, url_canary: str, depth: int, nested: bool
) -> None:
    secret: object = {"inner": [canary, 1]} if nested else canary
    _plant(tree, name, secret, depth)
    _plant(tree, "mirror", f"https://u:{url_canary}@host/db", depth)
    new, paths = redact_mapping(tree, "params")
    assert "CANARY" not in json.dumps(new)
    assert paths


@given(
    before=st.lists(plain_text, max_size=4),
    name=secret_names,
    canary=canaries,
    url_canary=url_canaries,
    form=st.sampled_from(["equals", "separate", "assignment", "url"]),
    after=st.lists(plain_text, max_size=4),
)
def test_canary_never_survives_redact_argv(
    before: list[str], name: str, canary: str, url_canary: str, form: str, after: list[str]
) -> None:
    option = name.lower().replace("_", "-")
    planted = {
        "equals": [f"--{option}={canary}"],
        "separate": [f"--{option}", canary],
        "assignment": [f"{name}={canary}"],
        "url": [f"--mirror=https://me:{url_canary}@host/x"],
    }[form]
    new, paths = redact_argv(["python", "train.py", *before, *planted, *after])
    assert "CANARY" not in " ".join(new)
    assert paths
