"""Hugging Face Transformers: :class:`AtoCallback`, a ``TrainerCallback`` that records the training
in an Ato run (``pip install 'ato[transformers]'``).

``Trainer(..., callbacks=[AtoCallback(db="experiments.db", project="glue")])``:

- **on_train_begin** starts the run. Its config is the callback's own ``config`` plus two keys:
  ``training_args`` (``TrainingArguments.to_dict()``, in which Transformers already masks the hub
  tokens) and ``model_config`` (the model's ``config.to_dict()``, where the model has one); so
  ``ato diff`` names the arguments and architecture settings that differ between two runs.
- **on_log** records each number of ``logs`` at ``state.global_step`` (``loss``,
  ``learning_rate``, ``grad_norm``, ``eval_loss``, the closing ``train_runtime``...); text is
  left out. An ``evaluate()`` after the run has ended starts a new run, as Transformers' own
  MLflow callback does; pass ``auto_finish=False`` to keep one run open across ``train()`` and
  ``evaluate()``, and end it with :meth:`AtoCallback.finish`.
- **on_train_end** finishes the run ``completed`` (with ``auto_finish``, the default).
- Only the world's main process (``state.is_world_process_zero``) records, as Transformers'
  own reporting callbacks do.

Transformers gives callbacks no hook for an exception that escapes ``train()``: such a run ends
the way any run of a crashed process does in Ato (recorded at interpreter exit). ``with
AtoCallback(...) as callback: trainer.train()`` ends it ``failed`` (or ``interrupted`` on Ctrl-C)
right away, where the ``with`` block ends.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from types import TracebackType
from typing import Any

from ato.integrations._common import RunOwner, missing, numeric
from ato.tracking.logger import SQLLogger

try:
    from transformers import (
        TrainerCallback,
        TrainerControl,
        TrainerState,
        TrainingArguments,
    )
except ImportError:
    raise missing("ato.integrations.transformers", "Hugging Face Transformers", "transformers") from None

__all__ = ["AtoCallback"]


class AtoCallback(RunOwner, TrainerCallback):  # type: ignore[misc]
    """A Transformers callback that records into an Ato run (see the module's documentation).

    ``config``: the callback's own config (``experiment.sql.db_path``,
    ``experiment.project_name`` and any keys to record); ``db`` and ``project`` set those two
    directly (``db`` a URL or a file path). ``tags`` are the run's tags.
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
        self._own(config, db, project, tags, auto_finish)

    @property
    def logger(self) -> SQLLogger | None:
        """The :class:`~ato.tracking.logger.SQLLogger` of the current (or last) run; None before
        the first (for ``callback.logger.log_artifact(None, path)``, say)."""
        return self._logger

    @property
    def run_id(self) -> int | None:
        """The id of the current (or last) run in its database; None before the first."""
        return None if self._logger is None else self._logger.run_id

    # -- the Trainer's events ---------------------------------------------------------------------
    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if state.is_world_process_zero:
            if self._running():
                return  # auto_finish=False and a second train(): the open run goes on
            self._start(args, kwargs.get("model"))

    def on_log(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl,
        logs: Mapping[str, Any] | None = None, **kwargs: Any,
    ) -> None:
        if not state.is_world_process_zero or not logs:
            return
        logger = self._logger if self._running() else self._start(args, kwargs.get("model"))
        assert logger is not None
        for key, value in logs.items():
            if numeric(value):
                logger.log_metric(key, value, state.global_step)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kwargs: Any
    ) -> None:
        if not state.is_world_process_zero or not self._running():
            return
        assert self._logger is not None
        if self._auto_finish:
            self.finish("completed")
        else:
            self._logger.flush()

    # -- Ato's own --------------------------------------------------------------------------------
    def __enter__(self) -> AtoCallback:  # noqa: PYI034 (Self needs typing_extensions on 3.10)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        if exc_type is None or not self._running():
            self.finish("completed")
        elif issubclass(exc_type, KeyboardInterrupt):
            self.finish("interrupted")
        else:
            assert self._logger is not None
            self._logger.__exit__(exc_type, exc, tb)  # the logger's own ending of a failure

    def _start(self, args: TrainingArguments, model: Any) -> SQLLogger:
        values: dict[str, Any] = {"training_args": args.to_dict()}
        model_config = getattr(model, "config", None)
        if model_config is not None and hasattr(model_config, "to_dict"):
            values["model_config"] = model_config.to_dict()
        return self._start_with(values, "training")
