"""Bring your own training: record an MLflow run trained elsewhere as an iteration.

The portal loads the run's model and measures it on the chosen dataset version's holdout,
split by the same code and seed as trained iterations, so its metrics are comparable and are
judged against the project's targets like any other.
"""

import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput, NotAllowed, Unprocessable
from apps.datasets.models import DatasetVersion
from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration, IterationSource, IterationStatus
from apps.iterations.recipes import CLASSIFICATION, REGRESSION
from apps.iterations.services import (
    TRAINING_CLOSED_STAGES,
    seed_clean,
    test_size_clean,
    training_features,
)
from apps.iterations.training import (
    HOLDOUT_SAMPLE_ROWS,
    TrainingError,
    holdout_evaluate,
    holdout_sample_build,
    holdout_split,
)
from apps.projects.models import Project, Stage
from apps.projects.services import project_stage_advance_if_allowed

logger = logging.getLogger(__name__)

LINKED_RECIPE = "mlflow_run"
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
ENVIRONMENT_TAGS = {
    "mlflow.user": "user",
    "mlflow.source.name": "source",
    "mlflow.source.type": "source_type",
    "mlflow.source.git.commit": "git_commit",
    "mlflow.runName": "run_name",
}


class PredictedLabelsClassifier:
    """A classifier view of a model that returns only labels, such as a pyfunc model.

    Its ``predict_proba`` is 1 for the predicted label, so ROC and PR curves are those of a
    hard decision.
    """

    def __init__(self, model: Any, classes: Sequence[Any]) -> None:
        self.model = model
        self.classes_ = np.asarray(list(classes))

    def predict(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        return np.asarray(self.model.predict(frame)).ravel()

    def predict_proba(self, frame: pd.DataFrame) -> np.ndarray[Any, Any]:
        predicted = self.predict(frame)
        return np.column_stack([predicted == label for label in self.classes_]).astype(float)


def _run_id_clean(run_id: Any) -> str:
    if not isinstance(run_id, str) or not RUN_ID_PATTERN.match(run_id.strip()):
        raise InvalidInput(
            "Give the MLflow run id as shown on the run's page, for example "
            "3f2b9c0d8e7a4b1c9d0e1f2a3b4c5d6e.",
            field="mlflow_run_id",
        )
    return run_id.strip()


def _dataset_get(project: Project, dataset_id: Any, target: str | None) -> DatasetVersion:
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int):
        raise InvalidInput("Give the dataset version's id as an integer.", field="dataset")
    dataset = DatasetVersion.objects.filter(project=project, pk=dataset_id).first()
    if dataset is None:
        raise InvalidInput(
            f"No dataset version with id {dataset_id} in this project.", field="dataset"
        )
    if target not in (None, "", dataset.target_column):
        raise InvalidInput(
            f"The dataset version's target is {dataset.target_column!r}, not {target!r}. "
            "Choose a dataset version with that target or leave the target out.",
            field="target",
        )
    return dataset


def _run_get(run_id: str) -> mlflow_adapter.RunModel:
    try:
        return mlflow_adapter.run_model_get(run_id=run_id)
    except mlflow_adapter.RunNotFound as error:
        raise InvalidInput(
            f"No MLflow run {run_id} on the portal's tracking server. Log the run to the same "
            "tracking server as the portal and copy its run id.",
            field="mlflow_run_id",
        ) from error
    except mlflow_adapter.RunModelNotFound as error:
        raise Unprocessable(
            f"{error} Log the model in the run, for example with mlflow.sklearn.log_model.",
            field="mlflow_run_id",
        ) from error


OTHER_PROJECT_MESSAGE = (
    "MLflow run {run_id} belongs to another portal project, so it cannot be linked here. "
    "Link a run logged outside the portal's project experiments."
)


def _run_ownership_check(project: Project, run_id: str) -> None:
    # Checked before the run is read, so the error reveals nothing about the other model.
    if Iteration.objects.filter(mlflow_run_id=run_id).exclude(project=project).exists():
        logger.warning(
            "project %s tried to link mlflow run %s of another project", project.slug, run_id
        )
        raise NotAllowed(OTHER_PROJECT_MESSAGE.format(run_id=run_id), field="mlflow_run_id")


def _run_experiment_check(project: Project, run: mlflow_adapter.RunModel) -> None:
    name = mlflow_adapter.experiment_name_get(experiment_id=run.experiment_id) or ""
    own = mlflow_adapter.experiment_name(project.slug)
    if name.startswith(mlflow_adapter.EXPERIMENT_PREFIX) and name != own:
        logger.warning(
            "project %s tried to link mlflow run %s from experiment %s",
            project.slug,
            run.run_id,
            name,
        )
        raise NotAllowed(OTHER_PROJECT_MESSAGE.format(run_id=run.run_id), field="mlflow_run_id")


