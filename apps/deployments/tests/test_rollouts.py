from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from apps.approvals.services import promotion_approve, promotion_request
from apps.core.errors import Conflict, InvalidInput, NotAllowed
from apps.deployments.models import (
    Deployment,
    DeploymentStatus,
    PredictionLog,
    Rollout,
    RolloutMode,
    RolloutStatus,
)
from apps.deployments.prediction_log import prediction_log_flush
from apps.deployments.selectors import rollout_comparison
from apps.deployments.services import (
    rollout_complete,
    rollout_run,
    rollout_share_set,
    rollout_start,
    rollout_stop,
)
from apps.deployments.serving import predict
from apps.iterations.models import Iteration
from apps.projects.models import Project

pytestmark = pytest.mark.django_db

CANARY_REQUESTS = 1000
# With 1000 requests at a share of 0.3 the observed share has a standard deviation of
# about 0.0145, so 0.06 is more than four standard deviations.
SHARE_TOLERANCE = 0.06


@pytest.fixture
def candidate(train: Callable[..., Iteration], live_deployment: Deployment) -> Iteration:
    return train(seed=7)


def _canary(candidate: Iteration, *, share: float, alice: User, dana: User) -> Rollout:
    """Start a canary the way the product does: alice requests it, dana approves it."""
    approval = promotion_request(iteration=candidate, user=alice, canary_share=share)
    promotion_approve(approval=approval, user=dana)
    rollout = Rollout.objects.get(approval=approval)
    rollout_run(rollout_id=rollout.pk)
    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.ACTIVE, rollout.status_reason
    return rollout


def _rows(live: Deployment, count: int = 1) -> list[dict[str, float]]:
    return live.iteration.holdout_sample["rows"][:count]


def test_canary_needs_approved_promotion(project: Project, candidate: Iteration, alice: User):
    with pytest.raises(Conflict, match="no approved promotion"):
        rollout_start(
            project=project, user=alice, iteration=candidate, mode=RolloutMode.CANARY, share=0.2
        )

    assert not Rollout.objects.exists()


def test_shadow_needs_no_approval(project: Project, candidate: Iteration, alice: User):
    rollout = rollout_start(
        project=project, user=alice, iteration=candidate, mode=RolloutMode.SHADOW
    )

    assert rollout.status == RolloutStatus.PENDING
    assert rollout.approval is None
    assert rollout.share == 0.0


def test_stakeholder_cannot_start_rollout(project: Project, candidate: Iteration, sam: User):
    with pytest.raises(NotAllowed):
        rollout_start(project=project, user=sam, iteration=candidate, mode=RolloutMode.SHADOW)


@pytest.mark.parametrize("share", [0, 1, 1.5, -0.1, "half", True])
def test_canary_share_must_be_between_zero_and_one(
    project: Project, candidate: Iteration, alice: User, share
):
    with pytest.raises(InvalidInput):
        rollout_start(
            project=project,
            user=alice,
            iteration=candidate,
            mode=RolloutMode.CANARY,
            share=share,
        )


def test_second_open_rollout_conflicts(project: Project, candidate: Iteration, alice: User):
    rollout_start(project=project, user=alice, iteration=candidate, mode=RolloutMode.SHADOW)

    with pytest.raises(Conflict, match="already open"):
        rollout_start(project=project, user=alice, iteration=candidate, mode=RolloutMode.SHADOW)


def test_live_version_cannot_be_rolled_out(
    project: Project, live_deployment: Deployment, alice: User
):
    with pytest.raises(Conflict, match="already the live version"):
        rollout_start(
            project=project, user=alice, iteration=live_deployment.iteration, mode="shadow"
        )


