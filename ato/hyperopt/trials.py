"""A recorded search's trials, one row each: what ``ato replay`` lists for a search run.

Each trial is shown by the config values that vary across the search's trials (the grid's keys;
``__num_halved__``, which only says the round, is left out), the round it reached, its metric in
each round it ran (the last one is what its fate was decided on), its error where it failed, and
its outcome: ``winner``, ``kept`` (still alive in a search that did not finish), ``dropped``
(in the round it reached) or ``failed`` (it raised or returned NaN, so it ranked last). Rows come
best first: by the round reached, then by rank within that round, as the schedule ranked them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ato.config.flat import flat_config, varying_keys
from ato.events.types import (
    Event,
    HalvingDecided,
    SearchFinished,
    SearchStarted,
    TrialRecorded,
)
from ato.events.values import decode_value
from ato.hyperopt.schedule import rank_key

__all__ = ["SearchTrials", "TrialRow", "search_trials"]

_ROUND_KEY = "__num_halved__"


@dataclass
class TrialRow:
    """One trial of a search."""

    trial: int
    values: dict[str, Any]
    round: int
    metric: float | None
    metrics: list[float | None]
    outcome: str
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"trial": self.trial, "values": self.values, "round": self.round, "metric": self.metric,
                "metrics": self.metrics, "outcome": self.outcome, "error": self.error}


@dataclass
class SearchTrials:
    """A search's trials, best first, and the config keys that vary across them."""

    search: str
    keys: list[str]
    trials: list[TrialRow] = field(default_factory=list)


def search_trials(events: list[Event]) -> SearchTrials:
    """The trials of one search, from its recorded events (of one search id, in log order)."""
    started = next((e for e in events if isinstance(e, SearchStarted)), None)
    mode = str(started.settings.get("mode", "max")) if started is not None else "max"
    recorded = [e for e in events if isinstance(e, TrialRecorded)]
    halvings = {e.round: e for e in events if isinstance(e, HalvingDecided)}
    finished = next((e for e in events if isinstance(e, SearchFinished)), None)
    search = started.search if started is not None else (recorded[0].search if recorded else "")

    by_trial: dict[int, list[TrialRecorded]] = {}
    for event in recorded:
        by_trial.setdefault(event.trial, []).append(event)
    firsts = {}
    for trial, runs in by_trial.items():
        config = decode_value(min(runs, key=lambda e: e.round).config)
        flat = flat_config(config) if isinstance(config, dict) else {}
        flat.pop(_ROUND_KEY, None)
        firsts[trial] = flat
    keys = varying_keys(list(firsts.values()))

    rows = []
    for trial, runs in by_trial.items():
        runs = sorted(runs, key=lambda e: e.round)
        last = runs[-1]
        decision = halvings.get(last.round)
        if finished is not None and finished.winner == trial and decision is not None and trial in decision.kept:
            outcome = "winner"
        elif last.metric is None and decision is not None:
            outcome = "failed"
        elif decision is None or trial in decision.kept:
            outcome = "kept"
        else:
            outcome = "dropped"
        values = {key: firsts[trial][key] for key in keys if key in firsts[trial]}
        rows.append(TrialRow(trial, values, last.round, last.metric, [e.metric for e in runs], outcome, last.error))
    rows.sort(key=lambda row: (-row.round, rank_key(mode, row.trial, row.metric)))
    return SearchTrials(search, keys, rows)
