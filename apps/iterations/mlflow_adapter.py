"""The only module that talks to MLflow: experiments, runs, the model registry and model loading.

The tracking URI is read from settings on every call, never cached at import, so a worker,
a web process and a test that overrides the settings all reach the store they are configured
for.
"""

import logging
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as package_version
from typing import Any

import mlflow
import mlflow.models
import mlflow.pyfunc
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
MODEL_LOGGED_TAG = "portal.model_logged"
ENVIRONMENT_TAG_PREFIX = "portal.env."
EVALUATION_ARTIFACT_DIR = "evaluation"


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


EXPERIMENT_PREFIX = "portal/"
"""The prefix of the experiments the portal creates, one per project."""


def experiment_name_get(*, experiment_id: str) -> str | None:
    """Return the name of experiment ``experiment_id``, or None when there is none."""
    client = _configure()
    try:
        return str(client.get_experiment(experiment_id).name)
    except MlflowException:
        return None


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
    """Return the finished run of this iteration that logged a model, if any.

    A redelivered training task calls this first, so it reuses the run instead of logging a
    second one. ``task_id`` narrows the search to runs logged by that training task. A run
    that registered a model version comes before one whose registration never happened.
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
    for run in runs:
        if run.data.tags.get(MODEL_LOGGED_TAG) == "true":
            return str(run.info.run_id)
    return None


def _quote(value: str) -> str:
    return value.replace("'", "")


def _model_version_for_run(client: mlflow.MlflowClient, run_id: str) -> Any | None:
    versions = client.search_model_versions(f"run_id = '{run_id}'")
    return versions[0] if versions else None


def logged_model_get(*, run_id: str) -> LoggedModel:
    """Describe the run ``run_id`` and the model version it registered.

    ``model_name`` and ``model_version`` are empty when the run registered none.
    """
    client = _configure()
    run = client.get_run(run_id)
    registered = _model_version_for_run(client, run_id)
    return LoggedModel(
        experiment_id=str(run.info.experiment_id),
        run_id=run_id,
        model_name=str(registered.name) if registered is not None else "",
        model_version=str(registered.version) if registered is not None else "",
    )


def model_version_register(*, run_id: str, model_name: str, model_uri: str | None = None) -> str:
    """Register the model that run ``run_id`` logged as a version of ``model_name``.

    ``model_uri`` names the logged model when it is not the run's ``model`` artifact.
    Returns the existing version when the run already registered one, so a retried call
    does not add a second version.
    """
    client = _configure()
    existing = _model_version_for_run(client, run_id)
    if existing is not None:
        return str(existing.version)
    source = model_uri or f"runs:/{run_id}/{MODEL_ARTIFACT_NAME}"
    registered = mlflow.register_model(source, model_name)
    logger.info("mlflow run %s registered as %s version %s", run_id, model_name, registered.version)
    return str(registered.version)


class RunNotFound(LookupError):
    """No run with the given id exists on the tracking server."""


class RunModelNotFound(LookupError):
    """The run exists but logged no model that the portal can load."""


@dataclass(frozen=True)
class RunModel:
    """An MLflow run logged outside the portal, and the model it logged."""

    run_id: str
    experiment_id: str
    run_name: str
    status: str
    metrics: dict[str, float]
    params: dict[str, str]
    tags: dict[str, str]
    model_uri: str
    flavors: list[str]
    input_names: list[str]
    """The column names in the model's signature; empty when it has no signature."""
    mlflow_version: str
    model_name: str
    """The registered model of the run's version; empty when the run registered none."""
    model_version: str


def run_model_get(*, run_id: str) -> RunModel:
    """Describe run ``run_id`` and its logged model.

    Raises RunNotFound for an unknown run and RunModelNotFound when the run logged no
    model with the scikit-learn or pyfunc flavour.
    """
    client = _configure()
    try:
        run = client.get_run(run_id)
    except MlflowException as error:
        raise RunNotFound(f"No MLflow run {run_id!r} on the tracking server.") from error
    uri = _run_model_uri(client, run)
    if uri is None:
        raise RunModelNotFound(f"MLflow run {run_id} logged no model.")
    try:
        info = mlflow.models.get_model_info(uri)
    except (MlflowException, OSError) as error:
        raise RunModelNotFound(
            f"The model of MLflow run {run_id} cannot be read: {error}"
        ) from error
    flavors = list(info.flavors)
    if mlflow.sklearn.FLAVOR_NAME not in flavors and mlflow.pyfunc.FLAVOR_NAME not in flavors:
        raise RunModelNotFound(
            f"The model of MLflow run {run_id} has the flavours {', '.join(flavors)}; the portal "
            "loads sklearn or python_function models."
        )
    signature = info.signature
    input_names = list(signature.inputs.input_names()) if signature is not None else []
    registered = _model_version_for_run(client, run_id)
    return RunModel(
        run_id=run_id,
        experiment_id=str(run.info.experiment_id),
        run_name=str(run.info.run_name or ""),
        status=str(run.info.status),
        metrics={key: float(value) for key, value in run.data.metrics.items()},
        params=dict(run.data.params),
        tags={key: str(value) for key, value in run.data.tags.items()},
        model_uri=uri,
        flavors=flavors,
        input_names=[str(name) for name in input_names if name is not None],
        mlflow_version=str(info.mlflow_version or ""),
        model_name=str(registered.name) if registered is not None else "",
        model_version=str(registered.version) if registered is not None else "",
    )


