"""MLflow: link an Ato run and an MLflow run, so both tools can be used together: MLflow for its
dashboards, Ato for why a result changed (``pip install 'ato[mlflow]'``).

:func:`link` records the link both ways, with each tool's existing records:

- in the Ato run, an artifact ``mlflow:runs:/<id>`` of data type ``mlflow-run`` whose metadata
  holds ``run_id``, ``experiment_id`` and ``tracking_uri`` (any user name and password in the
  URI left out); :func:`mlflow_run_ids` reads them back from a found run;
- on the MLflow run, the tags ``ato.run_uid`` (the run's global id: ``ato show UID`` finds it
  in any database it was merged into), ``ato.run_id`` (its id in this database) and
  ``ato.project``; ``mlflow.search_runs(filter_string="tags.`ato.run_uid` = '...'")`` finds it.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ato.errors import TrackerError
from ato.integrations._common import missing
from ato.tracking.logger import LoggerState, SQLLogger

try:
    import mlflow
    from mlflow.tracking import MlflowClient
except ImportError:
    raise missing("ato.integrations.mlflow", "MLflow", "mlflow") from None

__all__ = ["DATA_TYPE", "link", "mlflow_run_ids"]

DATA_TYPE = "mlflow-run"
"""The data type of the artifact that names a linked MLflow run."""


def link(logger: SQLLogger, mlflow_run_id: str | None = None, *, tracking_uri: str | None = None) -> str:
    """Link the running Ato run of ``logger`` and an MLflow run (``mlflow_run_id``, or the active
    one, ``mlflow.active_run()``); returns the MLflow run's id. ``tracking_uri`` is the MLflow
    store (``mlflow.get_tracking_uri()`` where None). Linking twice records twice."""
    if logger.state is not LoggerState.RUNNING:
        raise TrackerError("link(): the Ato logger has no run in progress (call logger.run() first)")
    if mlflow_run_id is None:
        active = mlflow.active_run()
        if active is None:
            raise TrackerError("link(): no MLflow run is active; start one (mlflow.start_run()) or pass its id")
        mlflow_run_id = active.info.run_id
    uri = tracking_uri or mlflow.get_tracking_uri()
    client = MlflowClient(tracking_uri=uri)
    mlflow_run = client.get_run(mlflow_run_id)  # refuses an id the store does not hold
    run = logger.get_current_run()
    assert run is not None
    logger.log_artifact(
        None, f"mlflow:runs:/{mlflow_run_id}", data_type=DATA_TYPE,
        metadata={"run_id": mlflow_run_id, "experiment_id": mlflow_run.info.experiment_id,
                  "tracking_uri": _without_credentials(uri)},
    )
    for key, value in (("ato.run_uid", run.uid), ("ato.run_id", str(run.id)), ("ato.project", run.project)):
        client.set_tag(mlflow_run_id, key, value)
    return mlflow_run_id


def mlflow_run_ids(run: Any) -> list[str]:
    """The MLflow run ids linked to an Ato run (a run from ``SQLFinder``), in the order linked."""
    return [artifact.data_info["run_id"] for artifact in run.artifacts
            if artifact.data_type == DATA_TYPE and "run_id" in artifact.data_info]


def _without_credentials(uri: str) -> str:
    """``uri`` without the user name and password an HTTP tracking URI may carry."""
    parts = urlsplit(uri)
    if parts.username is None and parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
