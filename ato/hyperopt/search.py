"""HyperBand (successive halving over a grid), local and on ``torch.distributed``.

``@hyperband.main`` turns an objective ``f(config) -> metric`` into a search: every grid point
runs with ``config.__num_halved__ = 0``, the best ``halving_rate`` fraction runs again with
``__num_halved__ = 1`` (train it longer: see :meth:`HyperBand.budget`), and so on until at most
``num_min_samples`` remain; the best of that last round wins (:mod:`ato.hyperopt.schedule`).

A failing objective (an exception) or a NaN metric does not stop the search: the trial is
recorded with its error and ranks last. The search is recorded as a run (tag ``hyperband``) in
the scope config's database: ``search.started``, every ``search.trial``, every
``search.halving`` (kept, dropped, cut-off) and ``search.finished``; ``ato replay`` shows the
rounds and checks that the recorded metrics reproduce every decision.
"""

from __future__ import annotations

import math
import sys
import traceback
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ato.config.adict import ADict
from ato.config.scope import Scope
from ato.errors import ConfigError
from ato.events.types import (
    HalvingDecided,
    SearchFinished,
    SearchStarted,
    TrialRecorded,
)
from ato.events.values import encode_value
from ato.hyperopt.schedule import Decision, HalvingSchedule
from ato.hyperopt.space import grid
from ato.tracking.logger import SQLLogger

__all__ = ["DistributedHyperBand", "HyperBand", "SearchResult"]


@dataclass
class SearchResult:
    """The winner (``config``, ``metric``, ``trial``) and every round's decision."""

    config: ADict
    metric: float | None
    trial: int
    rounds: list[Decision] = field(default_factory=list)
    search_id: str = ""
    run_id: int | None = None
    trials: dict[tuple[int, int], float | None] = field(default_factory=dict)


