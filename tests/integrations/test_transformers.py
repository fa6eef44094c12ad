"""AtoCallback with a real Hugging Face Trainer on a tiny BERT built from a config (nothing is
fetched from the hub), on CPU, for a few steps."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"  # before transformers is imported: nothing may be fetched

import torch
from transformers import (
    BertConfig,
    BertForSequenceClassification,
    Trainer,
    TrainingArguments,
)

from ato.integrations.transformers import AtoCallback
from ato.tracking.finder import SQLFinder


def tiny_bert(hidden: int = 8) -> BertForSequenceClassification:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=32, hidden_size=hidden, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16, num_labels=2)
    return BertForSequenceClassification(config)


def dataset(size: int = 8) -> list[dict[str, Any]]:
    generator = torch.Generator().manual_seed(0)
    return [{"input_ids": torch.randint(0, 32, (8,), generator=generator), "labels": torch.tensor(i % 2)}
            for i in range(size)]


def hf_trainer(tmp_path: Path, callback: AtoCallback, *, hidden: int = 8, steps: int = 4, **kwargs: Any) -> Trainer:
    args = TrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=steps, per_device_train_batch_size=2, logging_steps=1,
        report_to="none", save_strategy="no", use_cpu=True, disable_tqdm=True, **kwargs,
    )
    return Trainer(model=tiny_bert(hidden), args=args, train_dataset=dataset(), eval_dataset=dataset(4),
                   callbacks=[callback])


def finder(db: Path) -> SQLFinder:
    return SQLFinder({"experiment": {"sql": {"db_path": f"sqlite:///{db}"}}})


def test_train_records_arguments_model_config_losses_and_completion(tmp_path: Path, db: Path) -> None:
    callback = AtoCallback({"dataset": "toy"}, db=db, project="hf", tags=["smoke"])
    assert callback.logger is None
    hf_trainer(tmp_path, callback, learning_rate=1e-3).train()

    run = finder(db).get_run(callback.run_id)
    assert run.status == "completed" and run.project == "hf" and run.tags == ["smoke"]
    assert run.config.dataset == "toy"
    assert run.config.training_args.max_steps == 4 and run.config.training_args.learning_rate == 1e-3
    assert run.config.model_config.hidden_size == 8 and run.config.model_config.num_hidden_layers == 1
    loss = finder(db).get_metrics(run.id, "loss")
    assert list(loss.steps) == [1, 2, 3, 4]  # the Trainer's global step, logged every step
    assert {"learning_rate", "epoch", "train_loss", "train_runtime"} <= set(run.metric_summaries)


def test_two_runs_differ_where_their_settings_do(tmp_path: Path, db: Path) -> None:
    small, wide = AtoCallback(db=db), AtoCallback(db=db)
    hf_trainer(tmp_path, small, hidden=8).train()
    hf_trainer(tmp_path, wide, hidden=16).train()
    runs = [finder(db).get_run(callback.run_id) for callback in (small, wide)]
    assert [run.config.model_config.hidden_size for run in runs] == [8, 16]
    assert runs[0].structural_hash == runs[1].structural_hash  # the same shape, other values


def test_without_auto_finish_train_and_evaluate_share_one_run(tmp_path: Path, db: Path) -> None:
    callback = AtoCallback(db=db, auto_finish=False)
    trainer = hf_trainer(tmp_path, callback, steps=2)
    trainer.train()
    run_id = callback.run_id
    assert finder(db).get_run(run_id).status == "running"
    trainer.evaluate()
    callback.finish()
    assert callback.run_id == run_id
    run = finder(db).get_run(run_id)
    assert run.status == "completed"
    assert {"loss", "eval_loss"} <= set(run.metric_summaries)


def test_an_exception_escaping_train_ends_the_run_failed(tmp_path: Path, db: Path) -> None:
    callback = AtoCallback(db=db)
    trainer = hf_trainer(tmp_path, callback)

    def collate(features: list[dict[str, Any]]) -> dict[str, Any]:
        if collate.calls == 2:  # type: ignore[attr-defined]
            raise RuntimeError("a corrupt batch")
        collate.calls += 1  # type: ignore[attr-defined]
        return {key: torch.stack([feature[key] for feature in features]) for key in features[0]}

    collate.calls = 0  # type: ignore[attr-defined]
    trainer.data_collator = collate
    with pytest.raises(RuntimeError, match="a corrupt batch"), callback:
        trainer.train()
    run = finder(db).get_run(callback.run_id)
    assert run.status == "failed"
    steps = list(finder(db).get_metrics(run.id, "loss").steps)
    assert steps[:1] == [1] and len(steps) < 4  # the losses before the failure are kept
