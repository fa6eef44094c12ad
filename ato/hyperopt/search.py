"""HyperBand (successive halving over a grid), local and on ``torch.distributed``.

``@hyperband.main`` turns an objective ``f(config) -> metric`` into a search: every grid point
runs with ``config.__num_halved__ = 0``, the best ``halving_rate`` fraction runs again with
``__num_halved__ = 1`` (train it longer: see :meth:`HyperBand.budget`), and so on until at most
``num_min_samples`` remain; the best of that last round wins (:mod:`ato.hyperopt.schedule`).

A failing objective (an exception) or a NaN metric does not stop the search: the trial is
recorded with its error and ranks last. The search is recorded as a run (tag ``hyperband``) in
the scope config's database, or into the ``tracker`` given: ``search.started``, every
``search.trial``, every ``search.halving`` (kept, dropped, cut-off) and ``search.finished``;
``ato replay`` shows the rounds and checks that the recorded metrics reproduce every decision.

Where this differs from ato 2.1.7's ``HyperBand`` (same arguments, same ``__num_halved__``,
same result keys ``config``, ``metric`` and ``logs``):

- **Rounds.** 2.1.7 runs rounds while at least ``num_min_samples`` configs remain, keeps
  ``int(n * halving_rate)`` of each (possibly none), then runs the best config of its last round
  once more (``__num_halved__`` one higher) and reports that run's metric. Ato keeps
  ``floor(n * halving_rate)`` but at least one and fewer than ``n``, runs until a round has run
  at most ``num_min_samples`` configs, and reports the best of that round, with no extra run: for
  300 configs, ``halving_rate=0.3`` and ``num_min_samples=3`` both run rounds of 300, 90, 27 and 8
  with ``__num_halved__`` 0 to 3; then 2.1.7 runs the best one again, Ato runs the best 2.
  A grid smaller than ``num_min_samples`` is one round here; 2.1.7 failed (``IndexError``).
- **Failures.** A trial that raises or returns NaN ranks last (metric ``None``); 2.1.7 stopped
  at the exception. Ties keep grid order in both.
- **Grid.** Values come from ``space_numerics = "ato"`` (:mod:`ato.hyperopt.space`): float64,
  integers rounded to the nearest and never repeated. 2.1.7 used float32 and rounded down (a
  LOG range ``(1, 1000)`` in base 10 gave 999 for 1000), and kept repeated integers. Set
  ``HyperBand.space_numerics = "2.1.7"`` (or in a subclass) to search 2.1.7's grid exactly.
- **Base config.** Trials start from the scope's merged config when the search runs (2.1.7: when
  it was created, with views applied to the first trial only); ``scope.config`` is restored after.
- **Logs.** ``result.logs[r]`` holds round ``r``'s configs best first, each with the
  ``__num_halved__`` it ran with (2.1.7 raised it afterwards, in place, on the kept ones) and its
  ``__metric__``; the last entry is ``[result.config]``.
- **Distributed.** Trials are dealt round-robin (2.1.7: in blocks), and the process group is left
  alone at the end (2.1.7 destroyed it, and its final run failed).
"""

from __future__ import annotations

import dataclasses
import inspect
import math
import sys
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ato.config.adict import ADict
from ato.config.scope import Scope
from ato.events.types import (
    HalvingDecided,
    SearchFinished,
    SearchStarted,
    TrialRecorded,
)
from ato.events.values import encode_value
from ato.hyperopt.framework import DistributedMixIn, GridSpaceMixIn, HyperOpt
from ato.hyperopt.schedule import Decision, HalvingSchedule, SearchSettingsError
from ato.hyperopt.space import grid
from ato.tracking.logger import LoggerState, SQLLogger

__all__ = ["DistributedHyperBand", "HyperBand", "SearchResult"]


