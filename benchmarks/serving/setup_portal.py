"""Prepare a throwaway portal for the serving benchmark and print what the client needs.

Run by ``run.py`` in a subprocess whose environment points the database, MLflow store and
broker at a temporary folder. It trains the breast cancer histogram gradient boosting
pipeline through the portal's own services, deploys it, and prints one JSON line.
"""

import json
import os
import sys
from pathlib import Path

import django

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.files.uploadedfile import SimpleUploadedFile  # noqa: E402
from django.core.management import call_command  # noqa: E402
from sklearn.datasets import load_breast_cancer  # noqa: E402

from apps.accounts.services import token_create  # noqa: E402
from apps.datasets.services import dataset_create  # noqa: E402
from apps.deployments.models import Deployment  # noqa: E402
from apps.deployments.services import deployment_create, deployment_run  # noqa: E402
from apps.iterations.services import iteration_run, iteration_start  # noqa: E402
from apps.projects.models import TaskType  # noqa: E402
from apps.projects.services import MetricInput, project_create  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    user = User.objects.create_user("bench", password="bench-password-not-secret")  # noqa: S106
    project = project_create(
        user=user,
        name="Serving benchmark",
        business_problem="Measure the prediction endpoint against mlflow models serve.",
        task_type=TaskType.CLASSIFICATION,
        metrics=[MetricInput(name="roc_auc", target=0.9)],
    )
    frame = load_breast_cancer(as_frame=True).frame.rename(columns={"target": "diagnosis"})
    upload = SimpleUploadedFile(
        "breast_cancer.csv", frame.to_csv(index=False).encode(), content_type="text/csv"
    )
    dataset = dataset_create(
        project=project,
        user=user,
        uploaded_file=upload,
        name="breast cancer",
        target_column="diagnosis",
    )
    iteration = iteration_start(
        project=project,
        user=user,
        dataset_id=dataset.pk,
        recipe="hist_gradient_boosting",
        params={},
        seed=0,
    )
    iteration_run(iteration_id=iteration.pk)
    iteration.refresh_from_db()
    if not iteration.model_version:
        raise SystemExit(f"training failed: {iteration.status_reason}")
    deployment = deployment_create(project=project, iteration=iteration, approval=None, user=user)
    deployment_run(deployment_id=deployment.pk)
    deployment = Deployment.objects.get(pk=deployment.pk)
    if deployment.status != "live":
        raise SystemExit(f"deployment failed: {deployment.status_reason}")
    _, key = token_create(user=user, name="benchmark")
    print(
        json.dumps(
            {
                "token": key,
                "slug": project.slug,
                "model_uri": deployment.model_uri,
                "columns": list(iteration.feature_columns),
                "rows": frame.drop(columns=["diagnosis"]).head(100).to_dict(orient="records"),
            }
        )
    )


if __name__ == "__main__":
    main()
