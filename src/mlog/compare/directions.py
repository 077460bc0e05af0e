"""Which way is better for a metric, and by how much a change still counts as noise.

Directions come from the ``metrics:`` section of ``.mlog/config.yaml``
(``auc: {goal: maximize, tolerance: 0.002}``). A metric without an entry gets a
direction guessed from its name (``val_loss`` is minimized, ``auc`` maximized) and
is flagged ``guessed``, so a report can say that it guessed instead of pretending.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAXIMIZE = "maximize"
MINIMIZE = "minimize"

# Name parts that mean "lower is better"; everything else is assumed "higher is better".
MINIMIZED_WORDS = frozenset(
    {
        "loss", "logloss", "error", "err", "errors", "latency", "mae", "mse", "rmse", "mape",
        "smape", "rmsle", "msle", "perplexity", "ppl", "wer", "cer", "fpr", "fnr", "eer",
        "brier", "cost", "regret", "time", "seconds", "duration", "runtime", "memory", "nll",
        "bpd", "fid", "distance",
    }
)  # fmt: skip
_WORD = re.compile(r"[a-z0-9]+")

IMPROVED = "improved"
WITHIN_TOLERANCE = "within_tolerance"
REGRESSED = "regressed"
MIRRORED = {IMPROVED: REGRESSED, REGRESSED: IMPROVED}


@dataclass(frozen=True)
class Direction:
    """How to judge one metric: its goal, the change that still counts as noise, and why."""

    goal: str
    tolerance: float = 0.0
    guessed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"goal": self.goal, "tolerance": self.tolerance, "guessed": self.guessed}


def guess_goal(name: str) -> str:
    """``minimize`` when a word of the name says lower is better (``val_loss``, ``p99_latency``)."""
    words = _WORD.findall(name.lower())
    if any(word in MINIMIZED_WORDS for word in words):
        return MINIMIZE
    return MINIMIZE if any(name.lower().endswith(w) for w in ("loss", "error")) else MAXIMIZE


def direction_for(name: str, configured: Mapping[str, Mapping[str, Any]]) -> Direction:
    """The configured direction of a metric, else a guessed one (tolerance from config if set)."""
    entry = configured.get(name) or {}
    tolerance = float(entry.get("tolerance", 0.0))
    goal = entry.get("goal")
    if goal in (MAXIMIZE, MINIMIZE):
        return Direction(str(goal), tolerance, guessed=False)
    return Direction(guess_goal(name), tolerance, guessed=True)


def is_number(value: Any) -> bool:
    """A real, finite number (booleans are flags, not measurements)."""
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and math.isfinite(float(value))
    )


def judge(old: float, new: float, direction: Direction) -> str:
    """``improved``, ``within_tolerance`` or ``regressed``; symmetric when old and new swap."""
    delta = float(new) - float(old)
    if abs(delta) <= direction.tolerance:
        return WITHIN_TOLERANCE
    better = delta > 0 if direction.goal == MAXIMIZE else delta < 0
    return IMPROVED if better else REGRESSED