def test_canary_serves_its_share_of_requests(
    project: Project, live_deployment: Deployment, candidate: Iteration, alice: User, dana: User
):
    rollout = _canary(candidate, share=0.3, alice=alice, dana=dana)
    rows = _rows(live_deployment)

    answers = [predict(project=project, instances=rows) for _ in range(CANARY_REQUESTS)]

    canary = [answer for answer in answers if answer["variant"] == "canary"]
    assert abs(len(canary) / CANARY_REQUESTS - 0.3) < SHARE_TOLERANCE
    assert {answer["model_version"] for answer in canary} == {candidate.model_version}
    live = [answer for answer in answers if answer["variant"] == "live"]
    assert {answer["model_version"] for answer in live} == {live_deployment.model_version}
    prediction_log_flush()
    comparison = rollout_comparison(rollout=rollout)
    assert comparison["rows"] == CANARY_REQUESTS
    assert comparison["candidate"]["rows"] == len(canary)


def test_canary_share_change_and_stop(
    project: Project, live_deployment: Deployment, candidate: Iteration, alice: User, dana: User
):
    rollout = _canary(candidate, share=0.3, alice=alice, dana=dana)

    rollout_share_set(rollout=rollout, user=dana, share=0.9)
    rollout.refresh_from_db()
    assert rollout.share == 0.9
    stopped = rollout_stop(rollout=rollout, user=dana)

    assert stopped.status == RolloutStatus.STOPPED
    answers = [predict(project=project, instances=_rows(live_deployment)) for _ in range(50)]
    assert {answer["variant"] for answer in answers} == {"live"}


def test_completed_canary_goes_live_atomically(
    project: Project, live_deployment: Deployment, candidate: Iteration, alice: User, dana: User
):
    rollout = _canary(candidate, share=0.5, alice=alice, dana=dana)

    completed = rollout_complete(rollout=rollout, user=dana)

    assert completed.status == RolloutStatus.COMPLETED
    live = Deployment.objects.get(project=project, status=DeploymentStatus.LIVE)
    assert live.iteration_id == candidate.pk
    assert live.previous_live_id == live_deployment.pk
    live_deployment.refresh_from_db()
    assert live_deployment.status == DeploymentStatus.RETIRED
    answer = predict(project=project, instances=_rows(live_deployment))
    assert answer["model_version"] == candidate.model_version
    assert answer["variant"] == "live"


def test_shadow_logs_both_predictions_without_changing_response(
    project: Project, live_deployment: Deployment, candidate: Iteration, alice: User
):
    rollout = rollout_start(project=project, user=alice, iteration=candidate, mode="shadow")
    rollout_run(rollout_id=rollout.pk)
    rows = _rows(live_deployment, 5)

    answer = predict(project=project, instances=rows)
    prediction_log_flush()

    assert answer["variant"] == "live"
    assert answer["model_version"] == live_deployment.model_version
    for prediction_id in answer["prediction_ids"]:
        variants = set(
            PredictionLog.objects.filter(prediction_id=prediction_id).values_list(
                "variant", flat=True
            )
        )
        assert variants == {"live", "shadow"}
    shadow = PredictionLog.objects.filter(variant="shadow").first()
    assert shadow is not None
    assert shadow.model_version == candidate.model_version
    comparison = rollout_comparison(rollout=rollout)
    assert comparison["pairs"] == 5
    assert 0.0 <= comparison["agreement"] <= 1.0
    assert comparison["live"]["rows"] == 5
    assert comparison["candidate"]["p50_ms"] > 0


def test_shadow_cannot_be_completed(
    project: Project, live_deployment: Deployment, candidate: Iteration, alice: User
):
    rollout = rollout_start(project=project, user=alice, iteration=candidate, mode="shadow")
    rollout_run(rollout_id=rollout.pk)

    with pytest.raises(Conflict, match="shadow rollout cannot go live"):
        rollout_complete(rollout=rollout, user=alice)


def test_rollout_with_disagreeing_replay_fails(
    project: Project, live_deployment: Deployment, candidate: Iteration, alice: User
):
    sample = dict(candidate.holdout_sample)
    sample["predictions"] = [1 - int(label) for label in sample["predictions"]]
    Iteration.objects.filter(pk=candidate.pk).update(holdout_sample=sample)
    candidate.refresh_from_db()
    rollout = rollout_start(project=project, user=alice, iteration=candidate, mode="shadow")

    rollout_run(rollout_id=rollout.pk)

    rollout.refresh_from_db()
    assert rollout.status == RolloutStatus.FAILED
    assert "predicted differently" in rollout.status_reason
