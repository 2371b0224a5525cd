import logging

from celery import shared_task

from apps.deployments.services import batch_run, deployment_run, deployments_reap, rollout_run

logger = logging.getLogger(__name__)


@shared_task(
    acks_late=True,
    reject_on_worker_lost=True,
    soft_time_limit=600,
    time_limit=660,
)
def deploy_deployment(deployment_id: int) -> None:
    """Roll out one deployment. Safe to deliver twice: only a pending deployment is claimed."""
    logger.info("deploy task for deployment %s started", deployment_id)
    deployment_run(deployment_id=deployment_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=600, time_limit=660)
def prepare_rollout(rollout_id: int) -> None:
    """Check a canary or shadow candidate. Safe to deliver twice: only pending is claimed."""
    logger.info("rollout task for rollout %s started", rollout_id)
    rollout_run(rollout_id=rollout_id)


@shared_task(acks_late=True, reject_on_worker_lost=True, soft_time_limit=3600, time_limit=3660)
def score_batch(batch_id: int) -> None:
    """Score one uploaded CSV. Safe to deliver twice: only a queued batch is claimed."""
    logger.info("batch task for batch %s started", batch_id)
    batch_run(batch_id=batch_id)


@shared_task(acks_late=True, time_limit=120)
def reap_stale_deployments() -> None:
    """Fail deployments whose deploy task died. Run periodically."""
    reaped = deployments_reap()
    if reaped:
        logger.warning("reaper failed %s stale deployments: %s", len(reaped), reaped)
