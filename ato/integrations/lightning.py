"""PyTorch Lightning: :class:`AtoLogger`, a Lightning ``Logger`` that records the training in an
Ato run (``pip install 'ato[lightning]'``).

``Trainer(logger=AtoLogger(db="experiments.db", project="mnist"))`` is all it takes:

- **The run starts** when Lightning logs the first metrics, when the training code asks for
  ``logger.experiment``, or when the stage ends with nothing logged (so a stage that fails at
  once is still recorded); not earlier, because Lightning installs its signal handlers after
  logging the hyperparameters and removes them after telling loggers of a failure: a run
  started before would leave Ato's SIGTERM handler behind. The model's (and datamodule's) saved hyperparameters
  (``self.save_hyperparameters()``) become top-level keys of the run's config, over the
  logger's own ``config``; so ``ato diff`` of two runs names the hyperparameters that differ.
  Hyperparameters logged again while the run goes on are compared with its config: equal ones
  change nothing, different ones are recorded as an artifact ``lightning:hparams`` (data type
  ``hyperparameters``, the values as metadata), since a run's config is fixed when it starts.
- **Metrics**: ``log_metrics`` records each number at Lightning's step (``trainer.global_step``);
  strings and whole arrays are left out, as Lightning's own loggers do.
- **The end**: ``finalize("success")`` finishes the run ``completed``, ``finalize("failed")``
  ``failed``, or ``interrupted`` where a KeyboardInterrupt is being handled (Lightning reports
  Ctrl-C as a failure); any other word (``finished``, which Lightning sends before a SLURM
  requeue) only flushes, so the run goes on being recorded. With ``auto_finish=False`` the run
  stays open across ``fit`` and ``test``; end it with :meth:`AtoLogger.finish`. After an
  ending, the next thing Lightning logs starts a new run with the same settings.
- **Ranks**: as Lightning's own loggers, only global rank 0 records.

The Lightning package is ``pytorch_lightning`` where installed (what ``ato[lightning]``
installs), else ``lightning.pytorch``: a Trainer accepts only loggers of its own package.
"""

from __future__ import annotations

import os
import sys
from argparse import Namespace
from collections.abc import Mapping, Sequence
from typing import Any

from ato.integrations._common import RunOwner, missing, numeric
from ato.tracking.logger import SQLLogger

try:
    from pytorch_lightning.loggers import Logger
    from pytorch_lightning.utilities import rank_zero_only
except ImportError:
    try:
        from lightning.pytorch.loggers import Logger  # type: ignore[no-redef]
        from lightning.pytorch.utilities import rank_zero_only  # type: ignore[no-redef]
    except ImportError:
        raise missing("ato.integrations.lightning", "PyTorch Lightning", "lightning") from None

__all__ = ["AtoLogger"]


class AtoLogger(RunOwner, Logger):
    """A Lightning logger that records into an Ato run (see the module's documentation).

    ``config``: the logger's own config (``experiment.sql.db_path``, ``experiment.project_name``
    and any keys to record); ``db`` and ``project`` set those two directly (``db`` a URL or a file
    path). ``tags`` are the run's tags.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | None = None,
        *,
        db: str | os.PathLike[str] | None = None,
        project: str | None = None,
        tags: Sequence[str] = (),
        auto_finish: bool = True,
    ) -> None:
        super().__init__()
        self._own(config, db, project, tags, auto_finish)
        self._hparams: dict[str, Any] = {}
        self._ready = False  # whether Lightning has begun a stage: the run may start

    # -- what Lightning asks of every logger ------------------------------------------------------
    @property
    def name(self) -> str:
        """The Ato project."""
        experiment = self._config.get("experiment")
        name = experiment.get("project_name") if isinstance(experiment, Mapping) else None
        return str(name) if name else "default"

    @property
    def version(self) -> int | None:
        """The id of the current (or last) run in its database; None before the first."""
        return None if self._logger is None else self._logger.run_id

    @property
    def experiment(self) -> SQLLogger | None:
        """The :class:`~ato.tracking.logger.SQLLogger` of the current (or last) run, for what
        Lightning does not log itself (``self.logger.experiment.log_artifact(None, path)``),
        started if Lightning has logged the hyperparameters (or the graph) of a stage; None
        before that (Lightning's setup asks for it earlier) and on ranks other than 0."""
        if self._ready and not self._running() and getattr(rank_zero_only, "rank", 0) == 0:
            self._start()
        return self._logger

    @rank_zero_only
    def log_hyperparams(self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any) -> None:
        values = dict(vars(params) if isinstance(params, Namespace) else params)
        if not self._running():
            self._hparams.update(values)
            self._ready = True
            return
        changed = {key: value for key, value in values.items() if not _same(self._hparams.get(key, _ABSENT), value)}
        if changed:
            # The run's config is fixed when it starts: later values are kept beside it.
            self._hparams.update(changed)
            assert self._logger is not None
            self._logger.log_artifact(None, "lightning:hparams", data_type="hyperparameters",
                                      metadata={str(k): _plain(v) for k, v in changed.items()})

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, Any], step: int | None = None) -> None:
        logger = self._start()
        for key, value in metrics.items():
            if numeric(value):
                logger.log_metric(key, value, step)

    @rank_zero_only
    def log_graph(self, model: Any, input_array: Any = None) -> None:
        self._ready = True  # Lightning logs the graph right after the hyperparameters, if any

    @rank_zero_only
    def save(self) -> None:
        if self._running():
            assert self._logger is not None
            self._logger.flush()

    @rank_zero_only
    def finalize(self, status: str) -> None:
        if not self._running():
            if not self._ready:
                return
            self._start()  # a stage that logged no metric is recorded all the same
        self._ready = False
        if status == "success":
            if self._auto_finish:
                self.finish("completed")
            else:
                self.save()
        elif status == "failed":
            # Lightning calls this from inside its `except` clause: the exception is at hand. It
            # reports Ctrl-C as "failed" too.
            exc_type, exc, tb = sys.exc_info()
            if isinstance(exc, KeyboardInterrupt):
                self.finish("interrupted")
            elif exc is not None:
                assert self._logger is not None
                self._logger.__exit__(exc_type, exc, tb)  # the logger's own ending of a failure
            else:
                self.finish("failed")
        else:
            self.save()  # "finished": a SLURM requeue checkpoint; the process goes on

    def _start(self) -> SQLLogger:
        if self._running():
            assert self._logger is not None
            return self._logger
        return self._start_with(self._hparams, "hyperparameter")


_ABSENT = object()


def _same(old: Any, new: Any) -> bool:
    try:
        return bool(old == new)
    except Exception:  # noqa: BLE001 (an array's == is elementwise or raises: such values count as changed)
        return False


def _plain(value: Any) -> Any:
    """A hyperparameter as artifact metadata (JSON-like): numbers, text, lists and mappings as
    they are, anything else by its repr."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return repr(value)