class HyperBand:
    """Successive halving over the grid of ``search_spaces`` (see the module docstring)."""

    def __init__(
        self,
        scope: Scope,
        search_spaces: Mapping[str, Any],
        halving_rate: float,
        num_min_samples: int,
        mode: str = "max",
        *,
        track: bool = True,
    ) -> None:
        self.scope = scope
        self.search_spaces = search_spaces
        self.grid = grid(search_spaces)
        self.schedule_sizes = HalvingSchedule.round_sizes(len(self.grid), halving_rate, num_min_samples)
        HalvingSchedule(len(self.grid), halving_rate, num_min_samples, mode)  # validates the settings
        self.halving_rate = halving_rate
        self.num_min_samples = num_min_samples
        self.mode = mode
        self.track = track

    # -- the training budget ----------------------------------------------------------------------
    @property
    def num_rounds(self) -> int:
        return len(self.schedule_sizes)

    def budget(self, max_steps: int) -> list[int]:
        """Steps (or epochs) for each round: the last round gets ``max_steps``, each earlier one
        ``halving_rate`` times the next (at least 1)."""
        rounds = self.num_rounds
        return [max(1, math.ceil(max_steps * self.halving_rate ** (rounds - 1 - r))) for r in range(rounds)]

    def steps_for(self, config: Mapping[str, Any], max_steps: int) -> int:
        """The budget of the round ``config.__num_halved__`` belongs to."""
        return self.budget(max_steps)[min(int(config.get("__num_halved__", 0)), self.num_rounds - 1)]

    # -- running ------------------------------------------------------------------------------------
    def main(self, objective: Callable[..., Any]) -> Callable[..., SearchResult]:
        """``@hyperband.main``: calling the decorated function runs the search."""

        def launch(*args: Any, **kwargs: Any) -> SearchResult:
            return self._search(objective, args, kwargs)

        launch.__name__ = getattr(objective, "__name__", "search")
        launch.__doc__ = objective.__doc__
        return launch

    def _shard(self, trials: Sequence[int]) -> Sequence[int]:
        return trials

    def _gather(self, results: dict[int, tuple[float | None, str | None]]) -> dict[int, tuple[float | None, str | None]]:
        return results

    def _search_id(self) -> str:
        return uuid.uuid4().hex

    def _records(self) -> bool:
        return self.track

    def _search(self, objective: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> SearchResult:
        base = self.scope.config
        schedule = HalvingSchedule(len(self.grid), self.halving_rate, self.num_min_samples, self.mode)
        result = SearchResult(ADict(), None, -1, search_id=self._search_id())
        logger = self._start_logger(base, result) if self._records() else None
        progress = _Progress(self.schedule_sizes, enabled=self._records())
        try:
            while not schedule.finished:
                trials = schedule.pending()
                mine = {t: self._run_trial(objective, base, t, schedule.round, args, kwargs, progress)
                        for t in self._shard(trials)}
                outcomes = self._gather(mine)
                metrics = {t: outcomes[t][0] for t in trials}
                for t in trials:
                    result.trials[(schedule.round, t)] = metrics[t]
                round_index = schedule.round
                decision = schedule.report(metrics)
                result.rounds.append(decision)
                if logger is not None:
                    logger.record(
                        *(TrialRecorded(search=result.search_id, trial=t, round=round_index,
                                        config=encode_value(self._trial_config(base, t, round_index)),
                                        metric=outcomes[t][0], error=outcomes[t][1]) for t in trials),
                        HalvingDecided(search=result.search_id, round=round_index, kept=decision.kept,
                                       dropped=decision.dropped, cutoff=decision.cutoff),
                    )
            winner = schedule.winner
            assert winner is not None
            final_round = result.rounds[-1].round
            result.trial = winner
            result.metric = result.trials[(final_round, winner)]
            result.config = self._trial_config(base, winner, final_round)
            if logger is not None:
                logger.record(SearchFinished(search=result.search_id, winner=winner, metric=result.metric))
                logger.finish("completed")
        except BaseException:
            if logger is not None:
                logger.finish("failed")
            raise
        finally:
            progress.close()
            if logger is not None:
                logger.close()
        return result

    def _start_logger(self, base: ADict, result: SearchResult) -> SQLLogger:

        logger = SQLLogger(base)
        with self.scope.running_with(base):
            result.run_id = logger.run(tags=["hyperband"])
        settings = {"halving_rate": self.halving_rate, "num_min_samples": self.num_min_samples,
                    "mode": self.mode, "trials": len(self.grid), "rounds": self.schedule_sizes}
        logger.record(SearchStarted(search=result.search_id, space=encode_value(self.search_spaces), settings=settings))
        return logger

    def _trial_config(self, base: ADict, trial: int, round_index: int) -> ADict:
        config = base.clone()
        config.update(self.grid[trial])
        config["__num_halved__"] = round_index
        return config

    def _run_trial(
        self, objective: Callable[..., Any], base: ADict, trial: int, round_index: int,
        args: tuple[Any, ...], kwargs: dict[str, Any], progress: _Progress,
    ) -> tuple[float | None, str | None]:
        config = self._trial_config(base, trial, round_index)
        try:
            with self.scope.running_with(config):
                value = objective(*args, **{self.scope.name: config, **kwargs})
            metric = float(value)
            outcome: tuple[float | None, str | None] = (None if math.isnan(metric) else metric,
                                                        "metric is NaN" if math.isnan(metric) else None)
        except Exception as exc:  # a failing trial is information, not the end of the search
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            outcome = (None, detail)
        progress.advance(round_index, outcome[0], self.mode)
        return outcome


class DistributedHyperBand(HyperBand):
    """HyperBand on ``torch.distributed``: each round's trials are dealt round-robin to the
    ranks, results are gathered with ``all_gather_object``, and every rank takes the same
    decisions (the schedule is deterministic). Only rank 0 records the search, so each trial
    is in the log once. Initialise the process group before calling the search."""

    def __init__(
        self,
        scope: Scope,
        search_spaces: Mapping[str, Any],
        halving_rate: float,
        num_min_samples: int,
        mode: str = "max",
        rank: int = 0,
        world_size: int = 1,
        backend: str = "pytorch",
        *,
        track: bool = True,
    ) -> None:
        if backend != "pytorch":
            raise ConfigError(f"backend {backend!r} is not supported; use 'pytorch' (torch.distributed)")
        try:
            import torch.distributed as dist
        except ImportError:
            raise ImportError(
                "DistributedHyperBand needs torch: pip install torch (or pip install 'ato[torch]')"
            ) from None
        if not 0 <= rank < world_size:
            raise ConfigError(f"rank {rank} is outside world_size {world_size}")
        self._dist = dist
        self.rank, self.world_size = rank, world_size
        super().__init__(scope, search_spaces, halving_rate, num_min_samples, mode, track=track)

    def _shard(self, trials: Sequence[int]) -> Sequence[int]:
        return trials[self.rank :: self.world_size]

    def _gather(self, results: dict[int, tuple[float | None, str | None]]) -> dict[int, tuple[float | None, str | None]]:
        gathered: list[Any] = [None] * self.world_size
        self._dist.all_gather_object(gathered, results)
        merged: dict[int, tuple[float | None, str | None]] = {}
        for part in gathered:
            merged.update(part)
        return merged

    def _search_id(self) -> str:
        box = [uuid.uuid4().hex if self.rank == 0 else None]
        self._dist.broadcast_object_list(box, src=0)
        return str(box[0])

    def _records(self) -> bool:
        return self.track and self.rank == 0


class _Progress:
    """A progress bar on a terminal (rich); nothing when output is not a TTY."""

    def __init__(self, sizes: list[int], enabled: bool) -> None:
        self._bar: Any = None
        self.best: float | None = None
        if enabled and sys.stderr.isatty():
            from rich.progress import Progress

            self._bar = Progress(transient=False)
            self._bar.start()
            self._task = self._bar.add_task("round 1", total=sum(sizes))
            self.sizes = sizes

    def advance(self, round_index: int, metric: float | None, mode: str) -> None:
        if metric is not None and (self.best is None or (metric > self.best if mode == "max" else metric < self.best)):
            self.best = metric
        if self._bar is not None:
            best = f"{self.best:.4g}" if self.best is not None else "-"
            self._bar.update(self._task, advance=1,
                             description=f"round {round_index + 1}/{len(self.sizes)}, best {best}")

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
