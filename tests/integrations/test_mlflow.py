"""The link between an Ato run and an MLflow run, with a real MLflow tracking store (SQLite) in
tmp_path."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import mlflow
import pytest
from mlflow.tracking import MlflowClient

from ato.errors import TrackerError
from ato.integrations.mlflow import DATA_TYPE, link, mlflow_run_ids
from ato.tracking.finder import SQLFinder
from ato.tracking.logger import SQLLogger


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    # Not *.db: the suite runs `ato verify` on every such file a test leaves.
    uri = f"sqlite:///{tmp_path / 'mlflow.sqlite'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    yield uri
    mlflow.set_tracking_uri(None)


def test_link_records_the_mlflow_run_in_ato_and_the_ato_run_in_mlflow(config: dict, tracking_uri: str) -> None:
    with SQLLogger(config) as logger, mlflow.start_run() as active:
        logger.run()
        assert link(logger) == active.info.run_id
        mlflow.log_metric("loss", 0.5)
        logger.log_metric("loss", 0.5)
        mlflow_id, experiment_id = active.info.run_id, active.info.experiment_id

    run = SQLFinder(config).get_run(logger.run_id)
    assert mlflow_run_ids(run) == [mlflow_id]
    (artifact,) = run.artifacts
    assert (artifact.path, artifact.data_type) == (f"mlflow:runs:/{mlflow_id}", DATA_TYPE)
    assert artifact.data_info == {"run_id": mlflow_id, "experiment_id": experiment_id, "tracking_uri": tracking_uri}

    tags = MlflowClient(tracking_uri).get_run(mlflow_id).data.tags
    assert (tags["ato.run_uid"], tags["ato.run_id"], tags["ato.project"]) == (run.uid, str(run.id), "proj")
    found = mlflow.search_runs(filter_string=f"tags.`ato.run_uid` = '{run.uid}'", output_format="list")
    assert [found_run.info.run_id for found_run in found] == [mlflow_id]


def test_link_by_id_to_a_run_that_is_not_active(config: dict, tracking_uri: str) -> None:
    client = MlflowClient(tracking_uri)
    mlflow_id = client.create_run(client.create_experiment("other")).info.run_id
    with SQLLogger(config) as logger:
        logger.run()
        link(logger, mlflow_id)
    run = SQLFinder(config).get_run(logger.run_id)
    assert mlflow_run_ids(run) == [mlflow_id]
    assert client.get_run(mlflow_id).data.tags["ato.run_uid"] == run.uid


def test_link_refuses_without_an_ato_run_or_an_mlflow_run(config: dict, tracking_uri: str) -> None:
    with SQLLogger(config) as logger:
        with mlflow.start_run(), pytest.raises(TrackerError, match="no run in progress"):
            link(logger)
        logger.run()
        with pytest.raises(TrackerError, match="no MLflow run is active"):
            link(logger)
    assert mlflow_run_ids(SQLFinder(config).get_run(logger.run_id)) == []


def test_a_run_with_no_link_has_no_mlflow_ids(config: dict) -> None:
    with SQLLogger(config) as logger:
        logger.run()
        logger.log_artifact(None, "model.pt", data_type="checkpoint")
    assert mlflow_run_ids(SQLFinder(config).get_run(logger.run_id)) == []


def test_credentials_in_a_tracking_uri_are_never_recorded() -> None:
    from ato.integrations.mlflow import _without_credentials

    assert _without_credentials("https://alice:s3cret@mlflow.example:5000/x") == "https://mlflow.example:5000/x"
    assert _without_credentials("https://token@mlflow.example/") == "https://mlflow.example/"
    assert _without_credentials("sqlite:////tmp/mlflow.sqlite") == "sqlite:////tmp/mlflow.sqlite"
