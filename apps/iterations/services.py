import logging
import math
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Max
from django.utils import timezone
from kombu.exceptions import OperationalError as BrokerError

from apps.audit.services import audit_record
from apps.core.errors import Conflict, InvalidInput
from apps.core.transitions import transition_check
from apps.datasets.ingest import ColumnKind
from apps.datasets.models import DatasetVersion
from apps.iterations import mlflow_adapter
from apps.iterations.heartbeat import heartbeat
from apps.iterations.models import ITERATION_TRANSITIONS, Iteration, IterationStatus
from apps.iterations.progress import (
    STAGE_LOGGING,
    cancel_checker,
    progress_done,
    progress_recorder,
)
from apps.iterations.recipes import recipe_get, recipe_params_validate
from apps.iterations.training import (
    CancelCheck,
    StageCallback,
    TrainingCancelled,
    TrainingError,
    TrainingResult,
    finite_or_none,
    json_finite,
    search_mlflow_params,
    train,
)
from apps.projects.models import Project, Stage
from apps.projects.services import project_stage_advance_if_allowed

logger = logging.getLogger(__name__)

SEED_MAX = 2**32 - 1  # numpy's RandomState accepts seeds from 0 to 2**32 - 1
TEST_SIZE_MIN = 0.05
TEST_SIZE_MAX = 0.5
STATUS_REASON_MAX_LENGTH = 2000
TRAINING_CLOSED_STAGES = frozenset({Stage.REJECTED, Stage.RETIRED})


def seed_clean(seed: Any) -> int:
    integral_float = isinstance(seed, float) and seed.is_integer()
    if isinstance(seed, bool) or not (isinstance(seed, int) or integral_float):
        raise InvalidInput(f"The seed must be an integer, not {seed!r}.", field="seed")
    if not 0 <= int(seed) <= SEED_MAX:
        raise InvalidInput(f"The seed must be between 0 and {SEED_MAX}.", field="seed")
    return int(seed)


def test_size_clean(test_size: Any) -> float:
    if isinstance(test_size, bool) or not isinstance(test_size, (int, float)):
        raise InvalidInput("The test size must be a number.", field="test_size")
    if not TEST_SIZE_MIN <= float(test_size) <= TEST_SIZE_MAX:
        raise InvalidInput(
            f"The test size must be between {TEST_SIZE_MIN} and {TEST_SIZE_MAX}: the share "
            "of rows held out for evaluation.",
            field="test_size",
        )
    return float(test_size)


def _feature_columns_clean(columns: Any, *, available: Sequence[str]) -> list[str]:
    if not isinstance(columns, (list, tuple)) or not all(isinstance(c, str) for c in columns):
        raise InvalidInput(
            "The feature columns must be a list of column names.", field="feature_columns"
        )
    if not columns:
        raise InvalidInput("Choose at least one feature column.", field="feature_columns")
    duplicates = sorted({c for c in columns if columns.count(c) > 1})
    if duplicates:
        raise InvalidInput(
            f"Feature columns are listed twice: {', '.join(duplicates)}.", field="feature_columns"
        )
    unknown = [c for c in columns if c not in available]
    if unknown:
        raise InvalidInput(
            f"The dataset has no usable feature column named {', '.join(unknown)}. Usable "
            f"columns: {', '.join(available)}.",
            field="feature_columns",
        )
    return list(columns)


def training_features(dataset: DatasetVersion) -> list[str]:
    """Return the dataset's feature columns: every column but the target.

    Datetime columns are included, because the pipeline expands them into numeric parts.
    """
    return [column["name"] for column in dataset.schema if column["name"] != dataset.target_column]


def datetime_features(dataset: DatasetVersion) -> list[str]:
    """Return the dataset's columns that ingest profiled as dates or timestamps."""
    return [column["name"] for column in dataset.schema if column["kind"] == ColumnKind.DATETIME]