PERFECT_SCORE_METRICS = {CLASSIFICATION: ("accuracy", "roc_auc"), REGRESSION: ("r2",)}
LEAKAGE_MARGIN = 0.05
"""How far a holdout score may exceed the run's own logged training score of the same
metric before the link warns, on the 0-1 scale of accuracy, ROC AUC, F1 and r2."""
# MLflow's scikit-learn autologging (mlflow/sklearn/utils.py, MLflow 3) names training scores
# ``training_accuracy_score``, ``training_f1_score``, ``training_roc_auc`` and
# ``training_r2_score``; the other spellings cover hand-logged metrics.
TRAINING_METRIC_NAMES = {
    "accuracy": ("training_accuracy_score", "training_accuracy"),
    "roc_auc": ("training_roc_auc", "training_roc_auc_score"),
    "f1": ("training_f1_score", "training_f1"),
    "r2": ("training_r2_score", "training_r2"),
}


def holdout_leakage_warnings(
    *, metrics: Mapping[str, float | None], logged: Mapping[str, float]
) -> list[str]:
    """Return warnings when a linked model's holdout scores suggest it saw the holdout rows.

    The portal cannot know which rows an outside run trained on. A perfect holdout score, or
    one well above the run's own logged training score, is the usual sign that it trained
    on all rows, holdout included.
    """
    perfect = [
        name
        for name in (*PERFECT_SCORE_METRICS[CLASSIFICATION], *PERFECT_SCORE_METRICS[REGRESSION])
        if metrics.get(name) is not None and float(metrics[name] or 0) >= 1.0 - 1e-12
    ]
    above = []
    for name, logged_names in TRAINING_METRIC_NAMES.items():
        holdout = metrics.get(name)
        training = next((logged[key] for key in logged_names if key in logged), None)
        if holdout is not None and training is not None and holdout > training + LEAKAGE_MARGIN:
            above.append(f"{name} {holdout:.3f} against {training:.3f} logged in training")
    warnings: list[str] = []
    if perfect:
        warnings.append(
            f"The model scores a perfect {', '.join(perfect)} on the holdout, which usually "
            "means it was trained on the holdout rows too. Retrain it without them, or link "
            "it with a dataset version it has not seen, before trusting these metrics."
        )
    if above:
        warnings.append(
            "The model scores better on the holdout than in its own training run ("
            f"{'; '.join(above)}), so it may have been trained on the holdout rows."
        )
    return warnings


def _feature_columns(
    run: mlflow_adapter.RunModel, dataset: DatasetVersion, requested: Sequence[str] | None
) -> list[str]:
    available = [column["name"] for column in dataset.schema]
    if requested is not None:
        if not isinstance(requested, (list, tuple)) or not all(
            isinstance(c, str) for c in requested
        ):
            raise InvalidInput(
                "The feature columns must be a list of column names.", field="feature_columns"
            )
        columns = list(requested)
    elif run.input_names:
        columns = list(run.input_names)
    else:
        columns = training_features(dataset)
    missing = [c for c in columns if c not in available]
    if missing:
        raise Unprocessable(
            f"The model expects the columns {', '.join(missing)}, which dataset "
            f"{dataset.name} v{dataset.version} does not have. Link the run with a dataset "
            "version that has every feature column the model was trained on.",
            field="feature_columns",
        )
    if dataset.target_column in columns:
        raise Unprocessable(
            f"The model takes the target column {dataset.target_column!r} as a feature.",
            field="feature_columns",
        )
    if not columns:
        raise Unprocessable("The model names no feature columns.", field="feature_columns")
    return columns


def _environment(run: mlflow_adapter.RunModel) -> dict[str, str]:
    """Describe where the run was trained, from the tags MLflow and the portal set on it."""
    environment = {
        name: run.tags[tag] for tag, name in ENVIRONMENT_TAGS.items() if run.tags.get(tag)
    }
    prefix = mlflow_adapter.ENVIRONMENT_TAG_PREFIX
    environment |= {
        key.removeprefix(prefix): value for key, value in run.tags.items() if key.startswith(prefix)
    }
    if run.mlflow_version:
        environment["mlflow"] = environment.get("mlflow", run.mlflow_version)
    environment["trained_by"] = "linked MLflow run"
    return environment


def _model_for_evaluation(
    model: Any, *, task_type: str, labels: "pd.Series[Any]"
) -> tuple[Any, list[str]]:
    notes: list[str] = []
    if task_type == CLASSIFICATION and not (
        hasattr(model, "predict_proba") and hasattr(model, "classes_")
    ):
        notes.append(
            "The linked model returns labels only, so ROC and PR metrics rate its hard "
            "decisions rather than scores."
        )
        model = PredictedLabelsClassifier(model, sorted(labels.unique().tolist()))
    return model, notes


