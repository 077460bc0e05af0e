"""Secret redaction: values that look secret are replaced before anything reaches git.

A record is committed and pushed, so a leaked token lives forever in history. Everything
that may carry a secret (argv, environment variables, params, URLs, the git remote) passes
through here first. Redacted values become :data:`REDACTED`, and each function also returns
the dotted paths it touched, so a record can say *that* something was hidden without saying
*what*.

Name rule (:func:`is_secret_name`): the name is split into lowercase words on ``_ - . /``,
spaces, camelCase humps and digits (``AWS_SECRET_ACCESS_KEY`` -> aws/secret/access/key,
``apiKey`` -> api/key, ``x-auth-token`` -> x/auth/token). Then:

* *strong* words make a name secret wherever they appear: password, passwd, pwd, passphrase,
  secret, credential, authorization, private, cookie, and glued forms such as ``apikey``,
  ``authtoken``, ``dbpassword``;
* *weak* words (key, token, auth, session, signature) make it secret only as the **last** word,
  because ML vocabularies reuse them: ``key_dim``, ``num_key_value_heads``, ``token_type_ids``
  and ``pad_token_id`` are hyper-parameters, while ``api_key``, ``HF_TOKEN`` and ``basic_auth``
  are secrets. Tokenizer special tokens (``pad_token``, ``eos_token`` ...) are exempt.
* whole words only, so ``keyboard``, ``monkey``, ``author``, ``tokenizer`` and ``max_tokens``
  (plural) are not secret.

URL rule (:func:`strip_url_credentials`): in ``scheme://userinfo@host`` the whole userinfo is
replaced by the marker (a lone user name may itself be a token, as in
``https://ghp_xxx@github.com``), except a password-less user of ``ssh``/``git+ssh`` URLs
(``ssh://git@host/x`` is an account name, not a secret). scp-style ``git@github.com:org/r.git``
has no scheme and is left alone. Query parameters with secret names are redacted too.

Shape rule (:func:`redact_text`): values that look like a credential whatever their name are
redacted in any text: GitHub tokens (``ghp_``, ``gho_``, ``ghs_``, ``github_pat_``...), AWS
access key ids (``AKIA``/``ASIA`` + 16), OpenAI-style keys (``sk-...``), Slack tokens
(``xoxb-``...), JWTs (``eyJ...``.``eyJ...``.sig) and the credential after ``Bearer``/``Basic``;
in free text (a note, the ``--allow-dirty`` patch) ``NAME: value`` and ``NAME=value`` with a
secret NAME too.

A record passes through :func:`redact_record` last, so every string in it is covered, and its
``redactions`` list names every place that holds the marker. Limits: a secret given to a short
option (``-p hunter2``, where only the script knows ``-p`` means ``--password``) or under an
innocent name in a shape not listed above cannot be recognised.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

REDACTED = "[REDACTED]"
"""The marker that replaces a secret value: obvious in a diff and easy to grep for."""

_STRONG_WORDS = frozenset(
    {
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "secret",
        "secrets",
        "credential",
        "credentials",
        "authorization",
        "private",
        "cookie",
        "cookies",
        "apikey",
        "apitoken",
        "authtoken",
        "accesstoken",
        "accesskey",
        "secretkey",
        "privatekey",
        "sessionid",
    }
)
_STRONG_SUBSTRINGS = ("password", "passwd", "passphrase")
_WEAK_LAST_WORDS = frozenset({"key", "token", "auth", "session", "signature"})
_TOKENIZER_SPECIALS = frozenset(
    {"pad", "eos", "bos", "unk", "sep", "cls", "mask", "special", "start", "end", "stop"}
)
_WORD_PATTERN = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_SSH_SCHEMES = frozenset({"ssh", "git+ssh", "ssh+git"})
_URL_PATTERN = re.compile(r"\b([A-Za-z][A-Za-z0-9+.\-]*)://([^\s\"'<>]+)")
_USERINFO_PATTERN = re.compile(r"^([^/?#]*)@")
_QUERY_PARAM_PATTERN = re.compile(r"([?&;])([^=&;#]+)=([^&;#]*)")
_TOKEN_PATTERN = re.compile(
    r"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"
    r"|(?<![A-Za-z0-9])(?:AKIA|ASIA)[0-9A-Z]{16}(?![0-9A-Za-z])"
    r"|(?<![A-Za-z0-9_-])sk-[A-Za-z0-9_-]{20,}"
    r"|(?<![A-Za-z0-9_-])xox[abposre]-[A-Za-z0-9-]{10,}"
    r"|(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}"
)
_SCHEME_PATTERN = re.compile(r"\b(Bearer|Basic|Token)(\s+)(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{6,}")
_TEXT_ASSIGNMENT = re.compile(
    r"(?P<name>[A-Za-z_][A-Za-z0-9_.\-]*)(?P<sep>[\"']?[ \t]*[:=][ \t]*)"
    r"(?:\"(?P<dq>[^\"\n]*)\"|'(?P<sq>[^'\n]*)'|(?P<bare>[^\s,;}\]\"']+))"
)
_ASSIGNMENT_PATTERN = re.compile(r"^(\+{0,2}[A-Za-z_][A-Za-z0-9_.\-]*)=(.*)$", re.DOTALL)


def name_words(name: str) -> list[str]:
    """Split a name into lowercase words on separators, camelCase humps and digits."""
    return [word.lower() for word in _WORD_PATTERN.findall(name)]


def is_secret_name(name: str) -> bool:
    """True when a key, option or variable name looks like it holds a secret (see module doc)."""
    words = [word for word in name_words(name) if not word.isdigit()]
    if not words:
        return False
    if any(word in _STRONG_WORDS for word in words):
        return True
    if any(part in word for word in words for part in _STRONG_SUBSTRINGS):
        return True
    return _ends_with_weak_secret(words)


def _ends_with_weak_secret(words: list[str]) -> bool:
    """Weak words count only as the last word, and not for tokenizer special tokens."""
    last = words[-1]
    if last not in _WEAK_LAST_WORDS:
        return False
    return not (last == "token" and len(words) > 1 and words[-2] in _TOKENIZER_SPECIALS)


def strip_url_credentials(text: str) -> str:
    """Replace URL userinfo and secret query values anywhere in ``text`` by the marker."""
    return _URL_PATTERN.sub(_redact_url_match, text)


def _redact_url_match(match: re.Match[str]) -> str:
    scheme, rest = match.group(1), match.group(2)
    rest = _USERINFO_PATTERN.sub(lambda user: _redacted_userinfo(scheme, user.group(1)), rest)
    return f"{scheme}://{_redact_query(rest)}"


def _redacted_userinfo(scheme: str, userinfo: str) -> str:
    if scheme.lower() in _SSH_SCHEMES and ":" not in userinfo:
        return f"{userinfo}@"
    return f"{REDACTED}@"


def _redact_query(rest: str) -> str:
    if "?" not in rest:
        return rest
    path, query = rest.split("?", 1)
    redacted = _QUERY_PARAM_PATTERN.sub(_redact_query_param, "?" + query)
    return path + redacted


def _redact_query_param(match: re.Match[str]) -> str:
    separator, name, value = match.group(1), match.group(2), match.group(3)
    if is_secret_name(name) and value:
        value = REDACTED
    return f"{separator}{name}={value}"


def redact_tokens(text: str) -> str:
    """Replace credential-shaped values (see the module doc) anywhere in ``text``."""
    text = _TOKEN_PATTERN.sub(REDACTED, text)
    return _SCHEME_PATTERN.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)


def redact_text(text: str) -> str:
    """URL credentials, credential-shaped values and ``secret_name: value`` in free text."""
    return _TEXT_ASSIGNMENT.sub(_redact_assignment, redact_tokens(strip_url_credentials(text)))


def _redact_assignment(match: re.Match[str]) -> str:
    group = next(g for g in ("dq", "sq", "bare") if match.group(g) is not None)
    value = match.group(group)
    if not is_secret_name(match.group("name")) or value in ("", REDACTED):
        return match.group(0)
    if value.lower() in ("true", "false", "null", "none"):
        return match.group(0)
    start, end = (index - match.start() for index in match.span(group))
    return match.group(0)[:start] + REDACTED + match.group(0)[end:]


def redact_argv(argv: Sequence[str], prefix: str = "command.argv") -> tuple[list[str], list[str]]:
    """Redact secret option values, ``NAME=value`` assignments and URL credentials in argv.

    Long options only: ``--token=x`` and ``--token x`` (the next argument is taken as the value
    unless it is missing or itself starts with ``--``, so a boolean flag such as
    ``--use_auth_token --lr 3`` keeps ``--lr``). Short flags are never guessed. ``--`` is never a
    value, and arguments after it are still scanned: wrappers pass secrets through it too.
    Returns the new argv and the paths redacted, like ``["command.argv[3]"]``.
    """
    result = list(argv)
    touched: set[int] = set()
    for index, argument in enumerate(argv):
        if index in touched:
            continue
        new, value_follows = _redact_argument(argument)
        if value_follows and _is_option_value(argv, index + 1):
            result[index + 1] = REDACTED
            touched.add(index + 1)
        if new != argument:
            result[index] = new
            touched.add(index)
    return result, [f"{prefix}[{index}]" for index in sorted(touched)]


def _redact_argument(argument: str) -> tuple[str, bool]:
    """Return the argument redacted, and whether the next argument is this option's value."""
    if argument.startswith("--") and len(argument) > 2:
        name, equals, _value = argument[2:].partition("=")
        if is_secret_name(name):
            return (f"--{name}={REDACTED}" if equals else argument), not equals
        return redact_tokens(strip_url_credentials(argument)), False
    assignment = _ASSIGNMENT_PATTERN.match(argument)
    if assignment and is_secret_name(assignment.group(1)):
        return f"{assignment.group(1)}={REDACTED}", False
    return redact_tokens(strip_url_credentials(argument)), False