def iteration_start(
    *,
    project: Project,
    user: User,
    dataset_id: int,
    recipe: str,
    params: dict[str, Any],
    seed: int,
    test_size: float = 0.2,
    feature_columns: Sequence[str] | None = None,
    reproduction_of: Iteration | None = None,
) -> Iteration:
    """Queue a training run of ``recipe`` on a dataset version and return the new iteration.

    ``feature_columns`` narrows training to those columns, in that order; by default every
    column that ``training_features`` returns is used. ``reproduction_of`` links a rerun to
    the iteration whose spec it repeats, and the rerun's result is compared with it.
    """
    if isinstance(dataset_id, bool) or not isinstance(dataset_id, int):
        raise InvalidInput("Give the dataset version's id as an integer.", field="dataset")
    dataset = DatasetVersion.objects.filter(project=project, pk=dataset_id).first()
    if dataset is None:
        raise InvalidInput(
            f"No dataset version with id {dataset_id} in this project.", field="dataset"
        )
    chosen = recipe_get(recipe, task_type=project.task_type)
    cleaned_params = recipe_params_validate(chosen, params, task_type=project.task_type)
    seed = seed_clean(seed)
    test_size = test_size_clean(test_size)
    features = training_features(dataset)
    if not features:
        raise InvalidInput(
            "The dataset has no feature columns the recipes can use.", field="dataset"
        )
    if feature_columns is not None:
        features = _feature_columns_clean(feature_columns, available=features)

    with transaction.atomic():
        # The project row lock serializes starts, so two requests never get the same number.
        locked = Project.objects.select_for_update().get(pk=project.pk)
        if locked.stage in TRAINING_CLOSED_STAGES:
            raise Conflict(
                f"The project is {locked.get_stage_display().lower()}; it takes no new iterations."
            )
        latest = Iteration.objects.filter(project=locked).aggregate(latest=Max("number"))
        iteration = Iteration.objects.create(
            project=locked,
            number=(latest["latest"] or 0) + 1,
            dataset=dataset,
            recipe=chosen.name,
            params=cleaned_params,
            seed=seed,
            test_size=test_size,
            is_baseline=chosen.is_baseline,
            status=IterationStatus.QUEUED,
            created_by=user,
            feature_columns=features,
            task_id=str(uuid.uuid4()),
            reproduction_of=reproduction_of,
        )
        audit_record(
            actor=user,
            action="iteration.queued",
            target=iteration,
            project=locked,
            after={
                "number": iteration.number,
                "dataset": dataset.pk,
                "dataset_sha256": dataset.sha256,
                "recipe": iteration.recipe,
                "params": cleaned_params,
                "seed": seed,
                "test_size": test_size,
                "feature_columns": features,
                "reproduction_of": reproduction_of.number if reproduction_of else None,
            },
        )
        if locked.stage == Stage.APPROVED:
            project_stage_advance_if_allowed(
                project=locked,
                user=user,
                stage=Stage.IN_DEVELOPMENT,
                message=f"Iteration {iteration.number} started.",
            )
        iteration_id, task_id = iteration.pk, iteration.task_id
        transaction.on_commit(lambda: _training_enqueue(iteration_id, task_id))

    logger.info(
        "iteration %s of project %s queued as task %s",
        iteration.number,
        project.slug,
        iteration.task_id,
    )
    return iteration


BASELINE_RECIPES = ("baseline", "one_feature_rule")


def baseline_iterations_start(
    *, project: Project, user: User, dataset: DatasetVersion
) -> list[Iteration]:
    """Queue the non-ML baselines for a new dataset version.

    Every dataset version gets them, so "does a model beat a simple rule, and by how much?"
    is measured on the same holdout split rather than argued.
    """
    if project.stage in TRAINING_CLOSED_STAGES:
        return []
    return [
        iteration_start(
            project=project, user=user, dataset_id=dataset.pk, recipe=name, params={}, seed=0
        )
        for name in BASELINE_RECIPES
    ]


def _training_enqueue(iteration_id: int, task_id: str) -> None:
    from apps.iterations.tasks import train_iteration

    try:
        train_iteration.apply_async(args=(iteration_id,), task_id=task_id)
    except BrokerError as error:
        logger.exception(
            "could not queue training task %s for iteration id %s", task_id, iteration_id
        )
        iteration_fail(
            iteration_id=iteration_id, reason=f"The training task could not be queued: {error}"
        )


def iteration_cancel(*, iteration: Iteration, user: User) -> Iteration:
    """Cancel a queued or running iteration.

    A queued task then finds nothing to claim. A running one reads the status change at its
    next cancel check (between stages, search candidates and permutation repeats, at most a
    second apart in reads) and stops; a step already under way, such as one model fit,
    finishes first. Nothing is registered for a cancelled iteration.
    """
    with transaction.atomic():
        locked = Iteration.objects.select_for_update().get(pk=iteration.pk)
        transition_check(
            table=ITERATION_TRANSITIONS,
            kind="iteration",
            current=locked.status,
            new=IterationStatus.CANCELLED,
        )
        before = locked.status
        locked.status = IterationStatus.CANCELLED
        locked.status_reason = f"Cancelled by {user.get_username()}."
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "status_reason", "finished_at"])
        audit_record(
            actor=user,
            action="iteration.cancelled",
            target=locked,
            project=locked.project,
            before={"status": before},
            after={"status": locked.status},
        )
    logger.info("iteration %s of project id %s cancelled", locked.number, locked.project_id)
    return locked


