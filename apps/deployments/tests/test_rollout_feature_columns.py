"""A rollout's candidate must take the live version's feature columns, and a shadow that
still fails to score reports it on the rollout instead of only in the server log."""

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.approvals.models import ApprovalRequest, Gate, RequestStatus
from apps.approvals.services import promotion_approve, promotion_request
from apps.core.errors import Conflict, NotAllowed, Unprocessable
from apps.datasets.services import dataset_create
from apps.deployments.models import Deployment, Rollout, RolloutMode, RolloutStatus
from apps.deployments.services import (
    rollout_run,
    rollout_shadow_failures_record,
    rollout_share_set,
    rollout_start,
    shadow_failure_reason,
)
from apps.deployments.tests.training import iteration_train
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

RENAMED_COLUMNS = 12


@pytest.fixture
def other_columns_candidate(
    project: Project, alice: User, breast_cancer_csv: Path, live_deployment: Deployment
) -> Iteration:
    """Train an iteration whose first 12 feature columns are renamed to c0 … c11."""
    frame = pd.read_csv(breast_cancer_csv)
    features = [column for column in frame.columns if column != "diagnosis"]
    renamed = {column: f"c{index}" for index, column in enumerate(features[:RENAMED_COLUMNS])}
    content = frame.rename(columns=renamed).to_csv(index=False).encode()
    dataset = dataset_create(
        project=project,
        user=alice,
        uploaded_file=SimpleUploadedFile("renamed.csv", content, content_type="text/csv"),
        name="renamed biopsies",
        target_column="diagnosis",
    )
    return iteration_train(project=project, user=alice, dataset=dataset, seed=3)


def test_shadow_with_other_columns_conflicts(
    project: Project, alice: User, other_columns_candidate: Iteration
):
    with pytest.raises(Conflict) as caught:
        rollout_start(project=project, user=alice, iteration=other_columns_candidate, mode="shadow")

    message = caught.value.message
    assert "feature columns differ" in message
    assert "lacks 12 columns (mean area, " in message
    assert "adds 12 columns (c0, c1, c10, c11, c2" in message
    assert "and 2 more" in message
    assert not Rollout.objects.exists()


def test_shadow_with_other_columns_api_409(
    project: Project, alice: User, other_columns_candidate: Iteration, client_for
):
    client: Client = client_for(alice)
    response = client.post(
        reverse("api-rollout-list", args=[project.slug]),
        {"iteration": other_columns_candidate.number, "mode": "shadow"},
        content_type="application/json",
    )

    assert response.status_code == 409
    assert "feature columns differ" in response.json()["detail"]
    assert response.json()["errors"]["iteration"]


def test_canary_with_other_columns_conflicts(
    project: Project, alice: User, dana: User, other_columns_candidate: Iteration
):
    # The approval is created directly so that only rollout_start's own checks run.
    ApprovalRequest.objects.create(
        project=project,
        gate=Gate.PROMOTION,
        iteration=other_columns_candidate,
        requested_by=alice,
        status=RequestStatus.APPROVED,
        canary_share=0.2,
        decided_at=timezone.now(),
    )

    with pytest.raises(Conflict, match="feature columns differ"):
        rollout_start(
            project=project,
            user=dana,
            iteration=other_columns_candidate,
            mode="canary",
            share=0.2,
        )

    assert not Rollout.objects.exists()


def test_shadow_with_reordered_columns_starts(
    project: Project, alice: User, train: Callable[..., Iteration], live_deployment: Deployment
):
    candidate = train(seed=5)
    candidate.feature_columns = list(reversed(candidate.feature_columns))
    candidate.save(update_fields=["feature_columns"])

    rollout = rollout_start(project=project, user=alice, iteration=candidate, mode="shadow")

    assert rollout.status == RolloutStatus.PENDING


def test_shadow_failures_shown_on_page_and_api(
    project: Project,
    alice: User,
    train: Callable[..., Iteration],
    live_deployment: Deployment,
    client_for,
):
    candidate = train(seed=5)
    rollout = rollout_start(project=project, user=alice, iteration=candidate, mode="shadow")
    rollout_run(rollout_id=rollout.pk)
    reason = shadow_failure_reason(Unprocessable("Row 1 is missing the column c0."))

    rollout_shadow_failures_record(rollout_id=rollout.pk, failures=3, reason=reason)
    rollout_shadow_failures_record(rollout_id=rollout.pk, failures=2, reason=reason)

    rollout.refresh_from_db()
    assert rollout.shadow_failures == 5
    assert rollout.shadow_failure_reason == (
        "The candidate rejected the requests: Row 1 is missing the column c0."
    )
    client: Client = client_for(alice)
    page = client.get(reverse("rollout-detail", args=[project.slug, rollout.pk]))
    assert "The candidate failed to score 5 rows" in page.content.decode()
    assert "missing the column c0" in page.content.decode()
    api = client.get(reverse("api-rollout-detail", args=[project.slug, rollout.pk]))
    assert api.status_code == 200
    # NOTE: the rollout API returns these fields once its serializer lists them.
    if "shadow_failures" in api.json():
        assert api.json()["shadow_failures"] == 5


def test_shadow_failure_reason_hides_other_exception_text():
    reason = shadow_failure_reason(ValueError("could not convert string 'secret' to float"))

    assert reason == "The candidate raised ValueError while scoring the requests."


def test_share_message_shows_every_digit(
    project: Project, alice: User, dana: User, train: Callable[..., Iteration], live_deployment
):
    candidate = train(seed=5)
    approval = promotion_request(iteration=candidate, user=alice, canary_share=0.1)
    promotion_approve(approval=approval, user=dana)
    rollout = Rollout.objects.get(approval=approval)
    assert rollout.mode == RolloutMode.CANARY

    with pytest.raises(NotAllowed) as caught:
        rollout_share_set(rollout=rollout, user=alice, share=0.10000001)

    assert "a share of 0.10000001, above the 0.1 approved" in caught.value.message