@dataclass
class SearchResult:
    """The winner (``config``, ``metric``, ``trial``), every round's decision, and ``logs`` as ato
    2.1.7 returned them. Reads like 2.1.7's result ``ADict`` too: ``result['config']``,
    ``result.get('logs')``, ``'metric' in result``, ``result.keys()``.

    - ``config``: the winner's config, with ``__num_halved__`` and ``__metric__``;
    - ``metric``: its metric in the last round (``None`` if every trial failed);
    - ``trial``: its index in the grid; ``rounds``: each round's :class:`Decision`;
    - ``trials``: every metric by ``(round, trial)`` (``None`` for a failed or NaN trial);
    - ``logs``: per round, the configs that ran, best first, each with ``__num_halved__`` and
      ``__metric__``; then ``[config]``;
    - ``search_id`` (``config.__hyperopt_id__``) and ``run_id``: where the search is recorded.
    """

    config: ADict
    metric: float | None
    trial: int
    rounds: list[Decision] = field(default_factory=list)
    search_id: str = ""
    run_id: int | None = None
    trials: dict[tuple[int, int], float | None] = field(default_factory=dict)
    logs: list[list[ADict]] = field(default_factory=list)

    def keys(self) -> list[str]:
        """``config``, ``metric`` and ``logs`` (ato 2.1.7's keys), then the rest."""
        return [f.name for f in sorted(dataclasses.fields(self), key=lambda f: f.name not in ("config", "metric", "logs"))]

    def __getitem__(self, key: str) -> Any:
        if key not in self.keys():
            raise KeyError(key)
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        return self[key] if key in self.keys() else default

    def __contains__(self, key: object) -> bool:
        return key in self.keys()

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())