RETRYABLE_STATUSES = frozenset({IterationStatus.FAILED, IterationStatus.CANCELLED})


def iteration_retry(*, iteration: Iteration, user: User) -> Iteration:
    """Queue a new iteration with the settings of a failed or cancelled one and return it.

    The new iteration trains the same dataset version, recipe, parameters, seed, test size
    and feature columns. The original keeps its status and reason.
    """
    with transaction.atomic():
        # The lock keeps a concurrent reaper or cancel from changing the status under the check.
        locked = (
            Iteration.objects.select_for_update().select_related("project").get(pk=iteration.pk)
        )
        if locked.status not in RETRYABLE_STATUSES:
            raise Conflict(
                f"Iteration {locked.number} is {locked.get_status_display().lower()}; only a "
                "failed or cancelled iteration can be retried."
            )
        retry = iteration_start(
            project=locked.project,
            user=user,
            dataset_id=locked.dataset_id,
            recipe=locked.recipe,
            params=dict(locked.params),
            seed=locked.seed,
            test_size=locked.test_size,
            feature_columns=list(locked.feature_columns) or None,
        )
        audit_record(
            actor=user,
            action="iteration.retried",
            target=locked,
            project=locked.project,
            before={"status": locked.status},
            after={"retry": retry.number},
        )
    logger.info(
        "iteration %s of project %s queued to retry iteration %s",
        retry.number,
        locked.project.slug,
        locked.number,
    )
    return retry


