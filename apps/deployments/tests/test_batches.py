import io

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from sklearn.datasets import load_breast_cancer

from apps.core.errors import Conflict, NotAllowed, PayloadTooLarge, Unprocessable
from apps.deployments.models import BatchJob, BatchStatus, Deployment
from apps.deployments.services import batch_create, batch_run
from apps.projects.models import Project

pytestmark = pytest.mark.django_db


def _csv(frame: pd.DataFrame, name: str = "rows.csv") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, frame.to_csv(index=False).encode(), content_type="text/csv")


def _features(count: int) -> pd.DataFrame:
    return load_breast_cancer(as_frame=True).frame.drop(columns=["target"]).head(count)


def test_batch_scores_every_row(project: Project, alice: User, live_deployment: Deployment):
    batch = batch_create(project=project, user=alice, uploaded_file=_csv(_features(120)))
    assert batch.status == BatchStatus.QUEUED

    batch_run(batch_id=batch.pk)

    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED, batch.status_reason
    assert batch.rows_total == 120
    assert batch.rows_done == 120
    with batch.output_file.open("rb") as handle:
        scored = pd.read_csv(io.BytesIO(handle.read()))
    assert len(scored) == 120
    assert set(scored["prediction"]) <= {0, 1}
    assert scored["probability"].between(0, 1).all()


def test_batch_with_missing_columns_rejected_at_upload(
    project: Project, alice: User, live_deployment: Deployment
):
    frame = _features(5).drop(columns=["mean radius", "worst area"])

    with pytest.raises(Unprocessable) as raised:
        batch_create(project=project, user=alice, uploaded_file=_csv(frame))

    assert "lacks 2 of the 30 columns" in raised.value.message
    assert "'mean radius'" in raised.value.message
    assert "'worst area'" in raised.value.message
    assert not BatchJob.objects.exists()


def test_batch_with_text_in_numeric_column_fails(
    project: Project, alice: User, live_deployment: Deployment
):
    frame = _features(5).astype({"mean area": object})
    frame.loc[2, "mean area"] = "large"
    batch = batch_create(project=project, user=alice, uploaded_file=_csv(frame))

    batch_run(batch_id=batch.pk)

    batch.refresh_from_db()
    assert batch.status == BatchStatus.FAILED
    assert "'mean area' has 1 values" in batch.status_reason


def test_batch_needs_live_deployment(project: Project, alice: User):
    with pytest.raises(Conflict):
        batch_create(project=project, user=alice, uploaded_file=_csv(_features(2)))


def test_batch_rejects_large_file(
    project: Project, alice: User, live_deployment: Deployment, settings
):
    settings.BATCH_MAX_UPLOAD_BYTES = 10

    with pytest.raises(PayloadTooLarge):
        batch_create(project=project, user=alice, uploaded_file=_csv(_features(2)))


def test_stakeholder_cannot_score_batch(project: Project, sam: User):
    with pytest.raises(NotAllowed):
        batch_create(project=project, user=sam, uploaded_file=_csv(_features(2)))


def test_redelivered_batch_task_does_nothing(
    project: Project, alice: User, live_deployment: Deployment
):
    batch = batch_create(project=project, user=alice, uploaded_file=_csv(_features(3)))
    batch_run(batch_id=batch.pk)

    batch_run(batch_id=batch.pk)

    batch.refresh_from_db()
    assert batch.status == BatchStatus.SUCCEEDED