class HyperBand(HyperOpt, GridSpaceMixIn):
    """Successive halving over the grid of ``search_spaces`` (see the module docstring for what
    differs from ato 2.1.7).

    ``tracker``: an :class:`~ato.tracking.logger.SQLLogger` to record the search into (ato 2.1.7
    stored this argument and never used it). If the logger has a run going, the search's events
    join that run and the run is left running; otherwise the search starts a run on it (tag
    ``hyperband``) and finishes it. The logger stays open either way: it is the caller's. Without
    one, the search opens a logger on the database of the scope's config and closes it after.
    ``track=False`` records nothing (and takes no tracker).
    """

    space_numerics = "ato"

    def __init__(
        self,
        scope: Scope,
        search_spaces: Mapping[str, Any],
        halving_rate: float,
        num_min_samples: int,
        tracker: SQLLogger | None = None,
        mode: str = "max",
        *,
        track: bool = True,
    ) -> None:
        self.grid = grid(search_spaces, self.space_numerics)
        HalvingSchedule(len(self.grid), halving_rate, num_min_samples, mode)  # validates the settings
        super().__init__(scope, search_spaces, tracker, mode)
        if tracker is not None and not isinstance(tracker, SQLLogger):
            raise SearchSettingsError(
                f"tracker must be an ato SQLLogger (the search is recorded into it) or None, not {type(tracker).__name__}"
            )
        if tracker is not None and not track:
            raise SearchSettingsError("track=False records nothing: leave out the tracker, or track")
        self.schedule_sizes = HalvingSchedule.round_sizes(len(self.grid), halving_rate, num_min_samples)
        self.halving_rate = halving_rate
        self.num_min_samples = num_min_samples
        self.track = track

    @classmethod
    def prepare_distributions(cls, base_config: Mapping[str, Any], search_spaces: Mapping[str, Any]) -> list[ADict]:
        """The first round's configs (2.1.7's name): each grid point over ``base_config``, with
        ``__num_halved__ = 0``, from this class's ``space_numerics``."""
        distributions = super().prepare_distributions(base_config, search_spaces)
        for config in distributions:
            config["__num_halved__"] = 0
        return distributions

    @property
    def distributions(self) -> list[ADict]:
        """The first round's configs over the current base config (reading it merges the scope)."""
        return self.prepare_distributions(self.config, self.search_spaces)

    # -- the training budget ----------------------------------------------------------------------
    @property
    def num_rounds(self) -> int:
        """How many rounds the search runs (``__num_halved__`` goes from 0 to ``num_rounds - 1``)."""
        return len(self.schedule_sizes)

    def budget(self, max_steps: int) -> list[int]:
        """Steps (or epochs) for each of the :attr:`num_rounds` rounds: the last round gets
        ``max_steps``, each earlier one ``halving_rate`` times the next (at least 1). Index it
        with ``config.__num_halved__``, or use :meth:`steps_for`."""
        rounds = self.num_rounds
        return [max(1, math.ceil(max_steps * self.halving_rate ** (rounds - 1 - r))) for r in range(rounds)]

    def steps_for(self, config: Mapping[str, Any], max_steps: int) -> int:
        """The budget of the round ``config.__num_halved__`` belongs to."""
        return self.budget(max_steps)[min(int(config.get("__num_halved__", 0)), self.num_rounds - 1)]

    def num_generations(self) -> int:
        """ato 2.1.7's estimate of the number of rounds, with its formula:
        ``ceil(log(num_min_samples / grid size) / log(halving_rate))`` (0 or less when the grid
        has at most ``num_min_samples`` configs).

        It is the number of halving rounds before the last: for 300 configs, ``halving_rate=0.3``
        and ``num_min_samples=3`` it is 4 (rounds of 300, 90, 27 and 8), and :attr:`num_rounds`
        is 5 (a last round of 2; 2.1.7 instead ran its best config once more). The two differ
        because this is a logarithm and the search truncates at every round: where it matters,
        trust :attr:`num_rounds` and :meth:`budget`. The grid size is this search's grid (see
        ``space_numerics``), which may be smaller than 2.1.7's for the same space."""
        return math.ceil(math.log(self.num_min_samples / len(self.grid)) / math.log(self.halving_rate))

    def compute_optimized_initial_training_steps(self, max_steps: int) -> list[int]:
        """ato 2.1.7's step schedule, with its formula: :meth:`num_generations` entries, the last
        ``max_steps``, each earlier one about ``halving_rate`` times the next, rounded up (just
        ``[max_steps]`` when :meth:`num_generations` is 1 or less).

        Indexing it with ``config.__num_halved__`` goes past its end in the last round whenever
        :attr:`num_rounds` exceeds :meth:`num_generations` (in 2.1.7, always in the final run);
        :meth:`budget` has an entry for every round and is what ``steps_for`` uses."""
        generations = self.num_generations()
        min_steps = max_steps * math.pow(self.halving_rate, generations)
        return [
            *(math.ceil(min_steps / math.pow(self.halving_rate, index)) for index in range(1, generations)),
            max_steps,
        ]

    # -- running ------------------------------------------------------------------------------------
    def main(self, objective: Callable[..., Any]) -> Callable[..., SearchResult]:
        """``@hyperband.main``: calling the decorated function runs the search; its arguments go
        to every trial's objective, with the trial's config."""

        def launch(*args: Any, **kwargs: Any) -> SearchResult:
            return self._search(objective, args, kwargs)

        launch.__name__ = getattr(objective, "__name__", "search")
        launch.__doc__ = objective.__doc__
        return launch

    def estimate_single_run(self, estimator: Callable[..., Any], config: ADict, *args: Any, **kwargs: Any) -> Any:
        """Run the objective once with ``config`` and return what it returns (2.1.7's name; every
        trial goes through here, so a subclass may override it). The config goes where
        ``@scope`` would put it: to the parameter named like the scope (by position when the
        caller's positional arguments reach it), unless the caller passed one by name; an
        objective without such a parameter gets the caller's arguments only. While it runs, the
        scope's functions see ``config`` and a run started inside records it."""
        with self.scope.running_with(config):
            call_args, call_kwargs = _with_config(estimator, self.scope.name, config, args, kwargs)
            return estimator(*call_args, **call_kwargs)

    def _shard(self, trials: Sequence[int]) -> Sequence[int]:
        return trials

    def _gather(self, results: dict[int, tuple[float | None, str | None]]) -> dict[int, tuple[float | None, str | None]]:
        return results

    def _records(self) -> bool:
        return self.track

    def _search(self, objective: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> SearchResult:
        base = self.config
        schedule = HalvingSchedule(len(self.grid), self.halving_rate, self.num_min_samples, self.mode)
        result = SearchResult(ADict(), None, -1, search_id=self.get_hyperopt_id())
        logger, started, owned = self._start_logger(base, result) if self._records() else (None, False, False)
        progress = _Progress(self.schedule_sizes, enabled=self._records())
        try:
            while not schedule.finished:
                trials = schedule.pending()
                mine = {t: self._run_trial(objective, base, result.search_id, t, schedule.round, args, kwargs, progress)
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
                                        config=encode_value(self._trial_config(base, result.search_id, t, round_index)),
                                        metric=outcomes[t][0], error=outcomes[t][1]) for t in trials),
                        HalvingDecided(search=result.search_id, round=round_index, kept=decision.kept,
                                       dropped=decision.dropped, cutoff=decision.cutoff),
                    )
            winner = schedule.winner
            assert winner is not None
            final_round = result.rounds[-1].round
            result.trial = winner
            result.metric = result.trials[(final_round, winner)]
            result.config = self._trial_config(base, result.search_id, winner, final_round)
            result.config["__metric__"] = result.metric
            result.logs = [
                [self._logged_config(base, result, t, decision.round) for t in decision.ranked] for decision in result.rounds
            ] + [[result.config]]
            if logger is not None:
                logger.record(SearchFinished(search=result.search_id, winner=winner, metric=result.metric))
                if started:
                    logger.finish("completed")
        except BaseException:
            if logger is not None and started:
                logger.finish("failed")
            raise
        finally:
            progress.close()
            if logger is not None and owned:
                logger.close()
        return result

    def _start_logger(self, base: ADict, result: SearchResult) -> tuple[SQLLogger, bool, bool]:
        """The logger to record into, whether the search started its run, whether it owns it."""
        owned = self.tracker is None
        logger = SQLLogger(base) if self.tracker is None else self.tracker
        started = logger.state is not LoggerState.RUNNING
        try:
            if started:
                with self.scope.running_with(base):
                    result.run_id = logger.run(tags=["hyperband"])
            else:
                result.run_id = logger.run_id
            settings = {"halving_rate": self.halving_rate, "num_min_samples": self.num_min_samples,
                        "mode": self.mode, "trials": len(self.grid), "rounds": self.schedule_sizes}
            logger.record(SearchStarted(search=result.search_id, space=encode_value(self.search_spaces),
                                        settings=settings))
        except BaseException:
            if owned:
                logger.close()
            raise
        return logger, started, owned

    def _trial_config(self, base: ADict, search_id: str, trial: int, round_index: int) -> ADict:
        config = base.clone()
        config["__hyperopt_id__"] = search_id
        config.update(self.grid[trial])
        config["__num_halved__"] = round_index
        return config

    def _logged_config(self, base: ADict, result: SearchResult, trial: int, round_index: int) -> ADict:
        config = self._trial_config(base, result.search_id, trial, round_index)
        config["__metric__"] = result.trials[(round_index, trial)]
        return config

    def _run_trial(
        self, objective: Callable[..., Any], base: ADict, search_id: str, trial: int, round_index: int,
        args: tuple[Any, ...], kwargs: dict[str, Any], progress: _Progress,
    ) -> tuple[float | None, str | None]:
        config = self._trial_config(base, search_id, trial, round_index)
        try:
            metric = float(self.estimate_single_run(objective, config, *args, **kwargs))
            outcome: tuple[float | None, str | None] = (None if math.isnan(metric) else metric,
                                                        "metric is NaN" if math.isnan(metric) else None)
        except Exception as exc:  # a failing trial is information, not the end of the search
            detail = "".join(traceback.format_exception_only(type(exc), exc)).strip()
            outcome = (None, detail)
        progress.advance(round_index, outcome[0], self.mode)
        return outcome