def iteration_run(*, iteration_id: int) -> None:
    """Train, log and record one queued iteration: the body of the training task.

    The conditional update that claims the row makes a redelivered or duplicate task a
    no-op. Every failure ends in ``failed`` with a reason, so no run is left ``running``.
    """
    now = timezone.now()
    claimed = Iteration.objects.filter(pk=iteration_id, status=IterationStatus.QUEUED).update(
        status=IterationStatus.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        current = Iteration.objects.filter(pk=iteration_id).values_list("status", flat=True).first()
        logger.info("iteration id %s not claimed: status is %s, not queued", iteration_id, current)
        return

    iteration = Iteration.objects.select_related("project", "dataset").get(pk=iteration_id)
    project = iteration.project
    started = time.monotonic()
    logger.info(
        "iteration %s of project %s training %s", iteration.number, project.slug, iteration.recipe
    )
    try:
        on_stage = progress_recorder(iteration_id)
        cancel_check = cancel_checker(iteration_id)
        with heartbeat(iteration_id):
            result = _train(iteration, on_stage=on_stage, cancel_check=cancel_check)
            if cancel_check():
                raise TrainingCancelled
            on_stage(STAGE_LOGGING, "Logging the model and metrics to MLflow.")
            logged = _log_to_mlflow(iteration, result)
        registered = _iteration_succeed(iteration_id=iteration_id, result=result, logged=logged)
    except TrainingCancelled:
        logger.info(
            "iteration %s of project %s stopped training after %.1fs: no longer running",
            iteration.number,
            project.slug,
            time.monotonic() - started,
        )
        return
    except SoftTimeLimitExceeded:
        logger.warning(
            "iteration %s of project %s reached the training time limit of %ss",
            iteration.number,
            project.slug,
            TRAINING_SOFT_TIME_LIMIT_S,
        )
        iteration_fail(iteration_id=iteration_id, reason=time_limit_reason())
        return
    except TrainingError as error:
        logger.warning(
            "iteration %s of project %s failed: %s", iteration.number, project.slug, error
        )
        iteration_fail(iteration_id=iteration_id, reason=str(error))
        return
    except Exception:
        logger.exception(
            "iteration %s of project %s failed unexpectedly", iteration.number, project.slug
        )
        iteration_fail(iteration_id=iteration_id, reason=unexpected_failure_reason())
        return

    if registered is None:
        return
    logger.info(
        "iteration %s of project %s succeeded in %.1fs: run %s, model %s version %s",
        iteration.number,
        project.slug,
        time.monotonic() - started,
        registered.run_id,
        registered.model_name,
        registered.model_version,
    )


TRAINING_SOFT_TIME_LIMIT_S = 60 * 60
"""How long one training task may run before it is stopped and its iteration fails."""


def time_limit_reason() -> str:
    """Return the failure reason of a run stopped at the training time limit."""
    minutes = TRAINING_SOFT_TIME_LIMIT_S // 60
    return (
        f"Training took longer than the limit of {minutes} minutes and was stopped. Use "
        "fewer rows, columns or search candidates, or a faster recipe."
    )


def unexpected_failure_reason() -> str:
    """Return the failure reason shown for an error that is not a problem in the data.

    The exception itself is in the worker log with the iteration and project, because its
    text can carry database or library internals that mean nothing to the user.
    """
    return (
        "Training failed because of an internal error. The details are in the worker log; "
        "retry the iteration, and report it if it fails again."
    )


def _not_cancelled() -> bool:
    return False


def _train(
    iteration: Iteration, *, on_stage: StageCallback, cancel_check: CancelCheck = _not_cancelled
) -> TrainingResult:
    project = iteration.project
    dataset = iteration.dataset
    recipe = recipe_get(iteration.recipe, task_type=project.task_type)
    try:
        dataset_path = dataset.file.path
    except (ValueError, NotImplementedError) as error:
        raise TrainingError(f"The dataset file is not available: {error}") from error
    if not Path(dataset_path).is_file():
        raise TrainingError(
            f"The file of dataset {dataset.name} v{dataset.version} is missing from storage. "
            "Upload the dataset again and start a new iteration on it."
        )
    return train(
        dataset_path=dataset_path,
        dataset_format=dataset.format,
        dataset_detected=dataset.detected or None,
        target=dataset.target_column,
        feature_columns=list(iteration.feature_columns) or training_features(dataset),
        recipe=recipe,
        params=recipe_params_validate(recipe, iteration.params, task_type=project.task_type),
        seed=iteration.seed,
        test_size=iteration.test_size,
        task_type=project.task_type,
        cost_false_positive=project.cost_false_positive,
        cost_false_negative=project.cost_false_negative,
        value_true_positive=project.value_true_positive,
        datetime_columns=datetime_features(dataset),
        on_stage=on_stage,
        cancel_check=cancel_check,
    )


def _log_to_mlflow(iteration: Iteration, result: TrainingResult) -> mlflow_adapter.LoggedModel:
    project = iteration.project
    existing = mlflow_adapter.run_find(
        project_slug=project.slug, iteration_number=iteration.number, task_id=iteration.task_id
    )
    if existing is not None:
        logger.info(
            "iteration %s of project %s reuses mlflow run %s",
            iteration.number,
            project.slug,
            existing,
        )
        return mlflow_adapter.logged_model_get(run_id=existing)
    dataset = iteration.dataset
    return mlflow_adapter.training_run_log(
        project_slug=project.slug,
        iteration_number=iteration.number,
        params={
            "recipe": iteration.recipe,
            **{f"param.{key}": value for key, value in iteration.params.items()},
            "seed": iteration.seed,
            "test_size": iteration.test_size,
            **search_mlflow_params(result.search),
            "dataset_id": dataset.pk,
            "dataset_sha256": dataset.sha256,
            "threshold": result.threshold,
            "train_rows": result.train_rows,
            "holdout_rows": result.holdout_rows,
        },
        metrics={**result.metrics, "expected_cost": result.expected_cost},
        pipeline=result.pipeline,
        input_example=result.input_example,
        evaluation=result.evaluation,
        environment=result.environment,
        tags={
            "portal.recipe": iteration.recipe,
            "portal.dataset": f"{dataset.name} v{dataset.version}",
            "portal.is_baseline": str(iteration.is_baseline).lower(),
            mlflow_adapter.TASK_TAG: iteration.task_id,
        },
    )


def _iteration_succeed(
    *, iteration_id: int, result: TrainingResult, logged: mlflow_adapter.LoggedModel
) -> mlflow_adapter.LoggedModel | None:
    """Record the result and register the model; return None if the iteration was cancelled."""
    with transaction.atomic():
        locked = (
            Iteration.objects.select_for_update().select_related("project").get(pk=iteration_id)
        )
        if locked.status != IterationStatus.RUNNING:
            # Cancelled while training: the MLflow run stays, but no model version is
            # registered for it and the iteration keeps its state.
            logger.info(
                "iteration %s finished training but is %s; result discarded",
                locked.number,
                locked.status,
            )
            return None
        transition_check(
            table=ITERATION_TRANSITIONS,
            kind="iteration",
            current=locked.status,
            new=IterationStatus.SUCCEEDED,
        )
        if not logged.model_version:
            # Registering under the row lock means a cancel either comes first, and nothing
            # is registered, or waits and then finds the iteration succeeded.
            model_name = mlflow_adapter.registered_model_name(locked.project.slug)
            logged = mlflow_adapter.LoggedModel(
                experiment_id=logged.experiment_id,
                run_id=logged.run_id,
                model_name=model_name,
                model_version=mlflow_adapter.model_version_register(
                    run_id=logged.run_id, model_name=model_name
                ),
            )
        locked.status = IterationStatus.SUCCEEDED
        locked.status_reason = " ".join(result.warnings)[:STATUS_REASON_MAX_LENGTH]
        locked.finished_at = timezone.now()
        locked.heartbeat_at = locked.finished_at
        # Infinity and NaN are stored as null (undefined): JSON has no such numbers.
        locked.metrics = json_finite(result.metrics)
        locked.threshold = finite_or_none(result.threshold)
        locked.expected_cost = finite_or_none(result.expected_cost)
        locked.feature_columns = result.feature_columns
        locked.holdout_sample = json_finite(result.holdout_sample)
        locked.evaluation = json_finite(result.evaluation)
        # The search summary rides along in the environment JSON, next to the versions.
        locked.environment = json_finite(
            {**result.environment, "search": result.search} if result.search else result.environment
        )
        locked.progress = progress_done(
            locked.progress, line=f"Registered as version {logged.model_version}."
        )
        locked.mlflow_experiment_id = logged.experiment_id
        locked.mlflow_run_id = logged.run_id
        locked.model_name = logged.model_name
        locked.model_version = logged.model_version
        locked.save()
        audit_record(
            actor=None,
            action="iteration.succeeded",
            target=locked,
            project=locked.project,
            before={"status": IterationStatus.RUNNING},
            after={
                "status": locked.status,
                "metrics": locked.metrics,
                "threshold": locked.threshold,
                "mlflow_run_id": locked.mlflow_run_id,
                "model_version": locked.model_version,
            },
        )
        _reproduction_record(rerun=locked)
    return logged


def iteration_fail(*, iteration_id: int, reason: str) -> bool:
    """Mark a queued or running iteration failed with ``reason``; report whether it changed."""
    with transaction.atomic():
        locked = (
            Iteration.objects.select_for_update().select_related("project").get(pk=iteration_id)
        )
        if IterationStatus.FAILED not in ITERATION_TRANSITIONS.get(locked.status, frozenset()):
            logger.info("iteration %s is %s; not marking it failed", locked.number, locked.status)
            return False
        before = locked.status
        locked.status = IterationStatus.FAILED
        locked.status_reason = reason[:STATUS_REASON_MAX_LENGTH]
        locked.finished_at = timezone.now()
        locked.save(update_fields=["status", "status_reason", "finished_at"])
        audit_record(
            actor=None,
            action="iteration.failed",
            target=locked,
            project=locked.project,
            before={"status": before},
            after={"status": locked.status, "reason": locked.status_reason},
        )
        _reproduction_record(rerun=locked)
    return True


REPRODUCTION_RELATIVE_TOLERANCE = 1e-9


def _metric_values_equal(original: Any, rerun: Any) -> bool:
    if original is None or rerun is None:
        return original is None and rerun is None
    return math.isclose(original, rerun, rel_tol=REPRODUCTION_RELATIVE_TOLERANCE)


def metrics_differences(original: dict[str, Any], rerun: dict[str, Any]) -> dict[str, list[Any]]:
    """Return ``{metric: [original, rerun]}`` for each metric whose values differ.

    Values within a relative 1e-9 count as equal, and a metric missing on one side counts
    as null there.
    """
    differences: dict[str, list[Any]] = {}
    for name in sorted(original.keys() | rerun.keys()):
        before, after = original.get(name), rerun.get(name)
        if not _metric_values_equal(before, after):
            differences[name] = [before, after]
    return differences


def _reproduction_record(*, rerun: Iteration) -> None:
    """Store on the original how its finished rerun compares; call inside the rerun's lock.

    NOTE: a cancelled rerun records nothing, so the original keeps its previous outcome.
    """
    if rerun.reproduction_of_id is None:
        return
    original = Iteration.objects.select_for_update().get(pk=rerun.reproduction_of_id)
    if rerun.status == IterationStatus.SUCCEEDED:
        differences = metrics_differences(original.metrics or {}, rerun.metrics or {})
        outcome = "differs" if differences else "reproduced"
    else:
        differences = {}
        outcome = "failed"
    before = original.reproduction
    original.reproduction = {
        "status": outcome,
        "iteration": rerun.number,
        "differences": differences,
        "checked_at": timezone.now().isoformat(),
    }
    original.save(update_fields=["reproduction"])
    audit_record(
        actor=None,
        action="iteration.reproduction_checked",
        target=original,
        project=rerun.project,
        before={"reproduction": before},
        after={"reproduction": original.reproduction},
    )
    logger.info(
        "iteration %s of project %s rerun as iteration %s: %s",
        original.number,
        rerun.project.slug,
        rerun.number,
        outcome,
    )