def _is_option_value(argv: Sequence[str], index: int) -> bool:
    return index < len(argv) and not argv[index].startswith("--")


def redact_mapping(
    mapping: Mapping[str, Any], prefix: str = ""
) -> tuple[dict[str, Any], list[str]]:
    """Redact values of secret-named keys, recursing into dicts and lists; strip URL credentials.

    ``None`` and booleans are kept (they cannot carry a secret, and ``use_auth_token: true`` is
    useful to see); any other value under a secret name, container or scalar, becomes the marker.
    Returns the new mapping and the dotted paths redacted (``params.db.password``, ``x.urls[1]``).
    """
    paths: list[str] = []
    return _redact_dict(mapping, prefix, paths), paths


def _redact_dict(mapping: Mapping[str, Any], prefix: str, paths: list[str]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in mapping.items():
        path = f"{prefix}.{key}" if prefix else str(key)
        if is_secret_name(str(key)) and value is not None and not isinstance(value, bool):
            result[key] = REDACTED
            paths.append(path)
        else:
            result[key] = _redact_value(value, path, paths)
    return result


def _redact_value(value: Any, path: str, paths: list[str]) -> Any:
    if isinstance(value, Mapping):
        return _redact_dict(value, path, paths)
    if isinstance(value, (list, tuple)):
        return [_redact_value(item, f"{path}[{i}]", paths) for i, item in enumerate(value)]
    if isinstance(value, str):
        stripped = redact_tokens(strip_url_credentials(value))
        if stripped != value:
            paths.append(path)
        return stripped
    return value


# -- the last pass over everything a run writes ----------------------------------------------
_NOT_SCANNED = frozenset({"schema_version", "id", "redactions", "integrity", "series"})


def redact_record(record: dict[str, Any]) -> dict[str, Any]:
    """Redact every string of a record and list every place holding the marker, in place.

    Runs over sections already redacted on capture too: their places are listed here as well,
    so ``redactions`` names environment variables, ``code.remote`` and ``note`` alike.
    """
    paths = set(record.get("redactions") or ())
    for section, value in list(record.items()):
        if section in _NOT_SCANNED:
            continue
        if section == "command" and isinstance(value, Mapping):
            argv, _ = redact_argv(value.get("argv") or [])
            value = {**value, "argv": argv}
        # The record's own section names (``signature``, ``environment``) are its structure,
        # not names a user chose: only what is inside a section is judged by its name.
        record[section] = _redact_value(value, section, [])
        if section == "note" and isinstance(record[section], str):
            record[section] = redact_text(record[section])
        _marked(record[section], section, paths)
    if isinstance(record.get("series"), Mapping):
        record["series"] = _redact_series(record["series"], paths)
    record["redactions"] = sorted(paths)
    return record


def _marked(value: Any, path: str, paths: set[str]) -> None:
    """Collect the paths of every value that is, or holds, the marker."""
    if isinstance(value, str):
        if REDACTED in value:
            paths.add(path)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            _marked(item, f"{path}.{key}", paths)
    elif isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            _marked(item, f"{path}[{index}]", paths)


def _redact_series(series: Mapping[str, Any], paths: set[str]) -> dict[str, Any]:
    """A series of a secret-named metric keeps its shape; its values become null."""
    result = {}
    for name, summary in series.items():
        if is_secret_name(name) and isinstance(summary, Mapping):
            summary = {**summary, "min": None, "max": None, "last": None}
            paths.add(f"series.{name}")
        result[name] = summary
    return result


def redact_points(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Series points (the sidecar) of secret-named metrics lose their values."""
    return [
        {**point, "value": None} if is_secret_name(str(point.get("name", ""))) else point
        for point in points
    ]
