"""The deploy checks compare the registered model's MLflow signature with the features.

The models here are real: the iteration is trained through the services, and its fitted
pipeline is logged again to the test session's MLflow store with another signature, as a
notebook or a broken export might do.
"""

import mlflow
import pandas as pd
import pytest
from django.contrib.auth.models import User
from mlflow.models import infer_signature

from apps.approvals.services import promotion_approve, promotion_request
from apps.deployments.checks import model_checks, signature_check
from apps.deployments.models import Deployment, DeploymentStatus
from apps.deployments.services import deployment_run
from apps.iterations import mlflow_adapter
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def _log_again(
    iteration: Iteration, *, renames: dict[str, str] | None, with_signature: bool = True
) -> str:
    """Log the iteration's fitted pipeline again, register it, and return the new version."""
    uri = mlflow_adapter.model_uri(iteration.model_name, iteration.model_version)
    pipeline = mlflow_adapter.model_load(uri)
    frame = pd.DataFrame.from_records(
        iteration.holdout_sample["rows"], columns=list(iteration.feature_columns)
    )
    signature = (
        infer_signature(frame.rename(columns=renames or {}), pipeline.predict(frame))
        if with_signature
        else None
    )
    experiment_id = mlflow_adapter.experiment_ensure(project_slug=iteration.project.slug)
    with mlflow.start_run(experiment_id=experiment_id) as run:
        logged = mlflow.sklearn.log_model(
            pipeline,
            name="model",
            signature=signature,
            skops_trusted_types=mlflow_adapter.skops_trusted_types(pipeline),
            pip_requirements=["scikit-learn"],
        )
    return mlflow_adapter.model_version_register(
        run_id=run.info.run_id, model_name=iteration.model_name, model_uri=logged.model_uri
    )


@pytest.fixture
def renamed_signature_version(trained_iteration: Iteration) -> str:
    first, second = list(trained_iteration.feature_columns)[:2]
    return _log_again(trained_iteration, renames={first: "patient_age", second: "ward"})


def test_signature_inputs_read_from_registry(trained_iteration: Iteration):
    uri = mlflow_adapter.model_uri(trained_iteration.model_name, trained_iteration.model_version)

    specs = mlflow_adapter.model_signature_inputs(uri)

    assert [spec["name"] for spec in specs] == list(trained_iteration.feature_columns)
    assert all(spec["type"] == "double" for spec in specs)


def test_signature_inputs_empty_without_signature(trained_iteration: Iteration):
    version = _log_again(trained_iteration, renames=None, with_signature=False)

    specs = mlflow_adapter.model_signature_inputs(
        mlflow_adapter.model_uri(trained_iteration.model_name, version)
    )

    assert specs == []


def test_wrong_signature_fails_checks(
    trained_iteration: Iteration, renamed_signature_version: str, project: Project
):
    uri = mlflow_adapter.model_uri(trained_iteration.model_name, renamed_signature_version)
    first, second = list(trained_iteration.feature_columns)[:2]

    result = model_checks(
        model=mlflow_adapter.model_load(uri),
        iteration=trained_iteration,
        task_type=project.task_type,
        model_uri=uri,
    )

    assert result["passed"] is False
    assert result["signature"]["passed"] is False
    assert f"Missing from the signature: '{first}', '{second}'." in result["reason"]
    assert "not among the features: 'patient_age', 'ward'." in result["reason"]
    assert result["rows"] == 0


def test_wrong_signature_fails_deployment(
    project: Project,
    trained_iteration: Iteration,
    renamed_signature_version: str,
    alice: User,
    dana: User,
):
    Iteration.objects.filter(pk=trained_iteration.pk).update(
        model_version=renamed_signature_version
    )
    trained_iteration.refresh_from_db()
    approval = promotion_request(iteration=trained_iteration, user=alice)
    promotion_approve(approval=approval, user=dana)
    deployment = Deployment.objects.get(approval=approval)

    deployment_run(deployment_id=deployment.pk)

    deployment.refresh_from_db()
    assert deployment.status == DeploymentStatus.FAILED
    assert deployment.status_reason.startswith(
        "The registered model's signature does not match the iteration's features."
    )
    assert "'patient_age', 'ward'" in deployment.status_reason
    assert deployment.smoke_test["signature"]["signature_columns"][:2] == ["patient_age", "ward"]


def test_tensor_signature_not_compared():
    class Estimator:
        feature_names_in_ = ["radius", "texture"]

    result = signature_check(
        model=Estimator(),
        feature_columns=["radius", "texture"],
        signature_inputs=[
            {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 2]}}
        ],
    )

    assert result["passed"] is True
    assert result["signature_columns"] == []


def test_signature_names_replace_feature_names():
    result = signature_check(
        model=object(),
        feature_columns=["radius", "texture"],
        signature_inputs=[
            {"type": "double", "name": "texture", "required": True},
            {"type": "double", "name": "radius", "required": True},
        ],
    )

    assert result["passed"] is True
    assert result["columns"] == ["texture", "radius"]


def test_model_without_columns_fails():
    result = signature_check(model=object(), feature_columns=["radius"], signature_inputs=[])

    assert result["passed"] is False
    assert result["reason"] == "The model does not record the columns it was trained on."


def test_signature_reason_caps_columns():
    features = [f"feature_{index}" for index in range(15)]
    signature = [{"type": "double", "name": f"other_{index}"} for index in range(15)]

    result = signature_check(model=object(), feature_columns=features, signature_inputs=signature)

    assert "'feature_9' and 5 more." in result["reason"]
    assert "'feature_10'" not in result["reason"]
