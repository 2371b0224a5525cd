"""Batch files are checked at upload with the dataset reader, before anything is queued."""

import codecs

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.datasets import load_breast_cancer

from apps.deployments.models import BatchJob, BatchStatus, Deployment
from apps.deployments.services import batch_create, batch_run
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def _url(project: Project) -> str:
    return f"/api/v1/projects/{project.slug}/batches/"


def _features(count: int) -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(count)


def _upload(client, project: Project, content: bytes, name: str = "rows.csv"):
    upload = SimpleUploadedFile(name, content, content_type="text/csv")
    return client.post(_url(project), {"file": upload}, format="multipart")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "The file is empty."),
        (b"PK\x03\x04\x00\x00binary\x00data", "binary data"),
        (b"mean radius,mean texture\n", "no data rows"),
    ],
    ids=["empty", "binary", "header-only"],
)
def test_unreadable_batch_file_rejected_before_queueing(
    api_client_for, project: Project, alice: User, live_deployment: Deployment, content, message
):
    response = _upload(api_client_for(alice), project, content)

    assert response.status_code == 400
    assert message in response.json()["detail"]
    assert "file" in response.json()["errors"]
    assert not BatchJob.objects.exists()


def test_batch_missing_columns_named_in_422(
    api_client_for, project: Project, alice: User, live_deployment: Deployment
):
    frame = _features(3).drop(columns=["mean radius"])

    response = _upload(api_client_for(alice), project, frame.to_csv(index=False).encode())

    assert response.status_code == 422
    assert "'mean radius'" in response.json()["detail"]
    assert not BatchJob.objects.exists()


@pytest.mark.parametrize(
    "encoded",
    [
        lambda frame: frame.to_csv(index=False, sep=";").encode(),
        lambda frame: codecs.BOM_UTF16_LE + frame.to_csv(index=False).encode("utf-16-le"),
    ],
    ids=["semicolon", "utf-16"],
)
def test_batch_reads_delimiter_and_encoding_like_datasets(
    api_client_for, project: Project, alice: User, live_deployment: Deployment, encoded
):
    frame = _features(25)

    response = _upload(api_client_for(alice), project, encoded(frame))

    assert response.status_code == 202, response.json()
    batch = BatchJob.objects.get()
    assert batch.rows_total == 25
    batch_run(batch_id=batch.pk)
    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED, batch.status_reason
    assert batch.rows_done == 25


def test_batch_worker_failure_reason_is_plain(
    project: Project, alice: User, live_deployment: Deployment
):
    content = _features(3).to_csv(index=False).encode()
    batch = batch_create(
        project=project, user=alice, uploaded_file=SimpleUploadedFile("rows.csv", content)
    )
    # A stored file that vanished before the worker ran stands for any error of the portal.
    batch.input_file.delete(save=False)

    batch_run(batch_id=batch.pk)

    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    assert batch.status_reason.startswith("Scoring failed because of an error in the portal")
    assert "Error" not in batch.status_reason
    assert "No such file" not in batch.status_reason
