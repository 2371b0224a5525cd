"""Batch scoring from the deployments pages: upload, progress, failure reason and download.

The scoring task is never run here, because test_batches.py runs it. The fields it would
write are set directly.
"""

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User
from django.core.files.base import ContentFile
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.deployments.models import BatchJob, BatchStatus, Deployment, DeploymentStatus
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

ClientFor = Callable[[User], Client]


@pytest.fixture
def live(project: Project, make_iteration: Callable[..., Iteration]) -> Deployment:
    return Deployment.objects.create(
        project=project,
        iteration=make_iteration(1),
        status=DeploymentStatus.LIVE,
        model_version="1",
        live_at=timezone.now(),
    )


def _batch(project: Project, live: Deployment, **fields) -> BatchJob:
    batch = BatchJob(project=project, deployment=live, **fields)
    batch.input_file.save("rows.csv", ContentFile(b"radius,texture\n1,2\n"), save=False)
    batch.save()
    return batch


def _upload(name: str = "rows.csv", content: bytes = b"radius,texture\n1.0,2.0\n"):
    return SimpleUploadedFile(name, content, content_type="text/csv")


def test_upload_form_queues_batch(
    client_for: ClientFor, project: Project, live: Deployment, alice: User
):
    response = client_for(alice).post(
        reverse("batch-create", args=[project.slug]), {"file": _upload()}
    )

    batch = BatchJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("batch-detail", args=[project.slug, batch.pk])
    assert batch.status == BatchStatus.QUEUED
    assert batch.deployment_id == live.pk
    with batch.input_file.open("rb") as handle:
        assert handle.read() == b"radius,texture\n1.0,2.0\n"


def test_upload_form_on_list_page(
    client_for: ClientFor, project: Project, live: Deployment, alice: User
):
    response = client_for(alice).get(reverse("deployment-list", args=[project.slug]))

    assert 'enctype="multipart/form-data"' in response.text
    assert "Score the file with model version 1" in response.text


def test_upload_without_file_rejected(
    client_for: ClientFor, project: Project, live: Deployment, alice: User
):
    response = client_for(alice).post(reverse("batch-create", args=[project.slug]))

    assert response.status_code == 400
    assert response.context["batch_form"].errors["file"] == ["This field is required."]
    assert not BatchJob.objects.exists()


def test_upload_of_xlsx_rejected(
    client_for: ClientFor, project: Project, live: Deployment, alice: User
):
    response = client_for(alice).post(
        reverse("batch-create", args=[project.slug]), {"file": _upload("rows.xlsx")}
    )

    assert response.status_code == 400
    assert response.context["batch_form"].errors["file"] == [
        "Batch scoring takes a CSV file (.csv)."
    ]
    assert not BatchJob.objects.exists()


def test_upload_over_limit_rejected(
    client_for: ClientFor, project: Project, live: Deployment, alice: User, settings
):
    settings.BATCH_MAX_UPLOAD_BYTES = 10

    response = client_for(alice).post(
        reverse("batch-create", args=[project.slug]), {"file": _upload()}
    )

    assert response.status_code == 400
    assert "batch scoring takes at most 10" in response.text
    assert not BatchJob.objects.exists()


def test_upload_without_live_rejected(client_for: ClientFor, project: Project, alice: User):
    response = client_for(alice).post(
        reverse("batch-create", args=[project.slug]), {"file": _upload()}
    )

    assert response.status_code == 400
    assert "This project has no live deployment to score the file with." in response.text
    assert not BatchJob.objects.exists()


def test_running_batch_page_polls_progress(
    client_for: ClientFor, project: Project, live: Deployment, sam: User
):
    batch = _batch(project, live, status=BatchStatus.RUNNING, rows_total=200, rows_done=50)
    progress_url = reverse("batch-progress", args=[project.slug, batch.pk])

    page = client_for(sam).get(reverse("batch-detail", args=[project.slug, batch.pk]))
    part = client_for(sam).get(progress_url)

    assert page.status_code == 200
    assert '<progress class="batch-progress" max="100" value="25"' in page.text
    assert "50 of 200 rows scored (25%)." in page.text
    assert f'hx-get="{progress_url}"' in page.text
    assert part.status_code == 200
    assert part.text.lstrip().startswith('<section id="batch-progress"')
    assert "<html" not in part.text


def test_failed_batch_page_shows_reason(
    client_for: ClientFor, project: Project, live: Deployment, alice: User
):
    batch = _batch(
        project,
        live,
        status=BatchStatus.FAILED,
        status_reason="The file lacks 1 of the model's columns: texture.",
    )

    response = client_for(alice).get(reverse("batch-detail", args=[project.slug, batch.pk]))

    assert "The file lacks 1 of the model&#x27;s columns: texture." in response.text
    assert "hx-get" not in response.text
    assert "Download the scored CSV" not in response.text


def test_succeeded_batch_offers_download(
    client_for: ClientFor, project: Project, live: Deployment, alice: User
):
    batch = _batch(project, live, status=BatchStatus.SUCCEEDED, rows_total=1, rows_done=1)
    batch.output_file.save("scored.csv", ContentFile(b"radius,texture,prediction\n1,2,0\n"))
    download_url = reverse("batch-download", args=[project.slug, batch.pk])

    page = client_for(alice).get(reverse("batch-detail", args=[project.slug, batch.pk]))
    download = client_for(alice).get(download_url)

    assert f'href="{download_url}"' in page.text
    assert "hx-get" not in page.text
    assert download.status_code == 200
    assert download["Content-Type"] == "text/csv"
    assert f"{project.slug}-batch-{batch.pk}-scored.csv" in download["Content-Disposition"]
    assert download.getvalue() == b"radius,texture,prediction\n1,2,0\n"


def test_stakeholder_sees_no_download_link(
    client_for: ClientFor, project: Project, live: Deployment, sam: User
):
    batch = _batch(project, live, status=BatchStatus.SUCCEEDED, rows_total=1, rows_done=1)
    batch.output_file.save("scored.csv", ContentFile(b"prediction\n0\n"))

    response = client_for(sam).get(reverse("batch-detail", args=[project.slug, batch.pk]))

    assert response.status_code == 200
    assert "Download the scored CSV" not in response.text


def test_download_before_done_redirects(
    client_for: ClientFor, project: Project, live: Deployment, alice: User
):
    batch = _batch(project, live, status=BatchStatus.QUEUED)

    response = client_for(alice).get(
        reverse("batch-download", args=[project.slug, batch.pk]), follow=True
    )

    assert response.status_code == 200
    assert f"Batch {batch.pk} is queued; it has no scored file yet." in response.text


def test_foreign_batch_not_found(
    client_for: ClientFor,
    project: Project,
    regression_project: Project,
    live: Deployment,
    alice: User,
):
    batch = _batch(project, live)

    response = client_for(alice).get(
        reverse("batch-detail", args=[regression_project.slug, batch.pk])
    )

    assert response.status_code == 404
