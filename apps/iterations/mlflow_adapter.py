"""The only module that talks to MLflow: experiments, runs, the model registry and model loading.

The tracking URI is read from settings on every call, never cached at import, so a worker,
a web process and a test that overrides the settings all reach the store they are configured
for.
"""

import logging
from dataclasses import dataclass
from importlib.metadata import version as package_version
from typing import Any

import mlflow
import mlflow.sklearn
import pandas as pd
import skops.io
from django.conf import settings
from mlflow.entities import RunStatus
from mlflow.exceptions import MlflowException
from mlflow.models import infer_signature
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode

logger = logging.getLogger(__name__)

ITERATION_TAG = "portal.iteration"
PROJECT_TAG = "portal.project"
# The training task id is a UUID made when the iteration is queued and kept on redelivery.
# Matching on it as well as on the number keeps a portal database that was reset, while the
# MLflow store was not, from adopting the runs of an older iteration with the same number.
TASK_TAG = "portal.task_id"
MODEL_ARTIFACT_NAME = "model"


@dataclass(frozen=True)
class LoggedModel:
    experiment_id: str
    run_id: str
    model_name: str
    model_version: str


def _configure() -> mlflow.MlflowClient:
    """Point the fluent API and a client at the store in the current settings."""
    uri = settings.MLFLOW_TRACKING_URI
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    return mlflow.MlflowClient(tracking_uri=uri, registry_uri=uri)


def experiment_name(project_slug: str) -> str:
    return f"portal/{project_slug}"


def registered_model_name(project_slug: str) -> str:
    return f"portal-{project_slug}"


def model_uri(model_name: str, version: str | int) -> str:
    return f"models:/{model_name}/{version}"


def experiment_ensure(*, project_slug: str, client: mlflow.MlflowClient | None = None) -> str:
    """Return the id of the project's experiment, creating it under MLFLOW_ARTIFACT_ROOT."""
    client = client or _configure()
    name = experiment_name(project_slug)
    existing = client.get_experiment_by_name(name)
    if existing is not None:
        return str(existing.experiment_id)
    artifact_location = f"{settings.MLFLOW_ARTIFACT_ROOT.rstrip('/')}/{project_slug}"
    try:
        return str(client.create_experiment(name, artifact_location=artifact_location))
    except MlflowException as error:
        # Two workers may create the first experiment of a project at the same time.
        if error.error_code != ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
            raise
        created = client.get_experiment_by_name(name)
        if created is None:
            raise
        return str(created.experiment_id)


def run_find(*, project_slug: str, iteration_number: int, task_id: str | None = None) -> str | None:
    """Return the finished run of this iteration that registered a model version, if any.

    A redelivered training task calls this first, so it reuses the run instead of logging a
    second one. ``task_id`` narrows the search to runs logged by that training task.
    """
    client = _configure()
    experiment = client.get_experiment_by_name(experiment_name(project_slug))
    if experiment is None:
        return None
    conditions = [
        f"tags.`{ITERATION_TAG}` = '{int(iteration_number)}'",
        f"attributes.status = '{RunStatus.to_string(RunStatus.FINISHED)}'",
    ]
    if task_id:
        conditions.append(f"tags.`{TASK_TAG}` = '{_quote(task_id)}'")
    runs = client.search_runs(
        experiment_ids=[experiment.experiment_id],
        filter_string=" and ".join(conditions),
        order_by=["attributes.start_time ASC"],
    )
    for run in runs:
        if _model_version_for_run(client, run.info.run_id) is not None:
            return str(run.info.run_id)
    return None


def _quote(value: str) -> str:
    return value.replace("'", "")


def _model_version_for_run(client: mlflow.MlflowClient, run_id: str) -> Any | None:
    versions = client.search_model_versions(f"run_id = '{run_id}'")
    return versions[0] if versions else None


def logged_model_get(*, run_id: str) -> LoggedModel:
    """Describe the run ``run_id`` and the model version it registered."""
    client = _configure()
    run = client.get_run(run_id)
    registered = _model_version_for_run(client, run_id)
    if registered is None:
        raise LookupError(f"MLflow run {run_id} registered no model version.")
    return LoggedModel(
        experiment_id=str(run.info.experiment_id),
        run_id=run_id,
        model_name=str(registered.name),
        model_version=str(registered.version),
    )


def skops_trusted_types(pipeline: Any) -> list[str]:
    """List the types in ``pipeline`` that skops does not trust by default.

    MLflow 3 saves scikit-learn models with skops, and skops refuses on load any type that is
    not on its default allow-list (HistGradientBoosting's TreePredictor, numpy dtypes, ...).
    The pipeline was built here from the recipe registry, so its types are ours to vouch for:
    they are listed at save time and MLflow stores the list with the model for loading.
    """
    return list(skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)))


def training_run_log(
    *,
    project_slug: str,
    iteration_number: int,
    params: dict[str, Any],
    metrics: dict[str, float | None],
    pipeline: Any,
    input_example: pd.DataFrame,
    tags: dict[str, str],
) -> LoggedModel:
    """Log one iteration as an MLflow run and register its model as a new version."""
    client = _configure()
    experiment_id = experiment_ensure(project_slug=project_slug, client=client)
    run_tags = {**tags, PROJECT_TAG: project_slug, ITERATION_TAG: str(int(iteration_number))}
    run = client.create_run(experiment_id, run_name=f"iteration-{iteration_number}", tags=run_tags)
    run_id = str(run.info.run_id)
    name = registered_model_name(project_slug)
    signature = infer_signature(input_example, pipeline.predict(input_example))
    with mlflow.start_run(run_id=run_id):
        mlflow.log_params({key: _param_text(value) for key, value in params.items()})
        mlflow.log_metrics(
            {key: float(value) for key, value in metrics.items() if value is not None}
        )
        info = mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT_NAME,
            signature=signature,
            input_example=input_example,
            registered_model_name=name,
            skops_trusted_types=skops_trusted_types(pipeline),
            # Stating the requirements skips MLflow's inference, which imports the model in a
            # subprocess and takes seconds per run.
            pip_requirements=_pip_requirements(),
        )
    logger.info(
        "mlflow run %s logged for project %s iteration %s as %s version %s",
        run_id,
        project_slug,
        iteration_number,
        name,
        info.registered_model_version,
    )
    return LoggedModel(
        experiment_id=experiment_id,
        run_id=run_id,
        model_name=name,
        model_version=str(info.registered_model_version),
    )


def _param_text(value: Any) -> str:
    text = str(value)
    # MLflow caps a parameter value at 6000 characters.
    return text if len(text) <= 6000 else text[:5997] + "..."


def _pip_requirements() -> list[str]:
    return [
        f"{package}=={package_version(package)}"
        for package in ("scikit-learn", "skops", "pandas", "numpy", "scipy")
    ]


def model_load(model_uri: str) -> Any:
    """Load a logged scikit-learn pipeline, such as ``models:/portal-demo/3``."""
    _configure()
    return mlflow.sklearn.load_model(model_uri)


def model_alias_set(*, model_name: str, version: str | int, alias: str) -> None:
    """Point ``alias`` (such as ``production``) of a registered model at ``version``."""
    client = _configure()
    client.set_registered_model_alias(model_name, alias, str(version))
    logger.info("mlflow alias %s of %s now points to version %s", alias, model_name, version)


def mlflow_version() -> str:
    return str(mlflow.__version__)
