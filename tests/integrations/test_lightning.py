"""AtoLogger with a real PyTorch Lightning Trainer on a tiny model, on CPU."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from ato.integrations.lightning import AtoLogger
from ato.tracking.finder import SQLFinder
from tests.conftest import run_script

# Lightning's own code, not ours: its tree flattening uses a torch API that newer torch deprecates.
pytestmark = pytest.mark.filterwarnings("ignore:.*LeafSpec.*:FutureWarning")


class Regression(pl.LightningModule):
    def __init__(self, lr: float = 0.1, hidden: int = 4, fail_at: int | None = None) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(3, 1)

    def training_step(self, batch: Any, index: int) -> Any:
        if self.hparams.fail_at == index:
            raise ValueError("the loss went wrong")
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("train_loss", loss)
        return loss

    def test_step(self, batch: Any, index: int) -> None:
        x, y = batch
        self.log("test_loss", torch.nn.functional.mse_loss(self.net(x), y))

    def configure_optimizers(self) -> Any:
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def loader() -> DataLoader:
    generator = torch.Generator().manual_seed(0)
    return DataLoader(TensorDataset(torch.randn(16, 3, generator=generator), torch.randn(16, 1, generator=generator)),
                      batch_size=4)


def trainer(logger: AtoLogger, root: Path) -> pl.Trainer:
    return pl.Trainer(
        max_epochs=1, logger=logger, log_every_n_steps=1, accelerator="cpu", default_root_dir=root,
        enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False,
    )


def finder(db: Path) -> SQLFinder:
    return SQLFinder({"experiment": {"sql": {"db_path": f"sqlite:///{db}"}}})


def test_fit_records_hyperparameters_metrics_and_completion(tmp_path: Path, db: Path) -> None:
    logger = AtoLogger({"dataset": "toy"}, db=db, project="lit", tags=["smoke"])
    assert logger.experiment is None  # nothing recorded before Lightning logs
    trainer(logger, tmp_path).fit(Regression(lr=0.05, hidden=8), loader())

    run = finder(db).get_run(logger.version)
    assert run.status == "completed" and run.project == "lit" and run.tags == ["smoke"]
    assert (run.config.lr, run.config.hidden, run.config.dataset) == (0.05, 8, "toy")
    series = finder(db).get_metrics(run.id, "train_loss")
    assert list(series.steps) == [0, 1, 2, 3]  # Lightning's global step, one point per batch
    assert all(value > 0 for value in series.values)
    assert "epoch" in run.metric_summaries
    assert logger.name == "lit"


def test_another_hyperparameter_changes_the_config_ato_compares(tmp_path: Path, db: Path) -> None:
    first, second = AtoLogger(db=db), AtoLogger(db=db)
    trainer(first, tmp_path).fit(Regression(lr=0.1), loader())
    trainer(second, tmp_path).fit(Regression(lr=0.2), loader())
    runs = [finder(db).get_run(logger.version) for logger in (first, second)]
    assert [run.config.lr for run in runs] == [0.1, 0.2]
    assert runs[0].id != runs[1].id


def test_an_exception_in_training_ends_the_run_failed(tmp_path: Path, db: Path) -> None:
    before = signal.getsignal(signal.SIGTERM)
    logger = AtoLogger(db=db)
    with pytest.raises(ValueError, match="the loss went wrong"):
        trainer(logger, tmp_path).fit(Regression(fail_at=2), loader())
    run = finder(db).get_run(logger.version)
    assert run.status == "failed"
    assert list(finder(db).get_metrics(run.id, "train_loss").steps) == [0, 1]  # the points before it are kept
    # Lightning's handlers and Ato's were installed and removed in order: none is left behind.
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stage_that_fails_before_logging_is_recorded(tmp_path: Path, db: Path) -> None:
    logger = AtoLogger(db=db)
    with pytest.raises(ValueError, match="the loss went wrong"):
        trainer(logger, tmp_path).fit(Regression(lr=0.7, fail_at=0), loader())
    run = finder(db).get_run(logger.version)
    assert (run.status, run.config.lr, run.metric_summaries) == ("failed", 0.7, {})


def test_ctrl_c_ends_the_run_interrupted(tmp_path: Path, db: Path) -> None:
    # In a process of its own: Lightning ignores SIGINT from then on and exits with status 1.
    script = f"""
        import torch, pytorch_lightning as pl
        from torch.utils.data import DataLoader, TensorDataset
        from ato.integrations.lightning import AtoLogger

        class Model(pl.LightningModule):
            def __init__(self):
                super().__init__()
                self.net = torch.nn.Linear(3, 1)
            def training_step(self, batch, index):
                if index == 1:
                    raise KeyboardInterrupt
                loss = self.net(batch[0]).pow(2).mean()
                self.log("train_loss", loss)
                return loss
            def configure_optimizers(self):
                return torch.optim.SGD(self.parameters(), lr=0.1)

        logger = AtoLogger(db={str(db)!r})
        data = DataLoader(TensorDataset(torch.randn(8, 3)), batch_size=2)
        try:
            pl.Trainer(max_epochs=1, logger=logger, log_every_n_steps=1, accelerator="cpu",
                       enable_checkpointing=False, enable_progress_bar=False).fit(Model(), data)
        finally:
            print("run", logger.version)
    """
    result = run_script(tmp_path, script, check=False)
    assert result.returncode == 1, result.stderr
    run_id = int(result.stdout.split("run ")[-1].split()[0])
    run = finder(db).get_run(run_id)
    assert run.status == "interrupted"
    assert list(finder(db).get_metrics(run.id, "train_loss").steps) == [0]


def test_without_auto_finish_fit_and_test_share_one_run(tmp_path: Path, db: Path) -> None:
    logger = AtoLogger(db=db, auto_finish=False)
    lightning = trainer(logger, tmp_path)
    model = Regression()
    lightning.fit(model, loader())
    run_id = logger.version
    lightning.test(model, loader(), verbose=False)
    assert logger.version == run_id
    assert finder(db).get_run(run_id).status == "running"
    logger.finish()
    run = finder(db).get_run(run_id)
    assert run.status == "completed"
    assert {"train_loss", "test_loss"} <= set(run.metric_summaries)


def test_with_auto_finish_a_later_test_is_a_new_run(tmp_path: Path, db: Path) -> None:
    logger = AtoLogger(db=db)
    lightning = trainer(logger, tmp_path)
    model = Regression(lr=0.3)
    lightning.fit(model, loader())
    fitted = logger.version
    lightning.test(model, loader(), verbose=False)
    tested = finder(db).get_run(logger.version)
    assert tested.id != fitted and tested.status == "completed"
    assert tested.config.lr == 0.3 and "test_loss" in tested.metric_summaries
    assert "train_loss" not in tested.metric_summaries


def test_hyperparameters_changed_while_running_are_kept_beside_the_config(db: Path) -> None:
    logger = AtoLogger(db=db)
    logger.log_hyperparams({"lr": 0.1, "layers": [2, 3]})
    logger.log_metrics({"loss": 1.5, "note": "text is left out"}, step=3)  # the run starts
    logger.log_hyperparams({"lr": 0.1})  # unchanged: nothing to add
    logger.log_hyperparams({"lr": 0.01, "scheduler": object})
    logger.finalize("success")
    run = finder(db).get_run(logger.version)
    assert run.config.lr == 0.1 and run.config.layers == [2, 3]
    (artifact,) = run.artifacts
    assert (artifact.path, artifact.data_type) == ("lightning:hparams", "hyperparameters")
    assert artifact.data_info == {"lr": 0.01, "scheduler": repr(object)}
    assert set(run.metric_summaries) == {"loss"}
    assert list(finder(db).get_metrics(run.id, "loss").steps) == [3]
