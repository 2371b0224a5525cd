"""Linking refuses other projects' runs and warns when a model has seen the holdout rows."""

import mlflow
import mlflow.sklearn
import pandas as pd
import pytest
import skops.io
from django.conf import settings
from sklearn.ensemble import RandomForestClassifier

from apps.core.errors import NotAllowed
from apps.iterations import mlflow_adapter
from apps.iterations.linking import holdout_leakage_warnings, iteration_link
from apps.iterations.models import Iteration
from apps.iterations.services import iteration_run, iteration_start
from apps.iterations.tests.test_linking import _notebook_run, _portal_pipeline
from apps.iterations.tests.uploads import cancer_dataset, upload_csv
from apps.projects.models import TaskType
from apps.projects.services import MetricInput, project_create

__all__ = ["cancer_dataset"]


@pytest.fixture
def other_project(alice):
    return project_create(
        user=alice,
        name="Loan defaults",
        business_problem="Flag loan applications likely to default.",
        task_type=TaskType.CLASSIFICATION,
        metrics=[MetricInput(name="roc_auc", target=0.9)],
    )


def _log_to_experiment(name, tmp_path, pipeline, example) -> str:
    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    experiment = mlflow.get_experiment_by_name(name)
    experiment_id = (
        experiment.experiment_id
        if experiment is not None
        else mlflow.create_experiment(name, artifact_location=(tmp_path / "other").as_uri())
    )
    with mlflow.start_run(experiment_id=experiment_id) as run:
        mlflow.sklearn.log_model(
            pipeline,
            name="model",
            input_example=example,
            skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(pipeline)),
        )
    return str(run.info.run_id)


def test_other_projects_iteration_run_is_refused(
    project, other_project, alice, cancer_dataset, breast_cancer_csv
):
    other_dataset = upload_csv(other_project, alice, breast_cancer_csv, "diagnosis")
    trained = iteration_start(
        project=other_project,
        user=alice,
        dataset_id=other_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=0,
    )
    iteration_run(iteration_id=trained.pk)
    trained.refresh_from_db()

    with pytest.raises(NotAllowed) as raised:
        iteration_link(
            project=project,
            user=alice,
            mlflow_run_id=trained.mlflow_run_id,
            dataset_id=cancer_dataset.pk,
        )

    message = raised.value.message
    assert "belongs to another portal project" in message
    assert "mean radius" not in message
    assert other_project.slug not in message
    assert not Iteration.objects.filter(project=project, source="linked").exists()


def test_run_in_other_portal_experiment_is_refused(
    project, alice, cancer_dataset, tmp_path, api_client_for
):
    pipeline, example = _portal_pipeline(cancer_dataset, drop=("mean radius",))
    run_id = _log_to_experiment(
        mlflow_adapter.experiment_name("someone-elses-project"), tmp_path, pipeline, example
    )

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/link/",
        {"mlflow_run_id": run_id, "dataset": cancer_dataset.pk},
        format="json",
    )

    assert response.status_code == 403
    body = response.json()
    assert "mlflow_run_id" in body["errors"]
    assert "mean texture" not in response.content.decode()
    assert "someone-elses-project" not in response.content.decode()


def test_run_trained_on_all_rows_gets_leakage_warning(project, alice, cancer_dataset, tmp_path):
    frame = pd.read_csv(cancer_dataset.file.path)
    features = frame.drop(columns="diagnosis")
    model = RandomForestClassifier(n_estimators=50, random_state=0)
    model.fit(features, frame["diagnosis"])
    run_id = _notebook_run(tmp_path, model, features.head(3))

    iteration = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
    )

    assert iteration.metrics["accuracy"] == 1.0
    assert "trained on the holdout rows" in iteration.status_reason
    assert iteration.evaluation["leakage_warnings"]


def test_honest_run_gets_no_leakage_warning(project, alice, cancer_dataset, tmp_path):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)

    iteration = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
    )

    assert "leakage_warnings" not in iteration.evaluation
    assert "holdout rows" not in iteration.status_reason


def test_leakage_warning_compares_logged_training_score():
    warnings = holdout_leakage_warnings(
        metrics={"accuracy": 0.97, "roc_auc": 0.99}, logged={"training_accuracy_score": 0.80}
    )

    assert len(warnings) == 1
    assert "accuracy 0.970 against 0.800" in warnings[0]


def test_leakage_warning_ignores_close_training_score():
    warnings = holdout_leakage_warnings(
        metrics={"accuracy": 0.95}, logged={"training_accuracy_score": 0.96}
    )

    assert warnings == []