class DistributedHyperBand(DistributedMixIn, HyperBand):
    """HyperBand on ``torch.distributed``, in ato 2.1.7's argument order: each round's trials are
    dealt round-robin to the ranks, results are gathered with ``all_gather_object``, and every
    rank takes the same decisions (the schedule is deterministic) and returns the same result.
    Only rank 0 records the search (into its ``tracker``, if given), so each trial is in the log
    once. Initialise the process group before calling the search; destroying it afterwards is
    the caller's (2.1.7 destroyed it)."""

    def __init__(
        self,
        scope: Scope,
        search_spaces: Mapping[str, Any],
        halving_rate: float,
        num_min_samples: int,
        tracker: SQLLogger | None = None,
        mode: str = "max",
        rank: int = 0,
        world_size: int = 1,
        backend: str = "pytorch",
        *,
        track: bool = True,
    ) -> None:
        DistributedMixIn.__init__(self, rank, world_size, backend)
        HyperBand.__init__(self, scope, search_spaces, halving_rate, num_min_samples, tracker, mode, track=track)

    def _shard(self, trials: Sequence[int]) -> Sequence[int]:
        return trials[self.rank :: self.world_size]

    def _gather(self, results: dict[int, tuple[float | None, str | None]]) -> dict[int, tuple[float | None, str | None]]:
        merged: dict[int, tuple[float | None, str | None]] = {}
        for part in self.all_gather_object(results):
            merged.update(part)
        return merged

    def _records(self) -> bool:
        return self.track and self.is_root


def _with_config(
    fn: Callable[..., Any], name: str, config: ADict, args: tuple[Any, ...], kwargs: dict[str, Any],
) -> tuple[tuple[Any, ...], dict[str, Any]]:
    """Where ato 2.1.7's scope put the config: at the parameter ``name``'s position when the
    caller's positional arguments reach it, else by name; nowhere if the caller gave one by name
    or ``fn`` takes no such parameter (nor ``**kwargs``)."""
    if name in kwargs:
        return args, kwargs
    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):  # no signature to read: pass it by name
        return args, {**kwargs, name: config}
    parameter = parameters.get(name)
    if parameter is None:
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
        return (args, {**kwargs, name: config}) if takes_any else (args, kwargs)
    if parameter.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD):
        index = list(parameters).index(name)
        if len(args) >= index:
            return (*args[:index], config, *args[index:]), kwargs
    return args, {**kwargs, name: config}


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
