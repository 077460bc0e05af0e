"""A model's input/output signature from what a training script has at hand.

``describe`` turns a pandas DataFrame or Series, a numpy array, or a mapping of
name -> dtype / shape into a list of fields ``{name, type, shape}``. It reads the
objects' ``columns`` / ``dtypes`` / ``dtype`` / ``shape`` attributes, so neither pandas
nor numpy is imported, and no model is ever loaded (let alone unpickled) to infer one.
The first dimension of an array is the batch and is written as -1 (any size).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlog.errors import UsageError

Field = dict[str, Any]


def describe(value: Any) -> list[Field]:
    """The fields of one side of a signature; anything else is a ``UsageError``."""
    if isinstance(value, Mapping):
        return [_named(str(name), spec) for name, spec in value.items()]
    if hasattr(value, "columns") and hasattr(value, "dtypes"):  # a DataFrame
        return [
            {"name": str(name), "type": str(dtype), "shape": None}
            for name, dtype in zip(list(value.columns), list(value.dtypes), strict=True)
        ]
    if hasattr(value, "dtype") and hasattr(value, "shape"):  # an array or a Series
        name = getattr(value, "name", None)
        shape = [-1, *(int(d) for d in tuple(value.shape)[1:])]
        return [{"name": None if name is None else str(name), "type": _dtype(value.dtype),
                 "shape": shape}]  # fmt: skip
    raise UsageError(
        f"cannot read a signature from {type(value).__name__} "
        "(pass a pandas DataFrame, a numpy array, or a dict of name -> dtype or shape)"
    )


def _named(name: str, spec: Any) -> Field:
    if isinstance(spec, Mapping):
        shape = spec.get("shape")
        return {"name": name, "type": _dtype(spec.get("dtype", spec.get("type"))),
                "shape": None if shape is None else _shape(shape)}  # fmt: skip
    if isinstance(spec, (tuple, list)):
        return {"name": name, "type": None, "shape": _shape(spec)}
    if hasattr(spec, "dtype") and hasattr(spec, "shape"):  # an example array for this input
        return {"name": name, "type": _dtype(spec.dtype), "shape": describe(spec)[0]["shape"]}
    return {"name": name, "type": _dtype(spec), "shape": None}


def _dtype(dtype: Any) -> str | None:
    if dtype is None:
        return None
    if isinstance(dtype, type):
        return dtype.__name__
    return str(dtype)


def _shape(shape: Any) -> list[int]:
    try:
        return [int(d) if d is not None else -1 for d in shape]
    except (TypeError, ValueError):
        raise UsageError(f"a shape must be a sequence of integers, got {shape!r}") from None


def signature(inputs: Any, outputs: Any = None) -> dict[str, Any]:
    """The record's ``signature`` section."""
    return {"inputs": describe(inputs), "outputs": None if outputs is None else describe(outputs)}


def fields_by_key(sig: Mapping[str, Any] | None) -> dict[str, Any]:
    """``inputs.NAME`` / ``outputs.NAME`` -> ``{type, shape}``, for diffing two signatures."""
    flat: dict[str, Any] = {}
    for side in ("inputs", "outputs"):
        for index, item in enumerate((sig or {}).get(side) or []):
            key = f"{side}.{item.get('name') if item.get('name') is not None else index}"
            flat[key] = {"type": item.get("type"), "shape": item.get("shape")}
    return flat


def summary(fields: list[Field] | None) -> str:
    """``age:int64, x:float64[-1,4]`` for tables and cards."""
    if not fields:
        return "-"
    parts = []
    for item in fields:
        shape = item.get("shape")
        text = str(item.get("type") or "?") + (f"[{','.join(map(str, shape))}]" if shape else "")
        parts.append(f"{item['name']}:{text}" if item.get("name") is not None else text)
    return ", ".join(parts)
