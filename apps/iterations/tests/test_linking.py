import uuid

import mlflow
import mlflow.pyfunc
import mlflow.sklearn
import pandas as pd
import pytest
import skops.io
from django.conf import settings
from mlflow.pyfunc.model import PythonModel
from sklearn.linear_model import LogisticRegression

from apps.approvals.services import promotion_request
from apps.audit.models import AuditEvent
from apps.core.errors import Conflict, InvalidInput, Unprocessable
from apps.iterations import mlflow_adapter
from apps.iterations.linking import iteration_link
from apps.iterations.models import Iteration
from apps.iterations.recipes import RECIPES, recipe_params_validate
from apps.iterations.services import iteration_run, iteration_start
from apps.iterations.tests.uploads import cancer_dataset
from apps.iterations.training import train

__all__ = ["cancer_dataset"]


def _experiment(tmp_path) -> str:
    """Create an experiment as a notebook user would, with artifacts under ``tmp_path``."""
    mlflow.set_tracking_uri(settings.MLFLOW_TRACKING_URI)
    return mlflow.create_experiment(
        f"notebook-{uuid.uuid4().hex[:8]}", artifact_location=(tmp_path / "notebook").as_uri()
    )


def _notebook_run(tmp_path, model=None, example=None, log_model=True, flavor="sklearn") -> str:
    experiment_id = _experiment(tmp_path)
    with mlflow.start_run(experiment_id=experiment_id, run_name="notebook") as run:
        mlflow.log_metric("cv_roc_auc", 0.991)
        mlflow.log_param("C", "1.0")
        if log_model and flavor == "sklearn":
            # A pipeline with a OneHotEncoder refers to numpy.dtype, which skops loads only
            # when the run lists it as trusted.
            mlflow.sklearn.log_model(
                model,
                name="model",
                input_example=example,
                skops_trusted_types=skops.io.get_untrusted_types(data=skops.io.dumps(model)),
            )
        elif log_model:
            mlflow.pyfunc.log_model(name="model", python_model=model, input_example=example)
    return str(run.info.run_id)


def _portal_pipeline(dataset, recipe="logistic_regression", seed=7, drop=()):
    path = dataset.file.path
    frame = pd.read_csv(path)
    features = [c for c in frame.columns if c != "diagnosis" and c not in drop]
    result = train(
        dataset_path=path,
        dataset_format="csv",
        target="diagnosis",
        feature_columns=features,
        recipe=RECIPES[recipe],
        params=recipe_params_validate(RECIPES[recipe], {}),
        seed=seed,
        test_size=0.2,
        task_type="classification",
    )
    return result.pipeline, frame[features].head(3)


class MajorityLabel(PythonModel):
    """A pyfunc model without the scikit-learn flavour: predicts the label 1 for every row."""

    def predict(self, context, model_input, params=None):
        return [1] * len(model_input)


def test_linked_run_measures_same_holdout_as_training(project, alice, cancer_dataset, tmp_path):
    pipeline, example = _portal_pipeline(cancer_dataset, seed=7)
    run_id = _notebook_run(tmp_path, pipeline, example)
    trained = iteration_start(
        project=project,
        user=alice,
        dataset_id=cancer_dataset.pk,
        recipe="logistic_regression",
        params={},
        seed=7,
    )
    iteration_run(iteration_id=trained.pk)
    trained.refresh_from_db()

    linked = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk, seed=7
    )

    assert linked.status == "succeeded"
    assert linked.source == "linked"
    assert linked.metrics == trained.metrics
    assert linked.threshold == trained.threshold
    assert linked.evaluation["confusion"] == trained.evaluation["confusion"]


def test_linked_run_keeps_its_metrics_and_environment(project, alice, cancer_dataset, tmp_path):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)

    linked = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
    )

    assert linked.external_run["metrics"] == {"cv_roc_auc": 0.991}
    assert linked.external_run["params"] == {"C": "1.0"}
    assert linked.environment["run_name"] == "notebook"
    assert linked.environment["mlflow"]
    assert linked.feature_columns == list(example.columns)
    assert AuditEvent.objects.filter(action="iteration.linked").count() == 1


def test_linked_run_gets_model_version_that_predicts(project, alice, cancer_dataset, tmp_path):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)

    linked = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
    )

    assert linked.model_name == f"portal-{project.slug}"
    assert linked.model_version
    model = mlflow_adapter.model_load(
        mlflow_adapter.model_uri(linked.model_name, linked.model_version)
    )
    rows = pd.DataFrame(linked.holdout_sample["rows"], columns=linked.feature_columns)
    assert list(model.predict(rows)) == linked.holdout_sample["predictions"]


def test_linked_iteration_can_be_promoted(project, alice, cancer_dataset, tmp_path):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)
    linked = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
    )

    approval = promotion_request(iteration=linked, user=alice, comment="Trained in a notebook.")

    assert approval.iteration_id == linked.pk


def test_pyfunc_model_links_with_warning(project, alice, cancer_dataset, tmp_path):
    example = pd.read_csv(cancer_dataset.file.path).drop(columns="diagnosis").head(3)
    run_id = _notebook_run(tmp_path, MajorityLabel(), example, flavor="pyfunc")

    linked = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
    )

    assert linked.status == "succeeded"
    assert linked.metrics["recall"] == 1.0
    assert linked.metrics["roc_auc"] == pytest.approx(0.5)
    assert "labels only" in linked.status_reason


def test_unknown_run_is_invalid(project, alice, cancer_dataset):
    with pytest.raises(InvalidInput) as caught:
        iteration_link(
            project=project,
            user=alice,
            mlflow_run_id="0123456789abcdef0123456789abcdef",
            dataset_id=cancer_dataset.pk,
        )

    assert "mlflow_run_id" in caught.value.errors
    assert not Iteration.objects.filter(source="linked").exists()


