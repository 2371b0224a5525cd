from typing import Any

import mlflow
import pandas as pd
import pytest
from django.conf import settings

from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, InvalidInput, TransitionNotAllowed
from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration
from apps.iterations.services import iteration_cancel, iteration_run, iteration_start
from apps.iterations.tests.uploads import cancer_dataset, diabetes_dataset, upload_csv
from apps.projects.models import Project, Stage

__all__ = ["cancer_dataset", "diabetes_dataset"]


def _start(project, user, dataset, recipe="logistic_regression", **extra):
    options: dict[str, Any] = {"params": {}, "seed": 11}
    options.update(extra)
    return iteration_start(
        project=project, user=user, dataset_id=dataset.pk, recipe=recipe, **options
    )


def _mlflow_runs(iteration):
    # The MLflow store outlives each test's database, so runs are matched by task id.
    client = mlflow.MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    experiment = client.get_experiment_by_name(f"portal/{iteration.project.slug}")
    assert experiment is not None
    return client.search_runs(
        [experiment.experiment_id],
        filter_string=f"tags.`portal.task_id` = '{iteration.task_id}'",
    )


def test_start_queues_numbered_iteration(
    project, alice, cancer_dataset, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = _start(project, alice, cancer_dataset)
        second = _start(project, alice, cancer_dataset, recipe="baseline")

    # The upload already queued the two non-ML baselines as iterations 1 and 2.
    assert (first.number, second.number) == (3, 4)
    assert first.status == "queued"
    assert first.params == {"C": 1.0, "max_iter": 1000, "class_weight": None}
    assert first.task_id
    assert second.is_baseline
    assert len(callbacks) == 2
    assert AuditEvent.objects.filter(action="iteration.queued").count() == 4


def test_start_advances_approved_project(project, alice, cancer_dataset):
    Project.objects.filter(pk=project.pk).update(stage=Stage.APPROVED)

    _start(project, alice, cancer_dataset)

    project.refresh_from_db()
    assert project.stage == Stage.IN_DEVELOPMENT


def test_start_leaves_framing_project_in_framing(project, alice, cancer_dataset):
    _start(project, alice, cancer_dataset)

    project.refresh_from_db()
    assert project.stage == Stage.FRAMING


def test_start_rejected_for_retired_project(project, alice, cancer_dataset):
    Project.objects.filter(pk=project.pk).update(stage=Stage.RETIRED)

    with pytest.raises(Conflict):
        _start(project, alice, cancer_dataset)

    assert not Iteration.objects.filter(is_baseline=False).exists()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"recipe": "ridge"}, "recipe"),
        ({"params": {"C": "strong"}}, "params.C"),
        ({"params": {"depth": 3}}, "params.depth"),
        ({"seed": -1}, "seed"),
        ({"seed": "7"}, "seed"),
        ({"test_size": 0.9}, "test_size"),
    ],
)
def test_start_rejects_bad_spec(project, alice, cancer_dataset, changes, field):
    with pytest.raises(InvalidInput) as caught:
        _start(project, alice, cancer_dataset, **changes)

    assert field in caught.value.errors
    assert not Iteration.objects.filter(is_baseline=False).exists()


def test_start_rejects_other_projects_dataset(project, regression_project, alice, diabetes_dataset):
    with pytest.raises(InvalidInput) as caught:
        _start(project, alice, diabetes_dataset)

    assert "dataset" in caught.value.errors


def test_run_registers_model_that_loads_back(project, alice, cancer_dataset):
    iteration = _start(project, alice, cancer_dataset, recipe="hist_gradient_boosting")

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.metrics["roc_auc"] > 0.95
    assert iteration.model_name == f"portal-{project.slug}"
    assert iteration.model_version
    assert iteration.mlflow_run_id
    assert iteration.threshold is not None
    assert iteration.expected_cost is not None
    assert iteration.started_at <= iteration.finished_at
    assert iteration.environment["scikit_learn"]
    model = mlflow_adapter.model_load(
        mlflow_adapter.model_uri(iteration.model_name, iteration.model_version)
    )
    rows = pd.DataFrame(iteration.holdout_sample["rows"])
    assert list(model.predict(rows)) == iteration.holdout_sample["predictions"]
    assert AuditEvent.objects.filter(action="iteration.succeeded").count() == 1


@pytest.mark.parametrize("recipe", ["baseline", "logistic_regression", "random_forest"])
def test_each_classification_recipe_round_trips(project, alice, cancer_dataset, recipe):
    iteration = _start(project, alice, cancer_dataset, recipe=recipe, params={})
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()

    model = mlflow_adapter.model_load(
        mlflow_adapter.model_uri(iteration.model_name, iteration.model_version)
    )

    assert iteration.status == "succeeded", iteration.status_reason
    rows = pd.DataFrame(iteration.holdout_sample["rows"])
    assert list(model.predict(rows)) == iteration.holdout_sample["predictions"]


@pytest.mark.parametrize("recipe", ["baseline", "ridge", "random_forest", "hist_gradient_boosting"])
def test_each_regression_recipe_round_trips(regression_project, alice, diabetes_dataset, recipe):
    iteration = _start(regression_project, alice, diabetes_dataset, recipe=recipe)
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()

    model = mlflow_adapter.model_load(
        mlflow_adapter.model_uri(iteration.model_name, iteration.model_version)
    )

    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.threshold is None
    rows = pd.DataFrame(iteration.holdout_sample["rows"])
    assert list(model.predict(rows)) == pytest.approx(iteration.holdout_sample["predictions"])