def _run_model_uri(client: mlflow.MlflowClient, run: Any) -> str | None:
    """Return the URI of the model a run logged: its newest logged model, else ``runs:/``."""
    models = client.search_logged_models(
        experiment_ids=[str(run.info.experiment_id)],
        filter_string=f"source_run_id = '{_quote(run.info.run_id)}'",
    )
    if models:
        newest = max(models, key=lambda model: model.creation_timestamp or 0)
        return str(newest.model_uri)
    # Models logged by MLflow 2 live among the run's artifacts instead.
    artifacts = {item.path for item in client.list_artifacts(run.info.run_id)}
    if f"{MODEL_ARTIFACT_NAME}" in artifacts:
        return f"runs:/{run.info.run_id}/{MODEL_ARTIFACT_NAME}"
    return None


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
    evaluation: dict[str, Any] | None = None,
    environment: dict[str, Any] | None = None,
) -> LoggedModel:
    """Log one iteration as an MLflow run with its model, without registering the model.

    ``evaluation`` is logged as one JSON artifact per part under ``evaluation/`` and
    ``environment`` as ``environment.json`` and ``portal.env.*`` tags. The caller registers
    the model with ``model_version_register`` after checking that the iteration is still running,
    so a cancelled iteration leaves no model version behind. The returned ``model_version``
    is empty.
    """
    client = _configure()
    experiment_id = experiment_ensure(project_slug=project_slug, client=client)
    run_tags = {
        **tags,
        **{
            f"{ENVIRONMENT_TAG_PREFIX}{key}": str(value)
            for key, value in (environment or {}).items()
        },
        PROJECT_TAG: project_slug,
        ITERATION_TAG: str(int(iteration_number)),
    }
    run = client.create_run(experiment_id, run_name=f"iteration-{iteration_number}", tags=run_tags)
    run_id = str(run.info.run_id)
    signature = infer_signature(input_example, pipeline.predict(input_example))
    with mlflow.start_run(run_id=run_id):
        mlflow.log_params({key: _param_text(value) for key, value in params.items()})
        mlflow.log_metrics(
            {key: float(value) for key, value in metrics.items() if value is not None}
        )
        for part, content in (evaluation or {}).items():
            mlflow.log_dict(content, f"{EVALUATION_ARTIFACT_DIR}/{part}.json")
        if environment:
            mlflow.log_dict(environment, "environment.json")
        mlflow.sklearn.log_model(
            pipeline,
            name=MODEL_ARTIFACT_NAME,
            signature=signature,
            input_example=input_example,
            skops_trusted_types=skops_trusted_types(pipeline),
            # Stating the requirements skips MLflow's inference, which imports the model in a
            # subprocess and takes seconds per run.
            pip_requirements=_pip_requirements(pipeline),
        )
        mlflow.set_tag(MODEL_LOGGED_TAG, "true")
    logger.info(
        "mlflow run %s logged for project %s iteration %s", run_id, project_slug, iteration_number
    )
    return LoggedModel(experiment_id=experiment_id, run_id=run_id, model_name="", model_version="")


def _param_text(value: Any) -> str:
    text = str(value)
    # MLflow caps a parameter value at 6000 characters.
    return text if len(text) <= 6000 else text[:5997] + "..."


def _pip_requirements(pipeline: Any) -> list[str]:
    packages = ["scikit-learn", "skops", "pandas", "numpy", "scipy"]
    # Base classes count too: the portal's XGBoost classifier subclasses xgboost's.
    modules = {
        cls.__module__.split(".")[0]
        for _, step in getattr(pipeline, "steps", [])
        for cls in type(step).__mro__
    }
    if "lightgbm" in modules:
        packages.append("lightgbm")
    if "xgboost" in modules:
        packages.append("xgboost-cpu" if _installed("xgboost-cpu") else "xgboost")
    return [f"{package}=={package_version(package)}" for package in packages]


def _installed(distribution: str) -> bool:
    try:
        package_version(distribution)
    except PackageNotFoundError:
        return False
    return True


def model_load(model_uri: str) -> Any:
    """Load a logged model, such as ``models:/portal-demo/3``.

    A model with the scikit-learn flavour loads as the estimator itself, with
    ``predict_proba`` where it has one. Any other model, such as one linked from a notebook
    run that logged only a pyfunc model, loads as an MLflow pyfunc model with ``predict``.
    """
    _configure()
    if mlflow.sklearn.FLAVOR_NAME in model_flavors(model_uri):
        return mlflow.sklearn.load_model(model_uri)
    return mlflow.pyfunc.load_model(model_uri)


def model_flavors(model_uri: str) -> list[str]:
    """Return the flavour names of a logged model. Raises MlflowException if it is missing."""
    _configure()
    return list(mlflow.models.get_model_info(model_uri).flavors)


def model_signature_inputs(model_uri: str) -> list[dict[str, Any]]:
    """Return the input schema of a logged model's signature as a list of column specs.

    Each spec is MLflow's own dictionary, such as ``{"type": "double", "name": "age",
    "required": true}``; a tensor-based signature's specs have no ``name``. Returns [] for a
    model logged without a signature. Raises MlflowException if the model is missing.
    """
    _configure()
    signature = mlflow.models.get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        return []
    return list(signature.inputs.to_dict())


def model_alias_set(*, model_name: str, version: str | int, alias: str) -> None:
    """Point ``alias`` (such as ``production``) of a registered model at ``version``."""
    client = _configure()
    client.set_registered_model_alias(model_name, alias, str(version))
    logger.info("mlflow alias %s of %s now points to version %s", alias, model_name, version)


def mlflow_version() -> str:
    return str(mlflow.__version__)