def test_run_without_model_is_unprocessable(project, alice, cancer_dataset, tmp_path):
    run_id = _notebook_run(tmp_path, log_model=False)

    with pytest.raises(Unprocessable) as caught:
        iteration_link(
            project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
        )

    assert "logged no model" in caught.value.message


def test_missing_feature_columns_are_unprocessable(project, alice, cancer_dataset, tmp_path):
    frame = pd.read_csv(cancer_dataset.file.path)
    renamed = frame[["mean radius", "mean texture"]].rename(columns={"mean radius": "radius_mm"})
    model = LogisticRegression(max_iter=1000).fit(renamed, frame["diagnosis"])
    run_id = _notebook_run(tmp_path, model, renamed.head(3))

    with pytest.raises(Unprocessable) as caught:
        iteration_link(
            project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
        )

    assert "radius_mm" in caught.value.message
    assert "feature_columns" in caught.value.errors


def test_same_run_cannot_be_linked_twice(project, alice, cancer_dataset, tmp_path):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)
    iteration_link(project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk)

    with pytest.raises(Conflict):
        iteration_link(
            project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
        )


def test_linked_iteration_has_no_spec_to_rerun(
    project, alice, cancer_dataset, tmp_path, api_client_for
):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)
    linked = iteration_link(
        project=project, user=alice, mlflow_run_id=run_id, dataset_id=cancer_dataset.pk
    )
    client = api_client_for(alice)
    base = f"/api/v1/projects/{project.slug}/iterations/{linked.number}"

    assert client.get(f"{base}/spec/").status_code == 409
    assert client.post(f"{base}/reproduce/").status_code == 409


def test_api_links_run(project, alice, cancer_dataset, tmp_path, api_client_for):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/link/",
        {"mlflow_run_id": run_id, "dataset": cancer_dataset.pk, "target": "diagnosis"},
        format="json",
    )

    body = response.json()
    assert response.status_code == 201, body
    assert body["source"] == "linked"
    assert body["mlflow_run_id"] == run_id
    assert {target["name"] for target in body["targets"]} == {"roc_auc", "recall"}
    assert body["external_run"]["metrics"] == {"cv_roc_auc": 0.991}
    assert body["evaluation"]["confusion"]["matrix"]


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"mlflow_run_id": "0123456789abcdef0123456789abcdef"}, 400, "mlflow_run_id"),
        ({"mlflow_run_id": "not a run id!"}, 400, "mlflow_run_id"),
        ({"mlflow_run_id": "0123456789abcdef", "target": "age"}, 400, "target"),
        ({"mlflow_run_id": "0123456789abcdef", "dataset": 99999}, 400, "dataset"),
    ],
)
def test_api_link_errors_name_field(
    project, alice, cancer_dataset, api_client_for, payload, status, field
):
    body = {"dataset": cancer_dataset.pk, **payload}

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/link/", body, format="json"
    )

    assert response.status_code == status, response.json()
    assert field in response.json()["errors"]


def test_api_run_without_model_is_422(project, alice, cancer_dataset, tmp_path, api_client_for):
    run_id = _notebook_run(tmp_path, log_model=False)

    response = api_client_for(alice).post(
        f"/api/v1/projects/{project.slug}/iterations/link/",
        {"mlflow_run_id": run_id, "dataset": cancer_dataset.pk},
        format="json",
    )

    assert response.status_code == 422
    assert "mlflow_run_id" in response.json()["errors"]


@pytest.mark.parametrize(
    ("persona", "status"), [("alice", 400), ("sam", 403), ("dana", 403), ("olga", 404)]
)
def test_api_link_by_role(project, cancer_dataset, api_client_for, request, persona, status):
    user = request.getfixturevalue(persona)

    response = api_client_for(user).post(
        f"/api/v1/projects/{project.slug}/iterations/link/",
        {"mlflow_run_id": "0123456789abcdef0123456789abcdef", "dataset": cancer_dataset.pk},
        format="json",
    )

    assert response.status_code == status


def test_link_form_redirects_to_iteration(project, alice, cancer_dataset, tmp_path, client_for):
    pipeline, example = _portal_pipeline(cancer_dataset)
    run_id = _notebook_run(tmp_path, pipeline, example)

    response = client_for(alice).post(
        f"/projects/{project.slug}/iterations/link/",
        {"mlflow_run_id": run_id, "dataset": cancer_dataset.pk, "seed": 0},
        follow=True,
    )

    linked = Iteration.objects.get(project=project, source="linked")
    text = response.content.decode()
    assert response.redirect_chain[-1][0].endswith(f"/iterations/{linked.number}/")
    assert "Linked MLflow run" in text
    assert "cv_roc_auc" in text


def test_link_form_shows_unknown_run(project, alice, cancer_dataset, client_for):
    response = client_for(alice).post(
        f"/projects/{project.slug}/iterations/link/",
        {
            "mlflow_run_id": "0123456789abcdef0123456789abcdef",
            "dataset": cancer_dataset.pk,
            "seed": 0,
        },
    )

    assert response.status_code == 200
    assert "No MLflow run 0123456789abcdef0123456789abcdef" in response.content.decode()


def test_stakeholder_cannot_post_link_form(project, sam, cancer_dataset, client_for):
    response = client_for(sam).post(
        f"/projects/{project.slug}/iterations/link/",
        {"mlflow_run_id": "abc", "dataset": cancer_dataset.pk, "seed": 0},
    )

    assert response.status_code == 403