def iteration_link(
    *,
    project: Project,
    user: User,
    mlflow_run_id: Any,
    dataset_id: Any,
    target: str | None = None,
    seed: Any = 0,
    test_size: Any = 0.2,
    feature_columns: Sequence[str] | None = None,
) -> Iteration:
    """Record MLflow run ``mlflow_run_id`` as a succeeded iteration, measured on the holdout.

    The run's model is loaded, evaluated on the dataset version's holdout split for ``seed``
    and ``test_size``, and registered as a version of the project's model unless the run
    registered one already. ``feature_columns`` defaults to the model signature's inputs,
    else every feature column of the dataset.
    """
    run_id = _run_id_clean(mlflow_run_id)
    dataset = _dataset_get(project, dataset_id, target)
    seed = seed_clean(seed)
    test_size = test_size_clean(test_size)
    if project.stage in TRAINING_CLOSED_STAGES:
        raise Conflict(
            f"The project is {project.get_stage_display().lower()}; it takes no new iterations."
        )
    existing = Iteration.objects.filter(project=project, mlflow_run_id=run_id).first()
    if existing is not None:
        raise Conflict(f"MLflow run {run_id} is already iteration {existing.number}.")
    _run_ownership_check(project, run_id)
    run = _run_get(run_id)
    _run_experiment_check(project, run)
    columns = _feature_columns(run, dataset, feature_columns)

    try:
        split = holdout_split(
            dataset_path=dataset.file.path,
            dataset_format=dataset.format,
            dataset_detected=dataset.detected or None,
            target=dataset.target_column,
            feature_columns=columns,
            seed=seed,
            test_size=test_size,
            task_type=project.task_type,
        )
    except TrainingError as error:
        raise Unprocessable(str(error), field="dataset") from error
    except (OSError, ValueError, NotImplementedError) as error:
        raise Unprocessable(f"The dataset file cannot be read: {error}", field="dataset") from error
    try:
        loaded = mlflow_adapter.model_load(run.model_uri)
        model, notes = _model_for_evaluation(
            loaded, task_type=project.task_type, labels=split.y_train
        )
        evaluated = holdout_evaluate(
            model,
            split.x_test,
            split.y_test,
            task_type=project.task_type,
            seed=seed,
            cost_false_positive=project.cost_false_positive,
            cost_false_negative=project.cost_false_negative,
            value_true_positive=project.value_true_positive,
        )
        sample = holdout_sample_build(
            model, split.x_test.head(HOLDOUT_SAMPLE_ROWS), task_type=project.task_type
        )
    except Exception as error:
        # Anything can go wrong inside a model trained elsewhere (wrong columns or dtypes,
        # a missing library), and the caller needs the reason, not a server error.
        logger.warning("linked run %s of project %s failed to evaluate", run_id, project.slug)
        raise Unprocessable(
            f"The model of MLflow run {run_id} could not predict on dataset {dataset.name} "
            f"v{dataset.version}: {type(error).__name__}: {error}",
            field="mlflow_run_id",
        ) from error

    leakage = holdout_leakage_warnings(metrics=evaluated.metrics, logged=run.metrics)
    if leakage:
        notes.extend(leakage)
        evaluated.evaluation["leakage_warnings"] = leakage
    model_name, model_version = run.model_name, run.model_version
    if not model_version:
        model_name = mlflow_adapter.registered_model_name(project.slug)
        model_version = mlflow_adapter.model_version_register(
            run_id=run_id, model_name=model_name, model_uri=run.model_uri
        )

    with transaction.atomic():
        # The project row lock serializes number assignment with iteration_start.
        locked = Project.objects.select_for_update().get(pk=project.pk)
        if Iteration.objects.filter(project=locked, mlflow_run_id=run_id).exists():
            raise Conflict(f"MLflow run {run_id} is already linked to this project.")
        latest = Iteration.objects.filter(project=locked).aggregate(latest=Max("number"))
        now = timezone.now()
        iteration = Iteration.objects.create(
            project=locked,
            number=(latest["latest"] or 0) + 1,
            dataset=dataset,
            recipe=LINKED_RECIPE,
            params={},
            seed=seed,
            test_size=test_size,
            source=IterationSource.LINKED,
            status=IterationStatus.SUCCEEDED,
            status_reason=" ".join([*split.notes, *notes]),
            created_by=user,
            started_at=now,
            finished_at=now,
            task_id=str(uuid.uuid4()),
            feature_columns=columns,
            metrics=evaluated.metrics,
            threshold=evaluated.threshold,
            expected_cost=evaluated.expected_cost,
            evaluation=evaluated.evaluation,
            holdout_sample=sample,
            environment=_environment(run),
            mlflow_experiment_id=run.experiment_id,
            mlflow_run_id=run_id,
            model_name=model_name,
            model_version=model_version,
            external_run={
                "run_name": run.run_name,
                "metrics": run.metrics,
                "params": run.params,
                "model_uri": run.model_uri,
                "flavors": run.flavors,
            },
        )
        audit_record(
            actor=user,
            action="iteration.linked",
            target=iteration,
            project=locked,
            after={
                "number": iteration.number,
                "mlflow_run_id": run_id,
                "dataset": dataset.pk,
                "dataset_sha256": dataset.sha256,
                "metrics": iteration.metrics,
                "model_name": model_name,
                "model_version": model_version,
            },
        )
        if locked.stage == Stage.APPROVED:
            project_stage_advance_if_allowed(
                project=locked,
                user=user,
                stage=Stage.IN_DEVELOPMENT,
                message=f"Iteration {iteration.number} linked from MLflow run {run_id}.",
            )
    logger.info(
        "mlflow run %s linked to project %s as iteration %s, model %s version %s",
        run_id,
        project.slug,
        iteration.number,
        model_name,
        model_version,
    )
    return iteration
