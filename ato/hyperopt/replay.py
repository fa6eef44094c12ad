"""Replay a recorded search: feed the recorded trial metrics through a fresh halving schedule and
check that it takes the recorded decisions and picks the recorded winner. ``ato replay`` shows it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ato.events.types import (
    Event,
    HalvingDecided,
    SearchFinished,
    SearchStarted,
    TrialRecorded,
)
from ato.hyperopt.schedule import HalvingSchedule

__all__ = ["SearchReplay", "replay_search"]


@dataclass
class SearchReplay:
    """A recorded search: its rounds, and whether the trial metrics reproduce every decision."""

    search: str
    settings: dict[str, Any]
    rounds: list[dict[str, Any]]
    winner: int | None
    metric: float | None
    problems: list[str]

    @property
    def reproduces(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {"search": self.search, "settings": self.settings, "rounds": self.rounds, "winner": self.winner,
                "metric": self.metric, "reproduces": self.reproduces, "problems": self.problems}


def replay_search(events: list[Event]) -> SearchReplay:
    """Feed the recorded trial metrics through a fresh schedule and compare its decisions."""
    started = next(e for e in events if isinstance(e, SearchStarted))
    trials = [e for e in events if isinstance(e, TrialRecorded)]
    halvings = sorted((e for e in events if isinstance(e, HalvingDecided)), key=lambda e: e.round)
    finished = next((e for e in events if isinstance(e, SearchFinished)), None)
    settings = dict(started.settings)
    schedule = HalvingSchedule(settings["trials"], settings["halving_rate"], settings["num_min_samples"], settings["mode"])
    problems: list[str] = []
    rounds = []
    for recorded in halvings:
        metrics = {t.trial: t.metric for t in trials if t.round == recorded.round}
        try:
            decision = schedule.report(metrics)
        except ValueError as exc:
            problems.append(f"round {recorded.round}: {exc}")
            break
        if (decision.kept, decision.dropped) != (list(recorded.kept), list(recorded.dropped)):
            problems.append(f"round {recorded.round}: the recorded metrics give a different decision")
        failed = sum(1 for t in trials if t.round == recorded.round and t.metric is None)
        rounds.append({"round": recorded.round, "trials": len(metrics), "kept": list(recorded.kept),
                       "dropped": len(recorded.dropped), "cutoff": recorded.cutoff, "failed": failed})
    if finished is not None and schedule.winner != finished.winner:
        problems.append(f"recorded winner {finished.winner}, replayed winner {schedule.winner}")
    return SearchReplay(started.search, settings, rounds, finished.winner if finished else None,
                        finished.metric if finished else None, problems)