def test_redelivered_task_logs_one_run(project, alice, cancer_dataset):
    iteration = _start(project, alice, cancer_dataset, recipe="baseline")

    iteration_run(iteration_id=iteration.pk)
    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "succeeded"
    assert len(_mlflow_runs(iteration)) == 1


def test_rerun_after_logging_reuses_mlflow_run(project, alice, cancer_dataset):
    iteration = _start(project, alice, cancer_dataset, recipe="baseline")
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()
    first_run, first_version = iteration.mlflow_run_id, iteration.model_version
    # A worker that died after logging but before recording the result leaves this state.
    Iteration.objects.filter(pk=iteration.pk).update(status="queued", mlflow_run_id="")

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "succeeded"
    assert iteration.mlflow_run_id == first_run
    assert iteration.model_version == first_version
    assert len(_mlflow_runs(iteration)) == 1


def test_training_error_ends_failed_with_reason(project, alice, tmp_path):
    path = tmp_path / "few.csv"
    pd.DataFrame({"x": range(6), "label": [0, 1] * 3}).to_csv(path, index=False)
    dataset = upload_csv(project, alice, path, "label")
    iteration = _start(project, alice, dataset, recipe="baseline")

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "failed"
    assert "training needs at least 10" in iteration.status_reason
    assert iteration.finished_at is not None
    event = AuditEvent.objects.get(action="iteration.failed")
    assert event.after["reason"] == iteration.status_reason


def test_missing_dataset_file_ends_failed(project, alice, cancer_dataset):
    iteration = _start(project, alice, cancer_dataset, recipe="baseline")
    cancer_dataset.file.delete(save=False)

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "failed"
    assert "is missing from storage" in iteration.status_reason


def test_cancelled_iteration_is_not_trained(project, alice, cancer_dataset):
    iteration = _start(project, alice, cancer_dataset, recipe="baseline")

    iteration_cancel(iteration=iteration, user=alice)
    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "cancelled"
    assert iteration.mlflow_run_id == ""
    assert AuditEvent.objects.filter(action="iteration.cancelled").count() == 1


def test_finished_iteration_cannot_be_cancelled(project, alice, cancer_dataset):
    iteration = _start(project, alice, cancer_dataset, recipe="baseline")
    iteration_run(iteration_id=iteration.pk)

    with pytest.raises(TransitionNotAllowed):
        iteration_cancel(iteration=iteration, user=alice)


def test_upload_queues_both_non_ml_baselines(project, cancer_dataset):
    baselines = list(Iteration.objects.filter(project=project).order_by("number"))

    assert [(i.number, i.recipe, i.is_baseline) for i in baselines] == [
        (1, "baseline", True),
        (2, "one_feature_rule", True),
    ]
    assert all(i.status == "queued" for i in baselines)
    assert all(i.dataset_id == cancer_dataset.pk for i in baselines)


def test_one_feature_rule_trains_and_beats_majority_class(project, cancer_dataset):
    for iteration in Iteration.objects.filter(project=project, is_baseline=True):
        iteration_run(iteration_id=iteration.pk)

    majority = Iteration.objects.get(project=project, recipe="baseline")
    rule = Iteration.objects.get(project=project, recipe="one_feature_rule")
    assert (majority.status, rule.status) == ("succeeded", "succeeded")
    assert rule.metrics["roc_auc"] > majority.metrics["roc_auc"]


def test_search_result_is_stored_and_logged(project, alice, cancer_dataset):
    search = {"method": "grid", "space": {"C": [0.1, 1.0]}, "folds": 3}
    iteration = _start(project, alice, cancer_dataset, params={"search": search})

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.environment["search"]["candidates"] == 2
    assert iteration.environment["search"]["best_params"]["C"] in (0.1, 1.0)
    (run,) = _mlflow_runs(iteration)
    assert "search.best.C" in run.data.params


def test_search_scoring_from_other_task_is_rejected(project, alice, cancer_dataset):
    search = {"method": "grid", "space": {"max_depth": [2, 3]}, "scoring": "rmse"}

    with pytest.raises(InvalidInput) as caught:
        _start(project, alice, cancer_dataset, recipe="random_forest", params={"search": search})

    assert "params.search.scoring" in caught.value.errors


def test_rerun_after_logging_before_registering_registers_one_version(
    project, alice, cancer_dataset
):
    from apps.iterations.services import _log_to_mlflow, _train

    iteration = _start(project, alice, cancer_dataset, recipe="baseline")
    # A worker that died between logging the run and registering its model leaves a run with
    # no model version and the iteration still queued for redelivery.
    logged = _log_to_mlflow(iteration, _train(iteration, on_stage=lambda stage, line: None))
    assert logged.model_version == ""

    iteration_run(iteration_id=iteration.pk)

    iteration.refresh_from_db()
    client = mlflow.MlflowClient(tracking_uri=settings.MLFLOW_TRACKING_URI)
    versions = client.search_model_versions(f"run_id = '{logged.run_id}'")
    assert iteration.status == "succeeded", iteration.status_reason
    assert iteration.mlflow_run_id == logged.run_id
    assert len(_mlflow_runs(iteration)) == 1
    assert [str(version.version) for version in versions] == [iteration.model_version]
