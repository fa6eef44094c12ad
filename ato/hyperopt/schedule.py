"""Successive halving as a pure state machine: no I/O, no clock, no randomness.

``HalvingSchedule`` says which trials to run in the current round (``pending``) and, given their
metrics (``report``), decides which go on. Ranking: higher is better for ``mode='max'``, lower
for ``'min'``; a failed trial (``None``) or a NaN metric ranks last; ties go to the lower trial
index. Each round keeps ``floor(n * halving_rate)`` trials (at least one, at most ``n - 1``);
the search ends after the round in which at most ``num_min_samples`` trials ran, and the best of
that round wins. Because it is deterministic, every rank of a distributed search takes the same
decisions, and a recorded search replays from its trial metrics alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

from ato.errors import ConfigError

__all__ = ["Decision", "HalvingSchedule", "SearchSettingsError", "rank_key"]


class SearchSettingsError(ConfigError, ValueError):
    """Bad search settings or search space. A :class:`ValueError` too, as ato 2.1.7 raised."""


@dataclass(frozen=True)
class Decision:
    """The outcome of one round."""

    round: int
    ranked: list[int]
    kept: list[int]
    dropped: list[int]
    cutoff: float | None
    winner: int | None  # set in the last round


def rank_key(mode: str, trial: int, metric: float | None) -> tuple[int, float, int]:
    """Sort key: valid metrics first, best first, then by trial index."""
    if metric is None or math.isnan(metric):
        return (1, 0.0, trial)
    return (0, -metric if mode == "max" else metric, trial)


class HalvingSchedule:
    """Which trials run in which round, and who survives."""

    def __init__(self, num_trials: int, halving_rate: float, num_min_samples: int, mode: str = "max") -> None:
        if not 0 < halving_rate < 1:
            raise SearchSettingsError(f"halving_rate must be between 0 and 1 (exclusive), not {halving_rate}")
        if num_min_samples < 1:
            raise SearchSettingsError(f"num_min_samples must be at least 1, not {num_min_samples}")
        if mode not in ("max", "min"):
            raise SearchSettingsError(f"mode must be 'max' or 'min', not {mode!r}")
        if num_trials < 1:
            raise SearchSettingsError("a search needs at least one trial")
        self.halving_rate = halving_rate
        self.num_min_samples = num_min_samples
        self.mode = mode
        self.round = 0
        self.alive = list(range(num_trials))
        self.winner: int | None = None

    @property
    def finished(self) -> bool:
        return self.winner is not None

    def pending(self) -> list[int]:
        """The trials to run in the current round."""
        return [] if self.finished else list(self.alive)

    def report(self, metrics: Mapping[int, float | None]) -> Decision:
        """Take the current round's metrics (``None`` for a failed trial) and decide."""
        missing = [trial for trial in self.alive if trial not in metrics]
        if missing or self.finished:
            raise ValueError(f"round {self.round} needs metrics for trials {missing}" if missing else "finished")
        ranked = sorted(self.alive, key=lambda t: rank_key(self.mode, t, metrics[t]))
        if len(ranked) <= self.num_min_samples:
            decision = Decision(self.round, ranked, ranked[:1], ranked[1:], None, ranked[0])
            self.winner = ranked[0]
            return decision
        keep = min(len(ranked) - 1, max(1, math.floor(len(ranked) * self.halving_rate)))
        kept, dropped = ranked[:keep], ranked[keep:]
        cutoff = metrics[kept[-1]]
        self.alive = sorted(kept)
        decision = Decision(self.round, ranked, kept, dropped, cutoff, None)
        self.round += 1
        return decision

    @staticmethod
    def round_sizes(num_trials: int, halving_rate: float, num_min_samples: int) -> list[int]:
        """How many trials each round runs, computed without running anything."""
        sizes = [num_trials]
        while sizes[-1] > num_min_samples:
            sizes.append(min(sizes[-1] - 1, max(1, math.floor(sizes[-1] * halving_rate))))
        return sizes
